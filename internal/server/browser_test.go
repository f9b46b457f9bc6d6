package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// The browser tests drive the dashboard in Debian's Chromium (installed by
// scripts/services), on a phone-sized window, through the whole server.
// Each step saves a screenshot in its test's artifact directory (kept with
// go test -artifacts).

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery"
)

// browser starts a headless Chromium and returns a context for chromedp.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(testenv.Chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(412, 915),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// screenshot saves the page as NAME.png in the test's artifact directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// value runs an action that reads something, failing the test with what was
// being done.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		screenshot(t, ctx, "failed")
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// run runs chromedp steps, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		screenshot(t, ctx, "failed")
		t.Fatalf("%s: %v", what, err)
	}
}

// browserServer serves the fixture on a loopback port and returns the
// dashboard's base URL and the port.
func browserServer(t *testing.T, f *fixture) (base, port string) {
	t.Helper()
	if _, err := f.cp.CreateAdminUser(context.Background(), adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.srv.Handler())
	t.Cleanup(func() {
		// The browser still holds the monitoring page's event stream.
		ts.CloseClientConnections()
		ts.Close()
	})
	_, port, _ = net.SplitHostPort(ts.Listener.Addr().String())
	return "http://127.0.0.1:" + port, port
}

func signIn(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	run(t, ctx, "signing in",
		chromedp.Navigate(base+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), adminEmail),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), adminPassword),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.signout`)),
	)
}

func TestBrowserTenantLifecycle(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, 0)
	base, port := browserServer(t, f)

	t.Run("sign in", func(t *testing.T) {
		run(t, ctx, "wrong password",
			chromedp.Navigate(base+"/admin/login"),
			chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), adminEmail),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not the password"),
			chromedp.Submit(chromedp.CSS(`input[name=password]`)),
			chromedp.WaitVisible(chromedp.CSS(`.error`)),
		)
		screenshot(t, ctx, "wrong-password")
		signIn(t, ctx, base)
		screenshot(t, ctx, "signed-in")
	})

	var uuid string
	t.Run("create through the form", func(t *testing.T) {
		run(t, ctx, "the empty form shows inline errors",
			chromedp.Navigate(base+"/admin/tenants/new"),
			chromedp.WaitVisible(chromedp.CSS(`#create-tenant`)),
			chromedp.SendKeys(chromedp.CSS(`#create-tenant input[name=name]`), "Acme Browser"),
			chromedp.SendKeys(chromedp.CSS(`#create-tenant input[name=domain]`), "not a domain!"),
			chromedp.Submit(chromedp.CSS(`#create-tenant input[name=domain]`)),
			chromedp.WaitVisible(chromedp.CSS(`#create-tenant .field-error`)),
		)
		screenshot(t, ctx, "create-invalid")
		run(t, ctx, "creating",
			chromedp.SetValue(chromedp.CSS(`#create-tenant input[name=domain]`), "acme.localhost"),
			chromedp.Submit(chromedp.CSS(`#create-tenant input[name=domain]`)),
			chromedp.WaitVisible(chromedp.CSS(`#status-form`)),
		)
		screenshot(t, ctx, "created")
		tn, err := f.mgr.Get(context.Background(), "acme.localhost")
		if err != nil {
			t.Fatalf("the tenant created through the form is not in the catalog: %v", err)
		}
		if tn.Name != "Acme Browser" || tn.Status != tenancy.StatusActive {
			t.Fatalf("created tenant %q status %s", tn.Name, tn.Status)
		}
		uuid = tn.UUID
	})

	t.Run("see it in the list", func(t *testing.T) {
		row := chromedp.CSS(`#tenants tr[data-uuid="` + uuid + `"]`)
		run(t, ctx, "searching the list",
			chromedp.Navigate(base+"/admin/tenants?q=Acme"),
			chromedp.WaitVisible(row),
		)
		text := value(t, ctx, "reading the row", chromedp.Text(row))
		if !strings.Contains(text, "Acme Browser") || !strings.Contains(text, "acme.localhost") {
			t.Fatalf("list row reads %q", text)
		}
		screenshot(t, ctx, "list")
	})

	t.Run("suspend and see its host answer 403", func(t *testing.T) {
		tenantURL := "http://acme.localhost:" + port + "/"
		if code := statusOf(t, port, "acme.localhost"); code != http.StatusOK {
			t.Fatalf("the active tenant answers %d", code)
		}
		run(t, ctx, "suspending",
			chromedp.Navigate(base+"/admin/tenants/"+uuid),
			chromedp.WaitVisible(chromedp.CSS(`#status-form`)),
			chromedp.SetValue(chromedp.CSS(`#status-form select[name=status]`), "suspended"),
			chromedp.SendKeys(chromedp.CSS(`#status-form input[name=reason]`), "unpaid invoice"),
			chromedp.Submit(chromedp.CSS(`#status-form input[name=reason]`)),
			chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		)
		screenshot(t, ctx, "suspended-admin")
		tn, err := f.mgr.Get(context.Background(), uuid)
		if err != nil || tn.Status != tenancy.StatusSuspended {
			t.Fatalf("after suspending: %v, status %v", err, tn)
		}
		// The change reaches the resolver's cache on its own goroutine.
		testwait.Eventually(t, "the suspended tenant's host to answer 403", func() bool {
			return statusOf(t, port, "acme.localhost") == http.StatusForbidden
		})
		run(t, ctx, "visiting the suspended host", chromedp.Navigate(tenantURL))
		body := value(t, ctx, "reading the page", chromedp.Text(chromedp.CSS(`body`)))
		// The reason is the operator's: the visitors' page never shows it.
		if !strings.Contains(strings.ToLower(body), "suspended") || strings.Contains(body, "unpaid invoice") {
			t.Fatalf("the suspended tenant's page reads %q", body)
		}
		screenshot(t, ctx, "suspended-host")
	})
}

// statusOf is the status code of GET / on a tenant host.
func statusOf(t *testing.T, port, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host + ":" + port
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestBrowserMonitoringIsLive(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, 1)
	base, port := browserServer(t, f)
	signIn(t, ctx, base)

	run(t, ctx, "opening the monitoring dashboard",
		chromedp.Navigate(base+"/admin/monitoring/dashboard"),
		chromedp.WaitVisible(chromedp.CSS(`#rps`)),
	)
	// The first sample arrives over the event stream.
	value(t, ctx, "waiting for the first sample", chromedp.Poll[bool](
		`document.querySelector('[data-total-requests]') !== null && document.querySelector('[data-total-requests]').dataset.totalRequests !== ''`,
		chromedp.WithPollingTimeout(20*time.Second)))
	before := value(t, ctx, "reading the total", chromedp.AttributeValue(chromedp.CSS(`[data-total-requests]`), "data-total-requests")).Value
	screenshot(t, ctx, "monitoring-before")

	const requests = 300
	host := f.tenants[0].PrimaryDomain()
	for range requests {
		if code := statusOf(t, port, host); code != http.StatusOK {
			t.Fatalf("tenant request answered %d", code)
		}
	}
	value(t, ctx, "waiting for the live figure to change", chromedp.Poll[bool](
		fmt.Sprintf(`Number(document.querySelector('[data-total-requests]').dataset.totalRequests) >= %s + %d`, numberOr0(before), requests),
		chromedp.WithPollingTimeout(20*time.Second)))
	after := value(t, ctx, "reading the total", chromedp.AttributeValue(chromedp.CSS(`[data-total-requests]`), "data-total-requests")).Value
	screenshot(t, ctx, "monitoring-after")
	t.Logf("total requests on the page: %s → %s", before, after)
}

// numberOr0 is s when it is a number, else "0".
func numberOr0(s string) string {
	for _, r := range s {
		if r < '0' || r > '9' {
			return "0"
		}
	}
	if s == "" {
		return "0"
	}
	return s
}
