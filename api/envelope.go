package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
	jsonenv "github.com/gotenancy/tenancy/internal/envelope"
)

// envelope is the success answer.
type envelope = jsonenv.Success

// pageMeta is the meta of a paged list.
type pageMeta struct {
	CurrentPage int `json:"current_page"`
	PerPage     int `json:"per_page"`
	Total       int `json:"total"`
	LastPage    int `json:"last_page"`
}

// apiError is an error with its HTTP answer.
type apiError struct {
	Status  int
	Message string
	// Fields are the validation errors, by field.
	Fields map[string][]string
	// Data, if set, goes in the error envelope's data (health checks).
	Data any
	// Err is the cause, logged for 5xx answers.
	Err error
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *apiError) Unwrap() error { return e.Err }

// invalid is a 422 for one field.
func invalid(field, reason string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Fields: map[string][]string{field: {reason}}}
}

// fieldErrors collects validation errors over several fields.
type fieldErrors map[string][]string

func (fe fieldErrors) add(field, reason string) { fe[field] = append(fe[field], reason) }

// err returns the 422 for the collected errors, or nil when there are none.
func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &apiError{Status: http.StatusUnprocessableEntity, Fields: fe}
}

// validationMessage summarises field errors like Laravel does: the first
// error, and how many more there are.
func validationMessage(fields map[string][]string) string {
	names := make([]string, 0, len(fields))
	n := 0
	for name, reasons := range fields {
		names = append(names, name)
		n += len(reasons)
	}
	if n == 0 {
		return "The given data was invalid."
	}
	slices.Sort(names)
	first := names[0] + ": " + fields[names[0]][0]
	switch n {
	case 1:
		return first
	case 2:
		return first + " (and 1 more error)"
	default:
		return fmt.Sprintf("%s (and %d more errors)", first, n-1)
	}
}

// stamp is a formatted timestamp and its Unix second.
type stamp struct {
	sec int64
	s   string
}

// timestamp is the envelope's timestamp: now, RFC 3339, to the second. The
// text is formatted once a second.
func (a *API) timestamp() string {
	now := a.now()
	sec := now.Unix()
	if st := a.stamp.Load(); st != nil && st.sec == sec {
		return st.s
	}
	st := &stamp{sec: sec, s: now.UTC().Format(time.RFC3339)}
	a.stamp.Store(st)
	return st.s
}

// writeTenant writes the success envelope of a snapshot tenant from its
// cached JSON.
func (a *API) writeTenant(w http.ResponseWriter, body []byte) {
	a.out.WriteRawSuccess(w, nil, http.StatusOK, body)
}

// maxCachedTenantJSON bounds tenantJSONCache.
const maxCachedTenantJSON = 4096

// tenantJSONCache keeps the JSON of tenants from the resolver's snapshot.
// Those tenants are shared and never changed (a change makes a new one), so
// a tenant's pointer identifies its JSON. When full it is emptied.
type tenantJSONCache struct {
	mu sync.RWMutex
	m  map[*tenancy.Tenant][]byte
}

// get returns t's JSON, encoding it on the first call.
func (c *tenantJSONCache) get(t *tenancy.Tenant) ([]byte, error) {
	c.mu.RLock()
	b, ok := c.m[t]
	c.mu.RUnlock()
	if ok {
		return b, nil
	}
	b, err := jsonenv.Marshal(t, false)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedTenantJSON {
		c.m = map[*tenancy.Tenant][]byte{}
	}
	c.m[t] = b
	c.mu.Unlock()
	return b, nil
}

// respond writes a success envelope; it returns nil so handlers can
// return it.
func (a *API) respond(w http.ResponseWriter, status int, data any, meta any, message string) error {
	a.out.WriteSuccess(w, nil, status, data, meta, message)
	return nil
}

// ok writes a 200 success envelope.
func (a *API) ok(w http.ResponseWriter, data any, message string) error {
	return a.respond(w, http.StatusOK, data, nil, message)
}

// newWriter is the API's envelope writer: streamed, without HTML escaping,
// stamped by the API's clock. It is given no request, so answers to HEAD
// are written whole (net/http sends their headers only).
func (a *API) newWriter() jsonenv.Writer {
	return jsonenv.Writer{
		Clock:   a.timestamp,
		OnError: func(err error) { a.log.Warn("api: writing answer", "err", err) },
	}
}

// classify maps an error to its answer. It is the one place where errors
// become status codes.
func (a *API) classify(r *http.Request, err error) *apiError {
	var (
		ae *apiError
		ve *tenancy.ValidationError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &ve):
		return invalid(ve.Field, ve.Reason)
	case errors.As(err, &mb):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request bodies are limited to %d bytes.", mb.Limit)}
	case errors.Is(err, tenancy.ErrNotFound), errors.Is(err, tenancy.ErrDomainNotFound):
		return &apiError{Status: http.StatusNotFound, Message: err.Error()}
	case errors.Is(err, tenancy.ErrDomainTaken), errors.Is(err, tenancy.ErrDatabaseTaken), errors.Is(err, tenancy.ErrLastDomain),
		errors.Is(err, tenancy.ErrLocked), errors.Is(err, tenancy.ErrTenantState):
		return &apiError{Status: http.StatusConflict, Message: err.Error()}
	case errors.Is(err, tenancy.ErrCacheUnavailable):
		// Redis is down: the flush is carried out once it is back.
		return &apiError{Status: http.StatusServiceUnavailable, Message: "The cache is unavailable; try again later.", Err: err}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		return &apiError{Status: http.StatusServiceUnavailable, Message: "The request was cancelled.", Err: err}
	default:
		return &apiError{Status: http.StatusInternalServerError, Err: err}
	}
}

// writeError renders err as the error envelope. Unexpected errors are
// logged with the request id and answered without their details.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := a.classify(r, err)
	reqID := w.Header().Get("X-Request-Id")
	status := ae.Status
	msg := ae.Message
	if status == http.StatusInternalServerError && ae.Err != nil {
		a.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "request_id", reqID, "err", ae.Err)
		if msg == "" {
			msg = "Internal server error (request " + reqID + ")."
		}
	}
	if msg == "" && len(ae.Fields) > 0 {
		msg = validationMessage(ae.Fields)
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	a.out.WriteError(w, nil, status, msg, ae.Fields, ae.Data)
}
