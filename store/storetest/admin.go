package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/model"
)

// tokenHash returns the SHA-256 of a session token, as the Manager stores it.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// testAdmin runs the admin user and session cases, one after the other on
// one store.
func testAdmin(t *testing.T, s model.Store) {
	t.Run("Users", func(t *testing.T) { testAdminUsers(t, s) })
	t.Run("Sessions", func(t *testing.T) { testAdminSessions(t, s) })
}

func testAdminUsers(t *testing.T, st model.Store) {
	s := st.(controlplane.Store)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	a, err := s.CreateAdminUser(ctx, "ada@example.com", "$2a$10$hash-of-ada")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Email != "ada@example.com" || a.CreatedAt.Before(before) || a.LastSignInAt != nil {
		t.Fatalf("create did not set id/time: %+v", a)
	}
	if _, err := s.CreateAdminUser(ctx, "ada@example.com", "other"); !errors.Is(err, model.ErrAdminExists) {
		t.Fatalf("duplicate email: %v", err)
	}
	b, err := s.CreateAdminUser(ctx, "bob@example.com", "$2a$10$hash-of-bob")
	if err != nil {
		t.Fatal(err)
	}

	got, hash, err := s.AdminUserByEmail(ctx, "ada@example.com")
	if err != nil || got.ID != a.ID || hash != "$2a$10$hash-of-ada" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("AdminUserByEmail: %+v %q %v", got, hash, err)
	}
	if _, _, err := s.AdminUserByEmail(ctx, "nobody@example.com"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("unknown email: %v", err)
	}

	signedIn := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	if err := s.TouchAdminSignIn(ctx, a.ID, signedIn); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAdminSignIn(ctx, a.ID+b.ID+1000, signedIn); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("touching an unknown user: %v", err)
	}
	users, err := s.ListAdminUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Email != "ada@example.com" || users[1].Email != "bob@example.com" {
		t.Fatalf("ListAdminUsers: %+v %v", users, err)
	}
	if users[0].LastSignInAt == nil || !users[0].LastSignInAt.Equal(signedIn) || users[1].LastSignInAt != nil {
		t.Fatalf("last sign-in: %v %v", users[0].LastSignInAt, users[1].LastSignInAt)
	}

	if err := s.DeleteAdminUser(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAdminUser(ctx, "bob@example.com"); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if users, err := s.ListAdminUsers(ctx); err != nil || len(users) != 1 {
		t.Fatalf("after delete: %+v %v", users, err)
	}
	// The email is free again.
	if _, err := s.CreateAdminUser(ctx, "bob@example.com", "$2a$10$new"); err != nil {
		t.Fatalf("re-creating a deleted user: %v", err)
	}
}

func testAdminSessions(t *testing.T, st model.Store) {
	s := st.(controlplane.Store)
	ctx := context.Background()
	a, err := s.CreateAdminUser(ctx, "carol@example.com", "h1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateAdminUser(ctx, "dave@example.com", "h2")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := s.CreateAdminSession(ctx, tokenHash("ada-1"), a.ID, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAdminSession(ctx, tokenHash("ada-old"), a.ID, now.Add(time.Minute), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAdminSession(ctx, tokenHash("bob-1"), b.ID, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAdminSession(ctx, tokenHash("nobody"), a.ID+b.ID+1000, now.Add(time.Hour), now); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("session of an unknown user: %v", err)
	}

	u, err := s.AdminSessionUser(ctx, tokenHash("ada-1"), now)
	if err != nil || u.ID != a.ID || u.Email != "carol@example.com" {
		t.Fatalf("AdminSessionUser: %+v %v", u, err)
	}
	if u, err := s.AdminSessionUser(ctx, tokenHash("bob-1"), now); err != nil || u.ID != b.ID {
		t.Fatalf("bob's session: %+v %v", u, err)
	}
	for name, c := range map[string]struct {
		token string
		at    time.Time
	}{
		"unknown token":      {"nope", now},
		"expired":            {"ada-1", now.Add(2 * time.Hour)},
		"expires at instant": {"ada-1", now.Add(time.Hour)},
	} {
		if _, err := s.AdminSessionUser(ctx, tokenHash(c.token), c.at); !errors.Is(err, model.ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Creating a session at a later time removes the ones expired by then.
	later := now.Add(30 * time.Minute)
	if err := s.CreateAdminSession(ctx, tokenHash("ada-2"), a.ID, later.Add(time.Hour), later); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdminSessionUser(ctx, tokenHash("ada-old"), now); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("expired session was not removed: %v", err)
	}
	if _, err := s.AdminSessionUser(ctx, tokenHash("ada-1"), later); err != nil {
		t.Fatalf("unexpired session was removed: %v", err)
	}

	if err := s.DeleteAdminSession(ctx, tokenHash("ada-1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAdminSession(ctx, tokenHash("ada-1")); err != nil {
		t.Fatalf("deleting a missing session: %v", err)
	}
	if _, err := s.AdminSessionUser(ctx, tokenHash("ada-1"), now); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("deleted session still signs in: %v", err)
	}

	// Deleting a user ends their sessions, and only theirs.
	if err := s.DeleteAdminUser(ctx, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdminSessionUser(ctx, tokenHash("ada-2"), later); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("session of a deleted user: %v", err)
	}
	if u, err := s.AdminSessionUser(ctx, tokenHash("bob-1"), now); err != nil || u.ID != b.ID {
		t.Fatalf("another user's session went too: %+v %v", u, err)
	}
}
