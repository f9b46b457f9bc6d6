// Package store holds the implementations of the central catalog
// (tenancy.Store): sqlitestore, the embedded default, and the conformance
// suite storetest that every implementation passes.
package store
