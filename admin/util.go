package admin

import (
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/gotenancy/tenancy/internal/envelope"
)

// funcs are the template helpers.
var funcs = template.FuncMap{
	"bytes": func(n int64) string {
		if n < 0 {
			return "?"
		}
		return humanize.IBytes(uint64(n))
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"ago": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return humanize.Time(*t)
	},
	"query": func(pairs ...string) template.URL {
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				v.Set(pairs[i], pairs[i+1])
			}
		}
		return template.URL("?" + v.Encode())
	},
	"add": func(a, b int) int { return a + b },
}

// wantsJSON reports whether the client prefers JSON to HTML: its Accept
// header gives application/json a higher q-value than text/html (a
// missing q is 1, a missing type 0), or the same one and lists it first.
// Only the two types themselves count, not wildcards; entries that cannot
// be parsed, or whose q is not a number from 0 to 1, are ignored.
func wantsJSON(r *http.Request) bool {
	jsonQ, htmlQ := -1.0, -1.0 // -1: not listed
	jsonFirst := false
	for _, part := range strings.Split(strings.Join(r.Header.Values("Accept"), ","), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			q, err = strconv.ParseFloat(s, 64)
			if err != nil || !(q >= 0 && q <= 1) { // NaN too
				continue
			}
		}
		switch {
		case mt == "application/json" && jsonQ < 0:
			jsonQ, jsonFirst = q, htmlQ < 0
		case mt == "text/html" && htmlQ < 0:
			htmlQ = q
		}
	}
	if jsonQ <= 0 {
		return false
	}
	return jsonQ > htmlQ || (jsonQ == htmlQ && jsonFirst)
}

// jsonErrors writes the JSON error envelope of the REST API, HTML escaped
// and with Cache-Control: no-store.
var jsonErrors = &envelope.Writer{EscapeHTML: true, NoStore: true}

// writeJSONError writes the JSON error envelope of the REST API.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	jsonErrors.WriteError(w, nil, status, msg, nil, nil)
}

// setFlash leaves a one-time message for the next page.
func setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/admin", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeFlash reads and clears the one-time message.
func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/admin", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	msg, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	return msg
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func itoa(n int) string { return strconv.Itoa(n) }
