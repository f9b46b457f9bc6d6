package model

import "context"

// EventKind names a point in a tenant's lifecycle.
type EventKind string

// The lifecycle events. Hooks on the "-ing" events run before the change and
// can veto it by returning an error; hooks on the others run after the change
// has been committed and their errors are logged, not returned.
const (
	EventCreating      EventKind = "tenant.creating"
	EventCreated       EventKind = "tenant.created"
	EventUpdated       EventKind = "tenant.updated"
	EventStatusChanged EventKind = "tenant.status_changed"
	EventDeleting      EventKind = "tenant.deleting"
	EventDeleted       EventKind = "tenant.deleted"
	EventDomainAdded   EventKind = "tenant.domain_added"
	EventDomainRemoved EventKind = "tenant.domain_removed"
)

// Event describes one lifecycle change.
type Event struct {
	Kind EventKind
	// Tenant is a copy of the tenant after the change (before it, for
	// creating and deleting).
	Tenant *Tenant
	// Domain is the domain added or removed.
	Domain string
	// PreviousStatus is set on EventStatusChanged.
	PreviousStatus Status
}

// Hook reacts to a lifecycle event.
type Hook func(ctx context.Context, e Event) error
