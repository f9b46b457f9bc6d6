// Package driver defines what an engine gives the Manager, the way River's
// riverdriver does: a Driver connects and returns an Engine (the central
// catalog, the tenant-database provisioner and the catalog's change
// watcher). The engines live in the packages below it: sqlitedriver,
// pgdriver and mysqldriver. It imports only model and tenantdb, so that
// engines never import the Manager.
package driver

import (
	"context"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/tenantdb"
)

// Driver is one engine's configuration, ready to connect.
type Driver interface {
	// Connect opens the engine: it connects to the catalog (creating and
	// migrating it if needed) and prepares the tenant databases' home.
	Connect(ctx context.Context) (*Engine, error)
}

// Engine is a connected Driver.
type Engine struct {
	// Store is the central catalog; required.
	Store model.Store
	// Provisioner makes, drops and opens tenant databases; required.
	Provisioner tenantdb.Provisioner
	// Watcher reports catalog changes made by other processes, so that
	// the resolver stays current; nil when the engine has none.
	Watcher model.Watcher
	// Close releases the engine after the Manager is closed; may be nil.
	Close func() error
}
