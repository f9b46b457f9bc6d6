package controlplane_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/internal/testclock"
)

const adminPassword = "correct horse battery"

func mustCreateAdmin(t *testing.T, m *controlplane.ControlPlane, email string) *controlplane.AdminUser {
	t.Helper()
	u, err := m.CreateAdminUser(context.Background(), email, adminPassword)
	if err != nil {
		t.Fatalf("CreateAdminUser(%s): %v", email, err)
	}
	return u
}

func TestCreateAdminUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := tenancy.WithActor(context.Background(), tenancy.Actor{Name: "tester"})
	u, err := f.cp.CreateAdminUser(ctx, "  Ada@Example.COM ", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Email != "ada@example.com" || u.CreatedAt.IsZero() || u.LastSignInAt != nil {
		t.Fatalf("created %+v", u)
	}
	// The password is kept only as a bcrypt hash.
	_, hash, err := f.store.AdminUserByEmail(ctx, "ada@example.com")
	if err != nil || !strings.HasPrefix(hash, "$2a$10$") || strings.Contains(hash, adminPassword) {
		t.Fatalf("stored hash %q, %v", hash, err)
	}

	_, err = f.cp.CreateAdminUser(ctx, "ADA@example.com", "another password")
	if !errors.Is(err, controlplane.ErrAdminExists) {
		t.Fatalf("duplicate email: %v", err)
	}

	users, err := f.cp.AdminUsers(ctx)
	if err != nil || len(users) != 1 || users[0].Email != "ada@example.com" {
		t.Fatalf("AdminUsers: %+v %v", users, err)
	}

	entries, err := f.cp.Audit(ctx, controlplane.AuditFilter{Action: "admin.create"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "tester" || !strings.Contains(string(entries[0].After), "ada@example.com") {
		t.Fatalf("audit: %+v %v", entries, err)
	}
	all, err := f.cp.Audit(ctx, controlplane.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if strings.Contains(string(e.Before)+string(e.After)+e.Error, adminPassword) ||
			strings.Contains(string(e.Before)+string(e.After), "$2a$") {
			t.Fatalf("audit entry shows the password or its hash: %+v", e)
		}
	}
}

func TestCreateAdminUserRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	for _, c := range []struct {
		name, email, password, field string
	}{
		{"empty email", "", adminPassword, "email"},
		{"blank email", "   ", adminPassword, "email"},
		{"no at sign", "ada.example.com", adminPassword, "email"},
		{"display name", "Ada <ada@example.com>", adminPassword, "email"},
		{"angle brackets", "<ada@example.com>", adminPassword, "email"},
		{"two addresses", "ada@example.com, bob@example.com", adminPassword, "email"},
		{"space inside", "ada lovelace@example.com", adminPassword, "email"},
		{"too long", strings.Repeat("a", 250) + "@example.com", adminPassword, "email"},
		{"empty password", "ada@example.com", "", "password"},
		{"short password", "ada@example.com", "123456789", "password"},
		{"short in characters", "ada@example.com", "ééééééééé", "password"},
		{"password over 72 bytes", "ada@example.com", strings.Repeat("p", 73), "password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.cp.CreateAdminUser(ctx, c.email, c.password)
			var ve *tenancy.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field {
				t.Fatalf("CreateAdminUser(%q, %q) = %v; want a validation error on %s", c.email, c.password, err, c.field)
			}
		})
	}
	if users, err := f.cp.AdminUsers(ctx); err != nil || len(users) != 0 {
		t.Fatalf("bad input created users: %+v %v", users, err)
	}
	// The limits themselves are fine.
	if _, err := f.cp.CreateAdminUser(ctx, "min@example.com", "1234567890"); err != nil {
		t.Fatalf("10-character password: %v", err)
	}
	if _, err := f.cp.CreateAdminUser(ctx, "max@example.com", strings.Repeat("p", 72)); err != nil {
		t.Fatalf("72-byte password: %v", err)
	}
}

func TestAuthenticateAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	created := mustCreateAdmin(t, f.cp, "ada@example.com")

	u, err := f.cp.AuthenticateAdmin(ctx, " ADA@example.com", adminPassword)
	if err != nil || u.ID != created.ID || u.LastSignInAt == nil || time.Since(*u.LastSignInAt) > time.Minute {
		t.Fatalf("good credentials: %+v %v", u, err)
	}
	users, err := f.cp.AdminUsers(ctx)
	if err != nil || users[0].LastSignInAt == nil || !users[0].LastSignInAt.Equal(*u.LastSignInAt) {
		t.Fatalf("sign-in time not stored: %+v %v", users, err)
	}

	for _, c := range []struct{ name, email, password string }{
		{"wrong password", "ada@example.com", adminPassword + "!"},
		{"empty password", "ada@example.com", ""},
		{"password too long", "ada@example.com", adminPassword + strings.Repeat("x", 72)},
		{"unknown email", "bob@example.com", adminPassword},
		{"malformed email", "not an email", adminPassword},
		{"empty email", "", adminPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := f.cp.AuthenticateAdmin(ctx, c.email, c.password)
			if !errors.Is(err, controlplane.ErrBadCredentials) || u != nil {
				t.Fatalf("AuthenticateAdmin(%q, %q) = %+v, %v; want ErrBadCredentials", c.email, c.password, u, err)
			}
		})
	}
	// Sign-ins are not audited by the Manager (the dashboard does it).
	if entries, err := f.cp.Audit(ctx, controlplane.AuditFilter{}); err != nil || len(entries) != 1 {
		t.Fatalf("audit after sign-ins: %+v %v", entries, err)
	}
}

func TestAdminSessions(t *testing.T) {
	t.Parallel()
	clk := testclock.New(time.Now().UTC())
	f := newFixture(t, fixtureOptions{clock: clk})
	ctx := context.Background()
	ada := mustCreateAdmin(t, f.cp, "ada@example.com")
	bob := mustCreateAdmin(t, f.cp, "bob@example.com")

	token, expires, err := f.cp.CreateAdminSession(ctx, ada.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(token); err != nil || len(raw) != 32 {
		t.Fatalf("token %q is not 32 bytes in base64url: %v", token, err)
	}
	if d := expires.Sub(clk.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires in %s", d)
	}
	other, _, err := f.cp.CreateAdminSession(ctx, ada.ID, time.Hour)
	if err != nil || other == token {
		t.Fatalf("second session: %q %v", other, err)
	}
	u, err := f.cp.AdminSession(ctx, token)
	if err != nil || u.ID != ada.ID || u.Email != "ada@example.com" {
		t.Fatalf("AdminSession: %+v %v", u, err)
	}

	for name, tok := range map[string]string{
		"empty":           "",
		"unknown":         base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		"not base64url":   strings.Repeat("*", len(token)),
		"too short":       token[:20],
		"too long":        token + "A",
		"with padding":    base64.URLEncoding.EncodeToString(make([]byte, 32)),
		"standard base64": strings.Repeat("+", len(token)),
	} {
		if _, err := f.cp.AdminSession(ctx, tok); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("%s token: %v", name, err)
		}
	}

	short, _, err := f.cp.CreateAdminSession(ctx, bob.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	if _, err := f.cp.AdminSession(ctx, short); err != nil {
		t.Fatalf("session before its expiry: %v", err)
	}
	clk.Advance(2 * time.Second)
	if _, err := f.cp.AdminSession(ctx, short); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}

	if _, _, err := f.cp.CreateAdminSession(ctx, ada.ID, 0); !tenancy.IsValidation(err) {
		t.Fatalf("zero ttl: %v", err)
	}
	if _, _, err := f.cp.CreateAdminSession(ctx, ada.ID+bob.ID+1000, time.Hour); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("session of an unknown user: %v", err)
	}

	// Signing out ends that session only; doing it twice is fine.
	if err := f.cp.DeleteAdminSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := f.cp.DeleteAdminSession(ctx, token); err != nil {
		t.Fatalf("second sign-out: %v", err)
	}
	if err := f.cp.DeleteAdminSession(ctx, "garbage"); err != nil {
		t.Fatalf("sign-out of a malformed token: %v", err)
	}
	if _, err := f.cp.AdminSession(ctx, token); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("signed-out session: %v", err)
	}
	if u, err := f.cp.AdminSession(ctx, other); err != nil || u.ID != ada.ID {
		t.Fatalf("other session: %+v %v", u, err)
	}
}

func TestDeleteAdminUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ctx := context.Background()
	ada := mustCreateAdmin(t, f.cp, "ada@example.com")
	bob := mustCreateAdmin(t, f.cp, "bob@example.com")
	adaToken, _, err := f.cp.CreateAdminSession(ctx, ada.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bobToken, _, err := f.cp.CreateAdminSession(ctx, bob.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	if err := f.cp.DeleteAdminUser(ctx, " Ada@Example.com "); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cp.AdminSession(ctx, adaToken); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("session of a deleted user: %v", err)
	}
	if _, err := f.cp.AuthenticateAdmin(ctx, "ada@example.com", adminPassword); !errors.Is(err, controlplane.ErrBadCredentials) {
		t.Fatalf("sign-in of a deleted user: %v", err)
	}
	if u, err := f.cp.AdminSession(ctx, bobToken); err != nil || u.ID != bob.ID {
		t.Fatalf("another user's session: %+v %v", u, err)
	}
	if err := f.cp.DeleteAdminUser(ctx, "ada@example.com"); !errors.Is(err, tenancy.ErrNotFound) || err.Error() != `no admin user "ada@example.com"` {
		t.Fatalf("deleting twice: %v", err)
	}
	if entries, err := f.cp.Audit(ctx, controlplane.AuditFilter{Action: "admin.delete"}); err != nil || len(entries) != 1 {
		t.Fatalf("audit: %+v %v", entries, err)
	}
}
