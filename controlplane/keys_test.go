package controlplane_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	k, secret, err := f.cp.CreateAPIKey(ctx, "deploy", []controlplane.Scope{controlplane.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.cp.VerifyAPIKey(ctx, secret)
	if err != nil || got.ID != k.ID || !got.Allows(controlplane.ScopeRead) || !got.Allows(controlplane.ScopeWrite) || got.Allows(controlplane.ScopeAdmin) {
		t.Fatalf("VerifyAPIKey: %+v %v", got, err)
	}
	for _, bad := range []string{"", "tnk_", secret + "x", secret[:len(secret)-1], "tnk_" + k.Prefix + "_wrong", "Bearer " + secret} {
		if _, err := f.cp.VerifyAPIKey(ctx, bad); !errors.Is(err, controlplane.ErrInvalidKey) {
			t.Errorf("VerifyAPIKey(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}
	if _, _, err := f.cp.CreateAPIKey(ctx, "deploy", nil); !tenancy.IsValidation(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, _, err := f.cp.CreateAPIKey(ctx, "bad name", nil); !tenancy.IsValidation(err) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := controlplane.ParseScopes("read,root"); !tenancy.IsValidation(err) {
		t.Fatalf("ParseScopes: %v", err)
	}
	if err := f.cp.RevokeAPIKey(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cp.VerifyAPIKey(ctx, secret); !errors.Is(err, controlplane.ErrInvalidKey) {
		t.Fatalf("revoked key verified: %v", err)
	}
	entries, err := f.cp.Audit(ctx, controlplane.AuditFilter{})
	if err != nil || len(entries) != 2 || entries[0].Action != "api_key.revoke" || entries[1].Action != "api_key.create" {
		t.Fatalf("audit: %+v %v", entries, err)
	}
}
