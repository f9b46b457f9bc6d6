package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/backup/destination"
	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/internal/testwait"
)

// TestScheduledBackups: with a schedule, serve's jobs back up every tenant
// (here on start, as a newly elected leader does with RunOnStart).
func TestScheduledBackups(t *testing.T) {
	t.Parallel()
	var svc *backups.Service
	f := newFixture(t, 3, func(c *Config) {
		var err error
		svc, err = backups.New(backups.Config{Manager: c.Manager, Destination: "file://" + filepath.Join(c.DataDir, "backups"), Engine: "sqlite", Mode: "sqlite",
			Open: func(ctx context.Context, url string) (backups.Destination, error) { return destination.Open(ctx, url) }})
		if err != nil {
			t.Fatal(err)
		}
		c.Backups = svc
		c.BackupSchedule = &BackupSchedule{Cron: "0 2 * * *", RunOnStart: true}
	})
	testwait.Eventually(t, "every tenant backed up", func() bool {
		for _, tn := range f.tenants {
			list, err := svc.List(context.Background(), tn)
			if err != nil || len(list) == 0 || list[0].State != "complete" {
				return false
			}
		}
		return true
	})
}

func TestBackupScheduleRefusesABadCron(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"", "every day", "61 2 * * *", "0 2 * *"} {
		if _, err := ParseBackupCron(expr); err == nil || !strings.Contains(err.Error(), "cron") {
			t.Errorf("%q: %v", expr, err)
		}
	}
}
