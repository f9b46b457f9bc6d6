// Package server assembles the `tenancy serve` HTTP server: resolvers,
// status gate, bootstrappers (database, cache, storage, jobs, logging), the
// demo application on tenant hosts, central routes, last-access tracking,
// and graceful shutdown.
package server
