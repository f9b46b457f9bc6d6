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
// Every operation is bounded by Config.OpTimeout. When Redis cannot be
// reached, Get reports a miss (the request goes on without the cache) and
// Set, Delete and the flushes return an error wrapping
// tenancy.ErrCacheUnavailable: a value that was not stored is never
// reported stored. Once operations have failed to reach Redis for a second
// with no success in between, a circuit breaker opens: operations skip
// Redis (and fail at once, as above) except one per second, which tries
// again and closes the breaker when it succeeds. So while Redis is away a
// request pays no dial or timeout. Failures, skipped operations included,
// are counted ([Cache.Errors]) and logged at most once every ten seconds
// with the number not logged; the first success after a logged failure is
// logged too. [New] does not fail when Redis is unreachable, only when it
// refuses the configuration: a node starts during an outage, and a
// background retry (every 100 ms at first, up to every five seconds)
// notices when Redis is back.
//
// # No stale value after an outage
//
// A write that failed may leave the value it meant to replace in Redis:
// the server kept it (a network cut, a hung server), or brought it back
// from its append-only file or snapshot after a restart, which may also
// bring back values older than writes it had acknowledged. Such a value is
// never served again, on any node:
//
//   - A node whose write (Set, Delete, Flush) of a tenant failed owes that
//     tenant's namespace an invalidation, one INCR of its generation (or of
//     the epoch, for a failed FlushAll or more than 10,000 tenants owed).
//     Until it is carried out, the node reads nothing from Redis: its
//     operations first carry out what is owed (one of them does, the
//     others wait for it), and its background retry does so as soon as
//     Redis answers. A Get that ran while a write failed reports a miss.
//   - A restarted server is recognised by its scripts: Redis keeps its Lua
//     scripts in memory only, and the scripts' source names the prefix, so
//     nobody else loads them. The first node to run one after the restart
//     gets NOSCRIPT; it bumps the epoch (every namespace is invalidated)
//     and only then loads the scripts again. No node can run a script, and
//     so read an entry, before the epoch is bumped. (This needs Redis 7 or
//     later: earlier versions replay SCRIPT LOAD from the append-only file.)
//
// Other nodes see an invalidation as soon as it is made: the generation
// and the epoch live in Redis. One case is left: while one node is cut off
// from a Redis that the others still reach, the others serve what is
// there, including the value the cut-off node failed to replace, until
// that node is back and invalidates it (within its retry delay). Nothing
// scans keys: every invalidation is O(1) per namespace.
//
// [Cache.Ping], for readiness checks, fails while Redis does not answer
// and while this node still owes invalidations.
package rediscache
