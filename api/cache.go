package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/controlplane"
)

// maxClearKeys bounds the keys of one clear-cache request.
const maxClearKeys = 1000

type clearCacheBody struct {
	TenantUUID string   `json:"tenant_uuid" api:"required" doc:"The tenant whose cache to clear."`
	Keys       []string `json:"keys" doc:"Delete only these keys; without keys (or with tags) the tenant's whole namespace is flushed."`
	Tags       []string `json:"tags" doc:"The cache has no tags: giving tags flushes the tenant's whole namespace, which includes every tagged entry."`
}

// errNoCache answers the cache endpoints when no cache is configured.
var errNoCache = &apiError{Status: http.StatusServiceUnavailable, Message: "No cache backend is configured on this server."}

// clearCache serves POST /tenancy/clear-cache.
func (a *API) clearCache(w http.ResponseWriter, r *http.Request) error {
	var b clearCacheBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	errs := fieldErrors{}
	id, perr := uuid.Parse(strings.TrimSpace(b.TenantUUID))
	switch {
	case strings.TrimSpace(b.TenantUUID) == "":
		errs.add("tenant_uuid", "is required")
	case perr != nil:
		errs.add("tenant_uuid", "must be a uuid")
	}
	if len(b.Keys) > maxClearKeys {
		errs.add("keys", fmt.Sprintf("at most %d keys at once", maxClearKeys))
	}
	for _, k := range b.Keys {
		if k == "" {
			errs.add("keys", "must not contain empty keys")
			break
		}
	}
	if err := errs.err(); err != nil {
		return err
	}
	if a.cfg.Cache == nil {
		return errNoCache
	}
	ctx := r.Context()
	t, err := a.mgr.Get(ctx, id.String())
	if err != nil {
		return err
	}
	if len(b.Keys) > 0 && len(b.Tags) == 0 {
		ns := a.cfg.Cache.For(t.UUID)
		for _, k := range b.Keys {
			if err := ns.Delete(ctx, k); err != nil {
				return err
			}
		}
		return a.ok(w, map[string]any{"tenant_uuid": t.UUID, "deleted_keys": len(b.Keys), "flushed": false},
			fmt.Sprintf("Deleted %d cache keys of tenant %s", len(b.Keys), t.UUID))
	}
	if err := a.cfg.Cache.FlushTenant(ctx, t.UUID); err != nil {
		return err
	}
	return a.ok(w, map[string]any{"tenant_uuid": t.UUID, "flushed": true}, "Cache of tenant "+t.UUID+" cleared")
}

// clearAllCaches serves POST /tenancy/clear-all-caches and
// /tenancy/cache/clear-all: every tenant cache is flushed and the
// resolution snapshot reloaded from the catalog.
func (a *API) clearAllCaches(w http.ResponseWriter, r *http.Request) error {
	if err := decodeBody(w, r, &struct{}{}); err != nil {
		return err
	}
	if a.cfg.Cache == nil && a.cfg.Resolver == nil {
		return errNoCache
	}
	ctx := r.Context()
	out := map[string]any{}
	if a.cfg.Cache != nil {
		if err := a.cfg.Cache.FlushAll(ctx); err != nil {
			return err
		}
		out["tenant_caches"] = "flushed"
	}
	if a.cfg.Resolver != nil {
		start := time.Now()
		if err := a.cfg.Resolver.Reload(ctx); err != nil {
			return err
		}
		out["resolver"] = "reloaded"
		out["resolver_reload_ms"] = durationMS(time.Since(start))
	}
	return a.ok(w, out, "All caches cleared")
}

// cacheStats serves GET /tenancy/cache-stats.
func (a *API) cacheStats(w http.ResponseWriter, r *http.Request) error {
	out := map[string]any{}
	if a.cfg.Cache != nil {
		out["cache"] = a.cfg.Cache.Stats()
	}
	if a.cfg.Resolver != nil {
		out["resolver"] = a.cfg.Resolver.Stats()
	}
	return a.ok(w, out, "")
}

// listAudit serves GET /tenancy/audit.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := controlplane.AuditFilter{
		TenantUUID: q.uuid("tenant_uuid"),
		Actor:      q.str("actor"),
		Action:     q.str("action"),
		Since:      q.time("since"),
		Limit:      q.int("limit", 100, 1, controlplane.MaxAuditLimit),
	}
	if len(f.Actor) > 255 {
		q.errs.add("actor", "longer than 255 bytes")
	}
	if len(f.Action) > 255 {
		q.errs.add("action", "longer than 255 bytes")
	}
	if err := q.errs.err(); err != nil {
		return err
	}
	entries, err := a.cp.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []tenancy.AuditEntry{}
	}
	return a.respond(w, http.StatusOK, entries, map[string]int{"count": len(entries), "limit": f.Limit}, "")
}
