// Package controlplane is the binary's own bookkeeping beside the tenancy
// Manager: API keys with scopes, admin users and their dashboard sessions,
// and the audit log. The REST API (package api), the dashboard (package
// admin) and the CLI use it; an application embedding the library needs
// none of it. Each concern has a narrow store interface (KeyStore,
// AuditStore, AdminStore); the project's catalog stores implement all
// three.
package controlplane
