package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/model"
)

// referenceMigrationPath is the migration path the reference's clients
// send; it names the tenant migrations built into the server.
const referenceMigrationPath = "database/migrations/tenant"

// databaseSeeder is Laravel's root seeder; unless a seeder of that name is
// registered it means every seeder.
const databaseSeeder = "DatabaseSeeder"

// maxTimeout bounds the timeout of a migration request, in seconds.
const maxTimeout = 3600

type migrateBody struct {
	Fresh   bool   `json:"fresh" doc:"Drop every table first and migrate from nothing."`
	Seed    bool   `json:"seed" doc:"Run every seeder after migrating."`
	Force   bool   `json:"force" doc:"Accepted for compatibility; API runs never ask for confirmation."`
	Path    string `json:"path" doc:"Only \"database/migrations/tenant\" (the built-in tenant migrations) or empty."`
	Timeout int    `json:"timeout" doc:"Seconds to allow, 1-3600; the run is stopped after it (504)."`
}

type seedBody struct {
	Class string `json:"class" doc:"The seeder to run; empty or DatabaseSeeder runs every seeder."`
	Force bool   `json:"force" doc:"Accepted for compatibility; API runs never ask for confirmation."`
}

type resetBody struct {
	Confirm     bool   `json:"confirm" api:"required" doc:"Must be true: every table of the tenant database is dropped."`
	Seed        bool   `json:"seed" doc:"Run every seeder after migrating again."`
	Backup      bool   `json:"backup" doc:"Back the tenant up first (compressed, to the server's destination); the reset does not run when the backup fails."`
	RestoreFrom string `json:"restore_from" doc:"A backup id of the tenant: restore it instead of migrating from nothing."`
}

// tenantByPath loads the tenant of the {uuid} path value.
func (a *API) tenantByPath(r *http.Request) (*tenancy.Tenant, error) {
	id, err := uuidPath(r)
	if err != nil {
		return nil, err
	}
	return a.mgr.Get(r.Context(), id)
}

// migrateTenant serves POST /tenancy/tenants/{uuid}/migrate.
func (a *API) migrateTenant(w http.ResponseWriter, r *http.Request) error {
	var b migrateBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	if p := strings.Trim(strings.TrimSpace(b.Path), "/"); p != "" && p != referenceMigrationPath {
		errs.add("path", "the tenant migrations are built into the server; only \""+referenceMigrationPath+"\" or nothing is accepted")
	}
	if b.Timeout < 0 || b.Timeout > maxTimeout {
		errs.add("timeout", fmt.Sprintf("must be between 1 and %d seconds", maxTimeout))
	}
	if err := errs.err(); err != nil {
		return err
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	return a.runMigrate(w, r, t, tenancy.MigrateOptions{Fresh: b.Fresh, Seed: b.Seed}, b.Timeout, "Migrations completed")
}

// runMigrate migrates one tenant and answers with the outcome.
func (a *API) runMigrate(w http.ResponseWriter, r *http.Request, t *tenancy.Tenant, opts tenancy.MigrateOptions, timeout int, message string) error {
	ctx := r.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout)*time.Second)
		defer cancel()
	}
	o, err := a.mgr.Migrate(ctx, t, opts)
	if err != nil {
		return a.operationError(ctx, "migration", t, o, err)
	}
	return a.ok(w, o, message)
}

// operationError is the answer to a failed operation on one tenant, with
// its outcome (recorded in the catalog) in the error envelope's data. A run
// that failed inside the tenant database, such as seeding tables that do
// not exist yet, conflicts with the state of that database: 409. A run
// stopped by the request's timeout is 504.
func (a *API) operationError(ctx context.Context, what string, t *tenancy.Tenant, o *tenancy.Outcome, err error) error {
	if o == nil || o.State != tenancy.StateFailed {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &apiError{Status: http.StatusGatewayTimeout, Message: fmt.Sprintf("The %s of tenant %s did not finish within the timeout.", what, t.UUID), Data: o}
	}
	a.log.WarnContext(ctx, "api: tenant operation failed", "operation", what, "tenant", t.UUID, "err", err)
	return &apiError{Status: http.StatusConflict, Message: fmt.Sprintf("The %s of tenant %s failed: %s", what, t.UUID, o.Error), Data: o}
}

// seederNames maps a class to the seeders to run: empty or DatabaseSeeder
// (unless registered) means all of them; an unknown name is 422.
func (a *API) seederNames(class string) ([]string, error) {
	class = strings.TrimSpace(class)
	known := a.mgr.Databases().Seeders()
	switch {
	case class == "":
		return nil, nil
	case slices.Contains(known, class):
		return []string{class}, nil
	case class == databaseSeeder:
		return nil, nil
	}
	known = slices.Sorted(slices.Values(known))
	reason := fmt.Sprintf("unknown seeder %q", truncate(class, 64))
	if len(known) > 0 {
		reason += " (known: " + strings.Join(known, ", ") + ")"
	}
	return nil, invalid("class", reason)
}

// seedTenant serves POST /tenancy/tenants/{uuid}/seed.
func (a *API) seedTenant(w http.ResponseWriter, r *http.Request) error {
	var b seedBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	names, err := a.seederNames(b.Class)
	if err != nil {
		return err
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	o, err := a.mgr.Seed(r.Context(), t, names...)
	if err != nil {
		return a.operationError(r.Context(), "seeding", t, o, err)
	}
	return a.ok(w, o, "Seeders completed")
}

// resetTenant serves POST /tenancy/tenants/{uuid}/reset: every table is
// dropped and the migrations run again.
func (a *API) resetTenant(w http.ResponseWriter, r *http.Request) error {
	var b resetBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	if !b.Confirm {
		errs.add("confirm", "must be true: resetting drops every table of the tenant database")
	}
	from := strings.TrimSpace(b.RestoreFrom)
	if from != "" && (strings.ContainsAny(from, `/\`) || strings.Contains(from, "..")) {
		errs.add("restore_from", "is not a backup id")
	}
	if from != "" && b.Seed {
		errs.add("seed", "does not go with restore_from: the backup's data is restored")
	}
	if err := errs.err(); err != nil {
		return err
	}
	if (b.Backup || from != "") && a.cfg.Backups == nil {
		return errNoBackups
	}
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if from != "" {
		// An unknown backup is refused before a backup is taken.
		list, err := a.cfg.Backups.List(ctx, t)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(list, func(b *model.Backup) bool { return b.ID == from }) {
			return &apiError{Status: http.StatusNotFound, Message: "Unknown backup of this tenant: " + from + "."}
		}
	}
	var taken any
	if b.Backup {
		if taken, err = a.backupFirst(ctx, t); err != nil {
			return err
		}
	}
	if from != "" {
		after, err := a.cfg.Backups.Restore(ctx, t, from, backups.RestoreOptions{})
		if err != nil {
			return backupError(err)
		}
		return a.ok(w, map[string]any{"tenant": after, "restored_from": from, "backup": taken}, "Tenant database reset from backup "+from)
	}
	return a.runMigrate(w, r, t, tenancy.MigrateOptions{Fresh: true, Seed: b.Seed}, 0, "Tenant database reset")
}

// tenantResources serves GET /tenancy/tenants/{uuid}/resources.
func (a *API) tenantResources(w http.ResponseWriter, r *http.Request) error {
	t, err := a.tenantByPath(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	out := struct {
		TenantUUID   string                 `json:"tenant_uuid"`
		DatabaseName string                 `json:"database_name"`
		Database     *tenancy.DatabaseStats `json:"database,omitempty"`
		DatabaseOpen bool                   `json:"database_open"`
		StorageBytes *int64                 `json:"storage_bytes,omitempty"`
		Requests     *requestFigures        `json:"requests,omitempty"`
	}{TenantUUID: t.UUID, DatabaseName: t.DatabaseName}
	// Whether it is open before measuring it, which opens it.
	out.DatabaseOpen = slices.Contains(a.mgr.Databases().Open(), t.DatabaseName)
	out.Database = a.databaseStats(ctx, t)
	if a.cfg.Storage != nil {
		if n, err := a.cfg.Storage.Usage(t.UUID); err == nil {
			out.StorageBytes = &n
		} else {
			a.log.WarnContext(ctx, "api: measuring tenant storage", "tenant", t.UUID, "err", err)
		}
	}
	out.Requests = a.tenantRequests(t.ID)
	return a.ok(w, out, "")
}
