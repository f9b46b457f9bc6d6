package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// schemaer is implemented by body field types that document themselves.
type schemaer interface {
	jsonSchema() map[string]any
}

var (
	schemaerType = reflect.TypeFor[schemaer]()
	timeType     = reflect.TypeFor[time.Time]()
	pathParamRE  = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)
)

// buildOpenAPI renders the OpenAPI 3.1 document of the route table.
func (a *API) buildOpenAPI() ([]byte, error) {
	paths := map[string]map[string]any{}
	for i := range a.routes {
		rt := &a.routes[i]
		item := paths[rt.Path]
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = operation(rt)
	}
	errorSchema := map[string]any{
		"type":     "object",
		"required": []string{"success", "error", "message", "code", "timestamp"},
		"properties": map[string]any{
			"success":   map[string]any{"type": "boolean", "const": false},
			"error":     map[string]any{"type": "string", "description": "The HTTP status text, such as Unauthorized."},
			"message":   map[string]any{"type": "string"},
			"code":      map[string]any{"type": "integer", "description": "The HTTP status code."},
			"errors":    map[string]any{"type": "object", "description": "Validation errors (422), by field.", "additionalProperties": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}},
			"data":      map[string]any{"description": "Details of some errors, such as a failed operation's outcome or the health checks."},
			"timestamp": map[string]any{"type": "string", "format": "date-time"},
		},
	}
	envelopeSchema := map[string]any{
		"type":     "object",
		"required": []string{"success", "data", "timestamp"},
		"properties": map[string]any{
			"success": map[string]any{"type": "boolean", "const": true},
			"data":    map[string]any{},
			"meta": map[string]any{"type": "object", "description": "Paged lists: {current_page, per_page, total, last_page}.",
				"properties": map[string]any{
					"current_page": map[string]any{"type": "integer"}, "per_page": map[string]any{"type": "integer"},
					"total": map[string]any{"type": "integer"}, "last_page": map[string]any{"type": "integer"},
				}},
			"message":   map[string]any{"type": "string"},
			"timestamp": map[string]any{"type": "string", "format": "date-time"},
		},
	}
	headers := map[string]any{
		"X-RateLimit-Limit":     map[string]any{"description": "Requests allowed per window (when rate limiting is on).", "schema": map[string]any{"type": "integer"}},
		"X-RateLimit-Remaining": map[string]any{"description": "Requests left in the current window.", "schema": map[string]any{"type": "integer"}},
		"X-RateLimit-Reset":     map[string]any{"description": "When the current window ends, in Unix seconds.", "schema": map[string]any{"type": "integer"}},
		"Retry-After":           map[string]any{"description": "Seconds until a request may be made again (429).", "schema": map[string]any{"type": "integer"}},
		"X-Request-ID":          map[string]any{"description": "The request's id: the client's X-Request-ID when sane, else generated. The audit log records it.", "schema": map[string]any{"type": "string"}},
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "tenancy control plane",
			"version": "1",
			"description": "Manages the tenants of a tenancy deployment. Every route needs X-API-Key: KEY or Authorization: Bearer TOKEN " +
				"(create a key with `tenancy api-key create --name NAME --scopes read,write,admin`). GET needs the read scope, changes write, " +
				"fleet and system operations admin. Request bodies are JSON objects of at most 1 MiB (413 beyond, 415 for another Content-Type, " +
				"400 for malformed JSON, 422 for unknown fields or invalid values). Verified keys are cached for a few seconds: a revoked key " +
				"stops working within that time.",
		},
		"servers": []any{map[string]any{"url": "/"}},
		"security": []any{
			map[string]any{"ApiKey": []string{}},
			map[string]any{"BearerAuth": []string{}},
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"ApiKey":     map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
				"BearerAuth": map[string]any{"type": "http", "scheme": "bearer", "description": "A stored API key, TENANT_API_KEY or TENANT_BEARER_TOKEN."},
			},
			"schemas": map[string]any{"Envelope": envelopeSchema, "Error": errorSchema},
			"headers": headers,
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operation documents one route.
func operation(rt *Route) map[string]any {
	desc := rt.Description
	if desc != "" {
		desc += " "
	}
	desc += "Needs the " + string(rt.Scope) + " scope."
	op := map[string]any{
		"operationId": operationID(rt),
		"summary":     rt.Summary,
		"description": desc,
		"tags":        rt.tags,
		"x-scope":     string(rt.Scope),
	}
	var params []any
	for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
		name := m[1]
		schema := map[string]any{"type": "string"}
		pdesc := ""
		switch name {
		case "uuid":
			schema["format"] = "uuid"
			pdesc = "The tenant's uuid; anything else is 404."
		case "domainId":
			schema = map[string]any{"type": "integer", "minimum": 1}
			pdesc = "The domain's id."
		case "id":
			pdesc = "The job's id, from the 202 answer that started it."
		}
		params = append(params, map[string]any{"name": name, "in": "path", "required": true, "description": pdesc, "schema": schema})
	}
	for _, q := range rt.query {
		schema := map[string]any{"type": q.typ}
		if len(q.enum) > 0 {
			schema["enum"] = q.enum
		}
		if q.format != "" {
			schema["format"] = q.format
		}
		params = append(params, map[string]any{"name": q.name, "in": "query", "required": false, "description": q.desc, "schema": schema})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	content := map[string]any{}
	if rt.body != nil {
		content["application/json"] = map[string]any{"schema": schemaOf(reflect.TypeOf(rt.body))}
	}
	if len(rt.form) > 0 {
		props := map[string]any{}
		for _, f := range rt.form {
			p := map[string]any{"type": "string", "description": f.desc}
			if f.typ == "file" {
				p["format"] = "binary"
			}
			props[f.name] = p
		}
		content["multipart/form-data"] = map[string]any{"schema": map[string]any{"type": "object", "properties": props, "required": []string{rt.form[0].name}}}
	}
	if len(content) > 0 {
		op["requestBody"] = map[string]any{"required": rt.reqBody || len(rt.form) > 0, "content": content}
	}
	ref := func(name string) map[string]any {
		return map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + name}}}
	}
	hdrRef := func(name string) map[string]any { return map[string]any{"$ref": "#/components/headers/" + name} }
	rateHeaders := map[string]any{
		"X-RateLimit-Limit": hdrRef("X-RateLimit-Limit"), "X-RateLimit-Remaining": hdrRef("X-RateLimit-Remaining"),
		"X-RateLimit-Reset": hdrRef("X-RateLimit-Reset"), "X-Request-ID": hdrRef("X-Request-ID"),
	}
	responses := map[string]any{
		strconv.Itoa(rt.status): map[string]any{"description": http.StatusText(rt.status), "content": ref("Envelope"), "headers": rateHeaders},
	}
	if rt.Path == "/tenancy/openapi.json" {
		responses["200"] = map[string]any{"description": "The OpenAPI document.", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
	}
	errs := []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests}
	if strings.Contains(rt.Path, "{") {
		errs = append(errs, http.StatusNotFound)
	}
	if len(rt.query) > 0 || rt.body != nil || len(rt.form) > 0 {
		errs = append(errs, http.StatusUnprocessableEntity)
	}
	if rt.body != nil || len(rt.form) > 0 {
		errs = append(errs, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	switch rt.Method + " " + rt.Path {
	case "POST /tenancy/tenants", "POST /tenancy/tenants/create", "POST /tenancy/tenants/{uuid}/domains/create",
		"PUT /tenancy/tenants/{uuid}/domains/{domainId}", "DELETE /tenancy/tenants/{uuid}/domains/{domainId}",
		"DELETE /tenancy/tenants/{uuid}", "POST /tenancy/tenants/{uuid}/migrate", "POST /tenancy/tenants/{uuid}/seed", "POST /tenancy/tenants/{uuid}/reset",
		"POST /tenancy/migrate-all-tenants", "POST /tenancy/migrate-all", "POST /tenancy/seed-all-tenants":
		errs = append(errs, http.StatusConflict)
	}
	for _, code := range errs {
		r := map[string]any{"description": http.StatusText(code), "content": ref("Error")}
		if code == http.StatusTooManyRequests {
			r["headers"] = map[string]any{"Retry-After": hdrRef("Retry-After")}
		}
		responses[strconv.Itoa(code)] = r
	}
	op["responses"] = responses
	return op
}

// operationID names an operation after its method and path.
func operationID(rt *Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, part := range strings.Split(strings.TrimPrefix(rt.Path, "/tenancy/"), "/") {
		part = strings.Trim(part, "{}")
		b.WriteByte('_')
		for _, c := range part {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				b.WriteRune(c)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

// schemaOf describes a Go type as a JSON schema, reading the json, api
// ("required") and doc tags of struct fields.
func schemaOf(t reflect.Type) map[string]any {
	if t.Implements(schemaerType) {
		return reflect.Zero(t).Interface().(schemaer).jsonSchema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem())
	case reflect.Struct:
		if t == timeType {
			return map[string]any{"type": "string", "format": "date-time"}
		}
		props := map[string]any{}
		var required []string
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s := schemaOf(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				s["description"] = d
			}
			props[name] = s
			if f.Tag.Get("api") == "required" {
				required = append(required, name)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": true}
	}
	return map[string]any{}
}
