package tenancy

import (
	"fmt"
	"strings"
)

// Status is a tenant's lifecycle state. Maintenance is not a status: it is a
// separate per-tenant flag (see Tenant.Maintenance).
type Status string

// The statuses a tenant can be in.
const (
	// StatusActive tenants are served.
	StatusActive Status = "active"
	// StatusInactive tenants are disabled; their data is kept.
	StatusInactive Status = "inactive"
	// StatusSuspended tenants are refused temporarily.
	StatusSuspended Status = "suspended"
	// StatusBlocked tenants are refused permanently.
	StatusBlocked Status = "blocked"
)

// Statuses lists every valid status in a stable order.
var Statuses = []Status{StatusActive, StatusInactive, StatusSuspended, StatusBlocked}

// ParseStatus parses s (case-insensitive, surrounding space ignored). Anything
// other than a known status is a *ValidationError on field "status".
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	if st.Valid() {
		return st, nil
	}
	return "", &ValidationError{Field: "status", Reason: fmt.Sprintf("unknown status %q (want one of active, inactive, suspended, blocked)", s)}
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusInactive, StatusSuspended, StatusBlocked:
		return true
	}
	return false
}

// String returns the status as text.
func (s Status) String() string { return string(s) }

// Served reports whether requests for a tenant in this status reach the application.
func (s Status) Served() bool { return s == StatusActive }
