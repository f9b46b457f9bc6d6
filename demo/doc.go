// Package demo is the small notes application that ships with tenancy: its
// tenant migrations and seeders, which `tenancy install` copies into a new
// data directory and `tenancy create-test-tenants` uses for sample data.
package demo
