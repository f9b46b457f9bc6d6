package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a Store.
type Config struct {
	// Path is the catalog file; required. Its directory must exist.
	Path string
	// BusyTimeout is how long a writer waits for a lock; default 10s.
	BusyTimeout time.Duration
}

// Store is the SQLite implementation of model.Store.
type Store struct {
	db   *sql.DB
	path string
}

var _ model.Store = (*Store)(nil)

// Open opens (creating if needed) the catalog at cfg.Path and brings its
// schema up to date.
func Open(ctx context.Context, cfg *Config) (*Store, error) {
	if cfg == nil || cfg.Path == "" {
		return nil, errors.New("sqlitestore: Config.Path is required")
	}
	busy := cfg.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	if busy < 0 {
		return nil, fmt.Errorf("sqlitestore: negative BusyTimeout %s", busy)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: cfg.Path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := migrateLocked(ctx, db, cfg.Path+".lock"); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: catalog schema at %s: %w", cfg.Path, err)
	}
	return &Store{db: db, path: cfg.Path}, nil
}

// migrateLocked applies the migrations while holding an exclusive lock on
// the file lockPath, so that processes opening a new catalog together take
// turns: the first migrates, the others find the schema current.
func migrateLocked(ctx context.Context, db *sql.DB, lockPath string) error {
	unlock, err := lockFile(lockPath)
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer unlock()
	return migrateSchema(ctx, db)
}

func migrateSchema(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// DB returns the underlying handle, for change polling and diagnostics.
func (s *Store) DB() *sql.DB { return s.db }

// Path returns the catalog file path.
func (s *Store) Path() string { return s.path }

// Close closes the catalog.
func (s *Store) Close() error { return s.db.Close() }

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func encodeObject(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func decodeObject(s string) (map[string]any, error) {
	m := map[string]any{}
	if s == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// mapConstraint turns unique-constraint violations into the catalog's sentinels.
func mapConstraint(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	if se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return err
	}
	msg := se.Error()
	switch {
	case strings.Contains(msg, "domains.domain"):
		return fmt.Errorf("%w: %v", model.ErrDomainTaken, err)
	case strings.Contains(msg, "tenants.database_name"):
		return fmt.Errorf("%w: %v", model.ErrDatabaseTaken, err)
	}
	return err
}

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// CreateTenant implements model.Store.
func (s *Store) CreateTenant(ctx context.Context, t *model.Tenant) error {
	settings, err := encodeObject(t.Settings)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	data, err := encodeObject(t.Data)
	if err != nil {
		return fmt.Errorf("encode data: %w", err)
	}
	ts := now()
	domains := append([]model.Domain(nil), t.Domains...)
	primary := -1
	for i := range domains {
		if domains[i].IsPrimary && primary < 0 {
			primary = i
		}
		domains[i].IsPrimary = false
	}
	if primary < 0 && len(domains) > 0 {
		primary = 0
	}
	if primary >= 0 {
		domains[primary].IsPrimary = true
	}
	var id int64
	status, lifecycle := store.StatusColumns(t.Status)
	if t.Generation == 0 {
		t.Generation = 1
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO tenants
			(uuid, name, status, lifecycle, status_reason, visitor_message, database_name, shard, notes, settings, data,
			 maintenance, maintenance_message, maintenance_secret, generation, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			t.UUID, t.Name, status, lifecycle, t.StatusReason, t.VisitorMessage, t.DatabaseName, t.Shard, t.Notes,
			settings, data, t.Maintenance, t.MaintenanceMessage, t.MaintenanceSecret, t.Generation, micros(ts), micros(ts)).Scan(&id)
		if err != nil {
			return mapConstraint(err)
		}
		for i := range domains {
			d := &domains[i]
			d.TenantID = id
			d.CreatedAt = ts
			if err := tx.QueryRowContext(ctx, `INSERT INTO domains (tenant_id, domain, is_primary, ssl_enabled, created_at)
				VALUES (?, ?, ?, ?, ?) RETURNING id`, id, d.Domain, d.IsPrimary, d.SSLEnabled, micros(ts)).Scan(&d.ID); err != nil {
				return mapConstraint(err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.ID = id
	t.CreatedAt, t.UpdatedAt = ts, ts
	t.Domains = domains
	if t.Settings == nil {
		t.Settings = map[string]any{}
	}
	if t.Data == nil {
		t.Data = map[string]any{}
	}
	return nil
}

const tenantColumns = `t.id, t.uuid, t.name, t.status, t.lifecycle, t.status_reason, t.visitor_message,
	t.database_name, t.shard, t.notes, t.settings, t.data, t.maintenance, t.maintenance_message,
	t.maintenance_secret, t.generation, t.created_at, t.updated_at, t.last_accessed_at`

type scanner interface{ Scan(dest ...any) error }

// scanTenant reads a row of tenantColumns, then any extra columns into extra.
func scanTenant(row scanner, extra ...any) (*model.Tenant, error) {
	var (
		t                model.Tenant
		status, life     string
		settings, data   string
		created, updated int64
		accessed         sql.NullInt64
	)
	dest := []any{&t.ID, &t.UUID, &t.Name, &status, &life, &t.StatusReason, &t.VisitorMessage, &t.DatabaseName,
		&t.Shard, &t.Notes, &settings, &data, &t.Maintenance, &t.MaintenanceMessage, &t.MaintenanceSecret,
		&t.Generation, &created, &updated, &accessed}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	t.Status = model.Status(status)
	if life != "" {
		t.Status = model.Status(life)
	}
	var err error
	if t.Settings, err = decodeObject(settings); err != nil {
		return nil, fmt.Errorf("tenant %s settings: %w", t.UUID, err)
	}
	if t.Data, err = decodeObject(data); err != nil {
		return nil, fmt.Errorf("tenant %s data: %w", t.UUID, err)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	if accessed.Valid {
		at := fromMicros(accessed.Int64)
		t.LastAccessedAt = &at
	}
	t.Domains = []model.Domain{}
	return &t, nil
}

func (s *Store) oneTenant(ctx context.Context, where string, arg any) (*model.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants t `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := s.loadDomains(ctx, []*model.Tenant{t}); err != nil {
		return nil, err
	}
	return t, nil
}

// TenantByUUID implements model.Store.
func (s *Store) TenantByUUID(ctx context.Context, uuid string) (*model.Tenant, error) {
	return s.oneTenant(ctx, `WHERE t.uuid = ?`, uuid)
}

// TenantByDomain implements model.Store.
func (s *Store) TenantByDomain(ctx context.Context, domain string) (*model.Tenant, error) {
	return s.oneTenant(ctx, `WHERE t.id = (SELECT tenant_id FROM domains WHERE domain = ?)`, domain)
}

// loadDomains fills the Domains of each tenant with one query.
func (s *Store) loadDomains(ctx context.Context, ts []*model.Tenant) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[int64]*model.Tenant, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
	}
	query := `SELECT id, tenant_id, domain, is_primary, ssl_enabled, created_at FROM domains`
	var args []any
	if len(ts) <= 500 {
		query += ` WHERE tenant_id IN (?` + strings.Repeat(",?", len(ts)-1) + `)`
		for _, t := range ts {
			args = append(args, t.ID)
		}
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY tenant_id, is_primary DESC, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d model.Domain
		var created int64
		if err := rows.Scan(&d.ID, &d.TenantID, &d.Domain, &d.IsPrimary, &d.SSLEnabled, &created); err != nil {
			return err
		}
		d.CreatedAt = fromMicros(created)
		if t, ok := byID[d.TenantID]; ok {
			t.Domains = append(t.Domains, d)
		}
	}
	return rows.Err()
}

var sortColumns = map[string]string{
	"name":             "t.name COLLATE NOCASE",
	"created_at":       "t.created_at",
	"updated_at":       "t.updated_at",
	"last_accessed_at": "t.last_accessed_at",
	"status":           "t.status",
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ListTenants implements model.Store.
func (s *Store) ListTenants(ctx context.Context, opts model.ListOptions) ([]*model.Tenant, int, error) {
	var where []string
	var args []any
	if opts.Status != "" {
		cond, cargs := store.StatusFilter([]model.Status{opts.Status})
		where = append(where, cond)
		args = append(args, cargs...)
	}
	if opts.Search != "" {
		// search_text holds the lower-case name, database name and domains
		// separated by char(31) (kept by triggers), so a search matches
		// within one field, never across two.
		pattern := "%" + escapeLike(strings.ToLower(opts.Search)) + "%"
		where = append(where, `t.search_text LIKE ? ESCAPE '\'`)
		args = append(args, pattern)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	col, ok := sortColumns[opts.Sort]
	if !ok {
		col = sortColumns["created_at"]
	}
	dir := "ASC"
	if opts.Desc {
		dir = "DESC"
	}
	perPage := opts.PerPage
	if perPage <= 0 {
		perPage = model.DefaultPerPage
	}
	page := max(opts.Page, 1)
	// A search scans every row anyway: count in the same scan. Without
	// one, the page comes from an index and a separate count is cheaper.
	total, counted := 0, opts.Search != ""
	window := ""
	if counted {
		window = `, count(*) OVER ()`
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+tenantColumns+window+` FROM tenants t`+cond+
		` ORDER BY `+col+` `+dir+`, t.id `+dir+` LIMIT ? OFFSET ?`,
		append(args, perPage, (page-1)*perPage)...)
	if err != nil {
		return nil, 0, err
	}
	ts := []*model.Tenant{}
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			var extra []any
			if counted {
				extra = []any{&total}
			}
			t, err := scanTenant(rows, extra...)
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, 0, err
	}
	if !counted || len(ts) == 0 {
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tenants t`+cond, args...).Scan(&total); err != nil {
			return nil, 0, err
		}
	}
	return ts, total, s.loadDomains(ctx, ts)
}

func collectTenants(rows *sql.Rows) ([]*model.Tenant, error) {
	defer rows.Close()
	ts := []*model.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// AllTenants implements model.Store.
func (s *Store) AllTenants(ctx context.Context, statuses ...model.Status) ([]*model.Tenant, error) {
	query := `SELECT ` + tenantColumns + ` FROM tenants t`
	var args []any
	if len(statuses) > 0 {
		cond, cargs := store.StatusFilter(statuses)
		query += ` WHERE ` + cond
		args = cargs
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY t.id`, args...)
	if err != nil {
		return nil, err
	}
	ts, err := collectTenants(rows)
	if err != nil {
		return nil, err
	}
	return ts, s.loadDomains(ctx, ts)
}

// UpdateTenant implements model.Store.
func (s *Store) UpdateTenant(ctx context.Context, t *model.Tenant) error {
	settings, err := encodeObject(t.Settings)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	data, err := encodeObject(t.Data)
	if err != nil {
		return fmt.Errorf("encode data: %w", err)
	}
	ts := now()
	// A lifecycle state is not the caller's to set: the status column
	// keeps its value then.
	res, err := s.db.ExecContext(ctx, `UPDATE tenants SET name = ?,
		status = CASE WHEN ? = '' THEN status ELSE ? END, status_reason = ?, visitor_message = ?, notes = ?,
		settings = ?, data = ?, maintenance = ?, maintenance_message = ?, maintenance_secret = ?, updated_at = ?
		WHERE id = ?`,
		t.Name, store.SettableOrEmpty(t.Status), store.SettableOrEmpty(t.Status), t.StatusReason, t.VisitorMessage, t.Notes, settings, data,
		t.Maintenance, t.MaintenanceMessage, t.MaintenanceSecret, micros(ts), t.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return model.ErrNotFound
	}
	t.UpdatedAt = ts
	return nil
}

// CommitTenant implements model.Store.
func (s *Store) CommitTenant(ctx context.Context, id int64, status model.Status) error {
	if !status.Valid() {
		return fmt.Errorf("sqlitestore: commit tenant %d: %q is not a settable status", id, status)
	}
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = '', status = ?, updated_at = ?
		WHERE id = ? AND lifecycle = 'provisioning'`, string(status), micros(now()), id)
}

// MarkDeleting implements model.Store.
func (s *Store) MarkDeleting(ctx context.Context, id int64) error {
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = 'deleting', updated_at = ?
		WHERE id = ? AND lifecycle IN ('', 'deleting')`, micros(now()), id)
}

// transition runs a conditional update of one tenant's lifecycle; when it
// changes nothing, the tenant is missing (ErrNotFound) or in a state the
// update does not start from (*model.StateError).
func (s *Store) transition(ctx context.Context, id int64, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var uuid, status, life string
	err = s.db.QueryRowContext(ctx, `SELECT uuid, status, lifecycle FROM tenants WHERE id = ?`, id).Scan(&uuid, &status, &life)
	if errors.Is(err, sql.ErrNoRows) {
		return model.ErrNotFound
	}
	if err != nil {
		return err
	}
	if life != "" {
		status = life
	}
	return &model.StateError{Tenant: uuid, Status: model.Status(status)}
}

// DeleteTenant implements model.Store.
func (s *Store) DeleteTenant(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return model.ErrNotFound
	}
	return nil
}

func tenantExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM tenants WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return model.ErrNotFound
	}
	return err
}

// AddDomain implements model.Store.
func (s *Store) AddDomain(ctx context.Context, d *model.Domain) error {
	ts := now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tenantExists(ctx, tx, d.TenantID); err != nil {
			return err
		}
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM domains WHERE tenant_id = ?`, d.TenantID).Scan(&others); err != nil {
			return err
		}
		primary := d.IsPrimary || others == 0
		if primary {
			if _, err := tx.ExecContext(ctx, `UPDATE domains SET is_primary = 0 WHERE tenant_id = ?`, d.TenantID); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO domains (tenant_id, domain, is_primary, ssl_enabled, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, d.TenantID, d.Domain, primary, d.SSLEnabled, micros(ts)).Scan(&d.ID); err != nil {
			return mapConstraint(err)
		}
		d.IsPrimary, d.CreatedAt = primary, ts
		_, err := tx.ExecContext(ctx, `UPDATE tenants SET updated_at = ? WHERE id = ?`, micros(ts), d.TenantID)
		return err
	})
}

// RemoveDomain implements model.Store.
func (s *Store) RemoveDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// The transaction holds the write lock from its start
		// (_txlock=immediate), so the count and the delete see the same
		// domains.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM domains WHERE tenant_id = ?`, tenantID).Scan(&n); err != nil {
			return err
		}
		var mine int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain).Scan(&mine); err != nil {
			return err
		}
		if mine == 0 {
			return model.ErrDomainNotFound
		}
		if n <= 1 {
			return model.ErrLastDomain
		}
		var wasPrimary bool
		err := tx.QueryRowContext(ctx, `DELETE FROM domains WHERE tenant_id = ? AND domain = ? RETURNING is_primary`,
			tenantID, domain).Scan(&wasPrimary)
		if errors.Is(err, sql.ErrNoRows) {
			return model.ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		if wasPrimary {
			if _, err := tx.ExecContext(ctx, `UPDATE domains SET is_primary = 1
				WHERE id = (SELECT id FROM domains WHERE tenant_id = ? ORDER BY id LIMIT 1)`, tenantID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE tenants SET updated_at = ? WHERE id = ?`, micros(now()), tenantID)
		return err
	})
}

// SetPrimaryDomain implements model.Store.
func (s *Store) SetPrimaryDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return model.ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE domains SET is_primary = (id = ?) WHERE tenant_id = ?`, id, tenantID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE tenants SET updated_at = ? WHERE id = ?`, micros(now()), tenantID)
		return err
	})
}

// RecordOperation implements model.Store.
func (s *Store) RecordOperation(ctx context.Context, rec model.OperationRecord) error {
	finished := rec.FinishedAt
	if finished.IsZero() {
		finished = now()
	}
	_, err := s.db.ExecContext(ctx, upsertOperation,
		rec.TenantID, rec.Operation, rec.State, rec.RunID, rec.Version, rec.Error, int64(rec.Duration), micros(finished))
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return model.ErrNotFound
	}
	return err
}

const upsertOperation = `INSERT INTO tenant_operations
	(tenant_id, operation, state, run_id, version, error, duration_ns, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (tenant_id, operation) DO UPDATE SET state = excluded.state, run_id = excluded.run_id,
	version = CASE WHEN excluded.state IN ('pending', 'running') THEN tenant_operations.version ELSE excluded.version END,
	error = excluded.error, duration_ns = excluded.duration_ns, finished_at = excluded.finished_at`

// RecordOperations implements model.Store.
func (s *Store) RecordOperations(ctx context.Context, recs []model.OperationRecord) error {
	if len(recs) == 0 {
		return nil
	}
	finished := micros(now())
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Records of tenants deleted meanwhile are left out rather than
		// failing the batch on the foreign key.
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO tenant_operations
			(tenant_id, operation, state, run_id, version, error, duration_ns, finished_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ?)
			ON CONFLICT (tenant_id, operation) DO UPDATE SET state = excluded.state, run_id = excluded.run_id,
			version = CASE WHEN excluded.state IN ('pending', 'running') THEN tenant_operations.version ELSE excluded.version END,
			error = excluded.error, duration_ns = excluded.duration_ns, finished_at = excluded.finished_at`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range recs {
			at := finished
			if !r.FinishedAt.IsZero() {
				at = micros(r.FinishedAt)
			}
			if _, err := stmt.ExecContext(ctx, r.TenantID, r.Operation, r.State, r.RunID, r.Version, r.Error, int64(r.Duration), at, r.TenantID); err != nil {
				return err
			}
		}
		return nil
	})
}

// TryLockTenant implements model.Store with a lease row: it is taken
// when there is none, when it has expired, or when holder already holds it.
func (s *Store) TryLockTenant(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error {
	ts := now()
	var got string
	err := s.db.QueryRowContext(ctx, `INSERT INTO tenant_locks (tenant_uuid, holder, acquired_at, expires_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_uuid) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at,
			expires_at = excluded.expires_at
		WHERE tenant_locks.expires_at <= ? OR tenant_locks.holder = excluded.holder
		RETURNING holder`, tenantUUID, holder, micros(ts), micros(ts.Add(ttl)), micros(ts)).Scan(&got)
	if err == nil && got == holder {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var cur string
	err = s.db.QueryRowContext(ctx, `SELECT holder FROM tenant_locks WHERE tenant_uuid = ?`, tenantUUID).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		// Released in between: try once more.
		return s.TryLockTenant(ctx, tenantUUID, holder, ttl)
	}
	if err != nil {
		return err
	}
	return &model.LockedError{Holder: cur}
}

// RenewTenantLock implements model.Store.
func (s *Store) RenewTenantLock(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE tenant_locks SET expires_at = ? WHERE tenant_uuid = ? AND holder = ?`,
		micros(now().Add(ttl)), tenantUUID, holder)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return model.ErrLockLost
	}
	return nil
}

// UnlockTenant implements model.Store.
func (s *Store) UnlockTenant(ctx context.Context, tenantUUID, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM tenant_locks WHERE tenant_uuid = ? AND holder = ?`, tenantUUID, holder)
	return err
}

// Operations implements model.Store.
func (s *Store) Operations(ctx context.Context, operation, state string) ([]model.OperationRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.tenant_id, t.uuid, o.operation, o.state, o.run_id, o.version, o.error,
		o.duration_ns, o.finished_at FROM tenant_operations o JOIN tenants t ON t.id = o.tenant_id
		WHERE o.operation = ? AND (? = '' OR o.state = ?) ORDER BY o.tenant_id`, operation, state, state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recs := []model.OperationRecord{}
	for rows.Next() {
		var r model.OperationRecord
		var dur, finished int64
		if err := rows.Scan(&r.TenantID, &r.TenantUUID, &r.Operation, &r.State, &r.RunID, &r.Version, &r.Error, &dur, &finished); err != nil {
			return nil, err
		}
		r.Duration, r.FinishedAt = time.Duration(dur), fromMicros(finished)
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// TouchTenants implements model.Store.
func (s *Store) TouchTenants(ctx context.Context, accessed map[int64]time.Time) error {
	if len(accessed) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE tenants SET last_accessed_at = max(coalesce(last_accessed_at, 0), ?) WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, at := range accessed {
			if _, err := stmt.ExecContext(ctx, micros(at), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountByStatus implements model.Store.
func (s *Store) CountByStatus(ctx context.Context) (map[model.Status]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT CASE WHEN lifecycle <> '' THEN lifecycle ELSE status END, count(*)
		FROM tenants GROUP BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[model.Status]int{}
	for _, st := range model.Statuses {
		out[st] = 0
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[model.Status(st)] = n
	}
	return out, rows.Err()
}

func joinScopes(scopes []model.Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func splitScopes(s string) []model.Scope {
	var out []model.Scope
	for part := range strings.SplitSeq(s, ",") {
		if part != "" {
			out = append(out, model.Scope(part))
		}
	}
	return out
}

// CreateAPIKey implements model.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *model.APIKey) error {
	ts := now()
	err := s.db.QueryRowContext(ctx, `INSERT INTO api_keys (name, prefix, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		k.Name, k.Prefix, k.Hash, joinScopes(k.Scopes), micros(ts)).Scan(&k.ID)
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		if strings.Contains(se.Error(), "api_keys.name") {
			return &model.ValidationError{Field: "name", Reason: fmt.Sprintf("an API key named %q exists already", k.Name)}
		}
		return fmt.Errorf("api key prefix collision, try again: %w", err)
	}
	if err != nil {
		return err
	}
	k.CreatedAt = ts
	return nil
}

const apiKeyColumns = `id, name, prefix, hash, scopes, created_at, last_used_at, revoked_at`

func scanAPIKey(row scanner) (*model.APIKey, error) {
	var (
		k             model.APIKey
		scopes        string
		created       int64
		used, revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &scopes, &created, &used, &revoked); err != nil {
		return nil, err
	}
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = fromMicros(created)
	if used.Valid {
		t := fromMicros(used.Int64)
		k.LastUsedAt = &t
	}
	if revoked.Valid {
		t := fromMicros(revoked.Int64)
		k.RevokedAt = &t
	}
	return &k, nil
}

// APIKeyByPrefix implements model.Store.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*model.APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return k, err
}

// ListAPIKeys implements model.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]model.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := []model.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, *k)
	}
	return keys, rows.Err()
}

// RevokeAPIKey implements model.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, nameOrPrefix string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE (name = ? OR prefix = ?) AND revoked_at IS NULL`,
		micros(now()), nameOrPrefix, nameOrPrefix)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return model.ErrNotFound
	}
	return nil
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// RecordAudit implements model.Store.
func (s *Store) RecordAudit(ctx context.Context, e *model.AuditEntry) error {
	ts := now()
	err := s.db.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor, action, tenant_uuid, before, after, client_ip, request_id, outcome, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		micros(ts), e.Actor, e.Action, e.TenantUUID, nullJSON(e.Before), nullJSON(e.After), e.ClientIP, e.RequestID, e.Outcome, e.Error).Scan(&e.ID)
	if err != nil {
		return err
	}
	e.At = ts
	return nil
}

// ListAudit implements model.Store.
func (s *Store) ListAudit(ctx context.Context, f model.AuditFilter) ([]model.AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{{"tenant_uuid", f.TenantUUID}, {"actor", f.Actor}, {"action", f.Action}} {
		if c.val != "" {
			where = append(where, c.col+` = ?`)
			args = append(args, c.val)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, micros(f.Since))
	}
	query := `SELECT id, at, actor, action, tenant_uuid, before, after, client_ip, request_id, outcome, error FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.AuditEntry{}
	for rows.Next() {
		var (
			e             model.AuditEntry
			at            int64
			before, after sql.NullString
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.TenantUUID, &before, &after, &e.ClientIP, &e.RequestID, &e.Outcome, &e.Error); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// UpdateDomain implements model.Store.
func (s *Store) UpdateDomain(ctx context.Context, tenantID, domainID int64, domain string, sslEnabled bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE domains SET domain = ?, ssl_enabled = ? WHERE id = ? AND tenant_id = ?`,
			domain, sslEnabled, domainID, tenantID)
		if err != nil {
			return mapConstraint(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return model.ErrDomainNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE tenants SET updated_at = ? WHERE id = ?`, micros(now()), tenantID)
		return err
	})
}
