package demo

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/seed"
)

//go:embed migrations
var migrations embed.FS

//go:embed seeders
var seeders embed.FS

// SampleSeeder is the name of the seeder that fills a tenant with sample notes.
const SampleSeeder = "sample_notes"

// Dialects are the database dialects the demo application has migrations
// and seeders for (goose's names, as tenantdb.Provisioner.Dialect gives them).
var Dialects = []string{"sqlite3", "postgres", "mysql"}

// Migrations returns the demo application's tenant migrations for a
// dialect; an unknown dialect gives SQLite's.
func Migrations(dialect string) fs.FS { return sub(migrations, "migrations/"+known(dialect)) }

// Seeders returns the demo application's SQL seeders for a dialect.
func Seeders(dialect string) fs.FS { return sub(seeders, "seeders/"+known(dialect)) }

func known(dialect string) string {
	for _, d := range Dialects {
		if d == dialect {
			return d
		}
	}
	return "sqlite3"
}

func sub(fsys embed.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return s
}

// RegisterSeeders adds the demo application's Go seeders to r.
func RegisterSeeders(r *seed.Registry) error {
	return r.Register(ProfileSeeder, seedProfile)
}

// ProfileSeeder is the name of the Go seeder that records the tenant's name
// in its settings table.
const ProfileSeeder = "tenant_profile"

// seedProfile stores the tenant's name, taken from the context, as a setting.
func seedProfile(ctx context.Context, db *sql.DB) error {
	t, err := tenancy.MustFromContext(ctx)
	if err != nil {
		return err
	}
	switch tenancy.Dialect(ctx) {
	case "postgres":
		// No unique key on settings.key there (tenants may share the table).
		_, err = db.ExecContext(ctx, `WITH gone AS (DELETE FROM settings WHERE key = 'tenant_name')
			INSERT INTO settings (key, value) VALUES ('tenant_name', $1)`, t.Name)
	case "mysql":
		_, err = db.ExecContext(ctx, "REPLACE INTO settings (`key`, `value`) VALUES ('tenant_name', ?)", t.Name)
	default:
		_, err = db.ExecContext(ctx, `INSERT OR REPLACE INTO settings (key, value) VALUES ('tenant_name', ?)`, t.Name)
	}
	return err
}
