package mysqldriver_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/gotenancy/tenancy/driver/mysqldriver"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/tenantdb"
	"github.com/gotenancy/tenancy/tenantdb/tenantdbtest"
)

func newMySQLDatabase(t testing.TB, cfg *mysqldriver.Config) *mysqldriver.Database {
	t.Helper()
	p, err := mysqldriver.NewDatabase(cfg)
	if err != nil {
		t.Fatalf("NewMySQLDatabase: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func mysqlOpen(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// mysqlCountObjects counts the tables, views, routines, triggers and events
// of the selected database.
func mysqlCountObjects(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `
SELECT (SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE())
     + (SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE())
     + (SELECT count(*) FROM information_schema.routines WHERE routine_schema = DATABASE())
     + (SELECT count(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE())
     + (SELECT count(*) FROM information_schema.events WHERE event_schema = DATABASE())`).Scan(&n)
	return n, err
}

func TestMySQLDatabaseConformance(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	admin := mysqlOpen(t, dsn)
	inventory := func(ctx context.Context, _ tenantdb.Provisioner) ([]string, error) {
		names, err := tenantdbtest.QueryNames(ctx, admin, `SELECT schema_name FROM information_schema.schemata`)
		return tenantdbtest.ValidOrPrefixed(names, "tenant_conformance_"), err
	}
	tenantdbtest.Run(t, func(t *testing.T) tenantdb.Provisioner {
		return newMySQLDatabase(t, &mysqldriver.Config{Shards: []tenantdb.Shard{{Name: "m1", URL: dsn}}})
	}, &tenantdbtest.Options{CountObjects: mysqlCountObjects, Inventory: inventory})
}

// mysqlURL turns the test DSN into a mysql:// URL.
func mysqlURL(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "mysql", User: url.UserPassword(cfg.User, cfg.Passwd), Host: cfg.Addr, Path: "/"}
	return u.String()
}

func TestMySQLDatabaseHandles(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := testenv.MySQLDSN(t)
	// The shard is given as a mysql:// URL, through ParseShards.
	shards, err := tenantdb.ParseShards("m1=" + mysqlURL(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	p := newMySQLDatabase(t, &mysqldriver.Config{Shards: shards, MaxConnsPerTenant: 1, Budget: 3})
	if p.MaxOpenTenants() != 3 || p.Dialect() != "mysql" {
		t.Fatalf("MaxOpenTenants %d, Dialect %q", p.MaxOpenTenants(), p.Dialect())
	}
	if got, err := p.PickShard(ctx); err != nil || got != "m1" {
		t.Fatalf("PickShard = %q, %v", got, err)
	}
	name := testenv.Name("my")
	t.Cleanup(func() { _ = p.Drop(context.Background(), name) })
	if err := p.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	var charset string
	if err := mysqlOpen(t, dsn).QueryRowContext(ctx,
		`SELECT default_character_set_name FROM information_schema.schemata WHERE schema_name = ?`, name).Scan(&charset); err != nil {
		t.Fatal(err)
	}
	if charset != "utf8mb4" {
		t.Errorf("character set %q, want utf8mb4", charset)
	}
	db, err := p.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// multiStatements and parseTime are on.
	tenantdbtest.MustExec(t, db, `CREATE TABLE p (id INT PRIMARY KEY) ENGINE=InnoDB; CREATE TABLE c (id INT PRIMARY KEY, p_id INT, FOREIGN KEY (p_id) REFERENCES p (id)) ENGINE=InnoDB;
INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1);
CREATE PROCEDURE proc() SELECT 1;
CREATE FUNCTION fn() RETURNS INT DETERMINISTIC RETURN 1;
CREATE TRIGGER trg BEFORE INSERT ON c FOR EACH ROW SET NEW.id = NEW.id;
CREATE VIEW v AS SELECT id FROM p`)
	var now time.Time
	if err := db.QueryRowContext(ctx, `SELECT NOW()`).Scan(&now); err != nil {
		t.Fatalf("scanning a DATETIME into time.Time (parseTime): %v", err)
	}
	if err := p.Wipe(ctx, db); err != nil {
		t.Fatal(err)
	}
	if n, err := mysqlCountObjects(ctx, db); err != nil || n != 0 {
		t.Errorf("objects after Wipe = %d, %v", n, err)
	}
	// The pool's only connection has foreign key checks back on.
	var fk int
	if err := db.QueryRowContext(ctx, `SELECT @@foreign_key_checks`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_key_checks after Wipe = %d, %v", fk, err)
	}
	if err := p.Drop(ctx, "mysql"); err == nil {
		t.Error("Drop(mysql) succeeded")
	}
	if _, err := p.ShardOf(ctx, testenv.Name("missing")); !errors.Is(err, tenantdb.ErrNotExist) {
		t.Errorf("ShardOf(missing): %v", err)
	}
}

func TestParseMySQLURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in       string
		addr, db string
		user, pw string
		want     string // error substring
	}{
		{in: "mysql://u:p%40ss@db.example:3307/app?charset=utf8mb4", addr: "db.example:3307", db: "app", user: "u", pw: "p@ss"},
		{in: "mysql://u@db.example/", addr: "db.example:3306", user: "u"},
		{in: "u:pw@tcp(127.0.0.1:3306)/x?parseTime=false", addr: "127.0.0.1:3306", db: "x", user: "u", pw: "pw"},
		{in: "mysql:///db", want: "no host"},
		{in: "mysql://u:secret@h:1/a/b", want: "not a database name"},
		{in: "u:secret@nonsense", want: "invalid DSN"},
	} {
		cfg, err := mysqldriver.ParseURL(tc.in)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseMySQLURL(%q): err = %v, want it to mention %q (and not the password)", tc.in, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMySQLURL(%q): %v", tc.in, err)
			continue
		}
		if cfg.Addr != tc.addr || cfg.DBName != tc.db || cfg.User != tc.user || cfg.Passwd != tc.pw || !cfg.ParseTime || !cfg.MultiStatements {
			t.Errorf("ParseMySQLURL(%q) = addr %q db %q user %q pw %q parseTime %v multi %v", tc.in, cfg.Addr, cfg.DBName, cfg.User, cfg.Passwd, cfg.ParseTime, cfg.MultiStatements)
		}
	}
}
