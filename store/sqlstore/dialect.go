package sqlstore

import (
	"strconv"
	"strings"
	"time"
)

// Dialect describes how one database engine differs from the others in the
// SQL the store writes and the errors it reads. The store's queries are
// written once, with ? placeholders, and adjusted by the dialect.
type Dialect struct {
	// Name prefixes the store's own error messages ("sqlitestore").
	Name string
	// NumberedPlaceholders writes parameters as $1, $2, … (PostgreSQL)
	// instead of ?.
	NumberedPlaceholders bool
	// LastInsertID reads the id of an inserted row from the result
	// (MySQL) instead of with INSERT … RETURNING id.
	LastInsertID bool
	// OnDuplicateKey writes upserts as INSERT … ON DUPLICATE KEY UPDATE
	// with VALUES(column) (MySQL) instead of ON CONFLICT (…) DO UPDATE
	// with excluded.column. Upserts assign the columns in the order given,
	// which MySQL evaluates left to right.
	OnDuplicateKey bool
	// IdentQuote quotes identifiers that are keywords (before, after):
	// " (standard SQL) when empty.
	IdentQuote string
	// UnixMicros stores times as integer microseconds since the Unix
	// epoch (SQLite) instead of native timestamps. Either way times are
	// read back in UTC at microsecond precision.
	UnixMicros bool
	// ForUpdate is appended to a SELECT that locks the rows it reads
	// (" FOR UPDATE"); empty where a transaction locks the whole database
	// from its start (SQLite with _txlock=immediate).
	ForUpdate string
	// NameOrder and StatusOrder are the expressions tenants are sorted by
	// for "name" and "status": names sort without regard to case and
	// byte-wise otherwise. Empty means t.name and t.status.
	NameOrder, StatusOrder string
	// NullsOrder spells out NULLS FIRST ascending and NULLS LAST
	// descending, where the engine does not sort NULLs so by itself.
	NullsOrder bool
	// LikeOperator is the case-insensitive LIKE ("LIKE" where the
	// collation ignores case, "ILIKE" on PostgreSQL).
	LikeOperator string
	// SearchColumn, when set, is a column holding each tenant's lower-case
	// name, database name and domains, separated by a character a search
	// cannot hold (kept by triggers); a search is then one LIKE over it
	// instead of one per field with a subquery for the domains.
	SearchColumn string
	// ScopesColumn and ScopesParam read and write an API key's scopes as
	// comma-separated text, where the column holds something else (an
	// array); empty means the column holds that text.
	ScopesColumn, ScopesParam string
	// MaxLockName is the longest tenant uuid or holder (in bytes) a lease
	// lock keeps; 0 means no limit.
	MaxLockName int
	// PrepareLookups prepares the tenant lookups by domain and uuid (what
	// a resolver's misses run) once, where the driver does not cache
	// statements itself.
	PrepareLookups bool

	// UniqueViolation reports whether err is a unique-constraint
	// violation, and on which unique key, named table_column
	// ("domains_domain", "tenants_database_name", "api_keys_name",
	// "admin_users_email").
	UniqueViolation func(err error) (key string, ok bool)
	// ForeignKeyViolation reports whether err is a foreign-key violation.
	ForeignKeyViolation func(err error) bool
	// Retryable, when set, reports whether a failed transaction may be run
	// again (an InnoDB deadlock victim); it is, a few times.
	Retryable func(err error) bool
}

// maxTxTries bounds the runs of a transaction that keeps failing with a
// retryable error.
const maxTxTries = 3

// rebind rewrites the ? placeholders of query (outside string literals) as
// the dialect writes them.
func (d *Dialect) rebind(query string) string {
	if !d.NumberedPlaceholders || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// time encodes t as a parameter.
func (d *Dialect) time(t time.Time) any {
	if d.UnixMicros {
		return t.UTC().UnixMicro()
	}
	return truncate(t)
}

// quote quotes an identifier.
func (d *Dialect) quote(ident string) string {
	q := d.IdentQuote
	if q == "" {
		q = `"`
	}
	return q + ident + q
}

// upsert returns the clause that turns an INSERT into an upsert on the
// unique key of the columns in conflict, with assignments built by set
// from a function naming the value the INSERT proposed for a column.
func (d *Dialect) upsert(conflict string, set func(proposed func(col string) string) string) string {
	if d.OnDuplicateKey {
		return ` ON DUPLICATE KEY UPDATE ` + set(func(col string) string { return `VALUES(` + col + `)` })
	}
	return ` ON CONFLICT (` + conflict + `) DO UPDATE SET ` + set(func(col string) string { return `excluded.` + col })
}

// orderBy returns the ORDER BY clause sorting tenants by the field sort
// (one of model.SortFields; anything else sorts by creation), then by id.
func (d *Dialect) orderBy(sort string, desc bool) string {
	col := map[string]string{
		"name":             or(d.NameOrder, "t.name"),
		"created_at":       "t.created_at",
		"updated_at":       "t.updated_at",
		"last_accessed_at": "t.last_accessed_at",
		"status":           or(d.StatusOrder, "t.status"),
	}[sort]
	if col == "" {
		col = "t.created_at"
	}
	dir, nulls := "ASC", " NULLS FIRST"
	if desc {
		dir, nulls = "DESC", " NULLS LAST"
	}
	if !d.NullsOrder {
		nulls = ""
	}
	return ` ORDER BY ` + col + ` ` + dir + nulls + `, t.id ` + dir
}

// likeEscape is the escape character of LIKE patterns; not a backslash,
// whose meaning in string literals depends on the engine and its settings.
const likeEscape = "!"

// searchCondition returns the condition matching tenants with search in
// their name, database name or a domain, ignoring case, and its arguments.
func (d *Dialect) searchCondition(search string) (string, []any) {
	pattern := "%" + strings.NewReplacer(likeEscape, likeEscape+likeEscape, `%`, likeEscape+`%`, `_`, likeEscape+`_`).Replace(search) + "%"
	like := ` ` + or(d.LikeOperator, "LIKE") + ` ? ESCAPE '` + likeEscape + `'`
	if d.SearchColumn != "" {
		return d.SearchColumn + like, []any{strings.ToLower(pattern)}
	}
	return `(t.name` + like + ` OR t.database_name` + like + `
		OR EXISTS (SELECT 1 FROM domains d WHERE d.tenant_id = t.id AND d.domain` + like + `))`, []any{pattern, pattern, pattern}
}

// scopesColumn and scopesParam read and write API key scopes as text.
func (d *Dialect) scopesColumn() string { return or(d.ScopesColumn, "scopes") }
func (d *Dialect) scopesParam() string  { return or(d.ScopesParam, "?") }

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
