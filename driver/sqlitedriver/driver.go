package sqlitedriver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotenancy/tenancy/driver"
	"github.com/gotenancy/tenancy/store/sqlitestore"
)

// Driver is the SQLite engine: the catalog in <dir>/catalog.sqlite, one
// database file per tenant in <dir>/tenants, and the catalog's change
// watcher (PRAGMA data_version). It is the embedded
// default of tenancy.New.
type Driver struct {
	dir string
}

var _ driver.Driver = (*Driver)(nil)

// Open returns the SQLite driver over the data directory dir (created on
// Connect if missing). It does no I/O itself, so it can be written inline
// in tenancy.New's arguments.
func Open(dir string) *Driver { return &Driver{dir: dir} }

// Connect creates the data directory if needed, opens and migrates the
// catalog and prepares the tenant directory.
func (d *Driver) Connect(ctx context.Context) (*driver.Engine, error) {
	if d.dir == "" {
		return nil, fmt.Errorf("sqlitedriver: the data directory is required")
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, fmt.Errorf("sqlitedriver: data directory: %w", err)
	}
	st, err := sqlitestore.Open(ctx, &sqlitestore.Config{Path: filepath.Join(d.dir, "catalog.sqlite")})
	if err != nil {
		return nil, err
	}
	prov, err := NewProvisioner(&ProvisionerConfig{Dir: filepath.Join(d.dir, "tenants")})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &driver.Engine{Store: st, Provisioner: prov, Watcher: st, Close: st.Close}, nil
}
