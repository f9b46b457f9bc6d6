// Package rediscache is the Redis implementation of cache.Backend: the
// tenants' cache namespaces shared by every node of a deployment.
//
// # Keys
//
// Every key starts with Config.Prefix. Under it live three kinds of keys:
//
//	<prefix>e                                   the global epoch (FlushAll)
//	<prefix>g:<tenant>                          a tenant's generation (FlushTenant)
//	<prefix>v:<len(tenant)>:<tenant>:<epoch>:<gen>:<key>   an entry
//
// The tenant id is length-prefixed and the epoch and generation are decimal
// numbers ended by ':', so every part of an entry key is self-delimiting and
// the caller's key is the rest: two different (tenant, key) pairs never map
// to the same Redis key, however either is chosen. Values are stored with
// SET, with PX when they have a lifetime.
//
// # Flushes in O(1)
//
// Flushing a tenant INCRs its generation; flushing everything INCRs the
// epoch. Either is one command whatever the number of entries: the old
// entries can no longer be reached and stay in Redis until their TTL ends
// or Redis evicts them. Entries without a TTL are never evicted by a flush,
// so run Redis with a maxmemory limit and an allkeys-* eviction policy
// (allkeys-lru, allkeys-lfu), or give entries a lifetime with
// Config.DefaultTTL.
//
// # One round trip per operation
//
// Get, Set and Delete each run one Lua script (EVALSHA, falling back to EVAL
// after a Redis restart) that reads the epoch and the tenant's generation
// and uses the entry key they make, in one round trip and atomically.
// Caching the generation in the process would save nothing (the entry still
// costs a round trip) and would let a node read a tenant's old entries for
// a while after another node flushed it. The scripts build the entry key
// from the keys they are given, which a standalone Redis (or Sentinel)
// allows and Redis Cluster does not: this backend does not support Cluster.
//
// # When Redis goes away
//
// The cache is an optimisation, so its failures must not fail requests.
// Every operation is bounded by Config.OpTimeout. When Redis cannot be
// reached, Get reports a miss and Set and Delete report success: the
// request goes on without the cache. Once operations have failed to reach
// Redis for a second with no success in between, a circuit breaker opens:
// operations skip Redis (and fail at once, as above) except one per
// second, which tries again and closes the breaker when it succeeds. So
// while Redis is away a request pays no dial or timeout, and the cache
// works again within about a second of Redis's return (go-redis
// reconnects by itself). Failures, skipped operations included, are
// counted ([Cache.Errors]) and logged at most once every ten seconds with
// the number not logged; the first success after a logged failure is
// logged too.
//
// Flushes are the exception: a flush that did not happen would let stale
// entries be read once Redis is back, so FlushTenant, FlushAll and
// TenantCache.Flush return their errors.
package rediscache
