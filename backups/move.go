package backups

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/dataport"
	"github.com/gotenancy/tenancy/tenantdb"
)

// MoveReport says how a move went.
type MoveReport struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Database string `json:"database"`
	Tables   int    `json:"tables"`
	Rows     int64  `json:"rows"`
	// Seconds is the whole move; MaintenanceSeconds the time the tenant
	// was in maintenance (the copy and the swap).
	Seconds            float64 `json:"seconds"`
	MaintenanceSeconds float64 `json:"maintenance_seconds"`
}

// Move copies tenant t's database to another shard and switches the
// catalog to the copy, then drops the original. Under the tenant's lock
// and with the tenant in maintenance, it creates a database on the target
// shard, migrates it to t's migration version, copies every table from
// one snapshot of the original (streaming, in one transaction on the
// target), checks it and swaps it in with a generation bump, so every
// node reopens the tenant on its new shard. A failure drops the copy and
// leaves the tenant where it was. The files stay: they are not on a shard.
func (s *Service) Move(ctx context.Context, t *tenancy.Tenant, shard string) (*tenancy.Tenant, *MoveReport, error) {
	started := time.Now()
	sharded, ok := s.ops.Provisioner().(tenantdb.Sharded)
	if !ok || len(sharded.Shards()) < 2 {
		return nil, nil, &ValidationError{Field: "shard", Reason: "this installation has one shard or none: there is nowhere to move to"}
	}
	if !slices.Contains(sharded.Shards(), shard) {
		return nil, nil, &ValidationError{Field: "shard", Reason: fmt.Sprintf("unknown shard %q (configured: %s)", shard, strings.Join(sharded.Shards(), ", "))}
	}
	rep := &MoveReport{To: shard}
	var out *tenancy.Tenant
	err := s.ops.Locked(ctx, t, "move", func(ctx context.Context, t *tenancy.Tenant) error {
		from, err := sharded.ShardOf(ctx, t.DatabaseName)
		if err != nil {
			return err
		}
		if from == shard {
			return &ValidationError{Field: "shard", Reason: fmt.Sprintf("tenant %s is on shard %s already", t.Name, shard)}
		}
		rep.From = from
		version, err := s.ops.MigrationVersion(ctx, t)
		if err != nil {
			return err
		}
		dialect := s.ops.Dialect()
		begun := time.Now()
		out, err = s.ops.ReplaceDatabaseOn(ctx, t, shard, "tenant.move", func(ctx context.Context, name string) error {
			db, err := s.createMigrated(ctx, name, version)
			if err != nil {
				return err
			}
			defer db.Close()
			err = inTx(ctx, db, func(dst *sql.Tx) error {
				return s.readTx(ctx, t, func(ctx context.Context, src *sql.Tx) error {
					tables, err := dataport.Tables(ctx, src, dialect)
					if err != nil {
						return err
					}
					for _, table := range tables {
						n, err := dataport.Copy(ctx, src, dst, dialect, table, s.omit())
						if err != nil {
							return err
						}
						rep.Rows += n
						if s.ops.TenantColumn() == "" {
							if err := dataport.ResetSequences(ctx, dst, dialect, table); err != nil {
								return err
							}
						}
					}
					rep.Tables = len(tables)
					return nil
				})
			})
			if err != nil {
				return err
			}
			return s.ops.CheckNew(ctx, name, version)
		})
		rep.MaintenanceSeconds = time.Since(begun).Seconds()
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	rep.Database, rep.Seconds = out.DatabaseName, time.Since(started).Seconds()
	return out, rep, nil
}
