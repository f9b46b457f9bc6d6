package tenantdbtest

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/tenantdb"
)

// ValidOrPrefixed keeps the names that start with prefix or are not
// valid identifiers (what a provisioner mishandling invalid names would
// leave).
func ValidOrPrefixed(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) || tenantdb.ValidateName(n) != nil {
			out = append(out, n)
		}
	}
	return out
}

// QueryNames returns the first column of every row of query.
func QueryNames(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// MustExec runs query on db and fails the test on an error.
func MustExec(t testing.TB, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
