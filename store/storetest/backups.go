package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// testBackups checks the backup catalog and ReplaceDatabase.
func testBackups(t *testing.T, s model.Store) {
	ctx := context.Background()
	ds, ok := s.(model.DataStore)
	if !ok {
		t.Fatalf("%T is not a model.DataStore", s)
	}
	created := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	b := &model.Backup{ID: "01backup", TenantUUID: "0b6d4bd8-0d3c-4a4d-9a43-4f1f7ad3e0a1", Destination: "file:///backups",
		Key: "tenants/x/01backup.tar.zst", Engine: "sqlite", Mode: "sqlite", MigrationVersion: 7, State: model.BackupRunning,
		Compressed: true, CreatedAt: created}
	if err := ds.SaveBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	done := created.Add(time.Minute)
	b.State, b.Size, b.SHA256, b.CompletedAt = model.BackupComplete, 1234, "ab12", &done
	if err := ds.SaveBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	later := &model.Backup{ID: "02backup", TenantUUID: b.TenantUUID, Destination: "file:///backups", Key: "k2", Engine: "sqlite",
		Mode: "sqlite", State: model.BackupFailed, Error: "destination down", CreatedAt: created.Add(time.Hour)}
	other := &model.Backup{ID: "03backup", TenantUUID: "another", Destination: "file:///b", Key: "k3", Engine: "sqlite",
		Mode: "sqlite", State: model.BackupComplete, CreatedAt: created}
	for _, x := range []*model.Backup{later, other} {
		if err := ds.SaveBackup(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ds.BackupByID(ctx, "01backup")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != model.BackupComplete || got.Size != 1234 || got.SHA256 != "ab12" || !got.Compressed || got.Encrypted ||
		got.MigrationVersion != 7 || !got.CreatedAt.Equal(created) || got.CompletedAt == nil || !got.CompletedAt.Equal(done) {
		t.Errorf("BackupByID = %+v", got)
	}
	list, err := ds.Backups(ctx, b.TenantUUID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "02backup" || list[1].ID != "01backup" || list[0].CompletedAt != nil || list[0].Error != "destination down" {
		t.Errorf("Backups = %+v, want 02backup then 01backup", list)
	}
	if all, err := ds.Backups(ctx, ""); err != nil || len(all) != 3 {
		t.Errorf("all backups: %d, %v", len(all), err)
	}
	if err := ds.DeleteBackup(ctx, "01backup"); err != nil {
		t.Fatal(err)
	}
	if err := ds.DeleteBackup(ctx, "01backup"); err != nil {
		t.Errorf("deleting a missing backup: %v", err)
	}
	if _, err := ds.BackupByID(ctx, "01backup"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("deleted backup: %v, want ErrNotFound", err)
	}

	tn := mustCreate(t, s, NewTenant("Replaced", "replaced.test"))
	if err := ds.ReplaceDatabase(ctx, tn.ID, tn.Generation, "replaced_db_2", "b"); err != nil {
		t.Fatal(err)
	}
	after, err := s.TenantByUUID(ctx, tn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if after.DatabaseName != "replaced_db_2" || after.Generation != tn.Generation+1 || after.Shard != "b" {
		t.Errorf("after ReplaceDatabase: %s generation %d shard %q", after.DatabaseName, after.Generation, after.Shard)
	}
	if err := ds.ReplaceDatabase(ctx, tn.ID, tn.Generation, "replaced_3", ""); !errors.Is(err, model.ErrGenerationChanged) {
		t.Errorf("stale generation: %v, want ErrGenerationChanged", err)
	}
	if err := ds.ReplaceDatabase(ctx, tn.ID+1000, 1, "x", ""); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("missing tenant: %v, want ErrNotFound", err)
	}
}
