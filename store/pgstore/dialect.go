package pgstore

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gotenancy/tenancy/store/sqlstore"
)

// dialect is how PostgreSQL differs: $n placeholders; names and statuses
// sort byte-wise (lower-cased names) whatever the database's collation,
// with NULLs first ascending as elsewhere; searches use ILIKE; scopes are a
// text[].
var dialect = sqlstore.Dialect{
	Name:                 "pgstore",
	NumberedPlaceholders: true,
	ForUpdate:            " FOR UPDATE",
	NameOrder:            `lower(t.name) COLLATE "C"`,
	StatusOrder:          `t.status COLLATE "C"`,
	NullsOrder:           true,
	LikeOperator:         "ILIKE",
	ScopesColumn:         `array_to_string(scopes, ',')`,
	ScopesParam:          `string_to_array(?, ',')`,
	UniqueViolation:      uniqueViolation,
	ForeignKeyViolation:  func(err error) bool { _, ok := pgError(err, foreignKeyViolation); return ok },
}

// PostgreSQL error codes the store tells apart.
const (
	uniqueViolationCode = "23505"
	foreignKeyViolation = "23503"
)

func pgError(err error, code string) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == code {
		return pe, true
	}
	return nil, false
}

// uniqueViolation names the unique key a violation is on: its constraint
// name without the _key suffix ("domains_domain_key" is domains_domain).
func uniqueViolation(err error) (string, bool) {
	pe, ok := pgError(err, uniqueViolationCode)
	if !ok {
		return "", false
	}
	return strings.TrimSuffix(pe.ConstraintName, "_key"), true
}
