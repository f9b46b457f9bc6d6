package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

// Request bodies. The api tag marks required fields for the OpenAPI
// document; doc describes a field.

type createBody struct {
	Name          string         `json:"name" api:"required" doc:"Display name."`
	Domain        string         `json:"domain" api:"required" doc:"Primary domain."`
	Status        string         `json:"status" doc:"active (default), inactive, suspended or blocked."`
	DatabaseName  string         `json:"database_name" doc:"Database name, ^[a-z][a-z0-9_]{0,62}$; generated from the name when absent."`
	Notes         string         `json:"notes" doc:"Free-form notes."`
	RunMigrations bool           `json:"run_migrations" doc:"Apply the tenant migrations after creating the database."`
	SeedDatabase  bool           `json:"seed_database" doc:"Run every seeder after migrating; implies run_migrations."`
	Settings      map[string]any `json:"settings" doc:"Settings object."`
	Data          map[string]any `json:"data" doc:"The application's own attributes."`
}

type updateBody struct {
	Name           *string        `json:"name" doc:"Display name."`
	Status         *string        `json:"status" doc:"active, inactive, suspended or blocked."`
	StatusReason   *string        `json:"status_reason" doc:"Why the tenant is in its status; internal, never shown to visitors."`
	VisitorMessage *string        `json:"visitor_message" doc:"Shown to visitors on the status page while the tenant is not served."`
	Notes          *string        `json:"notes" doc:"Free-form notes."`
	Settings       map[string]any `json:"settings" doc:"Replaces the settings object."`
	Data           map[string]any `json:"data" doc:"Replaces the application's attributes."`
}

type statusBody struct {
	Status         string `json:"status" api:"required" doc:"active, inactive, suspended or blocked."`
	Reason         string `json:"reason" doc:"Why; recorded on the tenant and in the audit log, never shown to visitors."`
	VisitorMessage string `json:"visitor_message" doc:"Shown to visitors on the status page while the status refuses them; replaces the previous one (absent: none)."`
	Notify         bool   `json:"notify" doc:"Accepted and echoed; no notifications are sent yet."`
}

type reasonBody struct {
	Reason         string `json:"reason" doc:"Why; recorded on the tenant and in the audit log, never shown to visitors."`
	VisitorMessage string `json:"visitor_message" doc:"Shown to visitors on the status page while the status refuses them; replaces the previous one (absent: none)."`
}

// listTenants serves GET /tenancy/tenants.
func (a *API) listTenants(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	opts := tenancy.ListOptions{
		Page:    q.int("page", 1, 1, 1_000_000_000),
		PerPage: q.int("per_page", tenancy.DefaultPerPage, 1, tenancy.MaxPerPage),
		Search:  q.str("search"),
		Sort:    q.oneOf("sort", "created_at", tenancy.SortFields...),
		Desc:    q.oneOf("order", "asc", "asc", "desc") == "desc",
	}
	if s := q.str("status"); s != "" {
		st, err := tenancy.ParseStatus(s)
		if err != nil {
			q.errs.add("status", "must be one of active, inactive, suspended, blocked")
		}
		opts.Status = st
	}
	withStats := q.bool("with_stats")
	if err := q.errs.err(); err != nil {
		return err
	}
	res, err := a.mgr.List(r.Context(), opts)
	if err != nil {
		return err
	}
	meta := pageMeta{CurrentPage: res.Page, PerPage: res.PerPage, Total: res.Total, LastPage: res.LastPage()}
	if !withStats {
		return a.respond(w, http.StatusOK, res.Tenants, meta, "")
	}
	out := make([]tenantView, len(res.Tenants))
	g, ctx := errgroup.WithContext(r.Context())
	g.SetLimit(4)
	for i, t := range res.Tenants {
		out[i].Tenant = t
		g.Go(func() error {
			out[i].Stats = a.databaseStats(ctx, t)
			return nil
		})
	}
	g.Wait()
	return a.respond(w, http.StatusOK, out, meta, "")
}

// tenantView is a tenant with its measured database figures.
type tenantView struct {
	*tenancy.Tenant
	Stats *tenancy.DatabaseStats `json:"stats,omitempty"`
}

// databaseStats measures a tenant's database; nil when it cannot be measured.
func (a *API) databaseStats(ctx context.Context, t *tenancy.Tenant) *tenancy.DatabaseStats {
	ds, err := a.mgr.DatabaseStats(ctx, t)
	if err != nil {
		a.log.DebugContext(ctx, "api: measuring tenant database", "tenant", t.UUID, "err", err)
		return nil
	}
	return &ds
}

// createTenant serves POST /tenancy/tenants and /tenancy/tenants/create.
func (a *API) createTenant(w http.ResponseWriter, r *http.Request) error {
	var b createBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	if strings.TrimSpace(b.Name) == "" {
		errs.add("name", "is required")
	}
	if strings.TrimSpace(b.Domain) == "" {
		errs.add("domain", "is required")
	}
	if err := errs.err(); err != nil {
		return err
	}
	migrate := b.RunMigrations || b.SeedDatabase
	t, err := a.mgr.Create(r.Context(), tenancy.CreateRequest{
		Name:         b.Name,
		Domain:       b.Domain,
		DatabaseName: b.DatabaseName,
		Status:       tenancy.Status(strings.TrimSpace(b.Status)),
		Notes:        b.Notes,
		Settings:     b.Settings,
		Data:         b.Data,
		Migrate:      migrate,
		Seed:         b.SeedDatabase,
	})
	if err != nil {
		return err
	}
	status := "not_requested"
	if migrate {
		status = "completed"
	}
	var domain *tenancy.Domain
	for i := range t.Domains {
		if t.Domains[i].IsPrimary || domain == nil {
			domain = &t.Domains[i]
		}
	}
	w.Header().Set("Location", "/tenancy/tenants/"+t.UUID)
	return a.respond(w, http.StatusCreated, map[string]any{"tenant": t, "domain": domain, "migration_status": status}, nil, "Tenant created successfully")
}

// includes are the values of GET /tenancy/tenants/{uuid}?include=.
var includes = []string{"domains", "stats", "health", "recent_activity"}

// tenantDetail is a tenant with the figures include asked for.
type tenantDetail struct {
	*tenancy.Tenant
	Stats          *tenantStats         `json:"stats,omitempty"`
	Health         *tenantHealth        `json:"health,omitempty"`
	RecentActivity []tenancy.AuditEntry `json:"recent_activity,omitzero"`
}

// tenantStats are a tenant's measured figures: its database's (absent when
// it cannot be measured) and its request metrics (absent without metrics).
type tenantStats struct {
	*tenancy.DatabaseStats
	Requests *requestFigures `json:"requests,omitempty"`
}

// tenantHealth says whether a tenant's database can be opened and queried.
type tenantHealth struct {
	Healthy     bool           `json:"healthy"`
	Served      bool           `json:"served"`
	Status      tenancy.Status `json:"status"`
	Maintenance bool           `json:"maintenance"`
	Database    checkResult    `json:"database"`
}

// checkResult is the outcome of one health check.
type checkResult struct {
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// getTenant serves GET /tenancy/tenants/{uuid}.
func (a *API) getTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	var want []string
	if r.URL.RawQuery != "" {
		for part := range strings.SplitSeq(r.URL.Query().Get("include"), ",") {
			p := strings.ToLower(strings.TrimSpace(part))
			if p == "" {
				continue
			}
			if !slices.Contains(includes, p) {
				return invalid("include", "must list some of "+strings.Join(includes, ", "))
			}
			want = append(want, p)
		}
	}
	ctx := r.Context()
	if len(want) == 0 && a.cfg.Resolver != nil {
		// The plain answer comes from the resolution snapshot, whose
		// tenants never change (a change makes a new one), so their JSON
		// is cached. Its last_accessed_at is as of the snapshot's last
		// reload: last-access flushes do not reload it.
		t, err := a.cfg.Resolver.ByRef(ctx, id)
		if err != nil {
			return err
		}
		body, err := a.encoded.get(t)
		if err != nil {
			return err
		}
		a.writeTenant(w, body)
		return nil
	}
	t, err := a.mgr.Get(ctx, id)
	if err != nil {
		return err
	}
	if len(want) == 0 {
		return a.ok(w, t, "")
	}
	d := tenantDetail{Tenant: t}
	if slices.Contains(want, "stats") {
		d.Stats = &tenantStats{DatabaseStats: a.databaseStats(ctx, t), Requests: a.tenantRequests(t.ID)}
	}
	if slices.Contains(want, "health") {
		d.Health = a.tenantHealth(ctx, t)
	}
	if slices.Contains(want, "recent_activity") {
		entries, err := a.cp.Audit(ctx, controlplane.AuditFilter{TenantUUID: t.UUID, Limit: 10})
		if err != nil {
			return err
		}
		d.RecentActivity = append([]tenancy.AuditEntry{}, entries...)
	}
	return a.ok(w, d, "")
}

// tenantHealth opens the tenant's database and runs a query on it.
func (a *API) tenantHealth(ctx context.Context, t *tenancy.Tenant) *tenantHealth {
	start := time.Now()
	err := a.mgr.Databases().Ping(ctx, t)
	check := checkResult{OK: err == nil, LatencyMS: durationMS(time.Since(start))}
	if err != nil {
		check.Error = err.Error()
	}
	return &tenantHealth{Healthy: err == nil, Served: t.Served(), Status: t.Status, Maintenance: t.Maintenance, Database: check}
}

// updateTenant serves PUT /tenancy/tenants/{uuid}.
func (a *API) updateTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	var b updateBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	req := tenancy.UpdateRequest{Name: b.Name, StatusReason: b.StatusReason, VisitorMessage: b.VisitorMessage, Notes: b.Notes, Settings: b.Settings, Data: b.Data}
	if b.Status != nil {
		st, err := tenancy.ParseStatus(*b.Status)
		if err != nil {
			return err
		}
		req.Status = &st
	}
	t, err := a.mgr.Update(r.Context(), id, req)
	if err != nil {
		return err
	}
	return a.ok(w, t, "Tenant updated successfully")
}

// deleteTenant serves DELETE /tenancy/tenants/{uuid}. An active tenant is
// only deleted with force=true (409 otherwise), so a live tenant is not
// deleted by accident; tenants in any other status are deleted at once.
func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	q := newQuery(r)
	force := q.bool("force")
	withBackup := q.bool("backup")
	if err := q.errs.err(); err != nil {
		return err
	}
	ctx := r.Context()
	t, err := a.mgr.Get(ctx, id)
	if err != nil {
		return err
	}
	if !force && t.Status == tenancy.StatusActive {
		return &apiError{Status: http.StatusConflict,
			Message: fmt.Sprintf("Tenant %s is active: suspend or deactivate it first, or delete it with force=true.", t.UUID)}
	}
	var meta any
	if withBackup {
		rec, err := a.backupFirst(ctx, t)
		if err != nil {
			return err
		}
		meta = map[string]any{"backup": rec}
	}
	deleted, err := a.mgr.Delete(ctx, t.UUID)
	if err != nil {
		return err
	}
	return a.respond(w, http.StatusOK, deleted, meta, "Tenant deleted successfully")
}

// statusChange is the answer of the status endpoints.
type statusChange struct {
	Tenant         *tenancy.Tenant `json:"tenant"`
	PreviousStatus tenancy.Status  `json:"previous_status"`
	// Notify echoes the request's notify; no notifications are sent yet.
	Notify bool `json:"notify"`
}

// setStatus serves PUT /tenancy/tenants/{uuid}/status.
func (a *API) setStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := uuidPath(r)
	if err != nil {
		return err
	}
	var b statusBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if strings.TrimSpace(b.Status) == "" {
		return invalid("status", "is required")
	}
	st, err := tenancy.ParseStatus(b.Status)
	if err != nil {
		return err
	}
	return a.changeStatus(w, r, id, tenancy.StatusChange{Status: st, Reason: b.Reason, VisitorMessage: b.VisitorMessage}, b.Notify)
}

// statusAction serves POST /tenancy/tenants/{uuid}/block and its kin.
func (a *API) statusAction(st tenancy.Status) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := uuidPath(r)
		if err != nil {
			return err
		}
		var b reasonBody
		if err := decodeBody(w, r, &b); err != nil {
			return err
		}
		return a.changeStatus(w, r, id, tenancy.StatusChange{Status: st, Reason: b.Reason, VisitorMessage: b.VisitorMessage}, false)
	}
}

func (a *API) changeStatus(w http.ResponseWriter, r *http.Request, id string, c tenancy.StatusChange, notify bool) error {
	ctx := r.Context()
	before, err := a.mgr.Get(ctx, id)
	if err != nil {
		return err
	}
	t, err := a.mgr.ChangeStatus(ctx, before.UUID, c)
	if err != nil {
		return err
	}
	return a.ok(w, statusChange{Tenant: t, PreviousStatus: before.Status, Notify: notify}, "Tenant status updated to "+string(c.Status))
}
