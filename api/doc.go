// Package api is the REST control plane of a tenancy deployment: an
// http.Handler serving /tenancy/… on central hosts, compatible with the
// "Complete API Endpoints Reference" of the product description.
//
// It owns the HTTP contract and nothing else: every change goes through
// *tenancy.Manager, so validation, events, cache invalidation and the audit
// log stay in one place. What the package adds on top is:
//
//   - authentication: stored API keys (X-API-Key or Authorization: Bearer),
//     and the TENANT_API_KEY and TENANT_BEARER_TOKEN credentials from the
//     environment, which are admin; successful key verifications are cached
//     in memory for Config.KeyCacheTTL (5 s by default), so a key revoked
//     elsewhere stops working here within that time;
//   - authorisation by scope: GET needs read, changes need write, fleet and
//     system operations need admin;
//   - rate limiting per credential and per client IP (fixed windows of
//     RateLimitConfig.Decay, RateLimitConfig.Attempts requests each), with
//     X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset on every
//     answer and 429 with Retry-After when a window is used up;
//   - one JSON envelope for success ({"success": true, "data", "meta",
//     "message", "timestamp"}) and one for errors ({"success": false,
//     "error", "message", "code", "errors", "timestamp"}), rendered by one
//     function from the errors handlers return;
//   - background fleet jobs (migrate all, seed all) kept in memory and
//     polled at /tenancy/jobs/{id};
//   - an OpenAPI 3.1 document built from the same route table as the mux.
//
// Every figure the system endpoints return is measured by the running
// process; a figure that is not measured is absent, never invented.
package api
