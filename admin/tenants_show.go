package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
	"github.com/gotenancy/tenancy/dataport"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/tenantdb"
)

// tenantPageTimeout bounds the database figures of a tenant's page, so a
// tenant database that hangs cannot hang the page.
const tenantPageTimeout = 5 * time.Second

// auditLimit is how many audit entries a tenant's page shows.
const auditLimit = 20

// tenantView is the tenant page's data.
type tenantView struct {
	T          *tenancy.Tenant
	LastAccess *time.Time
	Statuses   []tenancy.Status
	// BypassURL lets the admin past maintenance mode (set while it is on).
	BypassURL string

	DB      tenancy.DatabaseStats
	DBError string

	Migrations      int
	LatestMigration int64
	Applied         int64
	Pending         []migrate.Status
	MigrationsError string

	// MetricsOn is set when the dashboard has request metrics; Requests
	// is nil when the tenant had no request since the process started.
	MetricsOn bool
	Requests  *tenancy.RequestStats

	Audit      []auditRow
	AuditError string

	// BackupsOn is set when the dashboard has a backup service; Backups
	// are the tenant's, newest first.
	BackupsOn     bool
	Backups       []*model.Backup
	BackupsError  string
	ExportFormats []string

	Form actionForm
}

// actionForm holds the values and the error of the action form that
// failed, so the page can show them again. Errors is keyed by form:
// status, maintenance, domain_add, domains, backups, restore (the form of
// backup RestoreID), export.
type actionForm struct {
	Status, Reason     string
	VisitorMessage     string
	MaintenanceMessage string
	Domain             string
	Primary            bool
	RestoreID, Confirm string
	ExportFormat       string
	Errors             formErrors
}

// auditRow is one audit entry with its changes summarised.
type auditRow struct {
	tenancy.AuditEntry
	// When is At for the ago template function.
	When    *time.Time
	Changes []string
}

// showTenant serves GET /admin/tenants/{uuid}.
func (a *Admin) showTenant(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil {
		return
	}
	a.renderTenant(w, r, http.StatusOK, t, actionForm{})
}

// renderTenant renders a tenant's page with its figures. A database that
// cannot be opened or measured shows its error in its card.
func (a *Admin) renderTenant(w http.ResponseWriter, r *http.Request, status int, t *tenancy.Tenant, form actionForm) {
	v := tenantView{T: t, LastAccess: a.lastAccess(t), Statuses: tenancy.Statuses, Form: form, MetricsOn: a.cfg.Metrics != nil,
		BackupsOn: a.cfg.Backups != nil, ExportFormats: dataport.Formats}
	if v.Form.Status == "" {
		v.Form.Status = string(t.Status)
	}
	if v.Form.ExportFormat == "" {
		v.Form.ExportFormat = dataport.FormatJSON
	}
	if t.Maintenance && t.MaintenanceSecret != "" && t.PrimaryDomain() != "" {
		v.BypassURL = siteURL(t) + tenancy.MaintenanceBypassPrefix + t.MaintenanceSecret
	}
	if a.cfg.Metrics != nil {
		if rs, ok := a.cfg.Metrics.Tenant(t.ID); ok && rs.Requests > 0 {
			v.Requests = &rs
		}
	}
	v.Migrations, v.LatestMigration = a.mgr.Databases().Migrations()

	ctx, cancel := context.WithTimeout(r.Context(), tenantPageTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		ds, err := a.mgr.DatabaseStats(ctx, t)
		if err != nil {
			v.DBError = a.figureProblem(ctx, "measuring a tenant database", t, err, dbUnreadable)
			return
		}
		v.DB = ds
	})
	wg.Go(func() {
		st, err := a.mgr.MigrationStatus(ctx, t)
		if err != nil {
			v.MigrationsError = a.figureProblem(ctx, "reading a tenant's migration state", t, err, dbUnreadable)
			return
		}
		for _, s := range st {
			if s.Applied {
				v.Applied = max(v.Applied, s.Version)
			} else {
				v.Pending = append(v.Pending, s)
			}
		}
	})
	wg.Go(func() {
		entries, err := a.cp.Audit(ctx, controlplane.AuditFilter{TenantUUID: t.UUID, Limit: auditLimit})
		if err != nil {
			v.AuditError = a.figureProblem(ctx, "reading a tenant's audit log", t, err, "the catalog could not be read; see the server log.")
			return
		}
		v.Audit = make([]auditRow, len(entries))
		for i, e := range entries {
			v.Audit[i] = auditRow{AuditEntry: e, When: &e.At, Changes: auditChanges(e.Before, e.After)}
		}
	})
	if a.cfg.Backups != nil {
		wg.Go(func() {
			list, err := a.cfg.Backups.List(ctx, t)
			if err != nil {
				v.BackupsError = a.figureProblem(ctx, "listing a tenant's backups", t, err, "the catalog could not be read; see the server log.")
				return
			}
			v.Backups = list
		})
	}
	wg.Wait()
	a.render(w, r, status, "tenant", page{Title: t.Name, Nav: "tenants", Data: v})
}

// dbUnreadable is the tenant page's message for a tenant database that
// failed in a way the page does not name.
const dbUnreadable = "the database could not be opened or read; see the server log."

// figureProblem logs why one of a tenant page's figures could not be had
// and returns a short message for the page (fallback when the error is
// none the page names): the error's own text can carry file paths and
// driver detail.
func (a *Admin) figureProblem(ctx context.Context, doing string, t *tenancy.Tenant, err error, fallback string) string {
	a.log.ErrorContext(ctx, "admin: "+doing, "tenant", t.UUID, "database", t.DatabaseName, "err", err)
	switch {
	case errors.Is(err, tenantdb.ErrNotExist):
		return "the database does not exist."
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("it took longer than %s.", tenantPageTimeout)
	case errors.Is(err, context.Canceled):
		return "the request was cancelled."
	}
	return fallback
}

// siteURL is the address of the tenant's primary domain, https when the
// domain has SSL.
func siteURL(t *tenancy.Tenant) string {
	host := t.PrimaryDomain()
	for _, d := range t.Domains {
		if d.Domain == host && d.SSLEnabled {
			return "https://" + host
		}
	}
	return "http://" + host
}

// auditChanges lists what an audit entry changed, as "field: old → new"
// for changes to a tenant's record, or the recorded details otherwise.
func auditChanges(before, after json.RawMessage) []string {
	var b, a map[string]any
	if len(after) > 0 && json.Unmarshal(after, &a) != nil {
		return nil
	}
	if len(before) > 0 && json.Unmarshal(before, &b) != nil {
		return nil
	}
	if b == nil || a == nil {
		// A creation, a deletion or an action's details: show the
		// details, not a whole tenant.
		if b == nil && a != nil && a["uuid"] == nil {
			return describe(a)
		}
		return nil
	}
	var out []string
	for _, k := range sortedKeys(a) {
		if k == "updated_at" || k == "last_accessed_at" {
			continue
		}
		if !jsonEqual(b[k], a[k]) {
			out = append(out, k+": "+short(b[k])+" → "+short(a[k]))
		}
	}
	return out
}

// describe lists an action's details as "key: value".
func describe(m map[string]any) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, k+": "+short(m[k]))
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func jsonEqual(x, y any) bool {
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(bx, by)
}

// short renders a JSON value in at most 60 characters.
func short(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "—"
	case string:
		s = v
		if s == "" {
			s = `""`
		}
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			if m, ok := e.(map[string]any); ok && m["domain"] != nil {
				parts = append(parts, fmt.Sprint(m["domain"]))
				continue
			}
			b, _ := json.Marshal(e)
			parts = append(parts, string(b))
		}
		s = "[" + strings.Join(parts, ", ") + "]"
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

// actionFailed re-renders the tenant's page with the error of the action
// form that failed, or an error page when the tenant itself is gone.
func (a *Admin) actionFailed(w http.ResponseWriter, r *http.Request, t *tenancy.Tenant, formName string, form actionForm, err error) {
	p := a.classify(r, err)
	if p.Status == http.StatusNotFound {
		a.renderError(w, r, p.Status, p.Msg)
		return
	}
	a.failAction(w, r, p.Status, t, formName, form, p.Msg)
}

// failAction re-renders the tenant's page with msg on the form.
func (a *Admin) failAction(w http.ResponseWriter, r *http.Request, status int, t *tenancy.Tenant, formName string, form actionForm, msg string) {
	if fresh, err := a.mgr.Get(r.Context(), t.UUID); err == nil {
		t = fresh
	}
	form.Errors = formErrors{formName: msg}
	a.renderTenant(w, r, status, t, form)
}

// done sends the admin back to the tenant's page with a message.
func done(w http.ResponseWriter, r *http.Request, t *tenancy.Tenant, msg string) {
	setFlash(w, msg)
	http.Redirect(w, r, tenantURL(t), http.StatusSeeOther)
}

// setStatus serves POST /admin/tenants/{uuid}/status (status, reason,
// visitor_message).
func (a *Admin) setStatus(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	form := actionForm{Status: strings.TrimSpace(r.PostForm.Get("status")), Reason: r.PostForm.Get("reason"), VisitorMessage: r.PostForm.Get("visitor_message")}
	if form.Status == "" {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "status", form, "Choose a status.")
		return
	}
	st, err := tenancy.ParseStatus(form.Status)
	if err != nil {
		a.actionFailed(w, r, t, "status", form, err)
		return
	}
	updated, err := a.mgr.ChangeStatus(r.Context(), t.UUID, tenancy.StatusChange{Status: st, Reason: form.Reason, VisitorMessage: form.VisitorMessage})
	if err != nil {
		a.actionFailed(w, r, t, "status", form, err)
		return
	}
	done(w, r, updated, fmt.Sprintf("%s is now %s.", updated.Name, updated.Status))
}

// setMaintenance serves POST /admin/tenants/{uuid}/maintenance (on=1 or
// 0, message).
func (a *Admin) setMaintenance(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	form := actionForm{MaintenanceMessage: r.PostForm.Get("message")}
	on, err := formBool(r.PostForm.Get("on"))
	if err != nil || r.PostForm.Get("on") == "" {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "maintenance", form, "Say whether to turn maintenance mode on (1) or off (0).")
		return
	}
	updated, err := a.mgr.SetMaintenance(r.Context(), t.UUID, on, form.MaintenanceMessage)
	if err != nil {
		a.actionFailed(w, r, t, "maintenance", form, err)
		return
	}
	msg := "Maintenance mode is off for " + updated.Name + "."
	if on {
		msg = updated.Name + " is in maintenance mode."
	}
	done(w, r, updated, msg)
}

// addDomain serves POST /admin/tenants/{uuid}/domains (domain, primary).
func (a *Admin) addDomain(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	form := actionForm{Domain: r.PostForm.Get("domain")}
	primary, err := formBool(r.PostForm.Get("primary"))
	form.Primary = primary
	if err != nil {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "domain_add", form, "Primary must be checked or not.")
		return
	}
	if strings.TrimSpace(form.Domain) == "" {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "domain_add", form, "Enter a domain.")
		return
	}
	updated, err := a.mgr.AddDomain(r.Context(), t.UUID, tenancy.DomainRequest{Domain: form.Domain, Primary: primary})
	if err != nil {
		a.actionFailed(w, r, t, "domain_add", form, err)
		return
	}
	done(w, r, updated, "Added "+changedDomain(updated, t, form.Domain)+" to "+updated.Name+".")
}

// changedDomain is the (normalised) domain that a has and b has not:
// the one an add made or a removal took away; typed when there is none.
func changedDomain(a, b *tenancy.Tenant, typed string) string {
	for _, d := range a.Domains {
		if !slices.ContainsFunc(b.Domains, func(o tenancy.Domain) bool { return o.Domain == d.Domain }) {
			return d.Domain
		}
	}
	return strings.TrimSpace(typed)
}

// removeDomain serves POST /admin/tenants/{uuid}/domains/remove (domain).
func (a *Admin) removeDomain(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	d := r.PostForm.Get("domain")
	if strings.TrimSpace(d) == "" {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "domains", actionForm{}, "Say which domain to remove.")
		return
	}
	updated, err := a.mgr.RemoveDomain(r.Context(), t.UUID, d)
	if err != nil {
		a.actionFailed(w, r, t, "domains", actionForm{}, err)
		return
	}
	done(w, r, updated, "Removed "+changedDomain(t, updated, d)+" from "+updated.Name+".")
}

// primaryDomain serves POST /admin/tenants/{uuid}/domains/primary (domain).
func (a *Admin) primaryDomain(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	d := r.PostForm.Get("domain")
	if strings.TrimSpace(d) == "" {
		a.failAction(w, r, http.StatusUnprocessableEntity, t, "domains", actionForm{}, "Say which domain to make primary.")
		return
	}
	updated, err := a.mgr.SetPrimaryDomain(r.Context(), t.UUID, d)
	if err != nil {
		a.actionFailed(w, r, t, "domains", actionForm{}, err)
		return
	}
	done(w, r, updated, updated.PrimaryDomain()+" is now the primary domain of "+updated.Name+".")
}
