package sqlstore

import (
	"context"
	"time"

	"github.com/gotenancy/tenancy/model"
)

const operationColumns = `tenant_id, operation, state, run_id, version, error, duration_ns, finished_at`

// onOperationConflict replaces the previous record of the same operation;
// a pending or running record keeps the version of the last outcome. The
// version is assigned before state (MySQL assigns left to right).
func (s *Store) onOperationConflict() string {
	return s.d.upsert(`tenant_id, operation`, func(proposed func(string) string) string {
		return `version = CASE WHEN ` + proposed("state") + ` IN ('pending', 'running') THEN tenant_operations.version ELSE ` + proposed("version") + ` END,
			state = ` + proposed("state") + `, run_id = ` + proposed("run_id") + `, error = ` + proposed("error") + `,
			duration_ns = ` + proposed("duration_ns") + `, finished_at = ` + proposed("finished_at")
	})
}

// RecordOperation implements model.Store.
func (s *Store) RecordOperation(ctx context.Context, rec model.OperationRecord) error {
	finished := rec.FinishedAt
	if finished.IsZero() {
		finished = s.now()
	}
	_, err := s.run().exec(ctx, `INSERT INTO tenant_operations (`+operationColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`+s.onOperationConflict(),
		rec.TenantID, rec.Operation, rec.State, rec.RunID, rec.Version, rec.Error, int64(rec.Duration), s.d.time(finished))
	if err != nil && s.d.ForeignKeyViolation(err) {
		return model.ErrNotFound
	}
	return err
}

// RecordOperations implements model.Store.
func (s *Store) RecordOperations(ctx context.Context, recs []model.OperationRecord) error {
	if len(recs) == 0 {
		return nil
	}
	at := s.now()
	return s.inTx(ctx, func(tx runner) error {
		// Records of tenants deleted meanwhile are left out rather than
		// failing the batch on the foreign key.
		stmt, err := tx.prepare(ctx, `INSERT INTO tenant_operations (`+operationColumns+`)
			SELECT id, ?, ?, ?, ?, ?, ?, ? FROM tenants WHERE id = ?`+s.onOperationConflict())
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range recs {
			finished := at
			if !r.FinishedAt.IsZero() {
				finished = r.FinishedAt
			}
			if _, err := stmt.ExecContext(ctx, r.Operation, r.State, r.RunID, r.Version, r.Error, int64(r.Duration),
				s.d.time(finished), r.TenantID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Operations implements model.Store.
func (s *Store) Operations(ctx context.Context, operation, state string) ([]model.OperationRecord, error) {
	query := `SELECT o.tenant_id, t.uuid, o.operation, o.state, o.run_id, o.version, o.error, o.duration_ns, o.finished_at
		FROM tenant_operations o JOIN tenants t ON t.id = o.tenant_id WHERE o.operation = ?`
	args := []any{operation}
	if state != "" {
		query += ` AND o.state = ?`
		args = append(args, state)
	}
	rows, err := s.run().query(ctx, query+` ORDER BY o.tenant_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs := []model.OperationRecord{}
	for rows.Next() {
		var r model.OperationRecord
		var dur int64
		if err := rows.Scan(&r.TenantID, &r.TenantUUID, &r.Operation, &r.State, &r.RunID, &r.Version, &r.Error, &dur,
			timeColumn{&r.FinishedAt}); err != nil {
			return nil, err
		}
		r.Duration = time.Duration(dur)
		recs = append(recs, r)
	}
	return recs, rows.Err()
}
