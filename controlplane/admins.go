package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/model"
	"golang.org/x/crypto/bcrypt"
)

// Limits on admin passwords: bcrypt reads at most 72 bytes.
const (
	MinAdminPasswordLen   = 10
	MaxAdminPasswordBytes = 72
)

// maxEmailLen is the longest address SMTP allows (RFC 5321).
const maxEmailLen = 254

// sessionTokenBytes is the randomness in an admin session token.
const sessionTokenBytes = 32

// dummyPasswordHash is a bcrypt hash (at bcrypt.DefaultCost) of a random
// password nobody knows. AuthenticateAdmin compares against it when the email
// is unknown, so that a sign-in takes as long whether or not the user exists.
const dummyPasswordHash = "$2a$10$EAzw4x9q0n8QEDubfhP.8.cn7l0a4Ei7yeyP/8XN9JDbDua9xK1Z."

// adminNotFound is model.ErrNotFound with a message about admin users or
// sessions rather than tenants.
type adminNotFound string

func (e adminNotFound) Error() string { return string(e) }
func (e adminNotFound) Unwrap() error { return model.ErrNotFound }

// errNoSession is the answer for every token that signs nobody in.
const errNoSession = adminNotFound("no such admin session")

// normalizeEmail trims and lower-cases email and checks that it is a bare
// address (no display name, no angle brackets).
func normalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", &model.ValidationError{Field: "email", Reason: "must not be empty"}
	}
	if len(e) > maxEmailLen {
		return "", &model.ValidationError{Field: "email", Reason: fmt.Sprintf("must be at most %d characters", maxEmailLen)}
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", &model.ValidationError{Field: "email", Reason: fmt.Sprintf("%q is not an email address like name@example.com", email)}
	}
	return e, nil
}

// CreateAdminUser adds a person who may sign in to the admin dashboard. The
// email is trimmed and lower-cased; the password (10 characters to 72 bytes)
// is stored only as a bcrypt hash. A taken email is ErrAdminExists.
func (c *ControlPlane) CreateAdminUser(ctx context.Context, email, password string) (*AdminUser, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	switch {
	case len([]rune(password)) < MinAdminPasswordLen:
		return nil, &model.ValidationError{Field: "password", Reason: fmt.Sprintf("must be at least %d characters", MinAdminPasswordLen)}
	case len(password) > MaxAdminPasswordBytes:
		return nil, &model.ValidationError{Field: "password", Reason: fmt.Sprintf("must be at most %d bytes", MaxAdminPasswordBytes)}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	u, err := c.store.CreateAdminUser(ctx, email, string(hash))
	if err != nil {
		if errors.Is(err, ErrAdminExists) {
			return nil, fmt.Errorf("%w: %s", ErrAdminExists, email)
		}
		return nil, err
	}
	c.recordAudit(ctx, "admin.create", "", nil, jsonValue(u), nil)
	return u, nil
}

// AdminUsers lists the admin users in creation order.
func (c *ControlPlane) AdminUsers(ctx context.Context) ([]AdminUser, error) {
	return c.store.ListAdminUsers(ctx)
}

// DeleteAdminUser removes the admin user with this email and signs out all
// their sessions; model.ErrNotFound when there is none.
func (c *ControlPlane) DeleteAdminUser(ctx context.Context, email string) error {
	e := strings.ToLower(strings.TrimSpace(email))
	if err := c.store.DeleteAdminUser(ctx, e); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return adminNotFound(fmt.Sprintf("no admin user %q", e))
		}
		return err
	}
	c.recordAudit(ctx, "admin.delete", "", jsonValue(map[string]string{"email": e}), nil, nil)
	return nil
}

// AuthenticateAdmin checks an email and password and returns the user,
// recording the sign-in time. An unknown email or a wrong password is
// ErrBadCredentials, and both take one bcrypt comparison. It neither audits
// nor rate-limits: that is the caller's job.
func (c *ControlPlane) AuthenticateAdmin(ctx context.Context, email, password string) (*AdminUser, error) {
	if password == "" || len(password) > MaxAdminPasswordBytes {
		return nil, ErrBadCredentials
	}
	u, hash := (*AdminUser)(nil), dummyPasswordHash
	if e, err := normalizeEmail(email); err == nil {
		found, h, err := c.store.AdminUserByEmail(ctx, e)
		switch {
		case err == nil:
			u, hash = found, h
		case !errors.Is(err, model.ErrNotFound):
			return nil, err
		}
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || u == nil {
		return nil, ErrBadCredentials
	}
	at := c.now().UTC().Truncate(time.Microsecond)
	if err := c.store.TouchAdminSignIn(ctx, u.ID, at); err != nil {
		if errors.Is(err, model.ErrNotFound) { // deleted meanwhile
			return nil, ErrBadCredentials
		}
		return nil, err
	}
	u.LastSignInAt = &at
	return u, nil
}

// CreateAdminSession starts a dashboard session of the user that lasts ttl
// and returns its token (32 random bytes, base64url without padding), which
// is stored only as its SHA-256 hash. Expired sessions are removed on the
// way. An unknown user is model.ErrNotFound.
func (c *ControlPlane) CreateAdminSession(ctx context.Context, userID int64, ttl time.Duration) (token string, expires time.Time, err error) {
	if ttl <= 0 {
		return "", time.Time{}, &model.ValidationError{Field: "ttl", Reason: fmt.Sprintf("must be positive, not %s", ttl)}
	}
	b := make([]byte, sessionTokenBytes)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	token = base64.RawURLEncoding.EncodeToString(b)
	now := c.now().UTC().Truncate(time.Microsecond)
	expires = now.Add(ttl)
	if err := c.store.CreateAdminSession(ctx, hashKey(token), userID, expires, now); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return "", time.Time{}, adminNotFound(fmt.Sprintf("no admin user with id %d", userID))
		}
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// validSessionToken reports whether token has the form CreateAdminSession
// gives tokens.
func validSessionToken(token string) bool {
	if len(token) != base64.RawURLEncoding.EncodedLen(sessionTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// AdminSession returns the user of the unexpired session with this token;
// an unknown, expired or malformed token is model.ErrNotFound.
func (c *ControlPlane) AdminSession(ctx context.Context, token string) (*AdminUser, error) {
	if !validSessionToken(token) {
		return nil, errNoSession
	}
	u, err := c.store.AdminSessionUser(ctx, hashKey(token), c.now())
	if errors.Is(err, model.ErrNotFound) {
		return nil, errNoSession
	}
	return u, err
}

// DeleteAdminSession ends the session with this token (signs out); a
// session that does not exist is no error.
func (c *ControlPlane) DeleteAdminSession(ctx context.Context, token string) error {
	if !validSessionToken(token) {
		return nil
	}
	return c.store.DeleteAdminSession(ctx, hashKey(token))
}
