package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// CountByStatus counts tenants in each status.
func (m *Manager) CountByStatus(ctx context.Context) (map[Status]int, error) {
	return m.store.CountByStatus(ctx)
}

// BulkChangeStatus is ChangeStatus for several tenants, given by uuid.
// Every uuid is checked first: one unknown or malformed uuid changes
// nothing.
func (m *Manager) BulkChangeStatus(ctx context.Context, uuids []string, c StatusChange) ([]*Tenant, error) {
	if err := validateText("visitor_message", c.VisitorMessage, maxMessageLen); err != nil {
		return nil, err
	}
	return m.bulkStatus(ctx, uuids, c.Status, c.Reason, func(t *Tenant) (*Tenant, error) {
		return m.ChangeStatus(ctx, t.UUID, c)
	})
}

// bulkStatus checks the status, the reason and every uuid, then changes
// each tenant with set.
func (m *Manager) bulkStatus(ctx context.Context, uuids []string, status Status, reason string, set func(*Tenant) (*Tenant, error)) ([]*Tenant, error) {
	if _, err := ParseStatus(string(status)); err != nil {
		return nil, err
	}
	if err := validateText("reason", reason, maxMessageLen); err != nil {
		return nil, err
	}
	if len(uuids) == 0 {
		return nil, &ValidationError{Field: "tenant_uuids", Reason: "must list at least one tenant"}
	}
	if len(uuids) > 1000 {
		return nil, &ValidationError{Field: "tenant_uuids", Reason: "at most 1000 tenants at once"}
	}
	seen := map[string]bool{}
	var targets []*Tenant
	for _, u := range uuids {
		id, err := uuid.Parse(u)
		if err != nil {
			return nil, &ValidationError{Field: "tenant_uuids", Reason: fmt.Sprintf("%q is not a uuid", u)}
		}
		if seen[id.String()] {
			continue
		}
		seen[id.String()] = true
		t, err := m.store.TenantByUUID(ctx, id.String())
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("%w: %s", ErrNotFound, u)
			}
			return nil, err
		}
		targets = append(targets, t)
	}
	out := make([]*Tenant, 0, len(targets))
	for _, t := range targets {
		updated, err := set(t)
		if err != nil {
			return out, err
		}
		out = append(out, updated)
	}
	return out, nil
}

// StatusChange is a change of a tenant's status with its two texts.
type StatusChange struct {
	Status Status
	// Reason is the operator's internal reason, recorded on the tenant
	// and in the audit log; it is never shown to visitors.
	Reason string
	// VisitorMessage is shown to visitors on the tenant's status page
	// while the status refuses them (optional).
	VisitorMessage string
}

// ChangeStatus sets a tenant's status, its reason and its visitor message
// together: both texts are replaced (empty clears them), so a message
// written for an earlier status never outlives it.
func (m *Manager) ChangeStatus(ctx context.Context, ref string, c StatusChange) (*Tenant, error) {
	return m.update(ctx, "tenant.status", ref, UpdateRequest{Status: &c.Status, StatusReason: &c.Reason, VisitorMessage: &c.VisitorMessage})
}

// SetMaintenanceAll turns maintenance mode on or off for every tenant and
// returns how many changed.
func (m *Manager) SetMaintenanceAll(ctx context.Context, on bool, message string) (int, error) {
	if err := validateText("message", message, maxMessageLen); err != nil {
		return 0, err
	}
	all, err := m.store.AllTenants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range all {
		if t.Maintenance == on && (!on || t.MaintenanceMessage == strings.TrimSpace(message)) {
			continue
		}
		if _, err := m.SetMaintenance(ctx, t.UUID, on, message); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// DatabaseStats describes a tenant database.
type DatabaseStats struct {
	SizeBytes  int64 `json:"size_bytes"`
	TableCount int   `json:"table_count"`
	Version    int64 `json:"migration_version"`
}

// DatabaseStats measures a tenant's database: its size on disk, its tables
// and its migration version.
func (m *Manager) DatabaseStats(ctx context.Context, t *Tenant) (DatabaseStats, error) {
	var ds DatabaseStats
	var err error
	if ds.SizeBytes, err = m.prov.Size(ctx, t.DatabaseName); err != nil {
		return ds, err
	}
	h, err := m.acquire(ctx, t)
	if err != nil {
		return ds, fmt.Errorf("open database %s: %w", t.DatabaseName, err)
	}
	defer h.Release()
	var query string
	switch m.prov.Dialect() {
	case "sqlite3":
		query = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	case "mysql":
		query = `SELECT count(*) FROM information_schema.tables WHERE table_schema = database()`
	default:
		query = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	if err := h.DB().QueryRowContext(ctx, query).Scan(&ds.TableCount); err != nil {
		return ds, err
	}
	ds.Version, err = m.migrations.Version(ctx, m.prov.Dialect(), h.DB())
	return ds, err
}

// DomainUpdate lists a domain's fields to change; nil fields are kept.
type DomainUpdate struct {
	Domain     *string
	Primary    *bool
	SSLEnabled *bool
}

// domainByID finds one of a tenant's domains by id.
func domainByID(t *Tenant, id int64) (*Domain, error) {
	for i := range t.Domains {
		if t.Domains[i].ID == id {
			return &t.Domains[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no domain %d on %s", ErrDomainNotFound, id, t.Name)
}

// UpdateDomain changes one of a tenant's domains, given by id: its name,
// its SSL flag, or makes it primary (a domain stops being primary only by
// another becoming primary).
func (m *Manager) UpdateDomain(ctx context.Context, ref string, domainID int64, req DomainUpdate) (*Tenant, error) {
	t, err := m.getReady(ctx, ref)
	if err != nil {
		return nil, err
	}
	d, err := domainByID(t, domainID)
	if err != nil {
		return nil, err
	}
	name, ssl := d.Domain, d.SSLEnabled
	if req.Domain != nil {
		if name, err = NormalizeDomain(*req.Domain); err != nil {
			return nil, err
		}
		if err := m.refuseCentral(name); err != nil {
			return nil, err
		}
	}
	if req.SSLEnabled != nil {
		ssl = *req.SSLEnabled
	}
	if req.Primary != nil && !*req.Primary && d.IsPrimary {
		return nil, &ValidationError{Field: "is_primary", Reason: "make another domain primary instead"}
	}
	if name != d.Domain || ssl != d.SSLEnabled {
		if err := m.store.UpdateDomain(ctx, t.ID, d.ID, name, ssl); err != nil {
			if errors.Is(err, ErrDomainTaken) {
				return nil, fmt.Errorf("%w: %s", ErrDomainTaken, name)
			}
			return nil, err
		}
	}
	if req.Primary != nil && *req.Primary && !d.IsPrimary {
		if err := m.store.SetPrimaryDomain(ctx, t.ID, name); err != nil {
			return nil, err
		}
	}
	old := t
	if t, err = m.store.TenantByUUID(ctx, t.UUID); err != nil {
		return nil, err
	}
	m.audit(ctx, "domain.update", old, t, nil)
	if name != d.Domain {
		m.emit(ctx, Event{Kind: EventDomainRemoved, Tenant: t, Domain: d.Domain})
		m.emit(ctx, Event{Kind: EventDomainAdded, Tenant: t, Domain: name})
	} else {
		m.emit(ctx, Event{Kind: EventUpdated, Tenant: t})
	}
	return t, nil
}
