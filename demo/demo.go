package demo

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/seed"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed seeders/*.sql
var seeders embed.FS

// SampleSeeder is the name of the seeder that fills a tenant with sample notes.
const SampleSeeder = "sample_notes"

// Migrations returns the demo application's tenant migrations.
func Migrations() fs.FS { return sub(migrations, "migrations") }

// Seeders returns the demo application's SQL seeders.
func Seeders() fs.FS { return sub(seeders, "seeders") }

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
	_, err = db.ExecContext(ctx, `INSERT OR REPLACE INTO settings (key, value) VALUES ('tenant_name', ?)`, t.Name)
	return err
}
