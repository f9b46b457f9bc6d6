package envelope

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const ts = "2025-01-02T03:04:05Z"

func fixed() string { return ts }

func record(method string, write func(w http.ResponseWriter, r *http.Request)) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	write(rec, httptest.NewRequest(method, "/", nil))
	return rec
}

func TestTimestamp(t *testing.T) {
	at := time.Date(2025, 1, 2, 4, 4, 5, 999, time.FixedZone("CET", 3600))
	if got := Timestamp(at); got != ts {
		t.Errorf("Timestamp = %q, want %q", got, ts)
	}
	if _, err := time.Parse(time.RFC3339, Now()); err != nil {
		t.Errorf("Now: %v", err)
	}
}

func TestEnvelopes(t *testing.T) {
	wr := &Writer{Clock: fixed}
	cases := []struct {
		name  string
		write func(w http.ResponseWriter, r *http.Request)
		code  int
		body  string
	}{
		{"success", func(w http.ResponseWriter, r *http.Request) {
			wr.WriteSuccess(w, r, 200, map[string]string{"a": "<&>"}, nil, "")
		}, 200, `{"success":true,"data":{"a":"<&>"},"timestamp":"` + ts + `"}` + "\n"},
		{"success nil data", func(w http.ResponseWriter, r *http.Request) {
			wr.WriteSuccess(w, r, 201, nil, nil, "")
		}, 201, `{"success":true,"data":null,"timestamp":"` + ts + `"}` + "\n"},
		{"success meta message", func(w http.ResponseWriter, r *http.Request) {
			wr.WriteSuccess(w, r, 200, []int{1}, map[string]int{"total": 1}, "done")
		}, 200, `{"success":true,"data":[1],"meta":{"total":1},"message":"done","timestamp":"` + ts + `"}` + "\n"},
		{"error", func(w http.ResponseWriter, r *http.Request) {
			wr.WriteError(w, r, 404, "No such tenant.", nil, nil)
		}, 404, `{"success":false,"error":"Not Found","message":"No such tenant.","code":404,"timestamp":"` + ts + `"}` + "\n"},
		{"error fields data", func(w http.ResponseWriter, r *http.Request) {
			wr.WriteError(w, r, 422, "name: required", map[string][]string{"name": {"required"}}, []int{})
		}, 422, `{"success":false,"error":"Unprocessable Entity","message":"name: required","code":422,"errors":{"name":["required"]},"data":[],"timestamp":"` + ts + `"}` + "\n"},
		{"raw", func(w http.ResponseWriter, r *http.Request) {
			wr.WriteRawSuccess(w, r, 200, []byte(`{"id":1}`))
		}, 200, `{"success":true,"data":{"id":1},"timestamp":"` + ts + `"}` + "\n"},
	}
	for _, c := range cases {
		rec := record("GET", c.write)
		if rec.Code != c.code || rec.Body.String() != c.body {
			t.Errorf("%s: %d %s, want %d %s", c.name, rec.Code, rec.Body, c.code, c.body)
		}
		h := rec.Header()
		if h.Get("Content-Type") != "application/json" || h.Get("Content-Length") != "" || h.Get("Cache-Control") != "" {
			t.Errorf("%s: headers %v", c.name, h)
		}
	}
}

// TestRawMatchesWrite: the fast path writes what WriteSuccess writes, for
// each way of writing.
func TestRawMatchesWrite(t *testing.T) {
	data := map[string]any{"name": "A & B <c>", "n": 1}
	for _, wr := range []*Writer{{}, {EscapeHTML: true}, {ContentLength: true}, {Buffered: true, NoStore: true}} {
		wr.Clock = fixed
		raw, err := wr.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, method := range []string{"GET", "HEAD"} {
			a := record(method, func(w http.ResponseWriter, r *http.Request) { wr.WriteSuccess(w, r, 200, data, nil, "") })
			b := record(method, func(w http.ResponseWriter, r *http.Request) { wr.WriteRawSuccess(w, r, 200, raw) })
			if a.Code != b.Code || a.Body.String() != b.Body.String() || !equalHeaders(a.Header(), b.Header()) {
				t.Errorf("%+v %s: WriteSuccess %d %v %q, WriteRawSuccess %d %v %q", *wr, method, a.Code, a.Header(), a.Body, b.Code, b.Header(), b.Body)
			}
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a.Get(k) != b.Get(k) {
			return false
		}
	}
	return true
}

func TestOptions(t *testing.T) {
	v := map[string]string{"m": "<b>&"}
	t.Run("escape", func(t *testing.T) {
		rec := record("GET", func(w http.ResponseWriter, r *http.Request) { (&Writer{EscapeHTML: true}).Write(w, r, 200, v) })
		if want := `{"m":"\u003cb\u003e\u0026"}` + "\n"; rec.Body.String() != want {
			t.Errorf("body %q, want %q", rec.Body, want)
		}
	})
	t.Run("content length", func(t *testing.T) {
		rec := record("GET", func(w http.ResponseWriter, r *http.Request) { (&Writer{ContentLength: true}).Write(w, r, 200, v) })
		if rec.Header().Get("Content-Length") != "13" || rec.Body.Len() != 13 {
			t.Errorf("Content-Length %q, body %q", rec.Header().Get("Content-Length"), rec.Body)
		}
	})
	t.Run("no store", func(t *testing.T) {
		rec := record("GET", func(w http.ResponseWriter, r *http.Request) { (&Writer{NoStore: true}).Write(w, r, 500, v) })
		if rec.Code != 500 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%d %v", rec.Code, rec.Header())
		}
	})
	t.Run("head", func(t *testing.T) {
		for _, wr := range []*Writer{{}, {Buffered: true}, {ContentLength: true}} {
			rec := record("HEAD", func(w http.ResponseWriter, r *http.Request) { wr.Write(w, r, 200, v) })
			if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%+v: %d %v %q", *wr, rec.Code, rec.Header(), rec.Body)
			}
			if wr.ContentLength && rec.Header().Get("Content-Length") != "13" {
				t.Errorf("HEAD Content-Length %q", rec.Header().Get("Content-Length"))
			}
			// Without the request, HEAD is not recognised.
			rec = httptest.NewRecorder()
			wr.Write(rec, nil, 200, v)
			if rec.Body.Len() != 13 {
				t.Errorf("%+v, nil request: %q", *wr, rec.Body)
			}
		}
	})
}

func TestEncodingFails(t *testing.T) {
	bad := map[string]float64{"x": math.Inf(1)}
	for _, wr := range []*Writer{{Buffered: true}, {ContentLength: true}} {
		rec := record("GET", func(w http.ResponseWriter, r *http.Request) { wr.Write(w, r, 200, bad) })
		if rec.Code != 500 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || rec.Header().Get("Content-Length") != "" {
			t.Errorf("%+v: %d %v %q", *wr, rec.Code, rec.Header(), rec.Body)
		}
	}
	var got error
	wr := &Writer{OnError: func(err error) { got = err }}
	rec := record("GET", func(w http.ResponseWriter, r *http.Request) { wr.Write(w, r, 201, bad) })
	var ue *json.UnsupportedValueError
	if rec.Code != 201 || rec.Body.Len() != 0 || !errors.As(got, &ue) {
		t.Errorf("streamed: %d %q, OnError %v", rec.Code, rec.Body, got)
	}
}
