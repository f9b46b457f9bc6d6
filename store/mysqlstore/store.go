package mysqlstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Connection pool limits.
const (
	maxOpenConns    = 10
	connMaxLifetime = 3 * time.Minute
)

// Config configures a Store.
type Config struct {
	// DSN is a go-sql-driver/mysql data source name that selects the
	// catalog database ("user:pass@tcp(host:3306)/catalog"); required.
	// Open sets parseTime, multiStatements, loc=UTC and clientFoundRows
	// whatever it says.
	DSN string
}

// Store is the MySQL/MariaDB implementation of model.Store.
type Store struct {
	db *sql.DB
	// byDomain and byUUID are the lookups a resolver's misses make,
	// prepared once.
	byDomain, byUUID *sql.Stmt
}

var _ model.Store = (*Store)(nil)

// Open connects to the catalog that cfg.DSN selects and brings its schema up
// to date.
func Open(ctx context.Context, cfg *Config) (*Store, error) {
	if cfg == nil || cfg.DSN == "" {
		return nil, errors.New("mysqlstore: Config.DSN is required")
	}
	mc, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: Config.DSN: %w", err)
	}
	if mc.DBName == "" {
		return nil, errors.New("mysqlstore: Config.DSN must select a database (…/dbname)")
	}
	mc.ParseTime = true
	mc.MultiStatements = true
	mc.Loc = time.UTC
	mc.ClientFoundRows = true
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	where := fmt.Sprintf("database %q on %s", mc.DBName, mc.Addr)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: connect to %s: %w", where, err)
	}
	if err := migrateSchema(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: catalog schema in %s: %w", where, err)
	}
	s := &Store{db: db}
	if s.byDomain, err = db.PrepareContext(ctx, oneTenantQuery(`WHERE t.id = (SELECT tenant_id FROM domains WHERE domain = ?)`)); err == nil {
		s.byUUID, err = db.PrepareContext(ctx, oneTenantQuery(`WHERE t.uuid = ?`))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysqlstore: prepare lookups: %w", err)
	}
	return s, nil
}

// migrateSchema applies the migrations while holding a named lock
// (GET_LOCK) per database, so nodes starting together take turns: the
// first migrates, the others find the schema current. The lock covers all
// of goose's work, its unlocked first look at the version table included
// (in MySQL, creating that table commits before its first row does, so
// goose's own session locker, taken later, leaves a gap).
func migrateSchema(ctx context.Context, db *sql.DB) (err error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectMySQL, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	// When Open fails, it closes the pool, and the session and its lock
	// with it.
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(`+migrationLockName+`, ?)`,
		int(migrationLockWait.Seconds())).Scan(&got); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("take the migration lock: still held by another session after %s", migrationLockWait)
	}
	defer func() {
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `DO RELEASE_LOCK(`+migrationLockName+`)`); uerr != nil {
			err = errors.Join(err, fmt.Errorf("release the migration lock: %w", uerr))
		}
	}()
	_, err = p.Up(ctx)
	return err
}

// migrationLockName names the migration lock after the database (at most
// 64 characters).
const migrationLockName = `LEFT(CONCAT('tenancy_catalog:', DATABASE()), 64)`

// migrationLockWait is how long Open waits for another node's migrations.
const migrationLockWait = 5 * time.Minute

// DB returns the underlying handle.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the store's connections.
func (s *Store) Close() error {
	s.byDomain.Close()
	s.byUUID.Close()
	return s.db.Close()
}

// ts converts t to the catalog's precision (microseconds) in UTC.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func now() time.Time { return ts(time.Now()) }

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
	if m == nil { // JSON null
		m = map[string]any{}
	}
	return m, nil
}

// MySQL error numbers the store tells apart.
const (
	errDupEntry      = 1062
	errNoParentRow   = 1452
	errLockDeadlock  = 1213
	maxDeadlockTries = 3
)

// mysqlError returns err as a server error with the given number.
func mysqlError(err error, number uint16) (*mysql.MySQLError, bool) {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == number {
		return me, true
	}
	return nil, false
}

// duplicateKey returns the name of the unique key a duplicate-entry error
// names: "Duplicate entry 'x' for key 'k'" (MariaDB) or "… for key
// 'table.k'" (MySQL 8).
func duplicateKey(err error) (string, bool) {
	me, ok := mysqlError(err, errDupEntry)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(me.Message, " for key '")
	if i < 0 {
		return "", true
	}
	key := strings.TrimSuffix(me.Message[i+len(" for key '"):], "'")
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	return key, true
}

// mapConstraint turns duplicate-key errors into the catalog's sentinels.
func mapConstraint(err error) error {
	switch key, _ := duplicateKey(err); key {
	case "domains_domain":
		return fmt.Errorf("%w: %v", model.ErrDomainTaken, err)
	case "tenants_database_name":
		return fmt.Errorf("%w: %v", model.ErrDatabaseTaken, err)
	}
	return err
}

// inTx runs fn in a transaction, committing when it returns nil. A
// transaction rolled back as a deadlock victim is run again.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for try := 1; ; try++ {
		err := s.tryTx(ctx, fn)
		if _, deadlock := mysqlError(err, errLockDeadlock); !deadlock || try == maxDeadlockTries || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
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

// primaryFirst returns a copy of domains where exactly one domain (the first
// one marked primary, else the first one) is primary.
func primaryFirst(domains []model.Domain) []model.Domain {
	out := append([]model.Domain(nil), domains...)
	primary := -1
	for i := range out {
		if out[i].IsPrimary && primary < 0 {
			primary = i
		}
		out[i].IsPrimary = false
	}
	if primary < 0 && len(out) > 0 {
		primary = 0
	}
	if primary >= 0 {
		out[primary].IsPrimary = true
	}
	return out
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
	at := now()
	var (
		id      int64
		domains []model.Domain
	)
	status, lifecycle := store.StatusColumns(t.Status)
	generation := t.Generation
	if generation == 0 {
		generation = 1
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		domains = primaryFirst(t.Domains)
		res, err := tx.ExecContext(ctx, `INSERT INTO tenants
			(uuid, name, status, lifecycle, status_reason, visitor_message, database_name, shard, notes, settings, data,
			 maintenance, maintenance_message, maintenance_secret, generation, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.UUID, t.Name, status, lifecycle, t.StatusReason, t.VisitorMessage, t.DatabaseName, t.Shard, t.Notes,
			settings, data, t.Maintenance, t.MaintenanceMessage, t.MaintenanceSecret, generation, at, at)
		if err != nil {
			return mapConstraint(err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		for i := range domains {
			d := &domains[i]
			d.TenantID, d.CreatedAt = id, at
			if d.ID, err = insertDomain(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.ID, t.Generation = id, generation
	t.CreatedAt, t.UpdatedAt = at, at
	t.Domains = domains
	if t.Settings == nil {
		t.Settings = map[string]any{}
	}
	if t.Data == nil {
		t.Data = map[string]any{}
	}
	return nil
}

func insertDomain(ctx context.Context, tx *sql.Tx, d *model.Domain) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO domains (tenant_id, domain, is_primary, ssl_enabled, created_at)
		VALUES (?, ?, ?, ?, ?)`, d.TenantID, d.Domain, d.IsPrimary, d.SSLEnabled, d.CreatedAt)
	if err != nil {
		return 0, mapConstraint(err)
	}
	return res.LastInsertId()
}

const tenantColumns = `t.id, t.uuid, t.name, t.status, t.lifecycle, t.status_reason, t.visitor_message,
	t.database_name, t.shard, t.notes, t.settings, t.data, t.maintenance, t.maintenance_message,
	t.maintenance_secret, t.generation, t.created_at, t.updated_at, t.last_accessed_at`

// tenantRow receives the columns of tenantColumns.
type tenantRow struct {
	t                 model.Tenant
	status, lifecycle string
	settings, data    string
	accessed          sql.NullTime
}

func (r *tenantRow) dest() []any {
	t := &r.t
	return []any{&t.ID, &t.UUID, &t.Name, &r.status, &r.lifecycle, &t.StatusReason, &t.VisitorMessage,
		&t.DatabaseName, &t.Shard, &t.Notes, &r.settings, &r.data, &t.Maintenance, &t.MaintenanceMessage,
		&t.MaintenanceSecret, &t.Generation, &t.CreatedAt, &t.UpdatedAt, &r.accessed}
}

// tenant returns a copy of the scanned tenant with decoded fields.
func (r *tenantRow) tenant() (*model.Tenant, error) {
	t := r.t
	t.Status = model.Status(r.status)
	if r.lifecycle != "" {
		t.Status = model.Status(r.lifecycle)
	}
	var err error
	if t.Settings, err = decodeObject(r.settings); err != nil {
		return nil, fmt.Errorf("tenant %s settings: %w", t.UUID, err)
	}
	if t.Data, err = decodeObject(r.data); err != nil {
		return nil, fmt.Errorf("tenant %s data: %w", t.UUID, err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	if r.accessed.Valid {
		at := r.accessed.Time.UTC()
		t.LastAccessedAt = &at
	}
	t.Domains = []model.Domain{}
	return &t, nil
}

// oneTenantQuery reads one tenant and its domains in a single query.
func oneTenantQuery(where string) string {
	return `SELECT ` + tenantColumns + `, d.id, d.domain, d.is_primary, d.ssl_enabled, d.created_at
		FROM tenants t LEFT JOIN domains d ON d.tenant_id = t.id ` + where + `
		ORDER BY d.is_primary DESC, d.id`
}

func oneTenant(ctx context.Context, stmt *sql.Stmt, arg any) (*model.Tenant, error) {
	rows, err := stmt.QueryContext(ctx, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		t          *model.Tenant
		r          tenantRow
		dID        sql.NullInt64
		dDomain    sql.NullString
		dPrimary   sql.NullBool
		dSSL       sql.NullBool
		dCreatedAt sql.NullTime
		dst        = append(r.dest(), &dID, &dDomain, &dPrimary, &dSSL, &dCreatedAt)
	)
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		if t == nil {
			if t, err = r.tenant(); err != nil {
				return nil, err
			}
		}
		if dID.Valid {
			t.Domains = append(t.Domains, model.Domain{ID: dID.Int64, TenantID: t.ID, Domain: dDomain.String,
				IsPrimary: dPrimary.Bool, SSLEnabled: dSSL.Bool, CreatedAt: dCreatedAt.Time.UTC()})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if t == nil {
		return nil, model.ErrNotFound
	}
	return t, nil
}

// TenantByUUID implements model.Store.
func (s *Store) TenantByUUID(ctx context.Context, uuid string) (*model.Tenant, error) {
	return oneTenant(ctx, s.byUUID, uuid)
}

// TenantByDomain implements model.Store.
func (s *Store) TenantByDomain(ctx context.Context, domain string) (*model.Tenant, error) {
	return oneTenant(ctx, s.byDomain, domain)
}

// inChunk bounds the ids of one IN list.
const inChunk = 500

// loadDomains fills the Domains of each tenant, with one query per inChunk
// tenants.
func (s *Store) loadDomains(ctx context.Context, ts []*model.Tenant) error {
	byID := make(map[int64]*model.Tenant, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
	}
	for chunk := range slices.Chunk(ts, inChunk) {
		args := make([]any, len(chunk))
		for i, t := range chunk {
			args[i] = t.ID
		}
		if err := s.loadDomainChunk(ctx, byID, args); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) loadDomainChunk(ctx context.Context, byID map[int64]*model.Tenant, ids []any) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, tenant_id, domain, is_primary, ssl_enabled, created_at FROM domains
		WHERE tenant_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY tenant_id, is_primary DESC, id`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d model.Domain
		if err := rows.Scan(&d.ID, &d.TenantID, &d.Domain, &d.IsPrimary, &d.SSLEnabled, &d.CreatedAt); err != nil {
			return err
		}
		d.CreatedAt = d.CreatedAt.UTC()
		if t, ok := byID[d.TenantID]; ok {
			t.Domains = append(t.Domains, d)
		}
	}
	return rows.Err()
}

// sortColumns maps model.SortFields to columns; text compares without
// regard to case (the tables' collation), and NULLs sort first ascending,
// as in SQLite.
var sortColumns = map[string]string{
	"name":             "t.name",
	"created_at":       "t.created_at",
	"updated_at":       "t.updated_at",
	"last_accessed_at": "t.last_accessed_at",
	"status":           "t.status",
}

// likeEscape is the escape character of LIKE patterns; not a backslash,
// whose meaning in string literals depends on NO_BACKSLASH_ESCAPES.
const likeEscape = "!"

func escapeLike(s string) string {
	return strings.NewReplacer(likeEscape, likeEscape+likeEscape, `%`, likeEscape+`%`, `_`, likeEscape+`_`).Replace(s)
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
		pattern := "%" + escapeLike(opts.Search) + "%"
		esc := ` ESCAPE '` + likeEscape + `'`
		where = append(where, `(t.name LIKE ?`+esc+` OR t.database_name LIKE ?`+esc+`
			OR EXISTS (SELECT 1 FROM domains d WHERE d.tenant_id = t.id AND d.domain LIKE ?`+esc+`))`)
		args = append(args, pattern, pattern, pattern)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM tenants t`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
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
	rows, err := s.db.QueryContext(ctx, `SELECT `+tenantColumns+` FROM tenants t`+cond+
		` ORDER BY `+col+` `+dir+`, t.id `+dir+` LIMIT ? OFFSET ?`,
		append(args, perPage, (page-1)*perPage)...)
	if err != nil {
		return nil, 0, err
	}
	ts, err := collectTenants(rows)
	if err != nil {
		return nil, 0, err
	}
	return ts, total, s.loadDomains(ctx, ts)
}

func collectTenants(rows *sql.Rows) ([]*model.Tenant, error) {
	defer rows.Close()
	ts := []*model.Tenant{}
	var r tenantRow
	dst := r.dest()
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		t, err := r.tenant()
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
	at := now()
	// A lifecycle state is not the caller's to set: the status column
	// keeps its value then, and lifecycle is never written here.
	st := store.SettableOrEmpty(t.Status)
	res, err := s.db.ExecContext(ctx, `UPDATE tenants SET name = ?,
		status = CASE WHEN ? = '' THEN status ELSE ? END, status_reason = ?, visitor_message = ?, notes = ?,
		settings = ?, data = ?, maintenance = ?, maintenance_message = ?, maintenance_secret = ?, updated_at = ?
		WHERE id = ?`,
		t.Name, st, st, t.StatusReason, t.VisitorMessage, t.Notes, settings, data, t.Maintenance,
		t.MaintenanceMessage, t.MaintenanceSecret, at, t.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return model.ErrNotFound
	}
	t.UpdatedAt = at
	return nil
}

// CommitTenant implements model.Store.
func (s *Store) CommitTenant(ctx context.Context, id int64, status model.Status) error {
	if !status.Valid() {
		return fmt.Errorf("mysqlstore: commit tenant %d: %q is not a settable status", id, status)
	}
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = '', status = ?, updated_at = ?
		WHERE id = ? AND lifecycle = 'provisioning'`, string(status), now(), id)
}

// MarkDeleting implements model.Store.
func (s *Store) MarkDeleting(ctx context.Context, id int64) error {
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = 'deleting', updated_at = ?
		WHERE id = ? AND lifecycle IN ('', 'deleting')`, now(), id)
}

// transition runs a conditional update of one tenant's lifecycle; when it
// matches no row, the tenant is missing (ErrNotFound) or in a state the
// update does not start from (*model.StateError). The connections set
// clientFoundRows, so a matched row counts even when nothing changed.
func (s *Store) transition(ctx context.Context, id int64, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 1 {
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
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return model.ErrNotFound
	}
	return nil
}

// lockTenant locks the tenant's row for the rest of tx and sets its
// updated_at, or returns ErrNotFound. Changes to domains take this lock
// first, then (through the triggers) the catalog_version row, the order
// every write follows, so they cannot deadlock with tenant updates.
func lockTenant(ctx context.Context, tx *sql.Tx, id int64, at time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE tenants SET updated_at = ? WHERE id = ?`, at, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return model.ErrNotFound
	}
	return nil
}

// AddDomain implements model.Store.
func (s *Store) AddDomain(ctx context.Context, d *model.Domain) error {
	at := now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockTenant(ctx, tx, d.TenantID, at); err != nil {
			return err
		}
		primary := d.IsPrimary
		if primary {
			if _, err := tx.ExecContext(ctx, `UPDATE domains SET is_primary = FALSE WHERE tenant_id = ? AND is_primary`, d.TenantID); err != nil {
				return err
			}
		} else if err := tx.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM domains WHERE tenant_id = ?)`, d.TenantID).Scan(&primary); err != nil {
			return err
		}
		nd := *d
		nd.IsPrimary, nd.CreatedAt = primary, at
		id, err := insertDomain(ctx, tx, &nd)
		if err != nil {
			return err
		}
		d.ID, d.IsPrimary, d.CreatedAt = id, primary, at
		return nil
	})
}

// RemoveDomain implements model.Store.
func (s *Store) RemoveDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockTenant(ctx, tx, tenantID, now()); errors.Is(err, model.ErrNotFound) {
			return model.ErrDomainNotFound
		} else if err != nil {
			return err
		}
		// The tenant's row stays locked until the end of tx, so
		// concurrent removals of its domains take turns and each counts
		// the domains the previous one left.
		var id int64
		var wasPrimary bool
		err := tx.QueryRowContext(ctx, `SELECT id, is_primary FROM domains WHERE tenant_id = ? AND domain = ? FOR UPDATE`,
			tenantID, domain).Scan(&id, &wasPrimary)
		if errors.Is(err, sql.ErrNoRows) {
			return model.ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM domains WHERE tenant_id = ? FOR UPDATE`, tenantID).Scan(&n); err != nil {
			return err
		}
		if n <= 1 {
			return model.ErrLastDomain
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE id = ?`, id); err != nil {
			return err
		}
		if wasPrimary {
			_, err = tx.ExecContext(ctx, `UPDATE domains SET is_primary = TRUE WHERE tenant_id = ? ORDER BY id LIMIT 1`, tenantID)
		}
		return err
	})
}

// UpdateDomain implements model.Store.
func (s *Store) UpdateDomain(ctx context.Context, tenantID, domainID int64, domain string, sslEnabled bool) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockTenant(ctx, tx, tenantID, now()); errors.Is(err, model.ErrNotFound) {
			return model.ErrDomainNotFound
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE domains SET domain = ?, ssl_enabled = ? WHERE id = ? AND tenant_id = ?`,
			domain, sslEnabled, domainID, tenantID)
		if err != nil {
			return mapConstraint(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return model.ErrDomainNotFound
		}
		return nil
	})
}

// SetPrimaryDomain implements model.Store.
func (s *Store) SetPrimaryDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := lockTenant(ctx, tx, tenantID, now()); errors.Is(err, model.ErrNotFound) {
			return model.ErrDomainNotFound
		} else if err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return model.ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE domains SET is_primary = (id = ?) WHERE tenant_id = ?`, id, tenantID)
		return err
	})
}

// RecordOperation implements model.Store.
func (s *Store) RecordOperation(ctx context.Context, rec model.OperationRecord) error {
	finished := rec.FinishedAt
	if finished.IsZero() {
		finished = time.Now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO tenant_operations
		(tenant_id, operation, state, run_id, version, error, duration_ns, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		`+onDuplicateOperation,
		rec.TenantID, rec.Operation, rec.State, rec.RunID, rec.Version, rec.Error, int64(rec.Duration), ts(finished))
	if _, ok := mysqlError(err, errNoParentRow); ok {
		return model.ErrNotFound
	}
	return err
}

// onDuplicateOperation replaces an operation's previous record; pending
// and running records keep the version the tenant was at. The version is
// assigned before state, which MySQL assigns left to right. VALUES() is
// deprecated in MySQL 8.0.20 in favour of a row alias, which MariaDB does
// not know; it still works in both.
const onDuplicateOperation = `ON DUPLICATE KEY UPDATE
	version = IF(VALUES(state) IN ('pending', 'running'), tenant_operations.version, VALUES(version)),
	state = VALUES(state), run_id = VALUES(run_id), error = VALUES(error),
	duration_ns = VALUES(duration_ns), finished_at = VALUES(finished_at)`

// RecordOperations implements model.Store.
func (s *Store) RecordOperations(ctx context.Context, recs []model.OperationRecord) error {
	if len(recs) == 0 {
		return nil
	}
	at := now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Records of tenants deleted meanwhile are left out rather than
		// failing the batch on the foreign key.
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO tenant_operations
			(tenant_id, operation, state, run_id, version, error, duration_ns, finished_at)
			SELECT id, ?, ?, ?, ?, ?, ?, ? FROM tenants WHERE id = ?
			`+onDuplicateOperation)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range recs {
			finished := at
			if !r.FinishedAt.IsZero() {
				finished = ts(r.FinishedAt)
			}
			if _, err := stmt.ExecContext(ctx, r.Operation, r.State, r.RunID, r.Version, r.Error, int64(r.Duration),
				finished, r.TenantID); err != nil {
				return err
			}
		}
		return nil
	})
}

// TryLockTenant implements model.Store with a lease row: it is taken
// when there is none, when it has expired, or when holder already holds
// it.
func (s *Store) TryLockTenant(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error {
	if len(tenantUUID) > maxLockName || len(holder) > maxLockName {
		return fmt.Errorf("mysqlstore: lock tenant %.40q for %.40q: uuid and holder are at most %d bytes", tenantUUID, holder, maxLockName)
	}
	at := now()
	var cur string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Every assignment tests the same condition, on the lease's old
		// expiry (expires_at is assigned last) and its holder, old or
		// new: MySQL assigns left to right, and once holder is assigned
		// it is the caller exactly when the lease was taken.
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_locks (tenant_uuid, holder, acquired_at, expires_at)
			VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE
				holder = IF(expires_at <= ? OR holder = VALUES(holder), VALUES(holder), holder),
				acquired_at = IF(expires_at <= ? OR holder = VALUES(holder), VALUES(acquired_at), acquired_at),
				expires_at = IF(expires_at <= ? OR holder = VALUES(holder), VALUES(expires_at), expires_at)`,
			tenantUUID, holder, at, ts(at.Add(ttl)), at, at, at); err != nil {
			return err
		}
		// The statement left the row locked by tx: this reads its
		// outcome.
		return tx.QueryRowContext(ctx, `SELECT holder FROM tenant_locks WHERE tenant_uuid = ?`, tenantUUID).Scan(&cur)
	})
	if err != nil {
		return err
	}
	if cur != holder {
		return &model.LockedError{Tenant: tenantUUID, Holder: cur}
	}
	return nil
}

// maxLockName is the length in bytes of tenant_locks' columns, which a
// server not in strict mode would truncate silently.
const maxLockName = 255

// RenewTenantLock implements model.Store.
func (s *Store) RenewTenantLock(ctx context.Context, tenantUUID, holder string, ttl time.Duration) error {
	res, err := s.db.ExecContext(ctx, `UPDATE tenant_locks SET expires_at = ? WHERE tenant_uuid = ? AND holder = ?`,
		ts(time.Now().Add(ttl)), tenantUUID, holder)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
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
		var dur int64
		if err := rows.Scan(&r.TenantID, &r.TenantUUID, &r.Operation, &r.State, &r.RunID, &r.Version, &r.Error, &dur, &r.FinishedAt); err != nil {
			return nil, err
		}
		r.Duration, r.FinishedAt = time.Duration(dur), r.FinishedAt.UTC()
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// TouchTenants implements model.Store. The rows are updated in id order,
// so concurrent flushes from several nodes cannot deadlock.
func (s *Store) TouchTenants(ctx context.Context, accessed map[int64]time.Time) error {
	if len(accessed) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(accessed))
	for id := range accessed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE tenants SET last_accessed_at = GREATEST(COALESCE(last_accessed_at, ?), ?) WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			at := ts(accessed[id])
			if _, err := stmt.ExecContext(ctx, at, at, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountByStatus implements model.Store.
func (s *Store) CountByStatus(ctx context.Context) (map[model.Status]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT IF(lifecycle <> '', lifecycle, status) AS effective, count(*)
		FROM tenants GROUP BY effective`)
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
	at := now()
	res, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (name, prefix, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.Name, k.Prefix, k.Hash, joinScopes(k.Scopes), at)
	if key, dup := duplicateKey(err); dup {
		if key == "api_keys_name" {
			return &model.ValidationError{Field: "name", Reason: fmt.Sprintf("an API key named %q exists already", k.Name)}
		}
		return fmt.Errorf("api key prefix collision, try again: %w", err)
	}
	if err != nil {
		return err
	}
	if k.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	k.CreatedAt = at
	return nil
}

const apiKeyColumns = `id, name, prefix, hash, scopes, created_at, last_used_at, revoked_at`

type scanner interface{ Scan(dest ...any) error }

func scanAPIKey(row scanner) (*model.APIKey, error) {
	var (
		k             model.APIKey
		scopes        string
		used, revoked sql.NullTime
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &scopes, &k.CreatedAt, &used, &revoked); err != nil {
		return nil, err
	}
	k.Scopes = splitScopes(scopes)
	k.CreatedAt = k.CreatedAt.UTC()
	if used.Valid {
		t := used.Time.UTC()
		k.LastUsedAt = &t
	}
	if revoked.Valid {
		t := revoked.Time.UTC()
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
		now(), nameOrPrefix, nameOrPrefix)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
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
	at := now()
	res, err := s.db.ExecContext(ctx, "INSERT INTO audit_log (at, actor, action, tenant_uuid, `before`, `after`, client_ip, request_id, outcome, error)"+`
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		at, e.Actor, e.Action, e.TenantUUID, nullJSON(e.Before), nullJSON(e.After), e.ClientIP, e.RequestID, e.Outcome, e.Error)
	if err != nil {
		return err
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	e.At = at
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
		args = append(args, ts(f.Since))
	}
	query := "SELECT id, at, actor, action, tenant_uuid, `before`, `after`, client_ip, request_id, outcome, error FROM audit_log"
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
			before, after sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantUUID, &before, &after, &e.ClientIP, &e.RequestID, &e.Outcome, &e.Error); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
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
