// Package faults is the fault suite of the tenant lifecycle: its tests run
// the real tenancy binary (CLI commands and serve) as subprocesses, kill
// them with SIGKILL at many points of create, delete and migrate --all,
// run fleet operations and domain changes concurrently, recreate tenants
// under the names of deleted ones while a server runs, and start nodes
// together, then check the lifecycle's invariants: no routable tenant
// without a complete database, nothing orphaned or stuck once repair has
// run, every migration applied exactly once, no acknowledged write lost,
// every tenant keeping a domain, every node coming up.
//
// The package has no code outside its tests.
package faults
