package model

import (
	"context"
	"errors"
	"time"
)

// Backup states.
const (
	// BackupRunning is a backup being written; a crash leaves it so until
	// a prune or the next backup of the tenant marks it failed.
	BackupRunning = "running"
	// BackupComplete is a backup whose archive is at its destination and
	// whose checksum is recorded.
	BackupComplete = "complete"
	// BackupFailed is a backup that did not complete; nothing of it is
	// left at its destination.
	BackupFailed = "failed"
)

// Backup is the catalog's record of one backup of a tenant. Records are
// keyed by the tenant's uuid, without a foreign key: a backup outlives the
// tenant it was taken of (a deletion with backup=true, a clone source).
type Backup struct {
	// ID names the backup (a random, sortable id).
	ID         string `json:"id"`
	TenantUUID string `json:"tenant_uuid"`
	// Destination is the destination's URL, without secrets.
	Destination string `json:"destination"`
	// Key is the archive's key at the destination.
	Key string `json:"key"`
	// Engine and Mode name what the database part holds ("sqlite" and
	// "sqlite", "postgres" and "postgres-schema", …).
	Engine string `json:"engine"`
	Mode   string `json:"mode"`
	// MigrationVersion is the tenant database's migration version when
	// the backup was taken.
	MigrationVersion int64 `json:"migration_version"`
	// Size is the archive's size in bytes and SHA256 its checksum (hex),
	// as stored at the destination.
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Compressed bool   `json:"compressed"`
	Encrypted  bool   `json:"encrypted"`
	State      string `json:"state"`
	// Error is why a failed backup failed.
	Error       string     `json:"error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// ErrGenerationChanged is returned by ReplaceDatabase when the tenant's
// database generation is no longer the one the caller read: someone else
// replaced its database meanwhile.
var ErrGenerationChanged = errors.New("the tenant's database was replaced meanwhile")

// DataStore is the part of the catalog the data operations (backup,
// restore, move) use. The catalogs of this module implement it beside
// Store.
type DataStore interface {
	// SaveBackup inserts b, or updates the record with b's ID.
	SaveBackup(ctx context.Context, b *Backup) error
	// Backups lists the backups of a tenant (every tenant when tenantUUID
	// is ""), newest first.
	Backups(ctx context.Context, tenantUUID string) ([]*Backup, error)
	// BackupByID returns one backup, or ErrNotFound.
	BackupByID(ctx context.Context, id string) (*Backup, error)
	// DeleteBackup removes a backup's record; a missing one is no error.
	DeleteBackup(ctx context.Context, id string) error
	// ReplaceDatabase points the tenant with this id at another database
	// (on shard, which may be the same) and bumps its generation, if its
	// generation is still generation (else ErrGenerationChanged), so that
	// every process drops the handles it holds on the old one.
	ReplaceDatabase(ctx context.Context, tenantID, generation int64, databaseName, shard string) error
}
