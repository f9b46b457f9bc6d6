package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/gotenancy/tenancy/monitor"
)

// dashboardPath is the server's route for a monitoring snapshot.
const dashboardPath = "/admin/monitoring/dashboard"

// maxSnapshotBytes bounds the answer read from the server.
const maxSnapshotBytes = 8 << 20

// monitorTimeout is the least time monitor waits for an answer; with a
// longer --interval it waits that long.
const monitorTimeout = 10 * time.Second

// errAPIKeyRefused is the error of a 401 or 403 answer.
var errAPIKeyRefused = errors.New("the server refused the API key (create one with `tenancy api-key create`)")

// dashboardClient fetches snapshots from a running server.
type dashboardClient struct {
	base   string // the --url as given, for messages
	url    string // the dashboard route
	apiKey string
	http   *http.Client
}

// newDashboardClient validates --url and returns a client for it.
func newDashboardClient(rawURL, apiKey string, timeout time.Duration) (*dashboardClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid --url %q: want http://host[:port] or https://host[:port]", redact(rawURL))
	}
	return &dashboardClient{
		base:   redact(rawURL),
		url:    strings.TrimSuffix(u.String(), "/") + dashboardPath,
		apiKey: apiKey,
		http:   &http.Client{Timeout: timeout, CheckRedirect: sameHostRedirect},
	}, nil
}

// maxRedirects is as many redirects as the http package's default policy
// follows.
const maxRedirects = 10

// crossHostRedirectError is a redirect that monitor does not follow: to
// another host, or from https to http.
type crossHostRedirectError struct{ to string }

func (e *crossHostRedirectError) Error() string {
	return "redirected to " + e.to
}

// sameHostRedirect follows redirects only on the host (and scheme security)
// of the first request: the X-API-Key header, which the http package keeps
// on every redirect, must not reach another server or go out in clear.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if !strings.EqualFold(req.URL.Host, first.Host) || (first.Scheme == "https" && req.URL.Scheme != "https") {
		return &crossHostRedirectError{to: redact(req.URL.Redacted())}
	}
	return nil
}

// snapshot fetches one snapshot: GET {url}/admin/monitoring/dashboard,
// decoding {"success":true,"data":<monitor.Snapshot>}.
func (c *dashboardClient) snapshot(ctx context.Context) (*monitor.Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var rerr *crossHostRedirectError
		if errors.As(err, &rerr) {
			return nil, fmt.Errorf("the server at %s redirected to %s: not followed, so that the API key is not sent to another host", c.base, rerr.to)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("cannot reach the server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshotBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the server at %s: %w", c.base, err)
	}
	var env struct {
		Success *bool             `json:"success"`
		Data    *monitor.Snapshot `json:"data"`
		Message string            `json:"message"`
	}
	decodeErr := json.Unmarshal(body, &env)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		if c.apiKey == "" {
			return nil, fmt.Errorf("the server at %s wants an API key: pass --api-key or set TENANT_API_KEY (create one with `tenancy api-key create`)", c.base)
		}
		return nil, errAPIKeyRefused
	case resp.StatusCode != http.StatusOK:
		msg := resp.Status
		if decodeErr == nil && env.Message != "" {
			msg += ": " + env.Message
		}
		return nil, fmt.Errorf("the server at %s answered GET %s with %s", c.base, dashboardPath, msg)
	case decodeErr != nil || env.Success == nil:
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if ct == "" {
			ct = "no content type"
		}
		return nil, fmt.Errorf("the server at %s did not answer with a tenancy JSON envelope (got %s: %q); is it a tenancy server?",
			c.base, ct, snippet(body))
	case !*env.Success || env.Data == nil:
		return nil, fmt.Errorf("the server at %s answered without a snapshot: %s", c.base, env.Message)
	}
	return env.Data, nil
}

// snippet is the start of a body, for messages.
func snippet(b []byte) string {
	const n = 60
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// printSnapshot writes a snapshot's figures.
func printSnapshot(w io.Writer, s *monitor.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	line("Node", fmt.Sprintf("%s at %s, up %s", s.Node, s.Time.Local().Format("2006-01-02 15:04:05"),
		monitor.FormatUptime(s.UptimeSeconds)))
	r := s.Requests
	req := fmt.Sprintf("%.1f/s, p95 %.1f ms, errors %s 5xx, %s 4xx; %s in all",
		r.PerSecond, r.P95Ms, percent(r.ErrorRate), percent(r.ClientErrorRate), humanize.Comma(int64(r.Total)))
	if s.IntervalSeconds == 0 {
		req += " (rates from the next sample)"
	}
	line("Requests", req)
	c := s.Connections
	line("Databases", fmt.Sprintf("%d open of %d (%s), %d in use, hit ratio %s",
		c.Open, c.Budget, percent(c.BudgetUse), c.InUse, percent(c.HitRatio)))
	line("Cache", fmt.Sprintf("hit ratio %s, %s entries", percent(s.Cache.HitRatio), humanize.Comma(s.Cache.Entries)))
	t := s.Tenants
	line("Tenants", fmt.Sprintf("%s: %s active, %s inactive, %s suspended, %s blocked; %s in maintenance",
		count(t.Total), count(t.Active), count(t.Inactive), count(t.Suspended), count(t.Blocked), count(t.Maintenance)))
	p := s.Process
	mem := "RSS " + unknown
	if p.RSSBytes > 0 {
		mem = "RSS " + humanize.Bytes(p.RSSBytes)
	}
	if p.MemoryLimitBytes > 0 {
		mem += fmt.Sprintf(" (%s of %s)", percent(p.MemoryUse), humanize.Bytes(p.MemoryLimitBytes))
	}
	line("Process", fmt.Sprintf("%s, CPU %.1f%% of %d CPUs, %d goroutines", mem, p.CPUPercent, p.CPUs, s.Runtime.Goroutines))
	d := s.Disk
	line("Disk", fmt.Sprintf("%s in %s files, %s free", size(d.UsedBytes), count(d.Files), size(d.FreeBytes)))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(s.TopTenants) == 0 {
		_, err := fmt.Fprintln(w, "No tenant requests in this interval.")
		return err
	}
	tb := newTable(w, "TOP TENANT", "UUID", "REQ/S", "P95 MS", "5XX", "4XX", "TOTAL")
	for _, tf := range s.TopTenants {
		name := tf.Name
		if name == "" {
			// Deleted, or not yet loaded into the server's catalog snapshot.
			name = "(unknown)"
		}
		tb.row(name, tf.UUID, fmt.Sprintf("%.1f", tf.PerSecond), fmt.Sprintf("%.1f", tf.P95Ms),
			percent(tf.ErrorRate), percent(tf.ClientErrorRate), humanize.Comma(int64(tf.Total)))
	}
	return tb.flush()
}

// unknown stands for a figure the server could not measure (sent as -1).
const unknown = "—"

// percent writes a ratio (0…1) as a percentage; negative means unknown.
func percent(r float64) string {
	if r < 0 {
		return unknown
	}
	return fmt.Sprintf("%.1f%%", 100*r)
}

// count writes a count; negative means unknown.
func count(n int) string {
	if n < 0 {
		return unknown
	}
	return humanize.Comma(int64(n))
}

// size writes a byte count; negative means unknown.
func size(n int64) string {
	if n < 0 {
		return unknown
	}
	return humanize.Bytes(uint64(n))
}

func newMonitorCmd(o *options) *cobra.Command {
	var (
		lf     liveFlags
		rawURL string
		apiKey string
	)
	cmd := &cobra.Command{
		Use:   "monitor [--live] [--url http://localhost:8080] [--api-key KEY] [--interval 1s]",
		Short: "Show a running server's live figures (requests, latency, databases, process)",
		Long: `Show the live figures of a running tenancy server, read from its
GET /admin/monitoring/dashboard with an API key: requests per second, p95
latency, error rate, open tenant databases against the budget and their hit
ratio, the cache hit ratio, tenants by status, memory, CPU, disk, uptime,
goroutines and the busiest tenants.

Without --live one snapshot is printed; with --live the view is refreshed
every --interval until Ctrl-C, in place on a terminal. -o json prints the
snapshots (one JSON object per line with --live).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lf.check(cmd); err != nil {
				return err
			}
			if !cmd.Flags().Changed("api-key") {
				apiKey = os.Getenv("TENANT_API_KEY")
			}
			c, err := newDashboardClient(rawURL, apiKey, max(lf.interval, monitorTimeout))
			if err != nil {
				return err
			}
			return refresh(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), &lf, o.outputJSON(), "tenancy monitor "+c.base,
				c.snapshot, printSnapshot)
		},
	}
	lf.register(cmd, time.Second)
	f := cmd.Flags()
	f.StringVar(&rawURL, "url", "http://localhost:8080", "the server's base URL")
	f.StringVar(&apiKey, "api-key", "", "API key sent as X-API-Key (default: $TENANT_API_KEY)")
	return cmd
}
