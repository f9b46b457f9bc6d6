package pgstore

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
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultMaxConns is the pool size when Config.MaxConns is zero.
const DefaultMaxConns = 10

// Config configures a Store.
type Config struct {
	// URL is the catalog database, as a postgres:// URL (or a key=value
	// connection string) that pgx understands; required.
	URL string
	// MaxConns bounds the connection pool; default DefaultMaxConns. It
	// replaces a pool_max_conns given in URL. Watch uses one more
	// connection of its own while it runs, and each tenant lock the store
	// holds one more (taken from the pool, which then opens another).
	MaxConns int32
}

// Store is the PostgreSQL implementation of model.Store.
type Store struct {
	pool *pgxpool.Pool
	db   *sql.DB
	// closing is cancelled by Close, which stops running Watch calls.
	closing context.Context
	close   context.CancelFunc

	// locksMu guards locks, the tenant locks held by this store by
	// lockHeld name; nil once the store is closed.
	locksMu sync.Mutex
	locks   map[string]*heldLock
}

var _ model.Store = (*Store)(nil)

// Open connects to the catalog at cfg.URL and brings its schema up to date.
func Open(ctx context.Context, cfg *Config) (*Store, error) {
	if cfg == nil || cfg.URL == "" {
		return nil, errors.New("pgstore: Config.URL is required")
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("pgstore: negative MaxConns %d", cfg.MaxConns)
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error quotes the connection string, password included.
		return nil, errors.New("pgstore: Config.URL is not a valid PostgreSQL connection string")
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns == 0 {
		pc.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", describe(pc), err)
	}
	db := stdlib.OpenDBFromPool(pool)
	if err := migrateSchema(ctx, db); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("pgstore: catalog schema in %s: %w", describe(pc), err)
	}
	closing, closeFn := context.WithCancel(context.Background())
	return &Store{pool: pool, db: db, closing: closing, close: closeFn, locks: map[string]*heldLock{}}, nil
}

// describe names the catalog database for error messages, without secrets.
func describe(pc *pgxpool.Config) string {
	return fmt.Sprintf("database %q on %s:%d", pc.ConnConfig.Database, pc.ConnConfig.Host, pc.ConnConfig.Port)
}

// migrationLockID is the advisory lock held while the catalog schema is
// migrated: crc32 of "tenancy catalog", apart from goose's default so tenant
// migrations in the same database do not queue behind it.
const migrationLockID = 0x0f2b5349

func migrateSchema(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Nodes starting together take turns: the first migrates, the others
	// find the schema up to date.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Pool returns the pgx connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// DB returns a database/sql view of the pool, for libraries that need one
// (goose, River's database/sql driver).
func (s *Store) DB() *sql.DB { return s.db }

// Close stops running Watch calls (they return ErrClosed), releases the
// tenant locks the store holds and closes the pool.
func (s *Store) Close() error {
	s.close()
	s.closeLocks()
	err := s.db.Close()
	s.pool.Close()
	return err
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

func decodeObject(b []byte) (map[string]any, error) {
	m := map[string]any{}
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m == nil { // JSON null
		m = map[string]any{}
	}
	return m, nil
}

// PostgreSQL error codes the store tells apart.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func pgError(err error, code string) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == code {
		return pe, true
	}
	return nil, false
}

// mapConstraint turns unique-constraint violations into the catalog's sentinels.
func mapConstraint(err error) error {
	pe, ok := pgError(err, uniqueViolation)
	if !ok {
		return err
	}
	switch pe.ConstraintName {
	case "domains_domain_key":
		return fmt.Errorf("%w: %v", model.ErrDomainTaken, err)
	case "tenants_database_name_key":
		return fmt.Errorf("%w: %v", model.ErrDatabaseTaken, err)
	}
	return err
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
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
	domains := primaryFirst(t.Domains)
	var id int64
	status, lifecycle := store.StatusColumns(t.Status)
	if t.Generation == 0 {
		t.Generation = 1
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO tenants
			(uuid, name, status, lifecycle, status_reason, visitor_message, database_name, shard, notes, settings, data,
			 maintenance, maintenance_message, maintenance_secret, generation, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING id`,
			t.UUID, t.Name, status, lifecycle, t.StatusReason, t.VisitorMessage, t.DatabaseName, t.Shard, t.Notes,
			settings, data, t.Maintenance, t.MaintenanceMessage, t.MaintenanceSecret, t.Generation, at).Scan(&id)
		if err != nil {
			return mapConstraint(err)
		}
		for i := range domains {
			d := &domains[i]
			d.TenantID, d.CreatedAt = id, at
			if err := tx.QueryRow(ctx, `INSERT INTO domains (tenant_id, domain, is_primary, ssl_enabled, created_at)
				VALUES ($1, $2, $3, $4, $5) RETURNING id`, id, d.Domain, d.IsPrimary, d.SSLEnabled, at).Scan(&d.ID); err != nil {
				return mapConstraint(err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.ID = id
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

const tenantColumns = `t.id, t.uuid, t.name, t.status, t.lifecycle, t.status_reason, t.visitor_message,
	t.database_name, t.shard, t.notes, t.settings, t.data, t.maintenance, t.maintenance_message,
	t.maintenance_secret, t.generation, t.created_at, t.updated_at, t.last_accessed_at`

// statusFilter is the condition matching tenants in any of statuses
// (lifecycle states or settable statuses); arg adds a query argument and
// returns its placeholder.
func statusFilter(statuses []model.Status, arg func(any) string) string {
	settable, lifecycle := store.SplitStatuses(statuses)
	var conds []string
	if len(settable) > 0 {
		conds = append(conds, `(t.lifecycle = '' AND t.status = ANY(`+arg(settable)+`))`)
	}
	if len(lifecycle) > 0 {
		conds = append(conds, `t.lifecycle = ANY(`+arg(lifecycle)+`)`)
	}
	return `(` + strings.Join(conds, ` OR `) + `)`
}

// tenantRow receives the columns of tenantColumns.
type tenantRow struct {
	t              model.Tenant
	status, life   string
	settings, data []byte
	accessed       *time.Time
}

func (r *tenantRow) dest() []any {
	t := &r.t
	return []any{&t.ID, &t.UUID, &t.Name, &r.status, &r.life, &t.StatusReason, &t.VisitorMessage, &t.DatabaseName,
		&t.Shard, &t.Notes, &r.settings, &r.data, &t.Maintenance, &t.MaintenanceMessage, &t.MaintenanceSecret,
		&t.Generation, &t.CreatedAt, &t.UpdatedAt, &r.accessed}
}

// tenant returns a copy of the scanned tenant with decoded fields.
func (r *tenantRow) tenant() (*model.Tenant, error) {
	t := r.t
	t.Status = model.Status(r.status)
	if r.life != "" {
		t.Status = model.Status(r.life)
	}
	var err error
	if t.Settings, err = decodeObject(r.settings); err != nil {
		return nil, fmt.Errorf("tenant %s settings: %w", t.UUID, err)
	}
	if t.Data, err = decodeObject(r.data); err != nil {
		return nil, fmt.Errorf("tenant %s data: %w", t.UUID, err)
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	if r.accessed != nil {
		at := r.accessed.UTC()
		t.LastAccessedAt = &at
	}
	t.Domains = []model.Domain{}
	return &t, nil
}

// oneTenant reads one tenant and its domains in a single query.
func (s *Store) oneTenant(ctx context.Context, where string, arg any) (*model.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tenantColumns+`,
		d.id, d.domain, d.is_primary, d.ssl_enabled, d.created_at
		FROM tenants t LEFT JOIN domains d ON d.tenant_id = t.id `+where+`
		ORDER BY d.is_primary DESC, d.id`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		t *model.Tenant
		r tenantRow
		// The domain's columns are NULL for a tenant without domains.
		dID            *int64
		dDomain        *string
		dPrimary, dSSL *bool
		dCreatedAt     *time.Time
		dst            = append(r.dest(), &dID, &dDomain, &dPrimary, &dSSL, &dCreatedAt)
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
		if dID != nil {
			t.Domains = append(t.Domains, model.Domain{ID: *dID, TenantID: t.ID, Domain: *dDomain,
				IsPrimary: *dPrimary, SSLEnabled: *dSSL, CreatedAt: dCreatedAt.UTC()})
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
	return s.oneTenant(ctx, `WHERE t.uuid = $1`, uuid)
}

// TenantByDomain implements model.Store.
func (s *Store) TenantByDomain(ctx context.Context, domain string) (*model.Tenant, error) {
	return s.oneTenant(ctx, `WHERE t.id = (SELECT tenant_id FROM domains WHERE domain = $1)`, domain)
}

// loadDomains fills the Domains of each tenant with one query.
func (s *Store) loadDomains(ctx context.Context, ts []*model.Tenant) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[int64]*model.Tenant, len(ts))
	ids := make([]int64, 0, len(ts))
	for _, t := range ts {
		byID[t.ID] = t
		ids = append(ids, t.ID)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, tenant_id, domain, is_primary, ssl_enabled, created_at FROM domains
		WHERE tenant_id = ANY($1) ORDER BY tenant_id, is_primary DESC, id`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	var d model.Domain
	for rows.Next() {
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

// sortColumns maps model.SortFields to expressions. Names sort without
// regard to case and byte-wise otherwise (as SQLite's NOCASE does), whatever
// the database's collation.
var sortColumns = map[string]string{
	"name":             `lower(t.name) COLLATE "C"`,
	"created_at":       "t.created_at",
	"updated_at":       "t.updated_at",
	"last_accessed_at": "t.last_accessed_at",
	"status":           `t.status COLLATE "C"`,
}

// likeEscape is the escape character of LIKE patterns; not a backslash, so
// patterns mean the same whatever standard_conforming_strings says.
const likeEscape = "!"

func escapeLike(s string) string {
	return strings.NewReplacer(likeEscape, likeEscape+likeEscape, `%`, likeEscape+`%`, `_`, likeEscape+`_`).Replace(s)
}

// ListTenants implements model.Store.
func (s *Store) ListTenants(ctx context.Context, opts model.ListOptions) ([]*model.Tenant, int, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if opts.Status != "" {
		where = append(where, statusFilter([]model.Status{opts.Status}, arg))
	}
	if opts.Search != "" {
		p := arg("%" + escapeLike(opts.Search) + "%")
		esc := ` ESCAPE '` + likeEscape + `'`
		where = append(where, `(t.name ILIKE `+p+esc+` OR t.database_name ILIKE `+p+esc+`
			OR EXISTS (SELECT 1 FROM domains d WHERE d.tenant_id = t.id AND d.domain ILIKE `+p+esc+`))`)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tenants t`+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	col, ok := sortColumns[opts.Sort]
	if !ok {
		col = sortColumns["created_at"]
	}
	// NULLs (tenants never accessed) sort first ascending and last
	// descending, as in SQLite and MySQL.
	dir := "ASC NULLS FIRST"
	idDir := "ASC"
	if opts.Desc {
		dir, idDir = "DESC NULLS LAST", "DESC"
	}
	perPage := opts.PerPage
	if perPage <= 0 {
		perPage = model.DefaultPerPage
	}
	page := max(opts.Page, 1)
	limit, offset := arg(perPage), arg((page-1)*perPage)
	rows, err := s.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants t`+cond+
		` ORDER BY `+col+` `+dir+`, t.id `+idDir+` LIMIT `+limit+` OFFSET `+offset, args...)
	if err != nil {
		return nil, 0, err
	}
	ts, err := collectTenants(rows)
	if err != nil {
		return nil, 0, err
	}
	return ts, total, s.loadDomains(ctx, ts)
}

func collectTenants(rows pgx.Rows) ([]*model.Tenant, error) {
	defer rows.Close()
	ts := []*model.Tenant{}
	var r tenantRow
	dst := r.dest()
	for rows.Next() {
		r.accessed = nil
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
		query += ` WHERE ` + statusFilter(statuses, func(v any) string {
			args = append(args, v)
			return fmt.Sprintf("$%d", len(args))
		})
	}
	rows, err := s.pool.Query(ctx, query+` ORDER BY t.id`, args...)
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
	tag, err := s.pool.Exec(ctx, `UPDATE tenants SET name = $1,
		status = CASE WHEN $2::text = '' THEN status ELSE $2::text END, status_reason = $3, visitor_message = $4, notes = $5,
		settings = $6, data = $7, maintenance = $8, maintenance_message = $9, maintenance_secret = $10, updated_at = $11
		WHERE id = $12`,
		t.Name, store.SettableOrEmpty(t.Status), t.StatusReason, t.VisitorMessage, t.Notes, settings, data, t.Maintenance,
		t.MaintenanceMessage, t.MaintenanceSecret, at, t.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	t.UpdatedAt = at
	return nil
}

// CommitTenant implements model.Store.
func (s *Store) CommitTenant(ctx context.Context, id int64, status model.Status) error {
	if !status.Valid() {
		return fmt.Errorf("pgstore: commit tenant %d: %q is not a settable status", id, status)
	}
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = '', status = $1, updated_at = $2
		WHERE id = $3 AND lifecycle = 'provisioning'`, string(status), now(), id)
}

// MarkDeleting implements model.Store.
func (s *Store) MarkDeleting(ctx context.Context, id int64) error {
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = 'deleting', updated_at = $1
		WHERE id = $2 AND lifecycle IN ('', 'deleting')`, now(), id)
}

// transition runs a conditional update of one tenant's lifecycle; when it
// changes nothing, the tenant is missing (ErrNotFound) or in a state the
// update does not start from (*model.StateError).
func (s *Store) transition(ctx context.Context, id int64, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var uuid, status, life string
	err = s.pool.QueryRow(ctx, `SELECT uuid, status, lifecycle FROM tenants WHERE id = $1`, id).Scan(&uuid, &status, &life)
	if errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	return nil
}

// lockTenant locks the tenant's row for the rest of tx (so changes to one
// tenant's domains are serialised) and sets its updated_at, or returns
// ErrNotFound.
func lockTenant(ctx context.Context, tx pgx.Tx, id int64, at time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE tenants SET updated_at = $1 WHERE id = $2`, at, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	return nil
}

// AddDomain implements model.Store.
func (s *Store) AddDomain(ctx context.Context, d *model.Domain) error {
	at := now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, d.TenantID, at); err != nil {
			return err
		}
		primary := d.IsPrimary
		if primary {
			if _, err := tx.Exec(ctx, `UPDATE domains SET is_primary = false WHERE tenant_id = $1 AND is_primary`, d.TenantID); err != nil {
				return err
			}
		} else if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM domains WHERE tenant_id = $1)`, d.TenantID).Scan(&primary); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO domains (tenant_id, domain, is_primary, ssl_enabled, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, d.TenantID, d.Domain, primary, d.SSLEnabled, at).Scan(&d.ID); err != nil {
			return mapConstraint(err)
		}
		d.IsPrimary, d.CreatedAt = primary, at
		return nil
	})
}

// RemoveDomain implements model.Store. The tenant's row is locked first,
// so concurrent removals of its domains take turns and each one counts the
// domains the others left.
func (s *Store) RemoveDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, tenantID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return model.ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		var n, mine int
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE domain = $2) FROM domains WHERE tenant_id = $1`,
			tenantID, domain).Scan(&n, &mine); err != nil {
			return err
		}
		if mine == 0 {
			return model.ErrDomainNotFound
		}
		if n <= 1 {
			return model.ErrLastDomain
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET updated_at = $1 WHERE id = $2`, now(), tenantID); err != nil {
			return err
		}
		var wasPrimary bool
		err = tx.QueryRow(ctx, `DELETE FROM domains WHERE tenant_id = $1 AND domain = $2 RETURNING is_primary`,
			tenantID, domain).Scan(&wasPrimary)
		if errors.Is(err, pgx.ErrNoRows) {
			return model.ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		if wasPrimary {
			_, err = tx.Exec(ctx, `UPDATE domains SET is_primary = true
				WHERE id = (SELECT id FROM domains WHERE tenant_id = $1 ORDER BY id LIMIT 1)`, tenantID)
		}
		return err
	})
}

// UpdateDomain implements model.Store.
func (s *Store) UpdateDomain(ctx context.Context, tenantID, domainID int64, domain string, sslEnabled bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, tenantID, now()); errors.Is(err, model.ErrNotFound) {
			return model.ErrDomainNotFound
		} else if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE domains SET domain = $1, ssl_enabled = $2 WHERE id = $3 AND tenant_id = $4`,
			domain, sslEnabled, domainID, tenantID)
		if err != nil {
			return mapConstraint(err)
		}
		if tag.RowsAffected() == 0 {
			return model.ErrDomainNotFound
		}
		return nil
	})
}

// SetPrimaryDomain implements model.Store.
func (s *Store) SetPrimaryDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, tenantID, now()); errors.Is(err, model.ErrNotFound) {
			return model.ErrDomainNotFound
		} else if err != nil {
			return err
		}
		var found bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM domains WHERE tenant_id = $1 AND domain = $2)`,
			tenantID, domain).Scan(&found)
		if err != nil {
			return err
		}
		if !found {
			return model.ErrDomainNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE domains SET is_primary = (domain = $2) WHERE tenant_id = $1`, tenantID, domain)
		return err
	})
}

// RecordOperation implements model.Store.
func (s *Store) RecordOperation(ctx context.Context, rec model.OperationRecord) error {
	finished := rec.FinishedAt
	if finished.IsZero() {
		finished = time.Now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tenant_operations
		(tenant_id, operation, state, run_id, version, error, duration_ns, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`+onOperationConflict,
		rec.TenantID, rec.Operation, rec.State, rec.RunID, rec.Version, rec.Error, int64(rec.Duration), ts(finished))
	if _, ok := pgError(err, foreignKeyViolation); ok {
		return model.ErrNotFound
	}
	return err
}

// onOperationConflict replaces the previous record of the same operation;
// a pending or running record keeps the version of the last outcome.
const onOperationConflict = `
	ON CONFLICT (tenant_id, operation) DO UPDATE SET state = excluded.state, run_id = excluded.run_id,
	version = CASE WHEN excluded.state IN ('pending', 'running') THEN tenant_operations.version ELSE excluded.version END,
	error = excluded.error, duration_ns = excluded.duration_ns, finished_at = excluded.finished_at`

// RecordOperations implements model.Store.
func (s *Store) RecordOperations(ctx context.Context, recs []model.OperationRecord) error {
	if len(recs) == 0 {
		return nil
	}
	at := now()
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// Records of tenants deleted meanwhile are left out rather than
		// failing the batch on the foreign key.
		b := &pgx.Batch{}
		for _, r := range recs {
			finished := at
			if !r.FinishedAt.IsZero() {
				finished = ts(r.FinishedAt)
			}
			b.Queue(`INSERT INTO tenant_operations
				(tenant_id, operation, state, run_id, version, error, duration_ns, finished_at)
				SELECT $1::bigint, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::bigint, $8::timestamptz
				WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)`+onOperationConflict,
				r.TenantID, r.Operation, r.State, r.RunID, r.Version, r.Error, int64(r.Duration), finished)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// Operations implements model.Store.
func (s *Store) Operations(ctx context.Context, operation, state string) ([]model.OperationRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.tenant_id, t.uuid, o.operation, o.state, o.run_id, o.version, o.error,
		o.duration_ns, o.finished_at FROM tenant_operations o JOIN tenants t ON t.id = o.tenant_id
		WHERE o.operation = $1 AND ($2 = '' OR o.state = $2) ORDER BY o.tenant_id`, operation, state)
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
	return s.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, id := range ids {
			b.Queue(`UPDATE tenants SET last_accessed_at = greatest(last_accessed_at, $1) WHERE id = $2`, ts(accessed[id]), id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// CountByStatus implements model.Store.
func (s *Store) CountByStatus(ctx context.Context) (map[model.Status]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT CASE WHEN lifecycle <> '' THEN lifecycle ELSE status END, count(*)
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

// CreateAPIKey implements model.Store.
func (s *Store) CreateAPIKey(ctx context.Context, k *model.APIKey) error {
	at := now()
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_keys (name, prefix, hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		k.Name, k.Prefix, k.Hash, scopes, at).Scan(&k.ID)
	if pe, ok := pgError(err, uniqueViolation); ok {
		if pe.ConstraintName == "api_keys_name_key" {
			return &model.ValidationError{Field: "name", Reason: fmt.Sprintf("an API key named %q exists already", k.Name)}
		}
		return fmt.Errorf("api key prefix collision, try again: %w", err)
	}
	if err != nil {
		return err
	}
	k.CreatedAt = at
	return nil
}

const apiKeyColumns = `id, name, prefix, hash, scopes, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (*model.APIKey, error) {
	var (
		k      model.APIKey
		scopes []string
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &scopes, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		k.Scopes = append(k.Scopes, model.Scope(sc))
	}
	k.CreatedAt = k.CreatedAt.UTC()
	for _, p := range []**time.Time{&k.LastUsedAt, &k.RevokedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	return &k, nil
}

// APIKeyByPrefix implements model.Store.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*model.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, model.ErrNotFound
	}
	return k, err
}

// ListAPIKeys implements model.Store.
func (s *Store) ListAPIKeys(ctx context.Context) ([]model.APIKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id`)
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
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE (name = $2 OR prefix = $2) AND revoked_at IS NULL`,
		now(), nameOrPrefix)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	return nil
}

// nullJSON passes an audit snapshot as json text, or NULL when there is none.
func nullJSON(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	s := string(b)
	return &s
}

// RecordAudit implements model.Store.
func (s *Store) RecordAudit(ctx context.Context, e *model.AuditEntry) error {
	at := now()
	err := s.pool.QueryRow(ctx, `INSERT INTO audit_log (at, actor, action, tenant_uuid, before, after, client_ip, request_id, outcome, error)
		VALUES ($1, $2, $3, $4, $5::json, $6::json, $7, $8, $9, $10) RETURNING id`,
		at, e.Actor, e.Action, e.TenantUUID, nullJSON(e.Before), nullJSON(e.After), e.ClientIP, e.RequestID, e.Outcome, e.Error).Scan(&e.ID)
	if err != nil {
		return err
	}
	e.At = at
	return nil
}

// ListAudit implements model.Store.
func (s *Store) ListAudit(ctx context.Context, f model.AuditFilter) ([]model.AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, c := range []struct{ col, val string }{{"tenant_uuid", f.TenantUUID}, {"actor", f.Actor}, {"action", f.Action}} {
		if c.val != "" {
			where = append(where, c.col+` = `+arg(c.val))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, `at >= `+arg(ts(f.Since)))
	}
	query := `SELECT id, at, actor, action, tenant_uuid, before::text, after::text, client_ip, request_id, outcome, error FROM audit_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, query+` ORDER BY id DESC LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.AuditEntry{}
	for rows.Next() {
		var (
			e             model.AuditEntry
			before, after *string
		)
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.TenantUUID, &before, &after, &e.ClientIP, &e.RequestID, &e.Outcome, &e.Error); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		if before != nil {
			e.Before = json.RawMessage(*before)
		}
		if after != nil {
			e.After = json.RawMessage(*after)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
