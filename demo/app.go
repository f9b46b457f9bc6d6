package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/gotenancy/tenancy"
)

// maxNoteBytes bounds a note's body.
const maxNoteBytes = 10 << 10

// maxUploadBytes bounds an uploaded file.
const maxUploadBytes = 8 << 20

// Handler returns the demo application, served on tenant hosts. It uses only
// the library's public API: FromContext, DB, Cache, Storage and Enqueue.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", home)
	mux.HandleFunc("GET /api/whoami", whoami)
	mux.HandleFunc("GET /api/notes", listNotes)
	mux.HandleFunc("POST /api/notes", addNote)
	mux.HandleFunc("GET /api/notes/count", countNotes)
	mux.HandleFunc("POST /api/files", uploadFile)
	mux.HandleFunc("GET /api/files/{name}", downloadFile)
	mux.HandleFunc("POST /api/jobs/echo", enqueueEcho)
	mux.HandleFunc("GET /api/cache/{key}", getCache)
	mux.HandleFunc("PUT /api/cache/{key}", putCache)
	return mux
}

// Note is one note of a tenant.
type Note struct {
	ID        int64  `json:"id"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{
		"success": false, "error": http.StatusText(code), "message": msg, "code": code,
		"timestamp": time.Now().UTC().Format(time.RFC3339),
	})
}

// fail answers a failed tenant call: no tenant is a server wiring error
// (the middleware always provides one), anything else is a 500 logged with
// the tenant's attributes. A call cut short because the request was
// canceled (its client went away) is not a failure of the application: it
// is logged at debug level and answered 503, which nobody is waiting for.
// A request that ran out of time is still a failure. A cache that could
// not store a value (its server is down) is answered 503 with
// Retry-After: the request may succeed later, and nothing was stored. So
// is a tenant database that is unavailable (tenancy.ErrDatabaseUnavailable:
// its server or shard down, its schema missing, the connection lost).
func fail(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if errors.Is(ctx.Err(), context.Canceled) && errors.Is(err, context.Canceled) {
		tenancy.Logger(ctx).DebugContext(ctx, "demo request ended by its client", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, "request canceled")
		return
	}
	if errors.Is(err, tenancy.ErrCacheUnavailable) {
		tenancy.Logger(ctx).WarnContext(ctx, "demo request failed: cache unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the cache is unavailable; nothing was stored, try again later")
		return
	}
	if errors.Is(err, tenancy.ErrDatabaseUnavailable) && ctx.Err() == nil {
		tenancy.Logger(ctx).ErrorContext(ctx, "demo request failed: tenant database unavailable", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the tenant's database is unavailable; try again later")
		return
	}
	tenancy.Logger(ctx).ErrorContext(ctx, "demo request failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

var homeTemplate = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Tenant.Name}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}li{margin:.3rem 0}small{color:#888}</style></head>
<body><h1>{{.Tenant.Name}}</h1><p><small>tenant {{.Tenant.UUID}} · {{.Tenant.Status}}</small></p>
<h2>Notes ({{len .Notes}})</h2>
<ul>{{range .Notes}}<li>{{.Body}} <small>{{.CreatedAt}}</small></li>{{else}}<li>No notes yet.</li>{{end}}</ul>
</body></html>
`))

func home(w http.ResponseWriter, r *http.Request) {
	t, err := tenancy.MustFromContext(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	notes, err := readNotes(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	homeTemplate.Execute(w, map[string]any{"Tenant": t, "Notes": notes})
}

func whoami(w http.ResponseWriter, r *http.Request) {
	t, err := tenancy.MustFromContext(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"uuid": t.UUID, "name": t.Name, "status": string(t.Status)})
}

func readNotes(ctx context.Context) ([]Note, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT id, body, created_at FROM notes ORDER BY id DESC LIMIT 1000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	notes := []Note{}
	for rows.Next() {
		var n Note
		if err := rows.Scan(&n.ID, &n.Body, &n.CreatedAt); err != nil {
			return nil, err
		}
		notes = append(notes, n)
	}
	return notes, rows.Err()
}

func listNotes(w http.ResponseWriter, r *http.Request) {
	notes, err := readNotes(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": notes})
}

// decodeBody reads a JSON object into v, rejecting unknown fields, trailing
// data and wrong content types with a 4xx answer. It reports success.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	// curl -d sends application/x-www-form-urlencoded unless told otherwise;
	// the body is still read as JSON.
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") &&
		!strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusUnsupportedMediaType, "send application/json")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON: trailing data")
		return false
	}
	return true
}

// InsertNote adds a note to the tenant database of ctx.
func InsertNote(ctx context.Context, body string) (Note, error) {
	db, err := tenancy.DB(ctx)
	if err != nil {
		return Note{}, err
	}
	n := Note{Body: body}
	query := `INSERT INTO notes (body) VALUES (?) RETURNING id, created_at`
	if tenancy.Dialect(ctx) == "postgres" {
		query = `INSERT INTO notes (body) VALUES ($1) RETURNING id, created_at`
	}
	err = db.QueryRowContext(ctx, query, body).Scan(&n.ID, &n.CreatedAt)
	return n, err
}

func addNote(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body string `json:"body"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	in.Body = strings.TrimSpace(in.Body)
	if in.Body == "" || len(in.Body) > maxNoteBytes || !utf8.ValidString(in.Body) {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("body must be 1 to %d bytes of UTF-8 text", maxNoteBytes))
		return
	}
	n, err := InsertNote(r.Context(), in.Body)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"data": n})
}

func countNotes(w http.ResponseWriter, r *http.Request) {
	// A query every request runs: prepared once per open tenant database.
	st, err := tenancy.Stmt(r.Context(), `SELECT count(*) FROM notes`)
	if err != nil {
		fail(w, r, err)
		return
	}
	var n int64
	if err := st.QueryRowContext(r.Context()).Scan(&n); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"count": n})
}

// fileName validates an uploaded or requested file name: a plain base name.
func fileName(name string) (string, bool) {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	if base == "." || base == ".." || base == "/" || base == "" || len(base) > 255 ||
		!utf8.ValidString(base) || strings.ContainsAny(base, "\x00") || strings.HasPrefix(base, ".") {
		return "", false
	}
	return base, true
}

func uploadFile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes+1<<20)
	f, hdr, err := r.FormFile("file")
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "file too large")
			return
		}
		writeError(w, http.StatusBadRequest, "send a multipart form with a field named file")
		return
	}
	defer f.Close()
	name, ok := fileName(hdr.Filename)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "invalid file name")
		return
	}
	root, err := tenancy.Storage(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	// Write to a hidden temporary name, then rename: a reader never sees a
	// half-written file, and a failed upload leaves the old one in place.
	tmp := ".upload-" + rand.Text()
	out, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fail(w, r, err)
		return
	}
	size, err := io.Copy(out, io.LimitReader(f, maxUploadBytes+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && size > maxUploadBytes {
		root.Remove(tmp)
		writeError(w, http.StatusRequestEntityTooLarge, "file too large")
		return
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"name": name, "size": size}})
}

func downloadFile(w http.ResponseWriter, r *http.Request) {
	name, ok := fileName(r.PathValue("name"))
	if !ok || name != r.PathValue("name") {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	root, err := tenancy.Storage(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// EchoArgs is the demo job: when it runs it writes its message as a note in
// its tenant's database.
type EchoArgs struct {
	Message string `json:"message"`
}

// Kind names the job.
func (EchoArgs) Kind() string { return "demo_echo" }

// EchoWorker runs EchoArgs jobs in their tenant's context.
type EchoWorker struct {
	river.WorkerDefaults[EchoArgs]
}

// Work writes the job's message as a note.
func (EchoWorker) Work(ctx context.Context, job *river.Job[EchoArgs]) error {
	_, err := InsertNote(ctx, "echo: "+job.Args.Message)
	return err
}

func enqueueEcho(w http.ResponseWriter, r *http.Request) {
	var in EchoArgs
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Message == "" || len(in.Message) > maxNoteBytes || !utf8.ValidString(in.Message) {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("message must be 1 to %d bytes of UTF-8 text", maxNoteBytes))
		return
	}
	if err := tenancy.Enqueue(r.Context(), in); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"data": map[string]string{"status": "enqueued"}})
}

// cacheKey validates a cache key from the path.
func cacheKey(r *http.Request) (string, bool) {
	k := r.PathValue("key")
	return k, k != "" && len(k) <= 250 && utf8.ValidString(k)
}

func getCache(w http.ResponseWriter, r *http.Request) {
	key, ok := cacheKey(r)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "invalid key")
		return
	}
	c, err := tenancy.Cache(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	v, found, err := c.Get(r.Context(), key)
	if err != nil {
		fail(w, r, err)
		return
	}
	if !found {
		writeError(w, http.StatusNotFound, "no such key")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]string{"key": key, "value": string(v)}})
}

func putCache(w http.ResponseWriter, r *http.Request) {
	key, ok := cacheKey(r)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "invalid key")
		return
	}
	var in struct {
		Value string `json:"value"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	c, err := tenancy.Cache(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	if err := c.Set(r.Context(), key, []byte(in.Value), time.Hour); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]string{"key": key, "value": in.Value}})
}
