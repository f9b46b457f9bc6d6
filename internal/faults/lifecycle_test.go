package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// killPoints are the fractions of an operation's measured duration at
// which it is killed.
var killPoints = []float64{0.02, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95}

// A create --migrate killed at any point leaves nothing routable that is
// incomplete; after repair, a rerun of the same create succeeds.
func TestKilledCreate(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 60_000)
	took := d.timed("create", "Probe", "probe.faults.test", "--migrate")
	landed := 0
	var names []string
	for i, f := range killPoints {
		name, domain := fmt.Sprintf("Kill%d", i), fmt.Sprintf("kill%d.faults.test", i)
		args := []string{"create", name, domain, "--database", fmt.Sprintf("kill_db_%d", i), "--migrate"}
		names = append(names, name)
		committed := false
		if d.killedAt(time.Duration(f*float64(took)), args...) {
			landed++
			// Whatever the kill left must not be routable unless complete.
			for _, tn := range d.tenants() {
				if tn.Name == name && tn.Status == "active" {
					d.checkDatabase(tn)
					committed = true // killed after its commit: done
				}
			}
		} else {
			committed = true
		}
		if i%2 == 0 {
			d.must("repair")
		}
		if !committed {
			// A rerun repairs what it finds under its names by itself.
			d.must(args...)
		}
	}
	d.must("repair")
	d.checkInvariants(append(names, "Probe")...)
	t.Logf("create --migrate: %d kills landed of %d points over %s; totals: kills %d, invariant violations %d",
		landed, len(killPoints), took.Round(time.Millisecond), kills.Load(), violations.Load())
}

// A delete killed at any point is finished by repair (or by the next
// delete), and a tenant being deleted is never listed as active.
func TestKilledDelete(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 20_000)
	d.must("create", "Probe", "probe.faults.test", "--migrate")
	took := d.timed("delete", "probe.faults.test", "--force")
	landed := 0
	for i, f := range killPoints {
		domain := fmt.Sprintf("del%d.faults.test", i)
		d.must("create", fmt.Sprintf("Del%d", i), domain, "--migrate")
		if d.killedAt(time.Duration(f*float64(took)), "delete", domain, "--force") {
			landed++
		}
		if i%2 == 0 {
			// Repair finishes a delete that started; one killed before it
			// marked the tenant leaves it as it was, to delete again.
			d.must("repair")
			for _, tn := range d.tenants() {
				if tn.Status == "deleting" {
					violation(t, "tenant %s still deleting after repair", tn.Name)
				}
			}
		}
		if out, code := d.run("delete", domain, "--force"); code != 0 && !strings.Contains(out, "not found") {
			t.Fatalf("delete after a killed delete: exit %d\n%s", code, out)
		}
	}
	d.must("repair")
	d.checkInvariants()
	if ts := d.tenants(); len(ts) != 0 {
		violation(t, "%d tenants left after every delete finished", len(ts))
	}
	t.Logf("delete: %d kills landed of %d points over %s; totals: kills %d, invariant violations %d",
		landed, len(killPoints), took.Round(time.Millisecond), kills.Load(), violations.Load())
}

// createFleet makes n unmigrated tenants.
func createFleet(d *dataDir, n int) []string {
	var names []string
	for i := range n {
		name := fmt.Sprintf("Fleet%d", i)
		d.must("create", name, fmt.Sprintf("fleet%d.faults.test", i))
		names = append(names, name)
	}
	return names
}

// A migrate --all killed at any point leaves its unfinished tenants to
// --retry-failed, which brings every tenant up to date, each migration
// applied once.
func TestKilledMigrateAll(t *testing.T) {
	t.Parallel()
	probe := newDataDir(t, 20_000)
	createFleet(probe, 8)
	took := probe.timed("migrate", "--all", "--concurrency", "2")
	landed := 0
	for _, f := range killPoints[1:6] {
		d := newDataDir(t, 20_000)
		names := createFleet(d, 8)
		if d.killedAt(time.Duration(f*float64(took)), "migrate", "--all", "--concurrency", "2") {
			landed++
		}
		d.must("migrate", "--all", "--retry-failed", "--concurrency", "2")
		d.checkInvariants(names...)
	}
	t.Logf("migrate --all: %d kills landed of 5 points over %s; totals: kills %d, invariant violations %d",
		landed, took.Round(time.Millisecond), kills.Load(), violations.Load())
}

// Three migrate --all started together apply every migration once: the
// later runs wait for each tenant's lock and find nothing left to do.
func TestConcurrentMigrateAll(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 20_000)
	names := createFleet(d, 10)
	var wg sync.WaitGroup
	outs := make([]string, 3)
	codes := make([]int, 3)
	for i := range outs {
		concurrentRuns.Add(1)
		wg.Go(func() { outs[i], codes[i] = d.run("migrate", "--all", "--lock-wait", "60s") })
	}
	wg.Wait()
	for i := range outs {
		if codes[i] != 0 {
			t.Errorf("run %d: exit %d\n%s", i, codes[i], outs[i])
		}
	}
	d.checkInvariants(names...)
	t.Logf("concurrent migrate --all: 3 runs; totals: concurrent runs %d, invariant violations %d", concurrentRuns.Load(), violations.Load())
}

// Two removals of a tenant's two domains racing each other never leave
// it without a domain.
func TestParallelDomainRemovals(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 10)
	for i := range 8 {
		a, b := fmt.Sprintf("a%d.race.faults.test", i), fmt.Sprintf("b%d.race.faults.test", i)
		d.must("create", fmt.Sprintf("Race%d", i), a)
		d.must("domains", "add", a, b)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for j, dom := range []string{a, b} {
			concurrentRuns.Add(1)
			wg.Go(func() { _, codes[j] = d.run("domains", "remove", a, dom) })
		}
		wg.Wait()
		if codes[0] == 0 && codes[1] == 0 {
			violation(t, "round %d: both removals succeeded", i)
		}
	}
	for _, tn := range d.tenants() {
		if len(tn.Domains) == 0 {
			violation(t, "tenant %s has no domain", tn.Name)
		}
	}
}
