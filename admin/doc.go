// Package admin serves the admin dashboard on central hosts: sign-in for
// admin users, the tenant management pages, the fleet migrations page, and
// (mounted from package monitor) the live monitoring dashboard.
//
// Everything the dashboard changes goes through tenancy.Manager, with the
// signed-in admin as the audit log's actor. Pages are html/template files
// and a stylesheet embedded in the binary: no CDN, no build step. Every
// form is protected against cross-site requests by
// http.CrossOriginProtection; session cookies are HttpOnly, SameSite=Lax and
// Secure behind TLS.
package admin
