package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// The control plane's tables: API keys, the audit log, admin users and
// their dashboard sessions.

func joinScopes(scopes []model.Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func splitScopes(s string) []model.Scope {
	var out []model.Scope
	for part := range strings.SplitSeq(s, ",") {
		if part != "" {
			out = append(out, model.Scope(part))
		}
	}
	return out
}

// CreateAPIKey implements model.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *model.APIKey) error {
	at := s.now()
	id, err := s.run().insert(ctx, `INSERT INTO api_keys (name, prefix, hash, scopes, created_at)
		VALUES (?, ?, ?, `+s.d.scopesParam()+`, ?)`, k.Name, k.Prefix, k.Hash, joinScopes(k.Scopes), s.d.time(at))
	if key, dup := s.d.UniqueViolation(err); dup {
		if key == "api_keys_name" {
			return &model.ValidationError{Field: "name", Reason: fmt.Sprintf("an API key named %q exists already", k.Name)}
		}
		return fmt.Errorf("api key prefix collision, try again: %w", err)
	}
	if err != nil {
		return err
	}
	k.ID, k.CreatedAt = id, at
	return nil
}

func (s *Store) apiKeyColumns() string {
	return `id, name, prefix, hash, ` + s.d.scopesColumn() + `, created_at, last_used_at, revoked_at`
}

func scanAPIKey(row rowScanner) (*model.APIKey, error) {
	var k model.APIKey
	var scopes string
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &scopes, timeColumn{&k.CreatedAt},
		nullTimeColumn{&k.LastUsedAt}, nullTimeColumn{&k.RevokedAt}); err != nil {
		return nil, err
	}
	k.Scopes = splitScopes(scopes)
	return &k, nil
}

// APIKeyByPrefix implements model.Store.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*model.APIKey, error) {
	k, err := scanAPIKey(s.run().queryRow(ctx, `SELECT `+s.apiKeyColumns()+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return k, err
}

// ListAPIKeys implements model.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]model.APIKey, error) {
	rows, err := s.run().query(ctx, `SELECT `+s.apiKeyColumns()+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := []model.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, *k)
	}
	return keys, rows.Err()
}

// RevokeAPIKey implements model.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, nameOrPrefix string) error {
	return s.run().mustAffect(ctx, model.ErrNotFound, `UPDATE api_keys SET revoked_at = ?
		WHERE (name = ? OR prefix = ?) AND revoked_at IS NULL`, s.d.time(s.now()), nameOrPrefix, nameOrPrefix)
}

// RecordAudit implements model.Store.
func (s *Store) RecordAudit(ctx context.Context, e *model.AuditEntry) error {
	at := s.now()
	id, err := s.run().insert(ctx, `INSERT INTO audit_log (at, actor, action, tenant_uuid, `+s.d.quote("before")+`, `+
		s.d.quote("after")+`, client_ip, request_id, outcome, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.d.time(at), e.Actor, e.Action, e.TenantUUID, nullJSON(e.Before), nullJSON(e.After), e.ClientIP, e.RequestID, e.Outcome, e.Error)
	if err != nil {
		return err
	}
	e.ID, e.At = id, at
	return nil
}

// ListAudit implements model.Store.
func (s *Store) ListAudit(ctx context.Context, f model.AuditFilter) ([]model.AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{{"tenant_uuid", f.TenantUUID}, {"actor", f.Actor}, {"action", f.Action}} {
		if c.val != "" {
			where = append(where, c.col+` = ?`)
			args = append(args, c.val)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, s.d.time(f.Since))
	}
	query := `SELECT id, at, actor, action, tenant_uuid, ` + s.d.quote("before") + `, ` + s.d.quote("after") +
		`, client_ip, request_id, outcome, error FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.run().query(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.AuditEntry{}
	for rows.Next() {
		var e model.AuditEntry
		var before, after sql.NullString
		if err := rows.Scan(&e.ID, timeColumn{&e.At}, &e.Actor, &e.Action, &e.TenantUUID, &before, &after, &e.ClientIP,
			&e.RequestID, &e.Outcome, &e.Error); err != nil {
			return nil, err
		}
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreateAdminUser implements model.Store.
func (s *Store) CreateAdminUser(ctx context.Context, email, passwordHash string) (*model.AdminUser, error) {
	u := &model.AdminUser{Email: email, CreatedAt: s.now()}
	id, err := s.run().insert(ctx, `INSERT INTO admin_users (email, password_hash, created_at) VALUES (?, ?, ?)`,
		email, passwordHash, s.d.time(u.CreatedAt))
	if key, dup := s.d.UniqueViolation(err); dup && key == "admin_users_email" {
		return nil, fmt.Errorf("%w: %s", model.ErrAdminExists, email)
	}
	if err != nil {
		return nil, err
	}
	u.ID = id
	return u, nil
}

const adminUserColumns = `u.id, u.email, u.created_at, u.last_sign_in_at`

// scanAdminUser reads a row of adminUserColumns, then any extra columns into extra.
func scanAdminUser(row rowScanner, extra ...any) (*model.AdminUser, error) {
	var u model.AdminUser
	if err := row.Scan(append([]any{&u.ID, &u.Email, timeColumn{&u.CreatedAt}, nullTimeColumn{&u.LastSignInAt}}, extra...)...); err != nil {
		return nil, err
	}
	return &u, nil
}

// AdminUserByEmail implements model.Store.
func (s *Store) AdminUserByEmail(ctx context.Context, email string) (*model.AdminUser, string, error) {
	var hash string
	u, err := scanAdminUser(s.run().queryRow(ctx, `SELECT `+adminUserColumns+`, u.password_hash FROM admin_users u
		WHERE u.email = ?`, email), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", model.ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	return u, hash, nil
}

// ListAdminUsers implements model.Store.
func (s *Store) ListAdminUsers(ctx context.Context) ([]model.AdminUser, error) {
	rows, err := s.run().query(ctx, `SELECT `+adminUserColumns+` FROM admin_users u ORDER BY u.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := []model.AdminUser{}
	for rows.Next() {
		u, err := scanAdminUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, *u)
	}
	return users, rows.Err()
}

// DeleteAdminUser implements model.Store. The user's sessions go with it
// (ON DELETE CASCADE).
func (s *Store) DeleteAdminUser(ctx context.Context, email string) error {
	return s.run().mustAffect(ctx, model.ErrNotFound, `DELETE FROM admin_users WHERE email = ?`, email)
}

// TouchAdminSignIn implements model.Store.
func (s *Store) TouchAdminSignIn(ctx context.Context, id int64, at time.Time) error {
	return s.run().mustAffect(ctx, model.ErrNotFound, `UPDATE admin_users SET last_sign_in_at = ? WHERE id = ?`, s.d.time(at), id)
}

// CreateAdminSession implements model.Store.
func (s *Store) CreateAdminSession(ctx context.Context, tokenHash []byte, userID int64, expires, at time.Time) error {
	_, err := s.run().exec(ctx, `INSERT INTO admin_sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tokenHash, userID, s.d.time(at), s.d.time(expires))
	if err != nil && s.d.ForeignKeyViolation(err) {
		return model.ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = s.run().exec(ctx, `DELETE FROM admin_sessions WHERE expires_at <= ?`, s.d.time(at))
	return err
}

// AdminSessionUser implements model.Store.
func (s *Store) AdminSessionUser(ctx context.Context, tokenHash []byte, at time.Time) (*model.AdminUser, error) {
	u, err := scanAdminUser(s.run().queryRow(ctx, `SELECT `+adminUserColumns+` FROM admin_sessions x
		JOIN admin_users u ON u.id = x.user_id WHERE x.token_hash = ? AND x.expires_at > ?`, tokenHash, s.d.time(at)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return u, err
}

// DeleteAdminSession implements model.Store.
func (s *Store) DeleteAdminSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.run().exec(ctx, `DELETE FROM admin_sessions WHERE token_hash = ?`, tokenHash)
	return err
}
