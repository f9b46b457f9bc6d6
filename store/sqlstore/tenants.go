package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// A tenant's status is kept in two columns: lifecycle holds a lifecycle
// state (provisioning, deleting) or "", and status a settable status, as
// its CHECK constraint wants (the one the tenant will have or had while it
// is in a lifecycle state).

// statusColumns splits a tenant's status into the status and lifecycle
// columns.
func statusColumns(st model.Status) (status, lifecycle string) {
	if st.Lifecycle() {
		return string(model.StatusInactive), string(st)
	}
	return string(st), ""
}

// statusFilter is the condition matching tenants (aliased t) in any of
// statuses, lifecycle states or settable statuses, and its arguments.
func statusFilter(statuses []model.Status) (string, []any) {
	var settable, lifecycle []any
	for _, st := range statuses {
		if st.Lifecycle() {
			lifecycle = append(lifecycle, string(st))
		} else {
			settable = append(settable, string(st))
		}
	}
	var conds []string
	if len(settable) > 0 {
		conds = append(conds, `(t.lifecycle = '' AND t.status IN (`+params(len(settable))+`))`)
	}
	if len(lifecycle) > 0 {
		conds = append(conds, `t.lifecycle IN (`+params(len(lifecycle))+`)`)
	}
	return `(` + strings.Join(conds, ` OR `) + `)`, append(settable, lifecycle...)
}

// params returns n comma-separated placeholders.
func params(n int) string { return strings.Repeat(",?", n)[1:] }

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

// encodeObjects encodes a tenant's settings and data.
func encodeObjects(t *model.Tenant) (settings, data string, err error) {
	if settings, err = encodeObject(t.Settings); err != nil {
		return "", "", fmt.Errorf("encode settings: %w", err)
	}
	if data, err = encodeObject(t.Data); err != nil {
		return "", "", fmt.Errorf("encode data: %w", err)
	}
	return settings, data, nil
}

// CreateTenant implements model.Store.
func (s *Store) CreateTenant(ctx context.Context, t *model.Tenant) error {
	settings, data, err := encodeObjects(t)
	if err != nil {
		return err
	}
	at := s.now()
	status, lifecycle := statusColumns(t.Status)
	generation := max(t.Generation, 1)
	var (
		id      int64
		domains []model.Domain
	)
	err = s.inTx(ctx, func(tx runner) error {
		domains = primaryFirst(t.Domains)
		var err error
		id, err = tx.insert(ctx, `INSERT INTO tenants
			(uuid, name, status, lifecycle, status_reason, visitor_message, database_name, shard, notes, settings, data,
			 maintenance, maintenance_message, maintenance_secret, generation, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.UUID, t.Name, status, lifecycle, t.StatusReason, t.VisitorMessage, t.DatabaseName, t.Shard, t.Notes,
			settings, data, t.Maintenance, t.MaintenanceMessage, t.MaintenanceSecret, generation, s.d.time(at), s.d.time(at))
		if err != nil {
			return s.mapConstraint(err)
		}
		for i := range domains {
			d := &domains[i]
			d.TenantID, d.CreatedAt = id, at
			if d.ID, err = s.insertDomain(ctx, tx, d); err != nil {
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

const tenantColumns = `t.id, t.uuid, t.name, t.status, t.lifecycle, t.status_reason, t.visitor_message,
	t.database_name, t.shard, t.notes, t.settings, t.data, t.maintenance, t.maintenance_message,
	t.maintenance_secret, t.generation, t.created_at, t.updated_at, t.last_accessed_at`

// tenantRow receives the columns of tenantColumns.
type tenantRow struct {
	t                 model.Tenant
	status, lifecycle string
	settings, data    string
}

func (r *tenantRow) dest() []any {
	t := &r.t
	return []any{&t.ID, &t.UUID, &t.Name, &r.status, &r.lifecycle, &t.StatusReason, &t.VisitorMessage,
		&t.DatabaseName, &t.Shard, &t.Notes, &r.settings, &r.data, &t.Maintenance, &t.MaintenanceMessage,
		&t.MaintenanceSecret, &t.Generation, timeColumn{&t.CreatedAt}, timeColumn{&t.UpdatedAt},
		nullTimeColumn{&t.LastAccessedAt}}
}

// tenant returns a copy of the scanned tenant with decoded fields and no
// domains yet.
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
	t.Domains = []model.Domain{}
	return &t, nil
}

// collectTenants reads rows of tenantColumns, then any extra columns into
// extra.
func collectTenants(rows *sql.Rows, extra ...any) ([]*model.Tenant, error) {
	defer rows.Close()
	ts := []*model.Tenant{}
	var r tenantRow
	dst := append(r.dest(), extra...)
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

// oneTenantQuery reads one tenant and its domains in a single query.
func oneTenantQuery(where string) string {
	return `SELECT ` + tenantColumns + `, d.id, d.domain, d.is_primary, d.ssl_enabled, d.created_at
		FROM tenants t LEFT JOIN domains d ON d.tenant_id = t.id ` + where + `
		ORDER BY d.is_primary DESC, d.id`
}

var (
	tenantByDomain = oneTenantQuery(`WHERE t.id = (SELECT tenant_id FROM domains WHERE domain = ?)`)
	tenantByUUID   = oneTenantQuery(`WHERE t.uuid = ?`)
)

// oneTenant runs query (or stmt, when prepared) for arg.
func (s *Store) oneTenant(ctx context.Context, stmt *sql.Stmt, query string, arg any) (*model.Tenant, error) {
	var rows *sql.Rows
	var err error
	if stmt != nil {
		rows, err = stmt.QueryContext(ctx, arg)
	} else {
		rows, err = s.run().query(ctx, query, arg)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		t *model.Tenant
		r tenantRow
		// The domain's columns are NULL for a tenant without domains.
		dID      sql.NullInt64
		dDomain  sql.NullString
		dPrimary sql.NullBool
		dSSL     sql.NullBool
		dCreated *time.Time
		dst      = append(r.dest(), &dID, &dDomain, &dPrimary, &dSSL, nullTimeColumn{&dCreated})
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
			d := model.Domain{ID: dID.Int64, TenantID: t.ID, Domain: dDomain.String, IsPrimary: dPrimary.Bool, SSLEnabled: dSSL.Bool}
			if dCreated != nil {
				d.CreatedAt = *dCreated
			}
			t.Domains = append(t.Domains, d)
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
	return s.oneTenant(ctx, s.byUUID, tenantByUUID, uuid)
}

// TenantByDomain implements model.Store.
func (s *Store) TenantByDomain(ctx context.Context, domain string) (*model.Tenant, error) {
	return s.oneTenant(ctx, s.byDomain, tenantByDomain, domain)
}

// ListTenants implements model.Store.
func (s *Store) ListTenants(ctx context.Context, opts model.ListOptions) ([]*model.Tenant, int, error) {
	var where []string
	var args []any
	if opts.Status != "" {
		cond, cargs := statusFilter([]model.Status{opts.Status})
		where = append(where, cond)
		args = append(args, cargs...)
	}
	if opts.Search != "" {
		cond, cargs := s.d.searchCondition(opts.Search)
		where = append(where, cond)
		args = append(args, cargs...)
	}
	cond := ""
	if len(where) > 0 {
		cond = ` WHERE ` + strings.Join(where, ` AND `)
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
	var extra []any
	if counted {
		window, extra = `, count(*) OVER ()`, []any{&total}
	}
	rows, err := s.run().query(ctx, `SELECT `+tenantColumns+window+` FROM tenants t`+cond+
		s.d.orderBy(opts.Sort, opts.Desc)+` LIMIT ? OFFSET ?`, append(args, perPage, (page-1)*perPage)...)
	if err != nil {
		return nil, 0, err
	}
	ts, err := collectTenants(rows, extra...)
	if err != nil {
		return nil, 0, err
	}
	if !counted || len(ts) == 0 {
		if err := s.run().queryRow(ctx, `SELECT count(*) FROM tenants t`+cond, args...).Scan(&total); err != nil {
			return nil, 0, err
		}
	}
	return ts, total, s.loadDomains(ctx, ts)
}

// AllTenants implements model.Store.
func (s *Store) AllTenants(ctx context.Context, statuses ...model.Status) ([]*model.Tenant, error) {
	query := `SELECT ` + tenantColumns + ` FROM tenants t`
	var args []any
	if len(statuses) > 0 {
		cond, cargs := statusFilter(statuses)
		query += ` WHERE ` + cond
		args = cargs
	}
	rows, err := s.run().query(ctx, query+` ORDER BY t.id`, args...)
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
	settings, data, err := encodeObjects(t)
	if err != nil {
		return err
	}
	at := s.now()
	// A lifecycle state is not the caller's to set: the status column
	// keeps its value then, and lifecycle is never written here.
	set, args := ``, []any{t.Name}
	if t.Status != "" && !t.Status.Lifecycle() {
		set, args = `status = ?, `, append(args, string(t.Status))
	}
	err = s.run().mustAffect(ctx, model.ErrNotFound, `UPDATE tenants SET name = ?, `+set+`status_reason = ?,
		visitor_message = ?, notes = ?, settings = ?, data = ?, maintenance = ?, maintenance_message = ?,
		maintenance_secret = ?, updated_at = ? WHERE id = ?`,
		append(args, t.StatusReason, t.VisitorMessage, t.Notes, settings, data, t.Maintenance, t.MaintenanceMessage,
			t.MaintenanceSecret, s.d.time(at), t.ID)...)
	if err != nil {
		return err
	}
	t.UpdatedAt = at
	return nil
}

// CommitTenant implements model.Store.
func (s *Store) CommitTenant(ctx context.Context, id int64, status model.Status) error {
	if !status.Valid() {
		return fmt.Errorf("%s: commit tenant %d: %q is not a settable status", s.d.Name, id, status)
	}
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = '', status = ?, updated_at = ?
		WHERE id = ? AND lifecycle = 'provisioning'`, string(status), s.d.time(s.now()), id)
}

// MarkDeleting implements model.Store.
func (s *Store) MarkDeleting(ctx context.Context, id int64) error {
	return s.transition(ctx, id, `UPDATE tenants SET lifecycle = 'deleting', updated_at = ?
		WHERE id = ? AND lifecycle IN ('', 'deleting')`, s.d.time(s.now()), id)
}

// transition runs a conditional update of one tenant's lifecycle; when it
// matches no row, the tenant is missing (ErrNotFound) or in a state the
// update does not start from (*model.StateError).
func (s *Store) transition(ctx context.Context, id int64, query string, args ...any) error {
	n, err := s.run().affected(ctx, query, args...)
	if err != nil || n == 1 {
		return err
	}
	var uuid, status, life string
	err = s.run().queryRow(ctx, `SELECT uuid, status, lifecycle FROM tenants WHERE id = ?`, id).Scan(&uuid, &status, &life)
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
	return s.run().mustAffect(ctx, model.ErrNotFound, `DELETE FROM tenants WHERE id = ?`, id)
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
	return s.inTx(ctx, func(tx runner) error {
		stmt, err := tx.prepare(ctx, `UPDATE tenants SET last_accessed_at = ?
			WHERE id = ? AND (last_accessed_at IS NULL OR last_accessed_at < ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			at := s.d.time(accessed[id])
			if _, err := stmt.ExecContext(ctx, at, id, at); err != nil {
				return err
			}
		}
		return nil
	})
}

// CountByStatus implements model.Store.
func (s *Store) CountByStatus(ctx context.Context) (map[model.Status]int, error) {
	rows, err := s.run().query(ctx, `SELECT status, lifecycle, count(*) FROM tenants GROUP BY status, lifecycle`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[model.Status]int{}
	for _, st := range model.Statuses {
		out[st] = 0
	}
	for rows.Next() {
		var status, lifecycle string
		var n int
		if err := rows.Scan(&status, &lifecycle, &n); err != nil {
			return nil, err
		}
		if lifecycle != "" {
			status = lifecycle
		}
		out[model.Status(status)] += n
	}
	return out, rows.Err()
}
