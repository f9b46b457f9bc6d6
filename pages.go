package tenancy

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// PageKind names a refusal page.
type PageKind string

// The refusal pages the middleware can answer with.
const (
	PageNotFound    PageKind = "not_found"
	PageInactive    PageKind = "inactive"
	PageSuspended   PageKind = "suspended"
	PageBlocked     PageKind = "blocked"
	PageMaintenance PageKind = "maintenance"
	PageUnavailable PageKind = "unavailable"
)

// Page describes a refusal.
type Page struct {
	Kind    PageKind
	Code    int
	Title   string
	Message string
	// VisitorMessage is the operator's message to visitors of a tenant
	// that is not served (Tenant.VisitorMessage), if any. The tenant's
	// StatusReason is internal and never part of a page.
	VisitorMessage string
	// Tenant is the refused tenant (nil for unknown hosts and for tenants
	// being created or deleted). Its StatusReason is the operator's: a
	// replacement page must not show it either.
	Tenant *Tenant
}

// PageFunc writes a refusal page.
type PageFunc func(w http.ResponseWriter, r *http.Request, p Page)

// WantsJSON reports whether the client prefers JSON to HTML.
func WantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// errorEnvelope is the JSON error envelope shared with the REST API.
type errorEnvelope struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
	Message string `json:"message"`
	Code    int    `json:"code"`
	Status  string `json:"status,omitempty"`
	// VisitorMessage is the operator's message to visitors, if any.
	VisitorMessage string `json:"visitor_message,omitempty"`
	Timestamp      string `json:"timestamp"`
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem}.code{color:#888}.visitor-message{background:#f4f4f4;padding:.6rem .8rem;border-radius:4px;white-space:pre-line}</style></head>
<body><h1><span class="code">{{.Code}}</span> {{.Title}}</h1><p>{{.Message}}</p>
{{if .VisitorMessage}}<p class="visitor-message">{{.VisitorMessage}}</p>{{end}}</body></html>
`))

// DefaultPage writes the built-in refusal page: the JSON error envelope for
// clients that want JSON, HTML otherwise.
func DefaultPage(w http.ResponseWriter, r *http.Request, p Page) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if WantsJSON(r) {
		env := errorEnvelope{
			Error: http.StatusText(p.Code), Message: p.Message, Code: p.Code, VisitorMessage: p.VisitorMessage,
			Timestamp: time.Now().UTC().Format(time.RFC3339),
		}
		if p.Tenant != nil && p.Kind != PageUnavailable {
			env.Status = string(p.Tenant.Status)
			if p.Kind == PageMaintenance {
				env.Status = "maintenance"
			}
		}
		h.Set("Content-Type", "application/json")
		w.WriteHeader(p.Code)
		json.NewEncoder(w).Encode(env)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.Code)
	pageTemplate.Execute(w, p)
}
