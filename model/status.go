package model

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

	// StatusProvisioning is the lifecycle state of a tenant being created:
	// its record exists but its database, migrations or seed are not done.
	// It is never routable and cannot be set; Create commits the requested
	// status only when every step has succeeded.
	StatusProvisioning Status = "provisioning"
	// StatusDeleting is the lifecycle state of a tenant being deleted. It is
	// never routable and cannot be set or left: the delete is finished by
	// whoever touches the tenant next.
	StatusDeleting Status = "deleting"
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

// LifecycleStatuses lists the transient states of a tenant being created or
// deleted. Stores report them as the tenant's status; they are never set by
// a caller.
var LifecycleStatuses = []Status{StatusProvisioning, StatusDeleting}

// Lifecycle reports whether s is a transient lifecycle state
// (StatusProvisioning or StatusDeleting).
func (s Status) Lifecycle() bool { return s == StatusProvisioning || s == StatusDeleting }

// Valid reports whether s is one of the statuses a caller may set.
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
