package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/internal/server"
	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/storage"
)

// monitorBench is the server stack of BenchmarkMonitorOverhead on a
// loopback listener.
type monitorBench struct {
	addr    string
	tenants int
}

// benchAPIKey is the admin credential the stream clients present.
const benchAPIKey = "bench-monitor-key"

// envInt reads a positive integer from the environment.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// newMonitorBench creates the tenants and serves the full stack: resolver,
// gate, bootstrappers, demo app, with the REST API and /metrics on the
// central host localhost.
func newMonitorBench(b *testing.B, tenants int) *monitorBench {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	mgr, st := testenv.NewManager(b, dir, nil)
	items := make([]int, tenants)
	for i := range items {
		items[i] = i + 1
	}
	out, err := migrate.RunFleet(ctx, items, &migrate.FleetConfig{Concurrency: 4}, func(ctx context.Context, i int) error {
		_, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("Bench ", i), Domain: fmt.Sprintf("t%d.bench.test", i)})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil {
			b.Fatal(o.Err)
		}
	}
	files, err := storage.New(&storage.Config{Dir: filepath.Join(dir, "storage")})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(ctx, &server.Config{Manager: mgr, ControlPlane: testenv.ControlPlane(b, st), Storage: files, DataDir: dir, Watcher: st,
		EnvAPIKey: benchAPIKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil { // with the monitoring sampler
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(context.Background()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Close() })
	return &monitorBench{addr: ln.Addr().String(), tenants: tenants}
}

// openDashboard connects three clients to the server's monitoring stream
// (/admin/monitoring/stream, with an API key) and scrapes /metrics every
// second, as administrators with the dashboard open and a Prometheus
// server would. close stops them and returns the samples the streams
// received and the scrapes made.
func (mb *monitorBench) openDashboard(b *testing.B) (close func() (events, scrapes int64)) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var events, scrapes atomic.Int64
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+mb.addr+"/admin/monitoring/stream", nil)
			req.Host = "localhost"
			req.Header.Set("X-Api-Key", benchAPIKey)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("stream: %s", res.Status)
				return
			}
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				if sc.Text() == "event: sample" {
					events.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+mb.addr+"/metrics", nil)
			req.Host = "localhost"
			if res, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					scrapes.Add(1)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return func() (int64, int64) {
		cancel()
		wg.Wait()
		return events.Load(), scrapes.Load()
	}
}

// wrkRate is wrk's "Requests/sec" line.
var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// round is one load run's outcome.
type round struct {
	rate float64 // successful requests per second
	// cpuPerReq is this process's CPU time per request in microseconds:
	// the server's, plus the load's when the load runs in process.
	cpuPerReq float64
}

// measure runs load and reads this process's CPU time around it.
func (mb *monitorBench) measure(b *testing.B, d time.Duration, conns int) round {
	cpu := cpuSeconds()
	start := time.Now()
	rate := mb.load(b, d, conns)
	reqs := rate * time.Since(start).Seconds()
	return round{rate: rate, cpuPerReq: (cpuSeconds() - cpu) / reqs * 1e6}
}

// load drives GET /api/whoami on random tenant hosts for d and returns the
// successful requests per second. It runs wrk (with bench/random-host.lua)
// when it is installed and MONITOR_BENCH_LOAD is not "go", else a Go
// client in this process.
func (mb *monitorBench) load(b *testing.B, d time.Duration, conns int) float64 {
	b.Helper()
	if _, err := exec.LookPath("wrk"); err == nil && os.Getenv("MONITOR_BENCH_LOAD") != "go" {
		cmd := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())),
			"-s", "random-host.lua", "http://"+mb.addr+"/api/whoami")
		cmd.Env = append(os.Environ(), fmt.Sprintf("TENANTS=%d", mb.tenants))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "Non-2xx") {
			b.Fatalf("wrk saw errors:\n%s", out)
		}
		m := wrkRate.FindSubmatch(out)
		if m == nil {
			b.Fatalf("no rate in wrk's output:\n%s", out)
		}
		rate, _ := strconv.ParseFloat(string(m[1]), 64)
		return rate
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var ok, failed atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, "http://"+mb.addr+"/api/whoami", nil)
				req.Host = fmt.Sprintf("t%d.bench.test", rand.IntN(mb.tenants)+1)
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
	return float64(ok.Load()) / time.Since(start).Seconds()
}

// BenchmarkMonitorOverhead measures what the live monitoring costs tenant
// requests: GET /api/whoami throughput over MONITOR_BENCH_TENANTS tenants
// (default 1000) through the server as `tenancy serve` runs it (its
// monitoring sampler at 1 Hz included), in alternating rounds of
// MONITOR_BENCH_SECONDS (default 5) with the dashboard closed (no client)
// and open (three clients on the Server-Sent Events stream and /metrics
// scraped every second), MONITOR_BENCH_ROUNDS (default 10) of each, after
// a warm-up round. It reports the median throughput of each, their ratio
// open/closed (1 means free; 0.98 is a 2% cost), the median ratio of the
// rounds paired in time, and the process's CPU time per request of each
// and per second without load, which other work on a shared machine
// disturbs less than throughput. (The sampler's own cost is
// monitor.BenchmarkSample.) Run it once: -benchtime 1x (see
// bench/monitor.sh).
func BenchmarkMonitorOverhead(b *testing.B) {
	tenants := envInt("MONITOR_BENCH_TENANTS", 1000)
	rounds := envInt("MONITOR_BENCH_ROUNDS", 10)
	d := time.Duration(envInt("MONITOR_BENCH_SECONDS", 5)) * time.Second
	conns := envInt("MONITOR_BENCH_CONNS", 64)
	mb := newMonitorBench(b, tenants)
	var closedRate, openRate, pairs, closedCPU, openCPU []float64
	for b.Loop() {
		mb.load(b, 2*time.Second, conns) // warm-up: every tenant resolved, connections made
		for i := range rounds {
			// Alternate which goes first, so that a drift of the machine
			// does not favour one side.
			first := i%2 == 0
			var c, o round
			for _, withDashboard := range []bool{!first, first} {
				if !withDashboard {
					c = mb.measure(b, d, conns)
					b.Logf("round %2d closed: %6.0f req/s, %5.1f µs CPU/req", i+1, c.rate, c.cpuPerReq)
					continue
				}
				stop := mb.openDashboard(b)
				o = mb.measure(b, d, conns)
				events, scrapes := stop()
				b.Logf("round %2d open:   %6.0f req/s, %5.1f µs CPU/req (%d stream samples to 3 clients, %d scrapes)", i+1, o.rate, o.cpuPerReq, events, scrapes)
			}
			closedRate, openRate, pairs = append(closedRate, c.rate), append(openRate, o.rate), append(pairs, o.rate/c.rate)
			closedCPU, openCPU = append(closedCPU, c.cpuPerReq), append(openCPU, o.cpuPerReq)
		}
	}
	// Without load, the process's CPU time is the server's background work
	// (the sampler's included) plus, open, the streams' and scrapes': the
	// difference is what the open dashboard costs each second, which other
	// work on the machine hardly disturbs.
	var idleClosed, idleOpen []float64
	for range 5 {
		idleClosed = append(idleClosed, idleCPU(d, nil))
		stop := mb.openDashboard(b)
		idleOpen = append(idleOpen, idleCPU(d, stop))
	}
	ic, io := median(idleClosed), median(idleOpen)

	mc, mo, mp := median(closedRate), median(openRate), median(pairs)
	cc, co := median(closedCPU), median(openCPU)
	serving := cc * mc / 1e3 // ms of CPU per second under load, dashboard closed
	b.ReportMetric(mc, "closed-req/s")
	b.ReportMetric(mo, "open-req/s")
	b.ReportMetric(mo/mc, "open/closed")
	b.ReportMetric(mp, "paired-open/closed")
	b.ReportMetric(co/cc, "cpu-open/closed")
	b.Logf("%d tenants, %d rounds of %v each way, %d connections", tenants, rounds, d, conns)
	b.Logf("throughput (medians): closed %.0f req/s, open %.0f req/s: open/closed %.4f; median of paired rounds %.4f", mc, mo, mo/mc, mp)
	b.Logf("CPU per request (medians): closed %.2f µs, open %.2f µs: open/closed %.4f", cc, co, co/cc)
	b.Logf("CPU without load (medians of 5 × %v): closed %.2f ms/s, open %.2f ms/s: the open dashboard takes %.2f ms/s, %.2f%% of the %.0f ms/s the server used under load",
		d, ic, io, io-ic, (io-ic)/serving*100, serving)
	b.ReportMetric(io-ic, "open-cpu-ms/s")
	b.ReportMetric((io-ic)/serving*100, "open-cpu-%")
}

// idleCPU returns this process's CPU time in milliseconds per second over
// d without load; then it calls stop, if set.
func idleCPU(d time.Duration, stop func() (int64, int64)) float64 {
	time.Sleep(time.Second) // let the previous phase settle (and a monitor start)
	cpu, start := cpuSeconds(), time.Now()
	time.Sleep(d)
	ms := (cpuSeconds() - cpu) * 1e3 / time.Since(start).Seconds()
	if stop != nil {
		stop()
	}
	return ms
}

// median returns the median of xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
