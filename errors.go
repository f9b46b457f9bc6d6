package tenancy

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
)

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
