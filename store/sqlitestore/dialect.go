package sqlitestore

import (
	"errors"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gotenancy/tenancy/store/sqlstore"
)

// dialect is how SQLite differs: times are integer microseconds, every
// transaction takes the write lock at its start (_txlock=immediate), so
// no SELECT needs to lock rows; names sort with NOCASE, and a search is one
// LIKE over the search_text column that triggers keep.
var dialect = sqlstore.Dialect{
	Name:                "sqlitestore",
	UnixMicros:          true,
	NameOrder:           "t.name COLLATE NOCASE",
	SearchColumn:        "t.search_text",
	UniqueViolation:     uniqueViolation,
	ForeignKeyViolation: foreignKeyViolation,
}

// uniqueViolation names the unique key a UNIQUE or PRIMARY KEY constraint
// failure is on, from its message ("… constraint failed: domains.domain").
func uniqueViolation(err error) (string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return "", false
	}
	msg := se.Error()
	i := strings.LastIndex(msg, "failed: ")
	if i < 0 {
		return "", true
	}
	key, _, _ := strings.Cut(msg[i+len("failed: "):], " ")
	key = strings.TrimSuffix(key, ",")
	return strings.ReplaceAll(key, ".", "_"), true
}

// foreignKeyViolation reports whether err is a FOREIGN KEY constraint
// failure.
func foreignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
