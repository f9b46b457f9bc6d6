package mysqlstore

import (
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/gotenancy/tenancy/store/sqlstore"
)

// dialect is how MySQL differs: ids come from LastInsertId, upserts are ON
// DUPLICATE KEY UPDATE, identifiers are quoted with backticks, text
// compares without regard to case (the tables' collation), and InnoDB
// deadlock victims are run again. Tenant uuids and holders are limited to
// the 255 bytes of tenant_locks' columns, which a server not in strict mode
// would truncate silently.
var dialect = sqlstore.Dialect{
	Name:                "mysqlstore",
	LastInsertID:        true,
	OnDuplicateKey:      true,
	IdentQuote:          "`",
	ForUpdate:           " FOR UPDATE",
	MaxLockName:         255,
	PrepareLookups:      true,
	UniqueViolation:     duplicateKey,
	ForeignKeyViolation: func(err error) bool { return isError(err, errNoParentRow) },
	Retryable:           func(err error) bool { return isError(err, errLockDeadlock) },
}

// MySQL error numbers the store tells apart.
const (
	errDupEntry     = 1062
	errNoParentRow  = 1452
	errLockDeadlock = 1213
)

// isError reports whether err is a server error with the given number.
func isError(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}

// duplicateKey returns the name of the unique key a duplicate-entry error
// names: "Duplicate entry 'x' for key 'k'" (MariaDB) or "… for key
// 'table.k'" (MySQL 8).
func duplicateKey(err error) (string, bool) {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != errDupEntry {
		return "", false
	}
	i := strings.LastIndex(me.Message, " for key '")
	if i < 0 {
		return "", true
	}
	key := strings.TrimSuffix(me.Message[i+len(" for key '"):], "'")
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	return key, true
}
