package monitor

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"
)

//go:embed dashboard/dashboard.html dashboard/dashboard.js dashboard/dashboard.css
var dashboardFS embed.FS

// dashboardTemplate is the monitoring page.
var dashboardTemplate = template.Must(template.New("dashboard.html").Funcs(template.FuncMap{
	"bytes":    formatBytes,
	"count":    formatCount,
	"percent":  formatPercent,
	"number":   formatNumber,
	"duration": FormatUptime,
	"p95":      formatP95,
	"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).ParseFS(dashboardFS, "dashboard/dashboard.html"))

// dashboardData is what the page template gets.
type dashboardData struct {
	S       Snapshot
	Alerts  AlertReport
	History int
	P95Cap  float64 // quantileCapMs, for the script
}

// dashboardPage renders the page with the latest figures; its script then
// follows the stream.
func (m *Monitor) dashboardPage(w http.ResponseWriter, r *http.Request) error {
	var buf bytes.Buffer
	data := dashboardData{S: m.latestOrSample(r.Context()), Alerts: m.alertReport(), History: m.cfg.History, P95Cap: quantileCapMs}
	if err := dashboardTemplate.Execute(&buf, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
	return nil
}

// serveAsset serves one embedded file of the page.
func serveAsset(name, contentType string) func(http.ResponseWriter, *http.Request) error {
	body, err := dashboardFS.ReadFile("dashboard/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodHead {
			w.Write(body)
		}
		return nil
	}
}

// unknown is what the page shows of a figure that is not known.
const unknown = "—"

// formatBytes writes n in binary units: "512 B", "1.5 MiB"; a negative n
// (unknown) as "—".
func formatBytes(n any) string {
	var v float64
	switch x := n.(type) {
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case int:
		v = float64(x)
	}
	if v < 0 {
		return unknown
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// formatPercent writes a 0…1 share as a percentage; a negative one
// (unknown) as "—".
func formatPercent(x float64) string {
	if x < 0 {
		return unknown
	}
	return strconv.FormatFloat(x*100, 'f', 1, 64) + "%"
}

// formatCount writes a count; a negative one (unknown) as "—".
func formatCount(n int) string {
	if n < 0 {
		return unknown
	}
	return strconv.Itoa(n)
}

// formatNumber writes x with at most one decimal place.
func formatNumber(x float64) string {
	if x == float64(int64(x)) {
		return strconv.FormatInt(int64(x), 10)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

// formatP95 writes a p95 in milliseconds; at the cap of the latency
// histogram, "≥ 5000": the latency is that or more.
func formatP95(x float64) string {
	if x >= quantileCapMs {
		return "≥ " + formatNumber(quantileCapMs)
	}
	return formatNumber(x)
}

// FormatUptime writes seconds as its two largest units: "3d 4h", "4h 5m",
// "5m 2s", "6s" (whole seconds, truncated).
func FormatUptime(sec float64) string {
	s := int64(sec)
	d, h, m := s/86400, s%86400/3600, s%3600/60
	s %= 60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %dh", d, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
