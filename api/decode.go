package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// decodeBody reads a JSON object body into dst. An empty body is an empty
// object, so actions without parameters work without a body and without a
// Content-Type. Otherwise:
//
//   - a body over 1 MiB is 413;
//   - a Content-Type other than application/json (or a +json type) is 415;
//   - malformed JSON, or more than one JSON value, is 400;
//   - a field of the wrong type or an unknown field is 422 naming the field.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	if r.ContentLength > maxBodyBytes {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request bodies are limited to %d bytes.", maxBodyBytes)}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request bodies are limited to %d bytes.", maxBodyBytes)}
		}
		return &apiError{Status: http.StatusBadRequest, Message: "The request body could not be read."}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return &apiError{Status: http.StatusUnsupportedMediaType, Message: "Request bodies must be JSON: send Content-Type: application/json."}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{Status: http.StatusBadRequest, Message: "Malformed JSON: the body must hold exactly one JSON object."}
	}
	return nil
}

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// jsonError turns a decoding error into its answer.
func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		ae     *apiError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &syntax):
		return &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf("Malformed JSON at byte %d: %s.", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{Status: http.StatusBadRequest, Message: "Malformed JSON: the body ends too early."}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("body", "must be a JSON object")
		}
		return invalid(typ.Field, "must be "+jsonKind(typ))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return invalid(name, "is not a known field")
	}
	return &apiError{Status: http.StatusBadRequest, Message: "Malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ") + "."}
}

// jsonKind names the JSON type a Go type expects.
func jsonKind(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "of another type"
	}
	switch k := e.Type.Kind().String(); {
	case k == "bool":
		return "a boolean"
	case k == "string":
		return "a string"
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		if strings.HasPrefix(e.Value, "number") {
			return "an integer in range"
		}
		return "an integer"
	case strings.HasPrefix(k, "float"):
		return "a number in range"
	case k == "slice", k == "array":
		return "an array"
	case k == "map", k == "struct":
		return "an object"
	}
	return "of another type"
}

// query reads query parameters, collecting validation errors.
type query struct {
	v    url.Values
	errs fieldErrors
}

func newQuery(r *http.Request) *query {
	return &query{v: r.URL.Query(), errs: fieldErrors{}}
}

// str returns a parameter, trimmed.
func (q *query) str(name string) string { return strings.TrimSpace(q.v.Get(name)) }

// has reports whether a parameter is present and not empty.
func (q *query) has(name string) bool { return q.str(name) != "" }

// int returns an integer parameter in [lo, hi], or def when it is absent.
func (q *query) int(name string, def, lo, hi int) int {
	s := q.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		q.errs.add(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
		return def
	}
	return n
}

// bool returns a boolean parameter (true/false, 1/0, yes/no, on/off).
func (q *query) bool(name string) bool {
	s := strings.ToLower(q.str(name))
	switch s {
	case "", "false", "0", "no", "off":
		return false
	case "true", "1", "yes", "on":
		return true
	}
	q.errs.add(name, "must be true or false")
	return false
}

// oneOf returns a parameter that must be one of choices, or def when absent.
func (q *query) oneOf(name, def string, choices ...string) string {
	s := strings.ToLower(q.str(name))
	if s == "" {
		return def
	}
	for _, c := range choices {
		if s == c {
			return s
		}
	}
	q.errs.add(name, "must be one of "+strings.Join(choices, ", "))
	return def
}

// uuid returns a uuid parameter in canonical form, or "" when absent.
func (q *query) uuid(name string) string {
	s := q.str(name)
	if s == "" {
		return ""
	}
	id, err := uuid.Parse(s)
	if err != nil {
		q.errs.add(name, "must be a uuid")
		return ""
	}
	return id.String()
}

// time returns a time parameter given as RFC 3339 or YYYY-MM-DD (UTC
// midnight), or the zero time when absent.
func (q *query) time(name string) time.Time {
	s := q.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil {
		q.errs.add(name, err.Error())
	}
	return t
}

// parseTime parses RFC 3339 or YYYY-MM-DD (UTC midnight).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("must be an RFC 3339 time or a YYYY-MM-DD date")
}

// uuidPath returns the {uuid} path value in canonical form; anything that is
// not a uuid is 404, as no tenant can have it.
func uuidPath(r *http.Request) (string, error) {
	s := r.PathValue("uuid")
	if canonicalUUID(s) {
		return s, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return "", &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf("tenant not found: %q is not a uuid", truncate(s, 64))}
	}
	return id.String(), nil
}

// canonicalUUID reports whether s is a uuid in canonical form: 8-4-4-4-12
// lower-case hexadecimal digits.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// truncate shortens s for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
