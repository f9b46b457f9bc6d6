package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// CreateAdminUser implements model.Store.
func (s *Store) CreateAdminUser(ctx context.Context, email, passwordHash string) (*model.AdminUser, error) {
	u := &model.AdminUser{Email: email, CreatedAt: now()}
	res, err := s.db.ExecContext(ctx, `INSERT INTO admin_users (email, password_hash, created_at) VALUES (?, ?, ?)`,
		email, passwordHash, u.CreatedAt)
	if key, dup := duplicateKey(err); dup && key == "admin_users_email" {
		return nil, fmt.Errorf("%w: %s", model.ErrAdminExists, email)
	}
	if err != nil {
		return nil, err
	}
	if u.ID, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	return u, nil
}

const adminUserColumns = `u.id, u.email, u.created_at, u.last_sign_in_at`

// scanAdminUser reads a row of adminUserColumns, then any extra columns into extra.
func scanAdminUser(row scanner, extra ...any) (*model.AdminUser, error) {
	var (
		u        model.AdminUser
		signedIn sql.NullTime
	)
	if err := row.Scan(append([]any{&u.ID, &u.Email, &u.CreatedAt, &signedIn}, extra...)...); err != nil {
		return nil, err
	}
	u.CreatedAt = u.CreatedAt.UTC()
	if signedIn.Valid {
		at := signedIn.Time.UTC()
		u.LastSignInAt = &at
	}
	return &u, nil
}

// AdminUserByEmail implements model.Store.
func (s *Store) AdminUserByEmail(ctx context.Context, email string) (*model.AdminUser, string, error) {
	var hash string
	u, err := scanAdminUser(s.db.QueryRowContext(ctx, `SELECT `+adminUserColumns+`, u.password_hash FROM admin_users u WHERE u.email = ?`, email), &hash)
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
	rows, err := s.db.QueryContext(ctx, `SELECT `+adminUserColumns+` FROM admin_users u ORDER BY u.id`)
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

// adminRowMatched returns ErrNotFound when res matched no row.
func adminRowMatched(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return model.ErrNotFound
	}
	return nil
}

// DeleteAdminUser implements model.Store. The user's sessions go with it
// (ON DELETE CASCADE).
func (s *Store) DeleteAdminUser(ctx context.Context, email string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM admin_users WHERE email = ?`, email)
	if err != nil {
		return err
	}
	return adminRowMatched(res)
}

// TouchAdminSignIn implements model.Store.
func (s *Store) TouchAdminSignIn(ctx context.Context, id int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE admin_users SET last_sign_in_at = ? WHERE id = ?`, ts(at), id)
	if err != nil {
		return err
	}
	return adminRowMatched(res)
}

// CreateAdminSession implements model.Store.
func (s *Store) CreateAdminSession(ctx context.Context, tokenHash []byte, userID int64, expires, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO admin_sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tokenHash, userID, ts(at), ts(expires))
	if _, ok := mysqlError(err, errNoParentRow); ok {
		return model.ErrNotFound
	}
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM admin_sessions WHERE expires_at <= ?`, ts(at))
	return err
}

// AdminSessionUser implements model.Store.
func (s *Store) AdminSessionUser(ctx context.Context, tokenHash []byte, at time.Time) (*model.AdminUser, error) {
	u, err := scanAdminUser(s.db.QueryRowContext(ctx, `SELECT `+adminUserColumns+` FROM admin_sessions x
		JOIN admin_users u ON u.id = x.user_id WHERE x.token_hash = ? AND x.expires_at > ?`, tokenHash, ts(at)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return u, err
}

// DeleteAdminSession implements model.Store.
func (s *Store) DeleteAdminSession(ctx context.Context, tokenHash []byte) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM admin_sessions WHERE token_hash = ?`, tokenHash)
	return err
}
