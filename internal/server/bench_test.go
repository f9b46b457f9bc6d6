package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkWhoami serves GET /api/whoami through the whole stack
// (resolver, gate, bootstrappers, demo application) in process, beside a
// bare handler writing the same answer: the ratio is the stack's cost
// without the network.
func BenchmarkWhoami(b *testing.B) {
	f := newFixture(b, 1)
	host := f.tenants[0].PrimaryDomain()
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(map[string]string{"uuid": "01a2185c-8068-7cbf-ba4e-a68e05dd8e16", "name": "Tenant 0", "status": "active"})
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"tenancy", f.srv.Handler()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			r := httptest.NewRequest("GET", "http://"+host+"/api/whoami", nil)
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
