package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gotenancy/tenancy/model"
)

var _ model.DataStore = (*Store)(nil)

const backupColumns = `id, tenant_uuid, destination, object_key, engine, mode, migration_version, size, sha256,
	compressed, encrypted, state, error, created_at, completed_at`

// SaveBackup implements model.DataStore.
func (s *Store) SaveBackup(ctx context.Context, b *model.Backup) error {
	if b.CreatedAt.IsZero() {
		b.CreatedAt = s.now()
	}
	var completed any
	if b.CompletedAt != nil {
		completed = s.d.time(*b.CompletedAt)
	}
	args := []any{b.ID, b.TenantUUID, b.Destination, b.Key, b.Engine, b.Mode, b.MigrationVersion, b.Size, b.SHA256,
		b.Compressed, b.Encrypted, b.State, b.Error, s.d.time(b.CreatedAt), completed}
	return s.inTx(ctx, func(tx runner) error {
		n, err := tx.affected(ctx, `UPDATE tenant_backups SET tenant_uuid = ?, destination = ?, object_key = ?, engine = ?,
			mode = ?, migration_version = ?, size = ?, sha256 = ?, compressed = ?, encrypted = ?, state = ?, error = ?,
			created_at = ?, completed_at = ? WHERE id = ?`, append(args[1:], b.ID)...)
		if err != nil || n == 1 {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO tenant_backups (`+backupColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
		return err
	})
}

// Backups implements model.DataStore.
func (s *Store) Backups(ctx context.Context, tenantUUID string) ([]*model.Backup, error) {
	query, args := `SELECT `+backupColumns+` FROM tenant_backups`, []any{}
	if tenantUUID != "" {
		query, args = query+` WHERE tenant_uuid = ?`, append(args, tenantUUID)
	}
	rows, err := s.run().query(ctx, query+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*model.Backup{}
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// BackupByID implements model.DataStore.
func (s *Store) BackupByID(ctx context.Context, id string) (*model.Backup, error) {
	b, err := scanBackup(s.run().queryRow(ctx, `SELECT `+backupColumns+` FROM tenant_backups WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return b, err
}

// DeleteBackup implements model.DataStore.
func (s *Store) DeleteBackup(ctx context.Context, id string) error {
	_, err := s.run().exec(ctx, `DELETE FROM tenant_backups WHERE id = ?`, id)
	return err
}

// ReplaceDatabase implements model.DataStore.
func (s *Store) ReplaceDatabase(ctx context.Context, tenantID, generation int64, databaseName, shard string) error {
	n, err := s.run().affected(ctx, `UPDATE tenants SET database_name = ?, shard = ?, generation = generation + 1, updated_at = ?
		WHERE id = ? AND generation = ?`, databaseName, shard, s.d.time(s.now()), tenantID, generation)
	if err != nil || n == 1 {
		return err
	}
	var found int64
	if err := s.run().queryRow(ctx, `SELECT id FROM tenants WHERE id = ?`, tenantID).Scan(&found); errors.Is(err, sql.ErrNoRows) {
		return model.ErrNotFound
	} else if err != nil {
		return err
	}
	return model.ErrGenerationChanged
}

// scanBackup reads one row of backupColumns.
func scanBackup(row interface{ Scan(...any) error }) (*model.Backup, error) {
	var b model.Backup
	if err := row.Scan(&b.ID, &b.TenantUUID, &b.Destination, &b.Key, &b.Engine, &b.Mode, &b.MigrationVersion, &b.Size,
		&b.SHA256, &b.Compressed, &b.Encrypted, &b.State, &b.Error, timeColumn{&b.CreatedAt}, nullTimeColumn{&b.CompletedAt}); err != nil {
		return nil, err
	}
	return &b, nil
}
