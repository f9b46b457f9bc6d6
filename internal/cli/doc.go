// Package cli is the `tenancy` command line: one cobra command per action,
// each a thin layer over tenancy.Manager on the data directory's catalog.
package cli
