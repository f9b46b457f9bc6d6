package monitor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gotenancy/tenancy"
)

// directoryRetry is the least time between two reads of the tenant
// directory.
const directoryRetry = 10 * time.Second

// directoryTimeout bounds one read of the tenant directory.
const directoryTimeout = 30 * time.Second

// directoryFirstWait bounds the wait for the directory's very first read;
// the read goes on in the background past it.
const directoryFirstWait = 5 * time.Second

// tenantInfo is what the monitoring shows of a tenant besides its figures.
type tenantInfo struct {
	uuid, name  string
	status      tenancy.Status
	maintenance bool
}

// directory maps tenant ids (the key of the request metrics) to their uuid,
// name and status. It is read from the catalog in one query (every tenant)
// at most every directoryRetry: never once per tenant or per sample.
type directory struct {
	mu          sync.Mutex
	byID        map[int64]tenantInfo // nil until the first read
	maintenance int                  // tenants in maintenance mode
	loadedAt    time.Time            // when the last read succeeded
	triedAt     time.Time            // when the last read started
	loading     bool
	attempted   bool // a read was started once
}

// tenantInfos returns what the directory knows of ids. It starts a read of
// the catalog when the directory is older than DirectoryInterval or misses
// one of ids (at most every directoryRetry). Reads run in the background,
// under a context that Close cancels; only for the very first one, when
// wait is set, tenantInfos waits, at most directoryFirstWait (less if ctx
// ends or the monitor stops). A failed first read is retried in the
// background like any other: no later call waits.
func (m *Monitor) tenantInfos(ctx context.Context, ids []int64, wait bool) map[int64]tenantInfo {
	d := &m.dir
	d.mu.Lock()
	missing := false
	for _, id := range ids {
		if _, ok := d.byID[id]; !ok {
			missing = true
			break
		}
	}
	now := m.cfg.Now()
	due := (missing || d.byID == nil || now.Sub(d.loadedAt) >= m.cfg.DirectoryInterval) &&
		!d.loading && (d.triedAt.IsZero() || now.Sub(d.triedAt) >= m.dirRetry)
	if due {
		d.loading, d.triedAt = true, now
	}
	wait = wait && due && !d.attempted // only for the very first read
	if due {
		d.attempted = true
	}
	d.mu.Unlock()

	if due {
		var done chan struct{}
		if wait {
			done = make(chan struct{})
		}
		started := m.goBackground(func(ctx context.Context) {
			m.loadDirectory(ctx)
			if done != nil {
				close(done)
			}
		})
		switch {
		case !started:
			d.mu.Lock()
			d.loading = false
			d.mu.Unlock()
		case wait:
			t := time.NewTimer(m.dirFirstWait)
			select {
			case <-done:
			case <-t.C:
			case <-ctx.Done():
			case <-m.stopping:
			}
			t.Stop()
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[int64]tenantInfo, len(ids))
	for _, id := range ids {
		if info, ok := d.byID[id]; ok {
			out[id] = info
		}
	}
	return out
}

// loadDirectory reads every tenant from the catalog into the directory.
func (m *Monitor) loadDirectory(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, directoryTimeout)
	defer cancel()
	ts, err := m.cfg.Manager.AllTenants(ctx)
	d := &m.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loading = false
	if err != nil {
		if !errors.Is(err, context.Canceled) && m.bgCtx.Err() == nil {
			m.log.Warn("monitor: reading the tenant directory", "err", err)
		}
		return
	}
	byID := make(map[int64]tenantInfo, len(ts))
	maint := 0
	for _, t := range ts {
		byID[t.ID] = tenantInfo{uuid: t.UUID, name: t.Name, status: t.Status, maintenance: t.Maintenance}
		if t.Maintenance {
			maint++
		}
	}
	d.byID, d.maintenance, d.loadedAt = byID, maint, m.cfg.Now()
}

// maintenanceCount is the number of tenants in maintenance mode at the
// directory's last read; -1 before a read succeeded.
func (m *Monitor) maintenanceCount() int {
	m.dir.mu.Lock()
	defer m.dir.mu.Unlock()
	if m.dir.byID == nil {
		return -1
	}
	return m.dir.maintenance
}

// resetDirectory makes the directory due: the next sample reads it again,
// in the background. Until that read succeeds the last one's tenants and
// maintenance count stay, rather than showing none.
func (m *Monitor) resetDirectory() {
	d := &m.dir
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loadedAt, d.triedAt = time.Time{}, time.Time{}
}
