package pgdriver

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotenancy/tenancy/driver"
	"github.com/gotenancy/tenancy/store/pgstore"
	"github.com/gotenancy/tenancy/tenantdb"
)

// Mode is how a Driver isolates tenants on PostgreSQL.
type Mode string

// The PostgreSQL modes.
const (
	// ModeDatabase gives each tenant a database of its own (Database).
	ModeDatabase Mode = "database"
	// ModeSchema gives each tenant a schema in one database per shard
	// (Schema).
	ModeSchema Mode = "schema"
	// ModeRLS keeps every tenant's rows in shared tables under row-level
	// security (RLS).
	ModeRLS Mode = "rls"
)

// DriverConfig configures a Driver; nil or zero fields mean the defaults.
type DriverConfig struct {
	// Mode is the tenant isolation; default ModeDatabase.
	Mode Mode
	// Shards are the servers of the tenant databases; default one shard,
	// "default", on the catalog's server.
	Shards []tenantdb.Shard
	// Budget caps the tenant connections; default DefaultBudget.
	Budget int
	// AppRole and AppPassword are the role RLS tenant handles connect as
	// (ModeRLS only; see RLSConfig).
	AppRole, AppPassword string
}

// Driver is the PostgreSQL engine: the catalog on a PostgreSQL database
// (store/pgstore, watched with LISTEN/NOTIFY) and the provisioner of the
// configured Mode.
type Driver struct {
	url string
	cfg DriverConfig
}

var _ driver.Driver = (*Driver)(nil)

// Open returns the PostgreSQL driver whose catalog is the database at url
// (a postgres:// URL). It does no I/O: Connect does.
func Open(url string, cfg *DriverConfig) *Driver {
	d := &Driver{url: url}
	if cfg != nil {
		d.cfg = *cfg
	}
	return d
}

// Connect opens and migrates the catalog and makes the provisioner. In
// ModeRLS the shared tables are migrated by tenancy.New (the provisioner
// is a tenantdb.Preparer).
func (d *Driver) Connect(ctx context.Context) (*driver.Engine, error) {
	if d.url == "" {
		return nil, errors.New("pgdriver: the catalog URL is required")
	}
	shards := d.cfg.Shards
	if len(shards) == 0 {
		shards = []tenantdb.Shard{{Name: "default", URL: d.url}}
	}
	pc := Config{Shards: shards, Budget: d.cfg.Budget}
	var prov interface {
		tenantdb.Provisioner
		Close() error
	}
	var err error
	switch d.cfg.Mode {
	case ModeDatabase, "":
		prov, err = NewDatabase(&pc)
	case ModeSchema:
		prov, err = NewSchema(&pc)
	case ModeRLS:
		prov, err = NewRLS(&RLSConfig{Config: pc, AppRole: d.cfg.AppRole, AppPassword: d.cfg.AppPassword})
	default:
		return nil, fmt.Errorf("pgdriver: unknown mode %q (want database, schema or rls)", d.cfg.Mode)
	}
	if err != nil {
		return nil, err
	}
	st, err := pgstore.Open(ctx, &pgstore.Config{URL: d.url})
	if err != nil {
		prov.Close()
		return nil, err
	}
	return &driver.Engine{Store: st, Provisioner: prov, Watcher: st, Close: func() error {
		return errors.Join(prov.Close(), st.Close())
	}}, nil
}
