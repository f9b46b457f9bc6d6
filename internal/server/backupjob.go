package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/gotenancy/tenancy/backups"
)

// DefaultBackupSchedule is when scheduled backups run: daily at 02:00 UTC.
const DefaultBackupSchedule = "0 2 * * *"

// BackupSchedule configures the scheduled backups that serve runs as a
// River periodic job: every tenant, then a prune by retention.
type BackupSchedule struct {
	// Cron is a standard five-field cron expression, in UTC.
	Cron string
	// Concurrency is how many tenants are backed up at once; default 1.
	Concurrency int
	// Retention prunes older backups after each run; 0 keeps them all.
	Retention time.Duration
	// Options are the backups' options (destination, compression).
	Options backups.Options
	// RunOnStart also runs one when a node becomes the jobs' leader (at
	// most once an hour, like every run).
	RunOnStart bool
}

// ParseBackupCron parses a cron expression of the backup schedule.
func ParseBackupCron(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("backup schedule %q is not a cron expression (minute hour day month weekday): %w", expr, err)
	}
	return s, nil
}

// scheduledBackupArgs is the job of one scheduled backup run.
type scheduledBackupArgs struct{}

// scheduledBackupKind is the job kind of the scheduled backups.
const scheduledBackupKind = "tenancy.backup_scheduled"

func (scheduledBackupArgs) Kind() string { return scheduledBackupKind }

// scheduledBackupWorker backs up every tenant and prunes.
type scheduledBackupWorker struct {
	river.WorkerDefaults[scheduledBackupArgs]
	svc   *backups.Service
	sched BackupSchedule
	log   *slog.Logger
}

func (w *scheduledBackupWorker) Timeout(*river.Job[scheduledBackupArgs]) time.Duration {
	return 23 * time.Hour
}

func (w *scheduledBackupWorker) Work(ctx context.Context, job *river.Job[scheduledBackupArgs]) error {
	results, err := w.svc.BackupAll(ctx, max(w.sched.Concurrency, 1), w.sched.Options, nil)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
			w.log.WarnContext(ctx, "scheduled backup failed", "tenant", r.TenantUUID, "err", r.Error)
		}
	}
	w.log.InfoContext(ctx, "scheduled backups done", "tenants", len(results), "failed", failed)
	if w.sched.Retention > 0 {
		pruned, err := w.svc.Prune(ctx, w.sched.Retention)
		if err != nil {
			return fmt.Errorf("prune backups: %w", err)
		}
		w.log.InfoContext(ctx, "backups pruned", "count", len(pruned))
	}
	// A failed tenant is reported, not retried: the next run backs it up.
	return nil
}

// periodicBackup is the River periodic job of a schedule: River runs it
// on the elected leader only, and the uniqueness by period keeps a new
// leader from running the same slot again, so on several nodes sharing
// the jobs database a scheduled backup runs once.
func periodicBackup(sched cron.Schedule, runOnStart bool) *river.PeriodicJob {
	return river.NewPeriodicJob(sched, func() (river.JobArgs, *river.InsertOpts) {
		return scheduledBackupArgs{}, &river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
	}, &river.PeriodicJobOpts{ID: scheduledBackupKind, RunOnStart: runOnStart})
}
