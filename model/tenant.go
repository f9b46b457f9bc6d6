package model

import (
	"maps"
	"slices"
	"time"
)

// Tenant is one customer of the application, with its own database, cache
// namespace, storage root and job context.
type Tenant struct {
	ID   int64  `json:"id"`
	UUID string `json:"uuid"`
	Name string `json:"name"`
	// Status is the tenant's status, or its lifecycle state
	// (StatusProvisioning, StatusDeleting) while it is being created or
	// deleted.
	Status Status `json:"status"`
	// StatusReason is the operator's internal reason for the status; it
	// is never shown to visitors.
	StatusReason string `json:"status_reason"`
	// VisitorMessage is shown to visitors on the status page of a tenant
	// that is not served (optional).
	VisitorMessage string `json:"visitor_message"`
	// Generation counts the databases the tenant has had: 1 when created,
	// bumped each time its database is replaced (restore, move), so that
	// no handle opened on an older database is ever served.
	Generation         int64          `json:"database_generation"`
	DatabaseName       string         `json:"database_name"`
	Shard              string         `json:"shard"`
	Notes              string         `json:"notes"`
	Settings           map[string]any `json:"settings"`
	Data               map[string]any `json:"data"`
	Maintenance        bool           `json:"maintenance"`
	MaintenanceMessage string         `json:"maintenance_message"`
	// MaintenanceSecret lets a visitor past maintenance mode: visiting
	// /__maintenance/<secret> on the tenant's host sets a bypass cookie.
	// It is never part of the tenant's JSON.
	MaintenanceSecret string     `json:"-"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	LastAccessedAt    *time.Time `json:"last_accessed_at"`
	Domains           []Domain   `json:"domains"`
}

// Domain is a host name that identifies a tenant. Domains are unique across
// all tenants and stored normalised (see NormalizeDomain).
type Domain struct {
	ID         int64     `json:"id"`
	TenantID   int64     `json:"tenant_id"`
	Domain     string    `json:"domain"`
	IsPrimary  bool      `json:"is_primary"`
	SSLEnabled bool      `json:"ssl_enabled"`
	CreatedAt  time.Time `json:"created_at"`
}

// PrimaryDomain returns the tenant's primary domain, or its first domain when
// none is marked primary, or "" when it has none.
func (t *Tenant) PrimaryDomain() string {
	for _, d := range t.Domains {
		if d.IsPrimary {
			return d.Domain
		}
	}
	if len(t.Domains) > 0 {
		return t.Domains[0].Domain
	}
	return ""
}

// Served reports whether requests for the tenant reach the application: it is
// active and not in maintenance.
func (t *Tenant) Served() bool { return t.Status.Served() && !t.Maintenance }

// OperationRecord is the last outcome of a fleet operation (such as "migrate"
// or "seed") on one tenant, as kept in the central catalog.
type OperationRecord struct {
	TenantID   int64  `json:"tenant_id"`
	TenantUUID string `json:"tenant_uuid"`
	Operation  string `json:"operation"`
	State      string `json:"state"`
	// RunID identifies the run that wrote the record ("" for one-off
	// operations).
	RunID    string        `json:"run_id,omitempty"`
	Version  int64         `json:"version"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	// FinishedAt is when the record was written: for StateRunning the
	// last heartbeat, for StatePending when the run started.
	FinishedAt time.Time `json:"finished_at"`
}

// Operation states recorded in OperationRecord.State. A run records every
// selected tenant as pending when it starts, running (with heartbeats)
// while it works on it, and then its outcome; a record left pending or
// running belongs to a run that was interrupted or is still going.
const (
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StatePending   = "pending"
	StateRunning   = "running"
)

// Operation names recorded in OperationRecord.Operation.
const (
	OpMigrate = "migrate"
	OpSeed    = "seed"
)

// Clone returns a deep copy of the tenant.
func (t *Tenant) Clone() *Tenant {
	c := *t
	c.Settings = maps.Clone(t.Settings)
	c.Data = maps.Clone(t.Data)
	c.Domains = slices.Clone(t.Domains)
	if t.LastAccessedAt != nil {
		at := *t.LastAccessedAt
		c.LastAccessedAt = &at
	}
	return &c
}
