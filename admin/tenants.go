package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gotenancy/tenancy"
)

// Form body limits. Notes may hold 64 KiB; settings and data are JSON
// objects edited as text.
const (
	maxFormBytes     = 256 << 10
	maxEditFormBytes = 1 << 20
)

// List paging of the tenants page.
const (
	listPerPage    = 25
	maxListPage    = 1_000_000_000
	maxSearchBytes = 255
)

// registerTenantRoutes adds the tenant management pages (with a tenant's
// backups) and the fleet migrations pages.
func (a *Admin) registerTenantRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin/tenants", a.signedIn(a.listTenants))
	mux.Handle("POST /admin/tenants", a.signedIn(a.createTenant))
	mux.Handle("GET /admin/tenants/new", a.signedIn(a.newTenant))
	mux.Handle("GET /admin/tenants/{uuid}", a.signedIn(a.showTenant))
	mux.Handle("GET /admin/tenants/{uuid}/edit", a.signedIn(a.editTenant))
	mux.Handle("POST /admin/tenants/{uuid}/edit", a.signedIn(a.updateTenant))
	mux.Handle("POST /admin/tenants/{uuid}/status", a.signedIn(a.setStatus))
	mux.Handle("POST /admin/tenants/{uuid}/maintenance", a.signedIn(a.setMaintenance))
	mux.Handle("POST /admin/tenants/{uuid}/domains", a.signedIn(a.addDomain))
	mux.Handle("POST /admin/tenants/{uuid}/domains/remove", a.signedIn(a.removeDomain))
	mux.Handle("POST /admin/tenants/{uuid}/domains/primary", a.signedIn(a.primaryDomain))
	mux.Handle("GET /admin/tenants/{uuid}/delete", a.signedIn(a.confirmDelete))
	mux.Handle("POST /admin/tenants/{uuid}/delete", a.signedIn(a.deleteTenant))
	a.registerBackupRoutes(mux)
	a.registerMigrationRoutes(mux)
}

// formErrors maps a form's field names to their messages.
type formErrors map[string]string

// problem is how a failed Manager call is shown: the status to answer
// with, the form field it belongs to ("" for the form as a whole) and the
// message.
type problem struct {
	Status int
	Field  string
	Msg    string
}

// classify maps an error of the Manager to a problem, as the REST API maps
// errors to statuses: invalid input is 422, conflicts 409, a missing
// tenant 404. Anything else is the server's fault, logged here.
func (a *Admin) classify(r *http.Request, err error) problem {
	var ve *tenancy.ValidationError
	switch {
	case errors.As(err, &ve):
		return problem{http.StatusUnprocessableEntity, ve.Field, sentence(ve.Reason)}
	case errors.Is(err, tenancy.ErrDomainTaken):
		return problem{http.StatusConflict, "domain", sentence(err.Error()) + " (by another tenant)"}
	case errors.Is(err, tenancy.ErrDatabaseTaken):
		return problem{http.StatusConflict, "database_name", sentence(err.Error())}
	case errors.Is(err, tenancy.ErrLastDomain):
		return problem{http.StatusConflict, "domain", sentence(err.Error())}
	case errors.Is(err, tenancy.ErrLocked), errors.Is(err, tenancy.ErrTenantState):
		return problem{http.StatusConflict, "", sentence(err.Error())}
	case errors.Is(err, tenancy.ErrDomainNotFound):
		return problem{http.StatusUnprocessableEntity, "domain", sentence(err.Error())}
	case errors.Is(err, tenancy.ErrNotFound):
		return problem{http.StatusNotFound, "", "There is no such tenant."}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem{http.StatusServiceUnavailable, "", "The request was cancelled or took too long; try again."}
	}
	// The error's text can carry file paths and driver detail: it goes to
	// the log, not the page.
	a.log.ErrorContext(r.Context(), "admin: tenant change failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return problem{http.StatusInternalServerError, "", "The change failed; see the server log."}
}

// sentence makes s start with a capital letter and end with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// readForm parses a POSTed form of at most limit bytes. On failure it has
// answered (413 or 400) and returns false.
func (a *Admin) readForm(w http.ResponseWriter, r *http.Request, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := r.ParseForm()
	if err == nil {
		return true
	}
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		a.renderError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is too large (at most %d KiB).", limit>>10))
		return false
	}
	a.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
	return false
}

// formBool reads a checkbox or a 1/0 field: absent is false.
func formBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "off", "no":
		return false, nil
	case "1", "true", "on", "yes":
		return true, nil
	}
	return false, errors.New("must be 1 or 0")
}

// loadTenant returns the tenant of the request's {uuid}, or answers 404
// (or 500) and returns nil.
func (a *Admin) loadTenant(w http.ResponseWriter, r *http.Request) *tenancy.Tenant {
	t, err := a.mgr.Get(r.Context(), r.PathValue("uuid"))
	if err == nil {
		return t
	}
	if errors.Is(err, tenancy.ErrNotFound) || tenancy.IsValidation(err) {
		a.renderError(w, r, http.StatusNotFound, "There is no such tenant.")
		return nil
	}
	p := a.classify(r, err)
	a.renderError(w, r, p.Status, p.Msg)
	return nil
}

// tenantURL is the path of a tenant's page.
func tenantURL(t *tenancy.Tenant) string { return "/admin/tenants/" + t.UUID }

// lastAccess is the later of the catalog's last access and this process's
// own (which reaches the catalog only in batches).
func (a *Admin) lastAccess(t *tenancy.Tenant) *time.Time {
	at := t.LastAccessedAt
	if a.cfg.Metrics != nil {
		if m, ok := a.cfg.Metrics.LastAccess(t.ID); ok && (at == nil || m.After(*at)) {
			at = &m
		}
	}
	return at
}

// ---- GET /admin/tenants -------------------------------------------------

// listQuery is the tenants page's query, as entered.
type listQuery struct {
	Q, Status, Sort, Order string
	Page, PerPage          int
}

// timeSorts are the sort fields that list the newest first by default.
var timeSorts = map[string]bool{"created_at": true, "updated_at": true, "last_accessed_at": true}

// defaultOrder is the direction a column sorts in when first clicked.
func defaultOrder(sort string) string {
	if timeSorts[sort] {
		return "desc"
	}
	return "asc"
}

// parseListQuery reads and checks the query; the messages are for the
// page (400).
func parseListQuery(v url.Values) (listQuery, []string) {
	q := listQuery{Q: strings.TrimSpace(v.Get("q")), Status: strings.TrimSpace(v.Get("status")),
		Sort: strings.TrimSpace(v.Get("sort")), Order: strings.ToLower(strings.TrimSpace(v.Get("order"))),
		Page: 1, PerPage: listPerPage}
	var errs []string
	if len(q.Q) > maxSearchBytes || !utf8.ValidString(q.Q) || strings.IndexFunc(q.Q, unicode.IsControl) >= 0 {
		errs = append(errs, fmt.Sprintf("The search must be text of at most %d bytes without control characters.", maxSearchBytes))
		q.Q = ""
	}
	if q.Status != "" {
		st, err := tenancy.ParseStatus(q.Status)
		if err != nil {
			errs = append(errs, "Unknown status filter; choose one of active, inactive, suspended, blocked.")
			q.Status = ""
		} else {
			q.Status = string(st)
		}
	}
	if q.Sort == "" {
		q.Sort = "created_at"
	} else if !validSort(q.Sort) {
		errs = append(errs, "Unknown sort; choose one of "+strings.Join(tenancy.SortFields, ", ")+".")
		q.Sort = "created_at"
	}
	switch q.Order {
	case "":
		q.Order = defaultOrder(q.Sort)
	case "asc", "desc":
	default:
		errs = append(errs, "The order must be asc or desc.")
		q.Order = defaultOrder(q.Sort)
	}
	if s := strings.TrimSpace(v.Get("page")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListPage {
			errs = append(errs, "The page must be a whole number of at least 1.")
		} else {
			q.Page = n
		}
	}
	if s := strings.TrimSpace(v.Get("per_page")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > tenancy.MaxPerPage {
			errs = append(errs, fmt.Sprintf("Tenants per page must be a whole number from 1 to %d.", tenancy.MaxPerPage))
		} else {
			q.PerPage = n
		}
	}
	return q, errs
}

func validSort(s string) bool {
	for _, f := range tenancy.SortFields {
		if f == s {
			return true
		}
	}
	return false
}

// options turns the query into the Manager's list options.
func (q listQuery) options() tenancy.ListOptions {
	return tenancy.ListOptions{Status: tenancy.Status(q.Status), Search: q.Q, Sort: q.Sort, Desc: q.Order == "desc", Page: q.Page, PerPage: q.PerPage}
}

// url is the tenants page with the query, changed by pairs of key and
// value. Defaults are left out, so links stay short.
func (q listQuery) url(pairs ...string) string {
	v := url.Values{}
	set := func(k, val, def string) {
		if val != "" && val != def {
			v.Set(k, val)
		}
	}
	set("q", q.Q, "")
	set("status", q.Status, "")
	set("sort", q.Sort, "created_at")
	set("order", q.Order, defaultOrder(q.Sort))
	set("page", strconv.Itoa(q.Page), "1")
	set("per_page", strconv.Itoa(q.PerPage), strconv.Itoa(listPerPage))
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			v.Del(pairs[i])
		} else {
			v.Set(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return "/admin/tenants"
	}
	return "/admin/tenants?" + v.Encode()
}

// listRow is one tenant of the list.
type listRow struct {
	UUID, Name, Domain string
	Status             tenancy.Status
	StatusReason       string
	Maintenance        bool
	CreatedAt          time.Time
	LastAccess         *time.Time
}

// sortColumn is a sortable column header.
type sortColumn struct {
	Label, URL string
	// Current is "ascending" or "descending" on the sorted column (for
	// aria-sort), "" on the others.
	Current string
}

// listPage is the tenants page's data.
type listPage struct {
	Query    listQuery
	Statuses []tenancy.Status
	Sorts    []sortOption
	Errors   []string
	Rows     []listRow
	Columns  map[string]sortColumn
	Total    int
	Page     int
	LastPage int
	First    int // 1-based index of the first row shown
	Last     int
	PrevURL  string
	NextURL  string
	// PastEnd is set when the page asked for is after the last one.
	PastEnd  bool
	FirstURL string
	// Filtered is set when a search or a status filter is in effect.
	Filtered bool
}

// listTenants serves GET /admin/tenants: search, filter, sort and pages.
// Invalid query values give the page with the messages and 400.
func (a *Admin) listTenants(w http.ResponseWriter, r *http.Request) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	q, errs := parseListQuery(values)
	if err != nil {
		errs = append([]string{"The query could not be read (it has a stray % or ;)."}, errs...)
	}
	data := listPage{Query: q, Statuses: tenancy.Statuses, Sorts: sortOptions, Errors: errs,
		Filtered: q.Q != "" || q.Status != ""}
	data.Columns = listColumns(q)
	if len(errs) > 0 {
		a.render(w, r, http.StatusBadRequest, "tenants", page{Title: "Tenants", Nav: "tenants", Data: data})
		return
	}
	res, err := a.mgr.List(r.Context(), q.options())
	if err != nil {
		p := a.classify(r, err)
		if p.Status == http.StatusUnprocessableEntity {
			p.Status = http.StatusBadRequest
		}
		data.Errors = []string{p.Msg}
		a.render(w, r, p.Status, "tenants", page{Title: "Tenants", Nav: "tenants", Data: data})
		return
	}
	data.Rows = make([]listRow, len(res.Tenants))
	for i, t := range res.Tenants {
		data.Rows[i] = listRow{UUID: t.UUID, Name: t.Name, Domain: t.PrimaryDomain(), Status: t.Status,
			StatusReason: t.StatusReason, Maintenance: t.Maintenance, CreatedAt: t.CreatedAt, LastAccess: a.lastAccess(t)}
	}
	data.Total, data.Page, data.LastPage = res.Total, res.Page, res.LastPage()
	if len(res.Tenants) > 0 {
		data.First = (res.Page-1)*res.PerPage + 1
		data.Last = data.First + len(res.Tenants) - 1
	}
	if res.Page > 1 {
		data.PrevURL = q.url("page", strconv.Itoa(min(res.Page-1, data.LastPage)))
	}
	if res.Page < data.LastPage {
		data.NextURL = q.url("page", strconv.Itoa(res.Page+1))
	}
	if res.Total > 0 && len(res.Tenants) == 0 {
		data.PastEnd = true
		data.FirstURL = q.url("page", "")
	}
	a.render(w, r, http.StatusOK, "tenants", page{Title: "Tenants", Nav: "tenants", Data: data})
}

// sortOption is a choice of the sort menu.
type sortOption struct{ Value, Label string }

// sortLabels name the sort fields for people.
var sortLabels = map[string]string{"name": "Name", "status": "Status", "created_at": "Created", "updated_at": "Updated", "last_accessed_at": "Last access"}

// sortOptions are the sort menu's choices, one per sort field.
var sortOptions = func() []sortOption {
	out := make([]sortOption, len(tenancy.SortFields))
	for i, f := range tenancy.SortFields {
		label := sortLabels[f]
		if label == "" {
			label = f
		}
		out[i] = sortOption{Value: f, Label: label}
	}
	return out
}()

// listColumns are the sortable headers: a click sorts by the column, a
// second click reverses it.
func listColumns(q listQuery) map[string]sortColumn {
	cols := make(map[string]sortColumn, len(sortLabels))
	for field, label := range sortLabels {
		order := defaultOrder(field)
		c := sortColumn{Label: label}
		if q.Sort == field {
			c.Current = "ascending"
			order = "desc"
			if q.Order == "desc" {
				c.Current, order = "descending", "asc"
			}
		}
		next := listQuery{Q: q.Q, Status: q.Status, Sort: field, Order: order, Page: 1, PerPage: q.PerPage}
		c.URL = next.url()
		cols[field] = c
	}
	return cols
}

// ---- GET /admin/tenants/new, POST /admin/tenants --------------------------

// createForm is the new-tenant form's values and errors.
type createForm struct {
	Name, Domain, DatabaseName, Shard, Status, Notes string
	Migrate, Seed                                    bool
	Statuses                                         []tenancy.Status
	Errors                                           formErrors
	// Error is a message for the form as a whole.
	Error string
}

// createFields are the fields of the form; errors on other fields go to
// the form as a whole.
var createFields = map[string]bool{"name": true, "domain": true, "database_name": true, "shard": true, "status": true, "notes": true}

// newTenant serves GET /admin/tenants/new.
func (a *Admin) newTenant(w http.ResponseWriter, r *http.Request) {
	f := createForm{Status: string(tenancy.StatusActive), Migrate: true, Seed: true, Statuses: tenancy.Statuses}
	a.render(w, r, http.StatusOK, "tenant_new", page{Title: "New tenant", Nav: "tenants", Data: f})
}

// createTenant serves POST /admin/tenants: the Manager creates the tenant
// (record, database, migrations, seed); errors are shown next to their
// fields with the values kept.
func (a *Admin) createTenant(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, maxFormBytes) {
		return
	}
	pf := r.PostForm
	f := createForm{Name: pf.Get("name"), Domain: pf.Get("domain"), DatabaseName: strings.TrimSpace(pf.Get("database_name")),
		Shard: strings.TrimSpace(pf.Get("shard")), Status: strings.TrimSpace(pf.Get("status")), Notes: pf.Get("notes"),
		Statuses: tenancy.Statuses, Errors: formErrors{}}
	var err error
	if f.Migrate, err = formBool(pf.Get("migrate")); err != nil {
		f.Error = "Run migrations " + err.Error() + "."
	}
	if f.Seed, err = formBool(pf.Get("seed")); err != nil {
		f.Error = "Seed " + err.Error() + "."
	}
	if strings.TrimSpace(f.Name) == "" {
		f.Errors["name"] = "Enter a name."
	}
	if strings.TrimSpace(f.Domain) == "" {
		f.Errors["domain"] = "Enter a domain."
	}
	if len(f.Errors) > 0 || f.Error != "" {
		a.render(w, r, http.StatusUnprocessableEntity, "tenant_new", page{Title: "New tenant", Nav: "tenants", Data: f})
		return
	}
	t, err := a.mgr.Create(r.Context(), tenancy.CreateRequest{
		Name:         f.Name,
		Domain:       f.Domain,
		DatabaseName: f.DatabaseName,
		Shard:        f.Shard,
		Status:       tenancy.Status(f.Status),
		Notes:        f.Notes,
		// Seeding needs the tables the migrations make.
		Migrate: f.Migrate || f.Seed,
		Seed:    f.Seed,
	})
	if err != nil {
		p := a.classify(r, err)
		if createFields[p.Field] {
			f.Errors[p.Field] = p.Msg
		} else {
			f.Error = p.Msg
		}
		a.render(w, r, p.Status, "tenant_new", page{Title: "New tenant", Nav: "tenants", Data: f})
		return
	}
	setFlash(w, "Created tenant "+t.Name+".")
	http.Redirect(w, r, tenantURL(t), http.StatusSeeOther)
}

// ---- GET/POST /admin/tenants/{uuid}/edit ----------------------------------

// editForm is the edit form's values and errors.
type editForm struct {
	T                           *tenancy.Tenant
	Name, Notes, Settings, Data string
	Errors                      formErrors
	Error                       string
}

var editFields = map[string]bool{"name": true, "notes": true, "settings": true, "data": true}

// jsonText renders a settings or data object for editing.
func jsonText(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

// parseObject reads a JSON object typed into a textarea (empty is {}); a
// non-empty problem is the message for the field.
func parseObject(s string) (m map[string]any, problem string) {
	if strings.TrimSpace(s) == "" {
		return map[string]any{}, ""
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, `Must be a JSON object, such as {"plan": "pro"}.`
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "Must be one JSON object, with nothing after it."
	}
	return m, ""
}

// editTenant serves GET /admin/tenants/{uuid}/edit.
func (a *Admin) editTenant(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil {
		return
	}
	f := editForm{T: t, Name: t.Name, Notes: t.Notes, Settings: jsonText(t.Settings), Data: jsonText(t.Data)}
	a.render(w, r, http.StatusOK, "tenant_edit", page{Title: "Edit " + t.Name, Nav: "tenants", Data: f})
}

// updateTenant serves POST /admin/tenants/{uuid}/edit.
func (a *Admin) updateTenant(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxEditFormBytes) {
		return
	}
	pf := r.PostForm
	f := editForm{T: t, Name: pf.Get("name"), Notes: t.Notes, Settings: jsonText(t.Settings), Data: jsonText(t.Data), Errors: formErrors{}}
	// A field the form does not send is kept as it is.
	req := tenancy.UpdateRequest{Name: &f.Name}
	if _, ok := pf["notes"]; ok {
		f.Notes = pf.Get("notes")
		req.Notes = &f.Notes
	}
	var msg string
	if _, ok := pf["settings"]; ok {
		f.Settings = pf.Get("settings")
		if req.Settings, msg = parseObject(f.Settings); msg != "" {
			f.Errors["settings"] = msg
		}
	}
	if _, ok := pf["data"]; ok {
		f.Data = pf.Get("data")
		if req.Data, msg = parseObject(f.Data); msg != "" {
			f.Errors["data"] = msg
		}
	}
	if strings.TrimSpace(f.Name) == "" {
		f.Errors["name"] = "Enter a name."
	}
	if len(f.Errors) > 0 {
		a.render(w, r, http.StatusUnprocessableEntity, "tenant_edit", page{Title: "Edit " + t.Name, Nav: "tenants", Data: f})
		return
	}
	updated, err := a.mgr.Update(r.Context(), t.UUID, req)
	if err != nil {
		p := a.classify(r, err)
		if p.Status == http.StatusNotFound {
			a.renderError(w, r, p.Status, p.Msg)
			return
		}
		if editFields[p.Field] {
			f.Errors[p.Field] = p.Msg
		} else {
			f.Error = p.Msg
		}
		a.render(w, r, p.Status, "tenant_edit", page{Title: "Edit " + t.Name, Nav: "tenants", Data: f})
		return
	}
	setFlash(w, "Saved "+updated.Name+".")
	http.Redirect(w, r, tenantURL(updated), http.StatusSeeOther)
}

// ---- GET/POST /admin/tenants/{uuid}/delete --------------------------------

// deleteForm is the delete confirmation's data.
type deleteForm struct {
	T       *tenancy.Tenant
	Confirm string
	Errors  formErrors
	Error   string
}

// confirmDelete serves GET /admin/tenants/{uuid}/delete.
func (a *Admin) confirmDelete(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil {
		return
	}
	a.render(w, r, http.StatusOK, "tenant_delete", page{Title: "Delete " + t.Name, Nav: "tenants", Data: deleteForm{T: t}})
}

// deleteTenant serves POST /admin/tenants/{uuid}/delete: the tenant goes
// (database, domains, records) only when the form repeats its exact name.
// Unlike the REST API's DELETE, an active tenant needs no force flag: the
// typed name is the safeguard.
func (a *Admin) deleteTenant(w http.ResponseWriter, r *http.Request) {
	t := a.loadTenant(w, r)
	if t == nil || !a.readForm(w, r, maxFormBytes) {
		return
	}
	f := deleteForm{T: t, Confirm: r.PostForm.Get("confirm"), Errors: formErrors{}}
	if strings.TrimSpace(f.Confirm) != t.Name {
		f.Errors["confirm"] = "Type the tenant's name exactly as shown to delete it."
		a.render(w, r, http.StatusUnprocessableEntity, "tenant_delete", page{Title: "Delete " + t.Name, Nav: "tenants", Data: f})
		return
	}
	deleted, err := a.mgr.Delete(r.Context(), t.UUID)
	if err != nil {
		p := a.classify(r, err)
		f.Error = p.Msg
		a.render(w, r, p.Status, "tenant_delete", page{Title: "Delete " + t.Name, Nav: "tenants", Data: f})
		return
	}
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.Forget(deleted.ID)
	}
	setFlash(w, "Deleted tenant "+deleted.Name+" and its database.")
	http.Redirect(w, r, "/admin/tenants", http.StatusSeeOther)
}
