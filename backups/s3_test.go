package backups_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/backups"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// TestS3 backs a tenant up to a real S3 server (versitygw) and restores it
// by the catalog's id. The catalog keeps the destination without its
// credentials, so a restore takes them from the environment, as the AWS
// SDK does.
func TestS3(t *testing.T) {
	raw := testenv.S3URL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := u.User.Password()
	t.Setenv("AWS_ACCESS_KEY_ID", u.User.Username())
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	u.User = nil

	ctx := context.Background()
	f := newFixture(t)
	tn := f.tenant(t, "s3.test")
	f.exec(t, tn, `INSERT INTO notes (body) VALUES ('to s3')`)
	f.writeFile(t, tn, "a/b.txt", "file in s3")
	b, err := f.svc.Backup(ctx, tn, backups.Options{Destination: u.String(), Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, tn, `DELETE FROM notes`)
	if _, err := f.svc.Restore(ctx, tn, b.ID, backups.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := f.notes(t, tn.UUID); n != 1 {
		t.Errorf("%d notes after restoring from S3, want 1", n)
	}
	f.clock.Advance(2 * time.Hour)
	pruned, err := f.svc.Prune(ctx, time.Hour) // deletes the archive in the bucket
	if err != nil || len(pruned) != 1 {
		t.Fatalf("prune: %v, %v", pruned, err)
	}
}
