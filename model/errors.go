package model

import (
	"errors"
	"fmt"
)

// Sentinel errors for conditions that callers test with errors.Is.
var (
	// ErrNotFound means the tenant (or domain) does not exist.
	ErrNotFound = errors.New("tenant not found")
	// ErrDomainNotFound means the domain does not belong to the tenant.
	ErrDomainNotFound = errors.New("domain not found")
	// ErrDomainTaken means the domain already belongs to a tenant.
	ErrDomainTaken = errors.New("domain already taken")
	// ErrDatabaseTaken means another tenant already uses the database name.
	ErrDatabaseTaken = errors.New("database name already taken")
	// ErrNoTenant means a tenant-scoped call was made without a tenant in the context.
	ErrNoTenant = errors.New("no tenant in context")
	// ErrLastDomain means the operation would leave a tenant without a domain.
	ErrLastDomain = errors.New("a tenant must keep at least one domain")
	// ErrLocked means another operation holds the tenant's lock; the error
	// is a *LockedError naming the holder.
	ErrLocked = errors.New("tenant is locked")
	// ErrLockLost means a lock's lease expired or was taken over before it
	// was renewed or released.
	ErrLockLost = errors.New("tenant lock lost")
	// ErrTenantState means the tenant is being created or deleted
	// (StatusProvisioning, StatusDeleting) and cannot be changed or served;
	// the error is a *StateError.
	ErrTenantState = errors.New("tenant is not ready")
)

// LockedError reports that a tenant's lock is held by someone else.
type LockedError struct {
	// Tenant is the tenant's uuid ("" when the store did not know it).
	Tenant string
	// Holder names the operation holding the lock (host, process, run).
	Holder string
}

// Error returns "tenant T is locked by H".
func (e *LockedError) Error() string {
	if e.Tenant == "" {
		return "tenant is locked by " + e.Holder
	}
	return fmt.Sprintf("tenant %s is locked by %s", e.Tenant, e.Holder)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// StateError reports that a tenant is in a lifecycle state that forbids
// the operation.
type StateError struct {
	// Tenant is the tenant's uuid.
	Tenant string
	// Status is its current state.
	Status Status
}

// Error returns "tenant T is provisioning".
func (e *StateError) Error() string {
	return fmt.Sprintf("tenant %s is %s", e.Tenant, e.Status)
}

// Is makes errors.Is(err, ErrTenantState) true.
func (e *StateError) Is(target error) bool { return target == ErrTenantState }

// ValidationError reports one invalid input field.
type ValidationError struct {
	Field  string
	Reason string
}

// Error returns "field: reason".
func (e *ValidationError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// IsValidation reports whether err is (or wraps) a *ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}
