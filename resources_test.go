package tenancy_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy"
)

// recorder is a bootstrapper that logs its calls and can fail.
type recorder struct {
	name string
	log  *[]string
	fail bool
}

func (r recorder) Bootstrap(ctx context.Context, t *tenancy.Tenant) (context.Context, error) {
	*r.log = append(*r.log, "boot "+r.name)
	if r.fail {
		return nil, errors.New("boot failed")
	}
	return ctx, nil
}

func (r recorder) Revert(context.Context) { *r.log = append(*r.log, "revert "+r.name) }

func TestBootstrappersRunInOrderAndRevertInReverse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	tn, err := f.mgr.Create(context.Background(), tenancy.CreateRequest{Name: "A", Domain: "a.test"})
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	f.mgr.Use(recorder{"a", &log, false}, recorder{"b", &log, false})
	err = f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		log = append(log, "run")
		return nil
	})
	if err != nil || strings.Join(log, ",") != "boot a,boot b,run,revert b,revert a" {
		t.Fatalf("log %v, err %v", log, err)
	}
	log = nil
	f.mgr.Use(recorder{"c", &log, true})
	err = f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
		log = append(log, "run")
		return nil
	})
	if err == nil || strings.Join(log, ",") != "boot a,boot b,boot c,revert b,revert a" {
		t.Fatalf("failing bootstrapper: log %v, err %v", log, err)
	}
}

func TestResourcesFailClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := tenancy.Cache(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("Cache: %v", err)
	}
	if _, err := tenancy.Storage(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("Storage: %v", err)
	}
	if err := tenancy.Enqueue(ctx, nil); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("Enqueue: %v", err)
	}
	// Attaching a resource outside a tenant context attaches nothing.
	ctx = tenancy.WithStorage(ctx, opener{})
	if _, err := tenancy.Storage(ctx); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("Storage after WithStorage without tenant: %v", err)
	}
}

type opener struct{}

func (opener) Root() (*os.Root, error) { return os.OpenRoot(os.TempDir()) }
