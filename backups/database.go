package backups

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup"
	"github.com/gotenancy/tenancy/dataport"
	"github.com/gotenancy/tenancy/tenantdb"
)

// The database part of a backup is, for an engine whose databases are
// single files (SQLite), that file (database/tenant.sqlite, made with
// VACUUM INTO while the tenant serves). For the others (PostgreSQL in its
// three modes, MySQL) it is a logical copy: every table's rows in
// dataport's JSON form (database/tables/<table>.json), read in one read-only
// repeatable-read transaction so the copy is consistent, plus
// database/tables.json listing the tables and their columns. A logical
// copy rather than pg_dump or mysqldump because it works the same in
// every mode (a schema, a tenant's rows of shared tables, a database),
// needs no client binaries of the server's version on the node, and is
// restored into a database the tenant's own migrations made, at the
// backup's migration version.
const (
	sqliteFile = "tenant.sqlite"
	tablesFile = "tables.json"
)

// part is a file that goes into the archive under name.
type part struct{ name, file string }

// snapshot writes the database part of tenant t into dir.
func (s *Service) snapshot(ctx context.Context, t *tenancy.Tenant, dir string) ([]part, error) {
	if snap, ok := s.ops.Provisioner().(tenantdb.Snapshotter); ok {
		file := filepath.Join(dir, sqliteFile)
		if err := snap.Snapshot(ctx, t.DatabaseName, file); err != nil {
			return nil, err
		}
		return []part{{backup.DatabaseDir + sqliteFile, file}}, nil
	}
	var parts []part
	var tables []dataport.TableInfo
	err := s.readTx(ctx, t, func(ctx context.Context, tx *sql.Tx) error {
		names, err := dataport.Tables(ctx, tx, s.ops.Dialect())
		if err != nil {
			return err
		}
		for _, name := range names {
			file := filepath.Join(dir, "table-"+fmt.Sprint(len(parts))+".json")
			f, err := os.Create(file)
			if err != nil {
				return err
			}
			info, err := dataport.WriteTable(ctx, tx, s.ops.Dialect(), name, s.omit(), dataport.FormatJSON, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			info.File = backup.DatabaseDir + "tables/" + name + ".json"
			tables = append(tables, info)
			parts = append(parts, part{info.File, file})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	index := filepath.Join(dir, tablesFile)
	b, err := json.Marshal(tables)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(index, b, 0o600); err != nil {
		return nil, err
	}
	return append([]part{{backup.DatabaseDir + tablesFile, index}}, parts...), nil
}

// readTx runs fn in a read-only transaction on t's database that sees one
// snapshot of it (repeatable read; SQLite's read transactions are).
func (s *Service) readTx(ctx context.Context, t *tenancy.Tenant, fn func(ctx context.Context, tx *sql.Tx) error) error {
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	if s.ops.Dialect() == "sqlite3" {
		opts = &sql.TxOptions{ReadOnly: true}
	}
	return s.ops.DB(ctx, t, func(ctx context.Context, db *sql.DB) error {
		tx, err := db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.Commit()
	})
}

// omit is the columns copies of a tenant's rows leave out.
func (s *Service) omit() []string {
	if c := s.ops.TenantColumn(); c != "" {
		return []string{c}
	}
	return nil
}

// checkDatabase checks that the extracted database part in dir is whole.
func (s *Service) checkDatabase(dir string) error {
	if _, ok := s.ops.Provisioner().(tenantdb.Snapshotter); ok {
		if _, err := os.Stat(filepath.Join(dir, sqliteFile)); err != nil {
			return fmt.Errorf("%w: the archive holds no database", backup.ErrCorrupt)
		}
		return nil
	}
	tables, err := readTables(dir)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := os.Stat(filepath.Join(dir, "tables", t.Name+".json")); err != nil {
			return fmt.Errorf("%w: the archive lacks table %s", backup.ErrCorrupt, t.Name)
		}
	}
	return nil
}

// readTables reads the table list of a logical copy in dir.
func readTables(dir string) ([]dataport.TableInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, tablesFile))
	if err != nil {
		return nil, fmt.Errorf("%w: the archive holds no database", backup.ErrCorrupt)
	}
	var tables []dataport.TableInfo
	if err := json.Unmarshal(b, &tables); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", backup.ErrCorrupt, tablesFile, err)
	}
	for _, t := range tables {
		if t.File != backup.DatabaseDir+"tables/"+t.Name+".json" || len(t.Columns) == 0 {
			return nil, fmt.Errorf("%w: %s: table %q is misnamed", backup.ErrCorrupt, tablesFile, t.Name)
		}
	}
	return tables, nil
}

// restoreDatabase replaces tenant t's database with the database part
// extracted into dir, at migration version; the caller holds the lock.
// For databases of their own it restores into a new database swapped in
// by ReplaceDatabase; for shared tables (postgres-rls), where a second
// copy of the rows would collide with the first on their keys, it
// replaces the tenant's rows in one transaction, which commits whole or
// not at all.
func (s *Service) restoreDatabase(ctx context.Context, t *tenancy.Tenant, dir string, version int64) (*tenancy.Tenant, error) {
	if snap, ok := s.ops.Provisioner().(tenantdb.Snapshotter); ok {
		return s.ops.ReplaceDatabase(ctx, t, "tenant.restore", func(ctx context.Context, name string) error {
			if err := snap.CreateFrom(ctx, name, filepath.Join(dir, sqliteFile)); err != nil {
				return err
			}
			return s.ops.CheckNew(ctx, name, version)
		})
	}
	tables, err := readTables(dir)
	if err != nil {
		return nil, err
	}
	dialect := s.ops.Dialect()
	if s.ops.TenantColumn() != "" {
		return t, s.ops.DB(ctx, t, func(ctx context.Context, db *sql.DB) error {
			return inTx(ctx, db, func(tx *sql.Tx) error {
				have, err := dataport.Tables(ctx, tx, dialect)
				if err != nil {
					return err
				}
				for _, name := range have {
					if _, err := tx.ExecContext(ctx, "DELETE FROM "+dataport.QuoteIdent(dialect, name)); err != nil {
						return fmt.Errorf("clear table %s: %w", name, err)
					}
				}
				return loadTables(ctx, tx, dialect, dir, tables, false)
			})
		})
	}
	return s.ops.ReplaceDatabase(ctx, t, "tenant.restore", func(ctx context.Context, name string) error {
		db, err := s.createMigrated(ctx, name, version)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := inTx(ctx, db, func(tx *sql.Tx) error { return loadTables(ctx, tx, dialect, dir, tables, true) }); err != nil {
			return err
		}
		return s.ops.CheckNew(ctx, name, version)
	})
}

// createMigrated creates the database name (on the context's shard),
// migrates it to version and opens it; the caller closes it.
func (s *Service) createMigrated(ctx context.Context, name string, version int64) (*sql.DB, error) {
	if err := s.ops.Provisioner().Create(ctx, name); err != nil {
		return nil, err
	}
	if err := s.ops.MigrateNew(ctx, name, version); err != nil {
		return nil, err
	}
	return s.ops.OpenNew(ctx, name)
}

// loadTables loads the tables of a logical copy in dir.
func loadTables(ctx context.Context, tx *sql.Tx, dialect, dir string, tables []dataport.TableInfo, sequences bool) error {
	for _, t := range tables {
		f, err := os.Open(filepath.Join(dir, "tables", t.Name+".json"))
		if err != nil {
			return err
		}
		_, err = dataport.LoadTable(ctx, tx, dialect, dataport.FormatJSON, t, f, sequences)
		f.Close()
		if err != nil {
			if errors.Is(err, dataport.ErrNotExport) {
				return fmt.Errorf("%w: %w", backup.ErrCorrupt, err)
			}
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction of db, committed when fn succeeds.
func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
