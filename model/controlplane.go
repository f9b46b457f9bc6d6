package model

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Scope is what an API key may do.
type Scope string

// The API key scopes: read sees, write changes tenants, admin also runs
// fleet and system operations.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
	ScopeAdmin Scope = "admin"
)

// ErrInvalidKey means an API key is unknown, malformed or revoked.
var ErrInvalidKey = errors.New("invalid API key")

// APIKey is a stored API key: never the key itself, only its hash.
type APIKey struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Hash       []byte     `json:"-"`
	Scopes     []Scope    `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Allows reports whether the key grants scope: admin grants everything,
// write grants read.
func (k *APIKey) Allows(s Scope) bool {
	for _, have := range k.Scopes {
		if have == s || have == ScopeAdmin || (have == ScopeWrite && s == ScopeRead) {
			return true
		}
	}
	return false
}

// AdminUser is a person who may sign in to the admin dashboard.
type AdminUser struct {
	ID           int64      `json:"id"`
	Email        string     `json:"email"`
	CreatedAt    time.Time  `json:"created_at"`
	LastSignInAt *time.Time `json:"last_sign_in_at,omitempty"`
}

// Sentinel errors of admin users and their sessions.
var (
	// ErrBadCredentials means an email and password do not sign anyone in:
	// the email is unknown or the password is wrong (which one is not said).
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrAdminExists means an admin user with the email exists already.
	ErrAdminExists = errors.New("admin user already exists")
)

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	TenantUUID string          `json:"tenant_uuid,omitempty"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	ClientIP   string          `json:"client_ip,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
	Outcome    string          `json:"outcome"` // succeeded or failed
	Error      string          `json:"error,omitempty"`
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	TenantUUID string
	Actor      string
	Action     string
	Since      time.Time
	// Limit is at most MaxAuditLimit; default 100. Newest entries first.
	Limit int
}

// MaxAuditLimit bounds AuditFilter.Limit.
const MaxAuditLimit = 1000

// AuditRecorder appends entries to the audit log. The Manager records every
// change it makes through one (tenancy.Config.Audit).
type AuditRecorder interface {
	// RecordAudit appends e, setting its ID and time.
	RecordAudit(ctx context.Context, e *AuditEntry) error
}
