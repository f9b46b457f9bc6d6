package monitor

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"time"
)

// diskMemo keeps the last walk of the data directory.
type diskMemo struct {
	mu         sync.Mutex
	used       int64
	files      int
	measuredAt time.Time // when the last walk ended (zero: none yet)
	startedAt  time.Time // when the last walk started
	walking    bool
	failing    bool // the last walk failed (logged once per failure streak)
}

// diskFigures returns the data directory's figures: the free space now and
// the used space of the last walk (-1 when unknown). It starts a walk in
// the background when the last one is DiskWalkInterval old; it never waits
// for one.
func (m *Monitor) diskFigures() DiskFigures {
	f := DiskFigures{DataDir: m.cfg.DataDir, UsedBytes: -1, Files: -1, FreeBytes: -1}
	if m.cfg.DataDir == "" {
		return f
	}
	if free, err := FreeBytes(m.cfg.DataDir); err == nil {
		f.FreeBytes = free
	}
	d := &m.disk
	d.mu.Lock()
	if !d.measuredAt.IsZero() {
		f.UsedBytes, f.Files, f.MeasuredAt = d.used, d.files, d.measuredAt
	}
	due := !d.walking && (d.startedAt.IsZero() || m.cfg.Now().Sub(d.startedAt) >= m.cfg.DiskWalkInterval)
	if due {
		d.walking, d.startedAt = true, m.cfg.Now()
	}
	d.mu.Unlock()
	if due && !m.goBackground(m.walkDataDir) {
		d.mu.Lock()
		d.walking = false
		d.mu.Unlock()
	}
	return f
}

// walkDataDir measures the data directory into the memo.
func (m *Monitor) walkDataDir(ctx context.Context) {
	u, err := WalkDir(ctx, m.cfg.DataDir)
	d := &m.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	d.walking = false
	if err != nil {
		if !d.failing && !errors.Is(err, context.Canceled) {
			m.log.Warn("monitor: measuring the data directory", "dir", m.cfg.DataDir, "err", err)
		}
		d.failing = true
		return
	}
	d.failing = false
	d.used, d.files, d.measuredAt = u.Bytes, u.Files, m.cfg.Now().UTC()
}

// resetDisk forgets the last walk; the next sample starts a new one.
func (m *Monitor) resetDisk() {
	d := &m.disk
	d.mu.Lock()
	defer d.mu.Unlock()
	d.used, d.files, d.measuredAt, d.startedAt = 0, 0, time.Time{}, time.Time{}
}

// DiskUsage is what a walk of a directory found.
type DiskUsage struct {
	Bytes int64 `json:"bytes"`
	Files int   `json:"files"`
	// Unreadable counts entries that could not be read (and were skipped).
	Unreadable int `json:"unreadable,omitempty"`
}

// WalkDir sums the sizes of the regular files under dir, without following
// symbolic links; entries it cannot read are counted and skipped. It fails
// only when dir itself cannot be read or ctx ends.
func WalkDir(ctx context.Context, dir string) (DiskUsage, error) {
	var u DiskUsage
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err != nil {
			if path == dir {
				return err
			}
			u.Unreadable++
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			u.Unreadable++
			return nil
		}
		u.Bytes += info.Size()
		u.Files++
		return nil
	})
	return u, err
}
