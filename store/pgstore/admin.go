package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gotenancy/tenancy/model"
)

// CreateAdminUser implements model.Store.
func (s *Store) CreateAdminUser(ctx context.Context, email, passwordHash string) (*model.AdminUser, error) {
	u := &model.AdminUser{Email: email, CreatedAt: now()}
	err := s.pool.QueryRow(ctx, `INSERT INTO admin_users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id`,
		email, passwordHash, u.CreatedAt).Scan(&u.ID)
	if pe, ok := pgError(err, uniqueViolation); ok && pe.ConstraintName == "admin_users_email_key" {
		return nil, fmt.Errorf("%w: %s", model.ErrAdminExists, email)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

const adminUserColumns = `u.id, u.email, u.created_at, u.last_sign_in_at`

// scanAdminUser reads a row of adminUserColumns, then any extra columns into extra.
func scanAdminUser(row pgx.Row, extra ...any) (*model.AdminUser, error) {
	var u model.AdminUser
	if err := row.Scan(append([]any{&u.ID, &u.Email, &u.CreatedAt, &u.LastSignInAt}, extra...)...); err != nil {
		return nil, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if u.LastSignInAt != nil {
		at := u.LastSignInAt.UTC()
		u.LastSignInAt = &at
	}
	return &u, nil
}

// AdminUserByEmail implements model.Store.
func (s *Store) AdminUserByEmail(ctx context.Context, email string) (*model.AdminUser, string, error) {
	var hash string
	u, err := scanAdminUser(s.pool.QueryRow(ctx, `SELECT `+adminUserColumns+`, u.password_hash FROM admin_users u WHERE u.email = $1`, email), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", model.ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	return u, hash, nil
}

// ListAdminUsers implements model.Store.
func (s *Store) ListAdminUsers(ctx context.Context) ([]model.AdminUser, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+adminUserColumns+` FROM admin_users u ORDER BY u.id`)
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM admin_users WHERE email = $1`, email)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	return nil
}

// TouchAdminSignIn implements model.Store.
func (s *Store) TouchAdminSignIn(ctx context.Context, id int64, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE admin_users SET last_sign_in_at = $1 WHERE id = $2`, ts(at), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	return nil
}

// CreateAdminSession implements model.Store.
func (s *Store) CreateAdminSession(ctx context.Context, tokenHash []byte, userID int64, expires, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO admin_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		tokenHash, userID, ts(at), ts(expires))
	if _, ok := pgError(err, foreignKeyViolation); ok {
		return model.ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `DELETE FROM admin_sessions WHERE expires_at <= $1`, ts(at))
	return err
}

// AdminSessionUser implements model.Store.
func (s *Store) AdminSessionUser(ctx context.Context, tokenHash []byte, at time.Time) (*model.AdminUser, error) {
	u, err := scanAdminUser(s.pool.QueryRow(ctx, `SELECT `+adminUserColumns+` FROM admin_sessions x
		JOIN admin_users u ON u.id = x.user_id WHERE x.token_hash = $1 AND x.expires_at > $2`, tokenHash, ts(at)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return u, err
}

// DeleteAdminSession implements model.Store.
func (s *Store) DeleteAdminSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM admin_sessions WHERE token_hash = $1`, tokenHash)
	return err
}
