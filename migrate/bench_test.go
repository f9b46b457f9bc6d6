package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func openBench(b *testing.B, path string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// migratedDBs creates n migrated SQLite database files and returns their paths.
func migratedDBs(b *testing.B, s *Set, n int) []string {
	b.Helper()
	dir := b.TempDir()
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("tenant%04d.db", i))
	}
	out, err := RunFleet(context.Background(), paths, nil, func(ctx context.Context, p string) error {
		db := openBench(b, p)
		defer db.Close()
		_, err := s.Up(ctx, "sqlite3", db)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil {
			b.Fatal(o.Err)
		}
	}
	return paths
}

// BenchmarkUpNoop measures one tenant of a no-op fleet run: open an
// up-to-date database, run Up, close it.
func BenchmarkUpNoop(b *testing.B) {
	s := testdataSet(b)
	paths := migratedDBs(b, s, 16)
	ctx := context.Background()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		db := openBench(b, paths[i%len(paths)])
		i++
		res, err := s.Up(ctx, "sqlite3", db)
		if err != nil || res.Applied != 0 {
			b.Fatalf("Up = %+v, %v", res, err)
		}
		db.Close()
	}
}

// BenchmarkUpOneNew measures migrating one new tenant database from scratch
// (three migrations), including creating and opening the file.
func BenchmarkUpOneNew(b *testing.B) {
	s := testdataSet(b)
	dir := b.TempDir()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		db := openBench(b, filepath.Join(dir, fmt.Sprintf("new%06d.db", i)))
		i++
		res, err := s.Up(ctx, "sqlite3", db)
		if err != nil || res.Applied != s.Len() {
			b.Fatalf("Up = %+v, %v", res, err)
		}
		db.Close()
	}
}

// BenchmarkFleetUpNoop1000 measures a whole no-op run over 1,000 up-to-date
// tenant databases with RunFleet's default concurrency.
func BenchmarkFleetUpNoop1000(b *testing.B) {
	s := testdataSet(b)
	paths := migratedDBs(b, s, 1000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		out, err := RunFleet(ctx, paths, nil, func(ctx context.Context, p string) error {
			db := openBench(b, p)
			defer db.Close()
			res, err := s.Up(ctx, "sqlite3", db)
			if err == nil && res.Applied != 0 {
				err = fmt.Errorf("applied %d", res.Applied)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
}

// BenchmarkUpNoopOpenDB measures Up alone on an up-to-date database that is
// already open: the share of BenchmarkUpNoop spent in this package and goose
// (building a provider and three small queries) rather than opening and
// closing the file.
func BenchmarkUpNoopOpenDB(b *testing.B) {
	s := testdataSet(b)
	paths := migratedDBs(b, s, 1)
	db := openBench(b, paths[0])
	defer db.Close()
	ctx := context.Background()
	for b.Loop() {
		if res, err := s.Up(ctx, "sqlite3", db); err != nil || res.Applied != 0 {
			b.Fatalf("Up = %+v, %v", res, err)
		}
	}
}
