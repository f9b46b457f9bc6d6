package tenantdb

import (
	"context"
	"database/sql"
)

// Provisioner creates, drops and opens tenant databases of one engine and
// isolation mode. Every method validates the database name with ValidateName
// before doing anything and returns an error wrapping ErrInvalidName for a bad
// one. Implementations are safe for concurrent use and must pass the
// conformance suite in package tenantdbtest.
type Provisioner interface {
	// Dialect is the goose dialect name of the databases it makes ("sqlite3",
	// later "postgres", "mysql").
	Dialect() string
	// Create makes a new empty database. It returns an error wrapping ErrExists
	// if one is there already (it never clobbers one).
	Create(ctx context.Context, name string) error
	// Drop removes the database and everything belonging to it (for SQLite:
	// the file plus its -wal, -shm and -journal files), even while handles to
	// it are open; such handles stop being usable. Dropping a missing
	// database returns nil.
	Drop(ctx context.Context, name string) error
	// Exists reports whether the database exists.
	Exists(ctx context.Context, name string) (bool, error)
	// Open returns a handle to an existing database, or an error wrapping
	// ErrNotExist if it is missing; it never creates one implicitly. The
	// caller closes the handle.
	Open(ctx context.Context, name string) (*sql.DB, error)
	// Wipe drops every table, view, trigger and index in the open database
	// (used by "migrate fresh"), leaving it empty.
	Wipe(ctx context.Context, db *sql.DB) error
	// Size reports the bytes the database occupies (SQLite: the sum of the
	// file and its -wal and -shm files). A missing database gives an error
	// wrapping ErrNotExist.
	Size(ctx context.Context, name string) (int64, error)
}

// Opener is the part of a Provisioner the ConnManager needs.
type Opener interface {
	// Open returns a handle to an existing database; see Provisioner.Open.
	Open(ctx context.Context, name string) (*sql.DB, error)
}

var _ Opener = Provisioner(nil)

// Lister is implemented by provisioners that can list the databases they
// made, so that a repair can find databases no tenant owns.
type Lister interface {
	// List returns the names of the databases, sorted.
	List(ctx context.Context) ([]string, error)
}

// Preparer is a Provisioner whose tenants share tables (row-level
// security): Prepare applies the migrations, up, once to each shard's
// shared tables, after which Create only registers tenants. tenancy.New
// calls it with the Manager's migrations.
type Preparer interface {
	Prepare(ctx context.Context, up func(ctx context.Context, db *sql.DB) error) error
}

// Snapshotter is a Provisioner whose databases are single files that can
// be copied in their native form (SQLite): the backups of its tenants hold
// that file rather than a logical copy of the rows.
type Snapshotter interface {
	// Snapshot writes a consistent copy of the live database to path (a
	// new file), while it keeps serving.
	Snapshot(ctx context.Context, name, path string) error
	// CreateFrom makes the database name from a snapshot file, which it
	// checks first; ErrExists if the database is there already. On any
	// error nothing of name is left.
	CreateFrom(ctx context.Context, name, path string) error
}

// RowScoped is a Provisioner whose tenants share tables (row-level
// security): every secured table has a column holding the tenant, which
// the binding fills and the policies check. Copies of a tenant's rows
// leave that column out.
type RowScoped interface {
	TenantColumn() string
}

// Sweeper is a Provisioner that leaves work files while it makes
// databases (SQLite's CreateFrom copies): Sweep removes those that a
// process killed midway left, never one in use, and returns their names.
// Repair calls it.
type Sweeper interface {
	Sweep(ctx context.Context) ([]string, error)
}
