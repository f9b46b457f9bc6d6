package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// The control plane's records, re-exported from package model (where the
// catalog stores that keep them can reach them without importing this
// package).
type (
	// APIKey is model.APIKey.
	APIKey = model.APIKey
	// Scope is model.Scope.
	Scope = model.Scope
	// AdminUser is model.AdminUser.
	AdminUser = model.AdminUser
	// AuditEntry is model.AuditEntry.
	AuditEntry = model.AuditEntry
	// AuditFilter is model.AuditFilter.
	AuditFilter = model.AuditFilter
)

// Scopes, limits and errors of the control plane, from package model.
const (
	// ScopeRead is model.ScopeRead.
	ScopeRead = model.ScopeRead
	// ScopeWrite is model.ScopeWrite.
	ScopeWrite = model.ScopeWrite
	// ScopeAdmin is model.ScopeAdmin.
	ScopeAdmin = model.ScopeAdmin
	// MaxAuditLimit is model.MaxAuditLimit.
	MaxAuditLimit = model.MaxAuditLimit
)

var (
	// ErrInvalidKey is model.ErrInvalidKey.
	ErrInvalidKey = model.ErrInvalidKey
	// ErrBadCredentials is model.ErrBadCredentials.
	ErrBadCredentials = model.ErrBadCredentials
	// ErrAdminExists is model.ErrAdminExists.
	ErrAdminExists = model.ErrAdminExists
)

// KeyStore keeps API keys (only their hashes).
type KeyStore interface {
	// CreateAPIKey stores k, setting its ID and creation time; a taken
	// name is a *model.ValidationError on "name".
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByPrefix returns the key with this prefix, revoked or not.
	APIKeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// ListAPIKeys lists every key in creation order.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey revokes the key with this name or prefix
	// (model.ErrNotFound when none is active).
	RevokeAPIKey(ctx context.Context, nameOrPrefix string) error
}

// AuditStore keeps the audit log; the Manager writes to it through
// model.AuditRecorder.
type AuditStore interface {
	model.AuditRecorder
	// ListAudit lists entries matching f, newest first, at most f.Limit.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// AdminStore keeps admin users and their dashboard sessions. Emails arrive
// normalised; passwords only as bcrypt hashes, session tokens only as their
// SHA-256 hashes.
type AdminStore interface {
	// CreateAdminUser stores a user, setting its ID and creation time; a
	// taken email is ErrAdminExists.
	CreateAdminUser(ctx context.Context, email, passwordHash string) (*AdminUser, error)
	// AdminUserByEmail returns the user with this email and its password
	// hash (model.ErrNotFound when none).
	AdminUserByEmail(ctx context.Context, email string) (*AdminUser, string, error)
	// ListAdminUsers lists every user in creation order.
	ListAdminUsers(ctx context.Context) ([]AdminUser, error)
	// DeleteAdminUser removes the user with this email and its sessions
	// (model.ErrNotFound when none).
	DeleteAdminUser(ctx context.Context, email string) error
	// TouchAdminSignIn sets the user's last sign-in time
	// (model.ErrNotFound when there is no such user).
	TouchAdminSignIn(ctx context.Context, id int64, at time.Time) error
	// CreateAdminSession stores a session of userID that expires at
	// expires (model.ErrNotFound when there is no such user), and deletes
	// the sessions that have expired by now.
	CreateAdminSession(ctx context.Context, tokenHash []byte, userID int64, expires, now time.Time) error
	// AdminSessionUser returns the user of the session with tokenHash that
	// expires after now (model.ErrNotFound for an unknown or expired
	// session).
	AdminSessionUser(ctx context.Context, tokenHash []byte, now time.Time) (*AdminUser, error)
	// DeleteAdminSession removes the session; a missing one is no error.
	DeleteAdminSession(ctx context.Context, tokenHash []byte) error
}

// Store is everything the control plane keeps. Every catalog store of the
// project (store/sqlitestore, pgstore, mysqlstore) implements it beside
// model.Store.
type Store interface {
	KeyStore
	AuditStore
	AdminStore
}

// Config configures a ControlPlane; nil means the defaults.
type Config struct {
	// Now is the clock (sign-in and session times); default time.Now.
	Now func() time.Time
	// Logger receives audit entries that could not be recorded; default
	// slog.Default().
	Logger *slog.Logger
}

// ControlPlane is the binary's own service beside the tenancy Manager: API
// keys, admin users and their sessions, and the audit log. The REST API,
// the dashboard and the CLI go through it. It is safe for concurrent use.
type ControlPlane struct {
	store Store
	now   func() time.Time
	log   *slog.Logger
}

// New returns the control plane over store.
func New(store Store, cfg *Config) (*ControlPlane, error) {
	if store == nil {
		return nil, errors.New("controlplane: a store is required")
	}
	c := &ControlPlane{store: store, now: time.Now, log: slog.Default()}
	if cfg != nil {
		if cfg.Now != nil {
			c.now = cfg.Now
		}
		if cfg.Logger != nil {
			c.log = cfg.Logger
		}
	}
	return c, nil
}
