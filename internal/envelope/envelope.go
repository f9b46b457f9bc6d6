package envelope

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Success is the success envelope.
type Success struct {
	Success   bool   `json:"success"`
	Data      any    `json:"data"`
	Meta      any    `json:"meta,omitempty"`
	Message   string `json:"message,omitempty"`
	Timestamp string `json:"timestamp"`
}

// Error is the error envelope. Error is the status text of Code.
type Error struct {
	Success   bool                `json:"success"`
	Error     string              `json:"error"`
	Message   string              `json:"message"`
	Code      int                 `json:"code"`
	Errors    map[string][]string `json:"errors,omitempty"`
	Data      any                 `json:"data,omitempty"`
	Timestamp string              `json:"timestamp"`
}

// Timestamp is the envelope's form of t: UTC, RFC 3339, to the second.
func Timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Now is Timestamp(time.Now()).
func Now() string { return Timestamp(time.Now()) }

// contentTypeJSON is the Content-Type of every answer. It is shared, never
// changed: Header.Set and Header.Add do not write into it.
var contentTypeJSON = []string{"application/json"}

// Writer writes JSON answers. The zero value writes as the REST API does:
// Content-Type application/json, the status, then the value encoded
// straight to the client without HTML escaping, followed by a newline.
//
// A Writer's methods take the request only to recognise HEAD: when r is a
// HEAD request the headers are written and the body is not. With a nil r
// the body is always written (net/http discards it for HEAD, after taking
// its length).
type Writer struct {
	// EscapeHTML escapes <, > and & in strings, as json.Marshal does.
	EscapeHTML bool
	// Buffered encodes the whole body before any header is written, so
	// that a value that cannot be encoded is answered with a plain-text
	// 500 (http.Error) instead of the status and an empty body.
	Buffered bool
	// ContentLength sets Content-Length; it implies Buffered.
	ContentLength bool
	// NoStore sets Cache-Control: no-store.
	NoStore bool
	// Clock gives the envelope's timestamp; nil means Now.
	Clock func() string
	// OnError, if set, is told when the body of a streamed answer could not
	// be encoded or sent.
	OnError func(error)
}

// Timestamp is the timestamp of an envelope written now.
func (wr *Writer) Timestamp() string {
	if wr.Clock != nil {
		return wr.Clock()
	}
	return Now()
}

// Write writes v as JSON with status.
func (wr *Writer) Write(w http.ResponseWriter, r *http.Request, status int, v any) {
	head := r != nil && r.Method == http.MethodHead
	if !wr.Buffered && !wr.ContentLength {
		wr.header(w, -1)
		w.WriteHeader(status)
		if head {
			return
		}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(wr.EscapeHTML)
		if err := enc.Encode(v); err != nil && wr.OnError != nil {
			wr.OnError(err)
		}
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(wr.EscapeHTML)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	wr.header(w, buf.Len())
	w.WriteHeader(status)
	if !head {
		w.Write(buf.Bytes())
	}
}

// WriteSuccess writes the success envelope of data with status. meta and
// message are left out when nil and "".
func (wr *Writer) WriteSuccess(w http.ResponseWriter, r *http.Request, status int, data, meta any, message string) {
	wr.Write(w, r, status, &Success{Success: true, Data: data, Meta: meta, Message: message, Timestamp: wr.Timestamp()})
}

// WriteError writes the error envelope of status: error is the status
// text, code the status. fields (validation errors by field) and data are
// left out when nil.
func (wr *Writer) WriteError(w http.ResponseWriter, r *http.Request, status int, message string, fields map[string][]string, data any) {
	wr.Write(w, r, status, &Error{
		Error:     http.StatusText(status),
		Message:   message,
		Code:      status,
		Errors:    fields,
		Data:      data,
		Timestamp: wr.Timestamp(),
	})
}

// successHead opens a success envelope whose data follows.
var successHead = []byte(`{"success":true,"data":`)

// WriteRawSuccess writes the success envelope whose data is the JSON text
// data, encoded beforehand (with Marshal, so that it reads as Write would
// have written it). It is the fast path for data whose JSON is kept.
func (wr *Writer) WriteRawSuccess(w http.ResponseWriter, r *http.Request, status int, data []byte) {
	var buf [64]byte
	tail := append(append(append(buf[:0], `,"timestamp":"`...), wr.Timestamp()...), "\"}\n"...)
	wr.header(w, len(successHead)+len(data)+len(tail))
	w.WriteHeader(status)
	if r != nil && r.Method == http.MethodHead {
		return
	}
	w.Write(successHead)
	w.Write(data)
	w.Write(tail)
}

// Marshal encodes v as the Writer does, without the trailing newline.
func (wr *Writer) Marshal(v any) ([]byte, error) { return Marshal(v, wr.EscapeHTML) }

// Marshal encodes v as a Writer with EscapeHTML escapeHTML does, without
// the trailing newline.
func Marshal(v any, escapeHTML bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// header sets the headers of an answer whose body is n bytes long (n is
// used only with ContentLength).
func (wr *Writer) header(w http.ResponseWriter, n int) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	if wr.NoStore {
		h.Set("Cache-Control", "no-store")
	}
	if wr.ContentLength {
		h.Set("Content-Length", strconv.Itoa(n))
	}
}
