package model

import (
	"context"
	"time"
)

// Store is the central catalog of tenants and their domains. Implementations
// (SQLite, PostgreSQL, …) live under store/ and all pass store/storetest.
//
// Store methods trust their input: validation, normalisation and events are
// the Manager's job. They report conflicts with ErrDomainTaken and
// ErrDatabaseTaken, and missing rows with ErrNotFound or ErrDomainNotFound.
type Store interface {
	// CreateTenant inserts t and t.Domains in one transaction, setting their
	// IDs and timestamps. Exactly one domain ends up primary. t.Status may
	// be StatusProvisioning (the tenant is then reported as provisioning
	// until CommitTenant); a zero t.Generation is stored as 1.
	CreateTenant(ctx context.Context, t *Tenant) error
	// CommitTenant ends a tenant's provisioning: its status becomes status
	// (a settable one). A tenant that is not provisioning is a *StateError
	// with its current state; a missing one ErrNotFound.
	CommitTenant(ctx context.Context, id int64, status Status) error
	// MarkDeleting puts a tenant in StatusDeleting, from any status but
	// StatusProvisioning (a *StateError); marking a deleting tenant again
	// is fine. A missing tenant is ErrNotFound.
	MarkDeleting(ctx context.Context, id int64) error
	// TenantByUUID returns the tenant with its domains.
	TenantByUUID(ctx context.Context, uuid string) (*Tenant, error)
	// TenantByDomain returns the tenant owning the normalised domain.
	TenantByDomain(ctx context.Context, domain string) (*Tenant, error)
	// ListTenants returns one page of tenants with their domains and the
	// total number matching the filter. opts is already validated.
	ListTenants(ctx context.Context, opts ListOptions) ([]*Tenant, int, error)
	// AllTenants returns every tenant (with domains) whose status is in
	// statuses, or every tenant when statuses is empty, ordered by id.
	AllTenants(ctx context.Context, statuses ...Status) ([]*Tenant, error)
	// UpdateTenant saves name, status, status reason, visitor message,
	// notes, settings, data and maintenance fields of t, and sets
	// t.UpdatedAt. It never changes a lifecycle state: a tenant that is
	// provisioning or deleting stays so (and t.Status must then be a
	// settable status or its current state).
	UpdateTenant(ctx context.Context, t *Tenant) error
	// DeleteTenant removes the tenant, its domains and its operation records.
	DeleteTenant(ctx context.Context, id int64) error
	// AddDomain adds d to its tenant, setting its ID and creation time. When
	// d.IsPrimary, the tenant's other domains stop being primary.
	AddDomain(ctx context.Context, d *Domain) error
	// RemoveDomain removes one domain of a tenant; when it was the primary
	// one, the oldest remaining domain becomes primary. Removing the
	// tenant's last domain is ErrLastDomain, decided in the same
	// transaction, so that concurrent removals never leave a tenant
	// without a domain.
	RemoveDomain(ctx context.Context, tenantID int64, domain string) error
	// UpdateDomain renames one of a tenant's domains (by id) and sets its
	// SSL flag; a taken name is ErrDomainTaken.
	UpdateDomain(ctx context.Context, tenantID, domainID int64, domain string, sslEnabled bool) error
	// SetPrimaryDomain makes domain the tenant's only primary domain.
	SetPrimaryDomain(ctx context.Context, tenantID int64, domain string) error
	// RecordOperation stores the outcome of an operation on a tenant,
	// replacing the previous outcome of the same operation.
	RecordOperation(ctx context.Context, rec OperationRecord) error
	// RecordOperations stores many records in one transaction (a fleet
	// run's pending records); records of tenants that no longer exist are
	// left out.
	RecordOperations(ctx context.Context, recs []OperationRecord) error

	// Per-tenant exclusive locks, held around every operation that changes
	// a tenant's database. Locks are keyed by the tenant's uuid, not its
	// row, so that Create can hold the lock before the record exists. A
	// holder is a unique name of one operation (host, process and run).
	// PostgreSQL holds a session advisory lock on a dedicated connection
	// (released by the server when the holder dies); SQLite and MySQL a
	// lease row that expires ttl after it was taken or last renewed, so a
	// crashed holder's lock lapses.

	// TryLockTenant takes the lock of the tenant with this uuid for holder
	// without waiting, or returns a *LockedError naming the current
	// holder.
	TryLockTenant(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error
	// RenewTenantLock extends holder's lease by ttl; ErrLockLost when
	// holder no longer holds the lock.
	RenewTenantLock(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error
	// UnlockTenant releases holder's lock; releasing a lock one does not
	// hold is no error.
	UnlockTenant(ctx context.Context, tenantUUID, holder string) error
	// Operations lists the recorded outcomes of an operation, ordered by
	// tenant id; state "" means every state.
	Operations(ctx context.Context, operation, state string) ([]OperationRecord, error)
	// TouchTenants sets last_accessed_at for many tenants at once.
	TouchTenants(ctx context.Context, accessed map[int64]time.Time) error
	// CountByStatus counts tenants in each status.
	CountByStatus(ctx context.Context) (map[Status]int, error)

	// Close releases the store's resources.
	Close() error
}

// ListOptions selects, orders and pages tenants.
type ListOptions struct {
	// Status keeps only tenants in this status; "" keeps all.
	Status Status
	// Search matches a substring (case-insensitive) of the name, any
	// domain or the database name.
	Search string
	// Sort is one of SortFields; "" means "created_at".
	Sort string
	// Desc orders descending.
	Desc bool
	// Page is 1-based; PerPage at most MaxPerPage.
	Page, PerPage int
}

// Paging limits for ListOptions.
const (
	DefaultPerPage = 15
	MaxPerPage     = 100
)

// SortFields are the fields tenants can be sorted by.
var SortFields = []string{"name", "created_at", "updated_at", "last_accessed_at", "status"}
