package api

import (
	"net/http"
	"strings"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

// param documents a query parameter.
type param struct {
	name   string
	typ    string // string, integer or boolean
	desc   string
	enum   []string
	format string
}

// routeTable is every endpoint: the mux and the OpenAPI document are both
// built from it.
func (a *API) routeTable() []Route {
	const (
		read  = controlplane.ScopeRead
		write = controlplane.ScopeWrite
		admin = controlplane.ScopeAdmin
	)
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete
	listQuery := []param{
		{name: "page", typ: "integer", desc: "Page number, from 1 (default 1)."},
		{name: "per_page", typ: "integer", desc: "Tenants per page, 1-100 (default 15)."},
		{name: "search", typ: "string", desc: "Substring of the name, a domain or the database name (case-insensitive)."},
		{name: "status", typ: "string", desc: "Only tenants in this status.", enum: statusNames()},
		{name: "sort", typ: "string", desc: "Sort field (default created_at).", enum: tenancy.SortFields},
		{name: "order", typ: "string", desc: "Sort order (default asc).", enum: []string{"asc", "desc"}},
		{name: "with_stats", typ: "boolean", desc: "Add each tenant's measured database figures (size_bytes, table_count, migration_version) as stats."},
	}
	create := Route{Summary: "Create a tenant", body: createBody{}, reqBody: true, status: http.StatusCreated, handle: a.createTenant,
		Description: "Creates the tenant record, its database and (with run_migrations) its tables as one step: on failure nothing is left behind. " +
			"Answers 201 with data {tenant, domain, migration_status}; migration_status is \"completed\" or \"not_requested\"."}
	migrateAll := Route{Summary: "Migrate every tenant in the background", body: migrateAllBody{}, status: http.StatusAccepted, handle: a.migrateAll,
		Description: "Starts a fleet migration and answers 202 with data {job_id, status_url}; poll GET /tenancy/jobs/{id}. " +
			"One tenant's failure does not stop the others; each outcome is recorded in the catalog."}
	clearAll := Route{Summary: "Flush every tenant cache", body: struct{}{}, handle: a.clearAllCaches,
		Description: "Flushes every tenant cache namespace and reloads the tenant resolution snapshot from the catalog. 503 without a cache backend."}
	statusAction := func(verb string, st tenancy.Status) Route {
		return Route{Method: post, Path: "/tenancy/tenants/{uuid}/" + verb, Scope: write, tags: []string{"Status"},
			Summary: strings.ToUpper(verb[:1]) + verb[1:] + " a tenant (status " + string(st) + ")", body: reasonBody{}, handle: a.statusAction(st),
			Description: "Sets the status to " + string(st) + ". The body is optional. Answers data {tenant, previous_status, notify}."}
	}
	importForm := []param{{name: "import_file", typ: "file", desc: "An export zip (tenancy export, or POST …/export)."},
		{name: "name", typ: "string", desc: "The new tenant's name (default the exported tenant's)."},
		{name: "domain", typ: "string", desc: "The new tenant's domain (default the exported tenant's)."}}
	routes := []Route{
		{Method: get, Path: "/tenancy/tenants", Scope: read, Summary: "List tenants", query: listQuery, handle: a.listTenants,
			Description: "One page of tenants with their domains; data is the array, meta is {current_page, per_page, total, last_page}. Invalid parameters are 422."},
		with(create, post, "/tenancy/tenants/create", write),
		with(create, post, "/tenancy/tenants", write),
		{Method: get, Path: "/tenancy/tenants/{uuid}", Scope: read, Summary: "Get a tenant", handle: a.getTenant,
			query: []param{{name: "include", typ: "string", desc: "Comma-separated: domains (always present), stats (database figures and request metrics), " +
				"health (can its database be opened and queried), recent_activity (its last 10 audit entries)."}},
			Description: "Without include it answers from the resolution snapshot when the server has one: changes made through this process show at once, " +
				"changes made by other processes once the snapshot reloads, and last_accessed_at is as of the last reload. With include it reads the catalog."},
		{Method: put, Path: "/tenancy/tenants/{uuid}", Scope: write, Summary: "Update a tenant", body: updateBody{}, handle: a.updateTenant,
			Description: "Changes the fields given; absent fields are kept. settings and data replace the whole object."},
		{Method: del, Path: "/tenancy/tenants/{uuid}", Scope: write, Summary: "Delete a tenant", handle: a.deleteTenant,
			query: []param{
				{name: "force", typ: "boolean", desc: "Needed to delete an active tenant; without it an active tenant is refused with 409. Tenants in other statuses are deleted without it."},
				{name: "backup", typ: "boolean", desc: "Back the tenant up first (compressed, to the server's destination); the backup record is in meta.backup. When the backup fails nothing is deleted (503 when the destination is down or backups are not configured)."},
			},
			Description: "Drops the tenant's database and removes its records. An active tenant needs force=true."},

		{Method: put, Path: "/tenancy/tenants/{uuid}/status", Scope: write, tags: []string{"Status"}, Summary: "Set a tenant's status", body: statusBody{}, reqBody: true, handle: a.setStatus,
			Description: "Answers data {tenant, previous_status, notify}. notify is accepted and echoed: no notifications are sent yet."},
		statusAction("block", tenancy.StatusBlocked),
		statusAction("unblock", tenancy.StatusActive),
		statusAction("suspend", tenancy.StatusSuspended),
		statusAction("activate", tenancy.StatusActive),

		{Method: get, Path: "/tenancy/tenants/{uuid}/domains", Scope: read, tags: []string{"Domains"}, Summary: "List a tenant's domains", handle: a.listDomains},
		{Method: post, Path: "/tenancy/tenants/{uuid}/domains/create", Scope: write, tags: []string{"Domains"}, Summary: "Add a domain", body: domainBody{}, reqBody: true,
			status: http.StatusCreated, handle: a.addDomain, Description: "Answers 201 with the domain. A domain of another tenant is 409."},
		{Method: put, Path: "/tenancy/tenants/{uuid}/domains/{domainId}", Scope: write, tags: []string{"Domains"}, Summary: "Update a domain", body: domainUpdateBody{},
			handle: a.updateDomain, Description: "Renames the domain, sets its SSL flag or makes it primary. Answers the domain."},
		{Method: del, Path: "/tenancy/tenants/{uuid}/domains/{domainId}", Scope: write, tags: []string{"Domains"}, Summary: "Remove a domain", handle: a.removeDomain,
			Description: "Answers the tenant with its remaining domains. A tenant's last domain cannot be removed (409)."},

		{Method: post, Path: "/tenancy/tenants/{uuid}/migrate", Scope: write, tags: []string{"Tenant database"}, Summary: "Migrate a tenant database", body: migrateBody{}, handle: a.migrateTenant,
			Description: "Runs the tenant migrations (from nothing with fresh) and answers the outcome. A run that fails inside the tenant database is 409 " +
				"with the outcome in data; one stopped by timeout 504."},
		{Method: post, Path: "/tenancy/tenants/{uuid}/seed", Scope: write, tags: []string{"Tenant database"}, Summary: "Seed a tenant database", body: seedBody{}, handle: a.seedTenant,
			Description: "Runs one seeder (class) or every seeder. An unknown seeder is 422; a seeder that fails (for example on tables not migrated yet) is 409 with the outcome in data."},
		{Method: post, Path: "/tenancy/tenants/{uuid}/reset", Scope: write, tags: []string{"Tenant database"}, Summary: "Reset a tenant database", body: resetBody{}, reqBody: true, handle: a.resetTenant,
			Description: "Drops every table and migrates again, or with restore_from restores that backup of the tenant instead; with backup=true a backup is taken first and nothing is reset when it fails. confirm must be true (422 otherwise)."},
		{Method: post, Path: "/tenancy/tenants/{uuid}/backup", Scope: write, tags: []string{"Backups"}, Summary: "Back up a tenant", body: backupBody{}, status: http.StatusAccepted, handle: a.backupTenant,
			Description: "Starts a backup of the tenant's database and files and answers 202 with data {job_id, status_url}; GET /tenancy/jobs/{id} shows the backup record as result when it is done. 503 when the server has no backups configured."},
		{Method: get, Path: "/tenancy/tenants/{uuid}/backups", Scope: read, tags: []string{"Backups"}, Summary: "List a tenant's backups", handle: a.listBackups,
			Description: "The tenant's backups from the catalog, newest first: id, state, destination, size, sha256, migration version."},
		{Method: post, Path: "/tenancy/tenants/{uuid}/restore", Scope: admin, tags: []string{"Backups"}, Summary: "Restore a tenant from a backup", body: restoreBody{}, reqBody: true, handle: a.restoreTenant,
			Description: "Replaces the tenant's database and files with those of the backup (checked whole first; restored into a new database swapped in under the tenant's lock). " +
				"The body is JSON {backup_id, confirm}, or multipart/form-data with the archive as backup_file and confirm=true. " +
				"confirm must be true. An unknown backup is 404; a corrupt one, another tenant's, another engine's or a newer migration version's is 422; a destination that is down 503. Nothing changes on failure.",
			form: []param{{name: "backup_file", typ: "file", desc: "A backup archive (as written by a backup)."}, {name: "confirm", typ: "string", desc: "Must be true."}}},
		{Method: post, Path: "/tenancy/tenants/{uuid}/export", Scope: read, tags: []string{"Backups"}, Summary: "Export a tenant's data", body: exportBody{}, status: http.StatusAccepted, handle: a.exportTenant,
			Description: "Starts an export of the tenant's tables (in format, all or tables) and files as a zip with a manifest, and answers 202 with data {job_id, status_url}. " +
				"An unknown format or table is 422 (the table's when the job runs: the job fails with it)."},
		{Method: get, Path: "/tenancy/tenants/{uuid}/export/{id}", Scope: read, tags: []string{"Backups"}, Summary: "An export's state, then its file", handle: a.exportDownload,
			Description: "While the export runs, and when it failed, the job (state, error); when it succeeded, the zip file itself (application/zip, as an attachment). Jobs are kept by the node that started them."},
		{Method: post, Path: "/tenancy/import", Scope: write, tags: []string{"Backups"}, Summary: "Import a tenant from an export", status: http.StatusCreated, handle: a.importTenant,
			Description: "multipart/form-data: import_file (an export, of any engine), name and domain (default the exported tenant's). Creates the tenant, migrates it and loads the rows and files, all or nothing; answers 201 with the tenant. " +
				"A file that is not an export, a table the migrations do not make or a newer migration version is 422; a taken domain 409.",
			form: importForm},
		{Method: post, Path: "/tenancy/import-tenant", Scope: write, tags: []string{"Backups"}, Summary: "Import a tenant from an export", status: http.StatusCreated, handle: a.importTenant,
			Description: "The same as POST /tenancy/import.", form: importForm},
		{Method: get, Path: "/tenancy/tenants/{uuid}/resources", Scope: read, tags: []string{"System"}, Summary: "A tenant's resource use", handle: a.tenantResources,
			Description: "Its database's size, tables and migration version, its storage on disk and its request metrics, as measured now."},

		{Method: put, Path: "/tenancy/bulk-status-update", Scope: admin, tags: []string{"Fleet"}, Summary: "Set the status of several tenants", body: bulkBody{}, reqBody: true, handle: a.bulkStatus,
			Description: "Every uuid is checked first: one malformed uuid is 422 and one unknown uuid 404, and then nothing changes."},
		with(migrateAll, post, "/tenancy/migrate-all-tenants", admin),
		with(migrateAll, post, "/tenancy/migrate-all", admin),
		{Method: post, Path: "/tenancy/seed-all-tenants", Scope: admin, tags: []string{"Fleet"}, Summary: "Seed every tenant in the background", body: seedAllBody{},
			status: http.StatusAccepted, handle: a.seedAll, Description: "Starts a fleet seeding run and answers 202 with data {job_id, status_url}."},
		{Method: get, Path: "/tenancy/jobs/{id}", Scope: read, tags: []string{"Fleet"}, Summary: "A background job's state", handle: a.getJob,
			Description: "data {id, operation, state (running, succeeded or failed), progress {done, total, failed}, started_at, finished_at, summary}. " +
				"Jobs live in this process's memory: the running ones and the last 100 finished."},

		{Method: get, Path: "/tenancy/dashboard", Scope: read, tags: []string{"System"}, Summary: "Dashboard figures", handle: a.dashboard},
		{Method: get, Path: "/tenancy/stats", Scope: read, tags: []string{"System"}, Summary: "System statistics", handle: a.stats,
			Description: "Tenant counts, database sizes (measured at most 10 s ago), connections, request metrics, cache and job counters, uptime."},
		{Method: get, Path: "/tenancy/live-stats", Scope: read, tags: []string{"System"}, Summary: "Live statistics", handle: a.liveStats,
			Description: "The figures that are cheap to read, for polling."},
		{Method: get, Path: "/tenancy/health", Scope: read, tags: []string{"System"}, Summary: "Health check", handle: a.health,
			Description: "200 when the catalog answers and the data directory exists; 503 with the same figures otherwise."},
		{Method: get, Path: "/tenancy/performance", Scope: read, tags: []string{"System"}, Summary: "Request performance", handle: a.performance,
			query: []param{
				{name: "period", typ: "string", desc: "Accepted for compatibility: metrics are kept in memory since the process started, so the figures cover the uptime (see since).", enum: []string{"hour", "day", "week", "month"}},
				{name: "tenant_uuid", typ: "string", format: "uuid", desc: "One tenant's metrics."},
			}},
		{Method: get, Path: "/tenancy/system-info", Scope: read, tags: []string{"System"}, Summary: "Process information", handle: a.systemInfo},
		{Method: get, Path: "/tenancy/resources", Scope: read, tags: []string{"System"}, Summary: "Resource use", handle: a.resources,
			Description: "Disk use of the data directory (measured by walking it), tenant count, open databases, memory."},
		{Method: get, Path: "/tenancy/connection-stats", Scope: read, tags: []string{"System"}, Summary: "Tenant database pool statistics", handle: a.connectionStats},
		{Method: post, Path: "/tenancy/optimize-connections", Scope: admin, tags: []string{"System"}, Summary: "Close unused tenant database handles", body: struct{}{}, handle: a.optimizeConnections},
		{Method: post, Path: "/tenancy/repair-connections", Scope: admin, tags: []string{"System"}, Summary: "Forget broken tenant database handles", body: struct{}{}, handle: a.repairConnections,
			Description: "Pings every open handle and forgets those that fail, so they are opened afresh."},
		{Method: post, Path: "/tenancy/maintenance/on", Scope: admin, tags: []string{"System"}, Summary: "Put every tenant in maintenance", body: maintenanceBody{}, handle: a.maintenance(true)},
		{Method: post, Path: "/tenancy/maintenance/off", Scope: admin, tags: []string{"System"}, Summary: "Take every tenant out of maintenance", body: struct{}{}, handle: a.maintenance(false)},

		{Method: post, Path: "/tenancy/clear-cache", Scope: write, tags: []string{"Cache"}, Summary: "Clear a tenant's cache", body: clearCacheBody{}, reqBody: true, handle: a.clearCache,
			Description: "503 without a cache backend."},
		with(clearAll, post, "/tenancy/clear-all-caches", admin),
		with(clearAll, post, "/tenancy/cache/clear-all", admin),
		{Method: get, Path: "/tenancy/cache-stats", Scope: read, tags: []string{"Cache"}, Summary: "Cache statistics", handle: a.cacheStats,
			Description: "The tenant cache's and the resolution snapshot's counters; each is absent when not configured."},

		{Method: get, Path: "/tenancy/audit", Scope: read, tags: []string{"Audit"}, Summary: "The audit log", handle: a.listAudit,
			query: []param{
				{name: "tenant_uuid", typ: "string", format: "uuid", desc: "Only entries about this tenant."},
				{name: "actor", typ: "string", desc: "Only entries by this actor (an API key's name, env:TENANT_API_KEY, cli, …)."},
				{name: "action", typ: "string", desc: "Only entries of this action (tenant.create, tenant.status, domain.add, …)."},
				{name: "since", typ: "string", desc: "Only entries at or after this RFC 3339 time or YYYY-MM-DD date."},
				{name: "limit", typ: "integer", desc: "At most this many entries, 1-1000 (default 100); newest first."},
			}},
		{Method: get, Path: "/tenancy/openapi.json", Scope: read, tags: []string{"Meta"}, Summary: "This API's OpenAPI 3.1 document", handle: a.serveOpenAPI},
	}
	for i := range routes {
		rt := &routes[i]
		if rt.tags == nil {
			rt.tags = []string{"Tenants"}
		}
		if rt.status == 0 {
			rt.status = http.StatusOK
		}
	}
	return routes
}

// with returns rt served at another method, path and scope.
func with(rt Route, method, path string, scope controlplane.Scope) Route {
	rt.Method, rt.Path, rt.Scope = method, path, scope
	if rt.tags == nil {
		switch scope {
		case controlplane.ScopeAdmin:
			if strings.Contains(path, "cache") {
				rt.tags = []string{"Cache"}
			} else {
				rt.tags = []string{"Fleet"}
			}
		}
	}
	return rt
}

func statusNames() []string {
	out := make([]string, len(tenancy.Statuses))
	for i, s := range tenancy.Statuses {
		out[i] = string(s)
	}
	return out
}

// serveOpenAPI serves GET /tenancy/openapi.json: the document itself, not
// wrapped in the envelope.
func (a *API) serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(a.openapi)
	return nil
}
