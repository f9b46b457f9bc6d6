package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
)

// TestCentralDomainsRefused checks that no tenant can take a central
// domain, by create, by adding a domain or by renaming one, while
// subdomains of a central domain stay fine.
func TestCentralDomainsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{central: []string{"LocalHost", "127.0.0.1", "admin.example.test."}})
	isCentral := func(t *testing.T, what string, err error) {
		t.Helper()
		var ve *tenancy.ValidationError
		if !errors.As(err, &ve) || ve.Field != "domain" || !strings.Contains(ve.Reason, "central domain") {
			t.Fatalf("%s: got %v, want a validation error on domain naming the central domain", what, err)
		}
	}
	for _, d := range []string{"localhost", "LOCALHOST:8080", "localhost.", "admin.example.test"} {
		_, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Central", Domain: d})
		isCentral(t, "create "+d, err)
	}
	f.assertEmpty(t)

	tn, err := f.mgr.Create(ctx, tenancy.CreateRequest{Name: "Acme", Domain: "acme.localhost"})
	if err != nil {
		t.Fatalf("a subdomain of a central domain is a tenant domain: %v", err)
	}
	_, err = f.mgr.AddDomain(ctx, tn.UUID, tenancy.DomainRequest{Domain: "localhost"})
	isCentral(t, "add domain", err)
	name := "admin.example.test"
	_, err = f.mgr.UpdateDomain(ctx, tn.UUID, tn.Domains[0].ID, tenancy.DomainUpdate{Domain: &name})
	isCentral(t, "rename domain", err)
	got, err := f.mgr.Get(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Domains) != 1 || got.Domains[0].Domain != "acme.localhost" {
		t.Fatalf("a refused change changed the domains: %+v", got.Domains)
	}
}
