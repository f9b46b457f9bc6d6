// Package cache owns the tenants' cache namespaces.
//
// A [Backend] stores values for many tenants and hands out one
// tenancy.TenantCache per tenant with [Backend.For]. Keys of different
// tenants never collide, however they are chosen: an entry is stored under
// the triple (tenant, generation, key), never under a concatenated string.
// Flushing a tenant bumps its generation, so it takes constant time however
// many entries the tenant has; the entries of old generations can no longer
// be reached and age out of the store (by size-based eviction or their TTL).
//
// [Memory] is the in-process backend, bounded in entries and with a TTL per
// entry, built on otter; package rediscache is the Redis backend shared by
// several nodes. Every backend passes the conformance suite in package
// cachetest.
//
// [Bootstrapper] attaches the current tenant's namespace to a tenant
// context, so that handlers reach it with tenancy.Cache(ctx). Without a
// tenant there is no namespace: tenancy.Cache returns tenancy.ErrNoTenant,
// and a namespace for the empty tenant id fails every call the same way.
package cache
