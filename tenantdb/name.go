package tenantdb

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap them with %w, so test
// for them with errors.Is.
var (
	// ErrInvalidName is returned for a database name that ValidateName rejects;
	// the wrapping error names the offending value and the rule it breaks.
	ErrInvalidName = errors.New("invalid database name")
	// ErrExists is returned by Create when the database is already there.
	ErrExists = errors.New("database already exists")
	// ErrNotExist is returned when a database that must exist does not.
	ErrNotExist = errors.New("database does not exist")
	// ErrClosed is returned by ConnManager.Acquire after ConnManager.Close.
	ErrClosed = errors.New("connection manager closed")
	// ErrUnavailable is wrapped by errors of a tenant database that cannot
	// serve now but may later: its server or shard is down or unreachable,
	// the connection was lost mid-transaction, or its schema or
	// registration is missing. Nothing of the failed statement was kept.
	ErrUnavailable = errors.New("tenant database unavailable")
)

// MaxNameLen is the longest valid database name, in bytes. It is the
// identifier limit of PostgreSQL (63) and within MySQL's (64).
const MaxNameLen = 63

const (
	namePrefix = "tenant_"
	randHexLen = 8
)

// ValidateName reports whether name is a valid tenant database identifier,
// matching ^[a-z][a-z0-9_]{0,62}$: a lower-case ASCII letter followed by at
// most 62 lower-case ASCII letters, digits or underscores. The returned error
// wraps ErrInvalidName and says what is wrong.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: name is empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w %q: %d bytes long, at most %d allowed", ErrInvalidName, shorten(name), len(name), MaxNameLen)
	}
	if c := name[0]; c < 'a' || c > 'z' {
		return fmt.Errorf("%w %q: must start with a lower-case ASCII letter (a-z)", ErrInvalidName, name)
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' {
			continue
		}
		return fmt.Errorf("%w %q: byte %d (%q) is not a lower-case ASCII letter, digit or underscore", ErrInvalidName, name, i, c)
	}
	return nil
}

// shorten keeps error messages readable for absurdly long inputs.
func shorten(s string) string {
	const keep = 80
	if len(s) <= keep {
		return s
	}
	return s[:keep] + "..."
}

// GenerateName returns a fresh database name for a tenant called tenantName:
// "tenant_<slug>_<8 lower-case hex random digits>". The slug is the lower-cased
// name with every run of characters outside [a-z0-9] replaced by one "_",
// trimmed of "_" and truncated so that the whole name is at most 63 bytes.
// When the slug is empty (for example a name written in another script, or
// only symbols) the result is "tenant_<8 hex>". The result always passes
// ValidateName; the random suffix makes collisions between tenants with the
// same name unlikely, but callers still rely on Create's ErrExists.
func GenerateName(tenantName string) string {
	return GenerateNameWithPrefix(namePrefix, tenantName)
}

// MaxPrefixLen is the longest prefix GenerateNameWithPrefix takes.
const MaxPrefixLen = 24

// ValidatePrefix checks a database name prefix: a lower-case ASCII letter,
// then lower-case letters, digits or underscores, at most MaxPrefixLen
// bytes. The error wraps ErrInvalidName.
func ValidatePrefix(prefix string) error {
	if len(prefix) > MaxPrefixLen {
		return fmt.Errorf("%w: prefix %q is %d bytes long, at most %d allowed", ErrInvalidName, shorten(prefix), len(prefix), MaxPrefixLen)
	}
	if err := ValidateName(prefix); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// GenerateNameWithPrefix is GenerateName with another prefix than
// "tenant_" (one that passes ValidatePrefix).
func GenerateNameWithPrefix(prefix, tenantName string) string {
	var rnd [randHexLen / 2]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never returns an error
	suffix := hex.EncodeToString(rnd[:])
	if !strings.HasSuffix(prefix, "_") {
		prefix += "_"
	}
	maxSlug := MaxNameLen - len(prefix) - 1 - randHexLen
	slug := slugify(tenantName, maxSlug)
	if slug == "" {
		return prefix + suffix
	}
	return prefix + slug + "_" + suffix
}

// slugify lower-cases s, collapses runs of characters outside [a-z0-9] into a
// single "_", trims "_" from both ends and truncates the result to at most max
// bytes (without leaving a trailing "_").
func slugify(s string, max int) string {
	var b strings.Builder
	pendingSep := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pendingSep && b.Len() > 0 {
				if b.Len()+1 >= max {
					break
				}
				b.WriteByte('_')
			}
			pendingSep = false
			if b.Len() >= max {
				break
			}
			b.WriteRune(r)
			continue
		}
		pendingSep = true
	}
	return b.String()
}

// QuoteIdent quotes name as an SQL identifier with double quotes, doubling
// any embedded double quote, as SQLite and PostgreSQL expect (MySQL does too
// in ANSI_QUOTES mode). It does not validate name; database names reach SQL
// text only after ValidateName has accepted them.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
