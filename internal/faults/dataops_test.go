package faults

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// shown is what `tenancy show -o json` prints of a tenant's state.
type shown struct {
	tenant
	Maintenance bool  `json:"maintenance"`
	Generation  int64 `json:"database_generation"`
}

func (d *dataDir) show(ref string) shown {
	d.t.Helper()
	var s shown
	if err := json.Unmarshal([]byte(d.must("show", ref, "-o", "json")), &s); err != nil {
		d.t.Fatal(err)
	}
	return s
}

// A restore killed at any point leaves the tenant with a complete
// database, old or new, and nothing that repair does not clear: no
// orphan database, no maintenance left on.
func TestKilledRestore(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 60_000)
	d.must("create", "Restored", "restored.faults.test", "--migrate")
	d.must("create", "Neighbour", "neighbour.faults.test", "--migrate")
	var b struct{ ID string }
	if err := json.Unmarshal([]byte(d.must("backup", "restored.faults.test", "-o", "json")), &b); err != nil {
		t.Fatal(err)
	}
	took := d.timed("restore", "restored.faults.test", b.ID, "--force")
	landed, inMaintenance := 0, 0
	for _, f := range killPoints {
		before := d.show("restored.faults.test")
		if d.killedAt(time.Duration(f*float64(took)), "restore", "restored.faults.test", b.ID, "--force") {
			landed++
			// Whatever the kill left serves a complete database or is in
			// maintenance (which refuses visitors): never a half-made one.
			now := d.show("restored.faults.test")
			if now.Generation != before.Generation && now.Generation != before.Generation+1 {
				violation(t, "generation %d after a killed restore from %d", now.Generation, before.Generation)
			}
			d.checkDatabase(now.tenant)
			if now.Maintenance {
				inMaintenance++
			}
		}
		d.must("repair")
		if s := d.show("restored.faults.test"); s.Maintenance {
			violation(t, "repair left the tenant in maintenance after a killed restore")
		}
		d.checkInvariants("Restored", "Neighbour")
	}
	t.Logf("restore: %d kills landed of %d points over %s (%d left the tenant in maintenance for repair); totals: kills %d, invariant violations %d",
		landed, len(killPoints), took.Round(time.Millisecond), inMaintenance, kills.Load(), violations.Load())
}

// Restores of one tenant run at once are serialized by its lock: each
// either restores or is refused as locked, and the tenant ends complete.
func TestConcurrentRestores(t *testing.T) {
	t.Parallel()
	d := newDataDir(t, 20_000)
	d.must("create", "Twice", "twice.faults.test", "--migrate")
	var b struct{ ID string }
	if err := json.Unmarshal([]byte(d.must("backup", "twice.faults.test", "-o", "json")), &b); err != nil {
		t.Fatal(err)
	}
	start := d.show("twice.faults.test").Generation
	var wg sync.WaitGroup
	outs := make([]string, 3)
	codes := make([]int, 3)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], codes[i] = d.run("restore", "twice.faults.test", b.ID, "--force")
		}()
	}
	wg.Wait()
	concurrentRuns.Add(int64(len(outs)))
	ok := 0
	for i, code := range codes {
		switch {
		case code == 0:
			ok++
		case !strings.Contains(outs[i], "lock"):
			violation(t, "a concurrent restore failed otherwise than on the lock: %s", outs[i])
		}
	}
	end := d.show("twice.faults.test")
	if ok == 0 || end.Generation != start+int64(ok) {
		violation(t, "%d restores succeeded, generation %d → %d", ok, start, end.Generation)
	}
	d.checkInvariants("Twice")
}
