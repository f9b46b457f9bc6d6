package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/migrate"
)

type bulkBody struct {
	TenantUUIDs    []string `json:"tenant_uuids" api:"required" doc:"The tenants, 1-1000 uuids; one unknown uuid changes nothing."`
	Status         string   `json:"status" api:"required" doc:"active, inactive, suspended or blocked."`
	Reason         string   `json:"reason" doc:"Why; recorded on each tenant and in the audit log, never shown to visitors."`
	VisitorMessage string   `json:"visitor_message" doc:"Shown to visitors on each tenant's status page while the status refuses them; replaces the previous one (absent: none)."`
	Notify         bool     `json:"notify" doc:"Accepted and echoed; no notifications are sent yet."`
}

// fleetFilter selects the tenants of a fleet run.
type fleetFilter struct {
	Status       statusList `json:"status" doc:"A status or a list of statuses; all when absent."`
	CreatedAfter string     `json:"created_after" doc:"RFC 3339 time or YYYY-MM-DD date; only tenants created after it."`
}

type migrateAllBody struct {
	Fresh  bool         `json:"fresh" doc:"Drop every table first and migrate from nothing."`
	Seed   bool         `json:"seed" doc:"Run every seeder after migrating."`
	Filter *fleetFilter `json:"filter" doc:"Which tenants; all when absent."`
}

type seedAllBody struct {
	Class  string       `json:"class" doc:"The seeder to run; empty or DatabaseSeeder runs every seeder."`
	Filter *fleetFilter `json:"filter" doc:"Which tenants; all when absent."`
}

// statusList is a status or a list of statuses.
type statusList []string

// UnmarshalJSON accepts "active" and ["active", "suspended"].
func (s *statusList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*s = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return invalid("filter.status", "must be a status or a list of statuses")
		}
		*s = statusList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return invalid("filter.status", "must be a status or a list of statuses")
	}
	*s = many
	return nil
}

// jsonSchema documents statusList in the OpenAPI document.
func (statusList) jsonSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}}
}

// fleetOptions validates a filter into fleet options.
func fleetOptions(f *fleetFilter) (tenancy.FleetOptions, error) {
	var opts tenancy.FleetOptions
	if f == nil {
		return opts, nil
	}
	errs := fieldErrors{}
	for _, s := range f.Status {
		if strings.TrimSpace(s) == "" {
			continue
		}
		st, err := tenancy.ParseStatus(s)
		if err != nil {
			errs.add("filter.status", "must list only active, inactive, suspended or blocked")
			break
		}
		opts.Statuses = append(opts.Statuses, st)
	}
	if s := strings.TrimSpace(f.CreatedAfter); s != "" {
		t, err := parseTime(s)
		if err != nil {
			errs.add("filter.created_after", err.Error())
		}
		opts.CreatedAfter = t
	}
	return opts, errs.err()
}

// bulkStatus serves PUT /tenancy/bulk-status-update.
func (a *API) bulkStatus(w http.ResponseWriter, r *http.Request) error {
	var b bulkBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	if len(b.TenantUUIDs) == 0 {
		errs.add("tenant_uuids", "is required: list at least one tenant uuid")
	}
	if strings.TrimSpace(b.Status) == "" {
		errs.add("status", "is required")
	}
	if err := errs.err(); err != nil {
		return err
	}
	ts, err := a.mgr.BulkChangeStatus(r.Context(), b.TenantUUIDs, tenancy.StatusChange{Status: tenancy.Status(b.Status), Reason: b.Reason, VisitorMessage: b.VisitorMessage})
	if err != nil {
		return err
	}
	return a.ok(w, map[string]any{"updated": len(ts), "tenants": ts, "notify": b.Notify},
		"Tenant statuses updated to "+strings.ToLower(strings.TrimSpace(b.Status)))
}

// migrateAll serves POST /tenancy/migrate-all-tenants and /tenancy/migrate-all.
func (a *API) migrateAll(w http.ResponseWriter, r *http.Request) error {
	var b migrateAllBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	opts, err := fleetOptions(b.Filter)
	if err != nil {
		return err
	}
	opts.MigrateOptions = tenancy.MigrateOptions{Fresh: b.Fresh, Seed: b.Seed}
	return a.startJob(w, r, tenancy.OpMigrate, "Migration of the tenants started", func(ctx context.Context, progress func(migrate.Progress)) (*tenancy.FleetReport, error) {
		opts.Progress = progress
		return a.mgr.MigrateAll(ctx, opts)
	})
}

// seedAll serves POST /tenancy/seed-all-tenants.
func (a *API) seedAll(w http.ResponseWriter, r *http.Request) error {
	var b seedAllBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	names, err := a.seederNames(b.Class)
	if err != nil {
		return err
	}
	opts, err := fleetOptions(b.Filter)
	if err != nil {
		return err
	}
	opts.Seeders = names
	return a.startJob(w, r, tenancy.OpSeed, "Seeding of the tenants started", func(ctx context.Context, progress func(migrate.Progress)) (*tenancy.FleetReport, error) {
		opts.Progress = progress
		return a.mgr.SeedAll(ctx, opts)
	})
}

// startJob starts a fleet run in the background and answers 202 with the
// job's id and where to poll it.
func (a *API) startJob(w http.ResponseWriter, r *http.Request, op, message string, fn fleetRun) error {
	j, err := a.jobs.start(r.Context(), op, a.now(), fn)
	if err != nil {
		return err
	}
	url := "/tenancy/jobs/" + j.id
	w.Header().Set("Location", url)
	return a.respond(w, http.StatusAccepted, map[string]string{"job_id": j.id, "status_url": url}, nil, message)
}

// getJob serves GET /tenancy/jobs/{id}.
func (a *API) getJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	j, ok := a.jobs.get(id)
	if !ok {
		return &apiError{Status: http.StatusNotFound, Message: "job not found: " + truncate(id, 64) +
			" (this process keeps its running jobs and the last 100 finished ones)"}
	}
	return a.ok(w, j.view(), "")
}

// sinceStart is how long the process has run.
func (a *API) sinceStart() time.Duration { return a.now().Sub(a.cfg.StartedAt) }
