package server

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
)

// TestBrowserTenantBackups backs a tenant up from its page, then restores
// the backup after refusing a wrong confirmation, in the browser, without
// JavaScript of the dashboard's own.
func TestBrowserTenantBackups(t *testing.T) {
	ctx := browser(t)
	var svc *backups.Service
	f := newFixture(t, 1, func(c *Config) {
		var err error
		svc, err = backups.New(backups.Config{Manager: c.Manager, Destination: "file://" + filepath.Join(c.DataDir, "backups"), Engine: "sqlite", Mode: "sqlite",
			Open: func(ctx context.Context, url string) (backups.Destination, error) { return destination.Open(ctx, url) }})
		if err != nil {
			t.Fatal(err)
		}
		c.Backups = svc
	})
	base, _ := browserServer(t, f)
	tn := f.tenants[0]
	domain := tn.PrimaryDomain()
	notes := func() []string {
		t.Helper()
		var out []string
		cur, err := f.mgr.Get(context.Background(), tn.UUID)
		if err != nil {
			t.Fatal(err)
		}
		err = f.mgr.Run(context.Background(), cur, func(ctx context.Context) error {
			db, err := tenancy.DB(ctx)
			if err != nil {
				return err
			}
			rows, err := db.QueryContext(ctx, `SELECT body FROM notes ORDER BY id`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					return err
				}
				out = append(out, s)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	exec := func(stmt string) {
		t.Helper()
		err := f.mgr.Run(context.Background(), tn, func(ctx context.Context) error {
			db, err := tenancy.DB(ctx)
			if err != nil {
				return err
			}
			_, err = db.ExecContext(ctx, stmt)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO notes (body) VALUES ('kept')`)
	want := notes()

	signIn(t, ctx, base)

	var id string
	t.Run("back up now", func(t *testing.T) {
		run(t, ctx, "opening the tenant's page",
			chromedp.Navigate(base+"/admin/tenants/"+tn.UUID),
			chromedp.WaitVisible(chromedp.CSS(`#backups-none`)),
		)
		screenshot(t, ctx, "no-backups")
		run(t, ctx, "backing up",
			chromedp.Click(chromedp.CSS(`#backup-form button`)),
			chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		)
		list, err := svc.List(context.Background(), tn)
		if err != nil || len(list) != 1 || list[0].State != "complete" {
			t.Fatalf("backups after the click: %v, %v", list, err)
		}
		id = list[0].ID
		flash := value(t, ctx, "reading the flash", chromedp.Text(chromedp.CSS(`.flash`)))
		if !strings.Contains(flash, "Backed up") || !strings.Contains(flash, id) {
			t.Fatalf("the flash reads %q, want it to name backup %s", flash, id)
		}
		row := value(t, ctx, "reading the backup's row", chromedp.Text(chromedp.CSS(`#backups-table tbody[data-backup="`+id+`"]`)))
		if !strings.Contains(row, id) || !strings.Contains(row, "complete") || !strings.Contains(row, "compressed") {
			t.Fatalf("the backup's row reads %q", row)
		}
		screenshot(t, ctx, "backed-up")
	})

	// What the restore must undo.
	exec(`DELETE FROM notes`)
	exec(`INSERT INTO notes (body) VALUES ('written after the backup')`)

	t.Run("restore after typing the domain", func(t *testing.T) {
		before, err := f.mgr.Get(context.Background(), tn.UUID)
		if err != nil {
			t.Fatal(err)
		}
		confirm := chromedp.CSS(`#backups-table tbody[data-backup="` + id + `"] input[name=confirm]`)
		run(t, ctx, "restoring with a wrong confirmation",
			chromedp.WaitVisible(confirm),
			chromedp.SendKeys(confirm, "not."+domain),
			chromedp.Submit(confirm),
			chromedp.WaitVisible(chromedp.CSS(`#restore-error`)),
		)
		msg := value(t, ctx, "reading the refusal", chromedp.Text(chromedp.CSS(`#restore-error`)))
		if !strings.Contains(msg, domain) || !strings.Contains(msg, "Nothing was restored") {
			t.Fatalf("the refusal reads %q", msg)
		}
		screenshot(t, ctx, "restore-refused")
		if after, err := f.mgr.Get(context.Background(), tn.UUID); err != nil || after.Generation != before.Generation {
			t.Fatalf("a refused restore changed the tenant: %+v, %v", after, err)
		}
		if got := notes(); !slices.Equal(got, []string{"written after the backup"}) {
			t.Fatalf("notes after a refused restore: %q", got)
		}

		run(t, ctx, "restoring",
			chromedp.SetValue(confirm, domain),
			chromedp.Submit(confirm),
			chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		)
		flash := value(t, ctx, "reading the flash", chromedp.Text(chromedp.CSS(`.flash`)))
		if !strings.Contains(flash, "Restored "+tn.Name+" from backup "+id) {
			t.Fatalf("the flash reads %q", flash)
		}
		screenshot(t, ctx, "restored")
		if got := notes(); !slices.Equal(got, want) {
			t.Fatalf("notes after the restore: %q, want %q", got, want)
		}
		after, err := f.mgr.Get(context.Background(), tn.UUID)
		if err != nil || after.Generation != before.Generation+1 || after.Maintenance {
			t.Fatalf("after the restore: %+v, %v", after, err)
		}
		// The restore is on the page's activity, by the admin.
		value(t, ctx, "waiting for the restore in the activity", chromedp.Poll[bool](
			`[...document.querySelectorAll('#audit-table tr')].some(tr => tr.textContent.includes('tenant.restore') && tr.textContent.includes('admin:`+adminEmail+`'))`,
			chromedp.WithPollingTimeout(10*time.Second)))
	})
}
