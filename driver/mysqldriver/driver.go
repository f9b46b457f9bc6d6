package mysqldriver

import (
	"context"
	"errors"

	"github.com/gotenancy/tenancy/driver"
	"github.com/gotenancy/tenancy/store/mysqlstore"
	"github.com/gotenancy/tenancy/tenantdb"
)

// DriverConfig configures a Driver; nil or zero fields mean the defaults.
type DriverConfig struct {
	// Shards are the servers of the tenant databases; default one shard,
	// "default", on the catalog's server.
	Shards []tenantdb.Shard
	// Budget caps the tenant connections; default tenantdb.DefaultBudget.
	Budget int
}

// Driver is the MySQL/MariaDB engine: the catalog in a MySQL database
// (store/mysqlstore, watched by polling its change counter) and a
// database per tenant.
type Driver struct {
	url string
	cfg DriverConfig
}

var _ driver.Driver = (*Driver)(nil)

// Open returns the MySQL driver whose catalog is the database at url, a
// mysql://user:pass@host:3306/catalog URL (see ParseURL). It does no I/O:
// Connect does.
func Open(url string, cfg *DriverConfig) *Driver {
	d := &Driver{url: url}
	if cfg != nil {
		d.cfg = *cfg
	}
	return d
}

// Connect opens and migrates the catalog and makes the provisioner.
func (d *Driver) Connect(ctx context.Context) (*driver.Engine, error) {
	mc, err := ParseURL(d.url)
	if err != nil {
		return nil, err
	}
	shards := d.cfg.Shards
	if len(shards) == 0 {
		shards = []tenantdb.Shard{{Name: "default", URL: d.url}}
	}
	prov, err := NewDatabase(&Config{Shards: shards, Budget: d.cfg.Budget})
	if err != nil {
		return nil, err
	}
	st, err := mysqlstore.Open(ctx, &mysqlstore.Config{DSN: mc.FormatDSN()})
	if err != nil {
		prov.Close()
		return nil, err
	}
	return &driver.Engine{Store: st, Provisioner: prov, Watcher: st, Close: func() error {
		return errors.Join(prov.Close(), st.Close())
	}}, nil
}
