package tenancy

import "github.com/gotenancy/tenancy/model"

// The model's types, constants and errors, re-exported so that an
// application needs only this package. See package model for their docs.

type (
	// Event is model.Event.
	Event = model.Event
	// EventKind is model.EventKind.
	EventKind = model.EventKind
	// Hook is model.Hook.
	Hook = model.Hook
	// Watcher is model.Watcher.
	Watcher = model.Watcher
	// AuditRecorder is model.AuditRecorder.
	AuditRecorder = model.AuditRecorder
	// AuditEntry is model.AuditEntry.
	AuditEntry = model.AuditEntry
	// Domain is model.Domain.
	Domain = model.Domain
	// ListOptions is model.ListOptions.
	ListOptions = model.ListOptions
	// LockedError is model.LockedError.
	LockedError = model.LockedError
	// OperationRecord is model.OperationRecord.
	OperationRecord = model.OperationRecord
	// StateError is model.StateError.
	StateError = model.StateError
	// Status is model.Status.
	Status = model.Status
	// Store is model.Store.
	Store = model.Store
	// Tenant is model.Tenant.
	Tenant = model.Tenant
	// ValidationError is model.ValidationError.
	ValidationError = model.ValidationError
)

const (
	// EventCreating is model.EventCreating.
	EventCreating = model.EventCreating
	// EventCreated is model.EventCreated.
	EventCreated = model.EventCreated
	// EventUpdated is model.EventUpdated.
	EventUpdated = model.EventUpdated
	// EventStatusChanged is model.EventStatusChanged.
	EventStatusChanged = model.EventStatusChanged
	// EventDeleting is model.EventDeleting.
	EventDeleting = model.EventDeleting
	// EventDeleted is model.EventDeleted.
	EventDeleted = model.EventDeleted
	// EventDomainAdded is model.EventDomainAdded.
	EventDomainAdded = model.EventDomainAdded
	// EventDomainRemoved is model.EventDomainRemoved.
	EventDomainRemoved = model.EventDomainRemoved
	// DefaultPerPage is model.DefaultPerPage.
	DefaultPerPage = model.DefaultPerPage
	// MaxPerPage is model.MaxPerPage.
	MaxPerPage = model.MaxPerPage
	// OpMigrate is model.OpMigrate.
	OpMigrate = model.OpMigrate
	// OpSeed is model.OpSeed.
	OpSeed = model.OpSeed
	// StateFailed is model.StateFailed.
	StateFailed = model.StateFailed
	// StatePending is model.StatePending.
	StatePending = model.StatePending
	// StateRunning is model.StateRunning.
	StateRunning = model.StateRunning
	// StateSucceeded is model.StateSucceeded.
	StateSucceeded = model.StateSucceeded
	// StatusActive is model.StatusActive.
	StatusActive = model.StatusActive
	// StatusBlocked is model.StatusBlocked.
	StatusBlocked = model.StatusBlocked
	// StatusDeleting is model.StatusDeleting.
	StatusDeleting = model.StatusDeleting
	// StatusInactive is model.StatusInactive.
	StatusInactive = model.StatusInactive
	// StatusProvisioning is model.StatusProvisioning.
	StatusProvisioning = model.StatusProvisioning
	// StatusSuspended is model.StatusSuspended.
	StatusSuspended = model.StatusSuspended
)

var (
	// ErrDatabaseTaken is model.ErrDatabaseTaken.
	ErrDatabaseTaken = model.ErrDatabaseTaken
	// ErrDomainNotFound is model.ErrDomainNotFound.
	ErrDomainNotFound = model.ErrDomainNotFound
	// ErrDomainTaken is model.ErrDomainTaken.
	ErrDomainTaken = model.ErrDomainTaken
	// ErrLastDomain is model.ErrLastDomain.
	ErrLastDomain = model.ErrLastDomain
	// ErrLockLost is model.ErrLockLost.
	ErrLockLost = model.ErrLockLost
	// ErrLocked is model.ErrLocked.
	ErrLocked = model.ErrLocked
	// ErrNoTenant is model.ErrNoTenant.
	ErrNoTenant = model.ErrNoTenant
	// ErrNotFound is model.ErrNotFound.
	ErrNotFound = model.ErrNotFound
	// ErrTenantState is model.ErrTenantState.
	ErrTenantState = model.ErrTenantState
	// LifecycleStatuses is model.LifecycleStatuses.
	LifecycleStatuses = model.LifecycleStatuses
	// SortFields is model.SortFields.
	SortFields = model.SortFields
	// Statuses is model.Statuses.
	Statuses = model.Statuses
)

// ParseStatus is model.ParseStatus.
func ParseStatus(s string) (Status, error) { return model.ParseStatus(s) }

// IsValidation is model.IsValidation.
func IsValidation(err error) bool { return model.IsValidation(err) }

// NormalizeDomain is model.NormalizeDomain.
func NormalizeDomain(s string) (string, error) { return model.NormalizeDomain(s) }
