// Package testenv gives tests the external servers that scripts/test starts
// (two PostgreSQL servers, Redis, MariaDB, an S3-compatible server) and the
// Chromium it installs, through the environment
// variables that `scripts/services start` prints. When
// TENANCY_TEST_REQUIRE_SERVICES is set (as scripts/test does), a missing
// server fails the test; otherwise the test is skipped with a message.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// lookup returns the variable's value, failing or skipping the test without it.
func lookup(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("TENANCY_TEST_REQUIRE_SERVICES") != "" {
		t.Fatalf("%s is not set: start the servers with scripts/services (scripts/test does)", name)
	}
	t.Skipf("%s is not set; run scripts/test, or eval \"$(scripts/services start)\" first", name)
	return ""
}

// PostgresURL is the administrative URL of the first PostgreSQL server.
func PostgresURL(t testing.TB) string { return lookup(t, "TENANCY_TEST_POSTGRES_URL") }

// PostgresURL2 is the administrative URL of the second PostgreSQL server
// (a second shard).
func PostgresURL2(t testing.TB) string { return lookup(t, "TENANCY_TEST_POSTGRES_URL2") }

// PgBouncerURL is the URL of the PgBouncer (pool_mode=transaction) in front
// of the first PostgreSQL server; its path names the database, and any
// database of that server is reachable through it.
func PgBouncerURL(t testing.TB) string { return lookup(t, "TENANCY_TEST_PGBOUNCER_URL") }

// RedisURL is the URL of the Redis server.
func RedisURL(t testing.TB) string { return lookup(t, "TENANCY_TEST_REDIS_URL") }

// MySQLDSN is the go-sql-driver/mysql DSN of the MariaDB server (no database selected).
func MySQLDSN(t testing.TB) string { return lookup(t, "TENANCY_TEST_MYSQL_URL") }

// S3URL is the s3:// URL of the test bucket on the S3-compatible server,
// in the form backup/destination opens, with the server's credentials
// (TENANCY_TEST_S3_ACCESS_KEY_ID, TENANCY_TEST_S3_SECRET_ACCESS_KEY) as
// its user information. The bucket is shared: a test keeps to keys under a
// prefix of its own (Name).
func S3URL(t testing.TB) string {
	t.Helper()
	raw := lookup(t, "TENANCY_TEST_S3_URL")
	id := lookup(t, "TENANCY_TEST_S3_ACCESS_KEY_ID")
	secret := lookup(t, "TENANCY_TEST_S3_SECRET_ACCESS_KEY")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("TENANCY_TEST_S3_URL=%q is not an s3:// URL", raw)
	}
	u.User = url.UserPassword(id, secret)
	return u.String()
}

// Chromium is the path of the Chromium binary for browser tests.
func Chromium(t testing.TB) string { return lookup(t, "TENANCY_TEST_CHROMIUM") }

// Name returns a fresh lower-case identifier with the prefix, unique across
// tests and runs.
func Name(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text()[:12])
}

// NewPostgresDatabase creates a fresh database on the server at adminURL,
// dropped when the test ends, and returns its URL.
func NewPostgresDatabase(t testing.TB, adminURL string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := Name("test")
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", adminURL)
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin.ExecContext(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewMySQLDatabase creates a fresh database on the MariaDB server, dropped
// when the test ends, and returns a DSN selecting it.
func NewMySQLDatabase(t testing.TB) string {
	t.Helper()
	dsn := MySQLDSN(t)
	ctx := context.Background()
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := Name("test")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", dsn)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`")
	})
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	return cfg.FormatDSN()
}

// Describe is for failure messages: which servers the environment names.
func Describe() string {
	var parts []string
	for _, v := range []string{"TENANCY_TEST_POSTGRES_URL", "TENANCY_TEST_POSTGRES_URL2", "TENANCY_TEST_REDIS_URL", "TENANCY_TEST_MYSQL_URL", "TENANCY_TEST_S3_URL"} {
		parts = append(parts, fmt.Sprintf("%s=%q", v, os.Getenv(v)))
	}
	return strings.Join(parts, " ")
}
