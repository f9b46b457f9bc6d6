package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWantsJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"*/*"}, false},
		{[]string{"application/json"}, true},
		{[]string{"text/html"}, false},
		{[]string{"application/json, text/html"}, true},
		{[]string{"text/html, application/json"}, false},
		// q-values decide before order.
		{[]string{"text/html;q=0.9, application/json"}, true},
		{[]string{"application/json;q=0.5, text/html"}, false},
		{[]string{"text/html; q=0.1, application/json; q=0.2"}, true},
		{[]string{"application/json;q=0.8, text/html;q=0.8"}, true},
		{[]string{"text/html;q=0.8, application/json;q=0.8"}, false},
		// A browser's usual header.
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false},
		// q=0 means not acceptable.
		{[]string{"application/json;q=0"}, false},
		{[]string{"application/json;q=0, text/html;q=0"}, false},
		{[]string{"text/html;q=0, application/json;q=0.1"}, true},
		// Only the first mention of a type counts.
		{[]string{"application/json;q=0.1, text/html;q=0.5, application/json"}, false},
		// Case and spacing do not matter.
		{[]string{"  Application/JSON ; Q=1 ,TEXT/HTML;q=0.5"}, true},
		// Broken entries and q-values are ignored.
		{[]string{"application/json;q=2, text/html;q=0.5"}, false},
		{[]string{"application/json;q=NaN"}, false},
		{[]string{"application/json;q=abc, text/html"}, false},
		{[]string{"text/html;;;=, application/json"}, true},
		{[]string{"application/json;q=0.5, text/html;q=-1"}, true},
		// Several Accept headers are one list.
		{[]string{"text/html;q=0.5", "application/json"}, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/admin/tenants", nil)
		for _, v := range tc.accept {
			r.Header.Add("Accept", v)
		}
		if got := wantsJSON(r); got != tc.want {
			t.Errorf("wantsJSON(Accept: %q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}
