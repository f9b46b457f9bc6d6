package sqlstore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gotenancy/tenancy/model"
)

// Changes to a tenant's domains first lock the tenant's row (lockTenant),
// so that they take turns per tenant and each one sees the domains the
// previous one left. On MySQL this is also the order every write follows
// (the tenant, then through the triggers the catalog_version row), so they
// cannot deadlock with tenant updates.

// insertDomain inserts d and returns its id.
func (s *Store) insertDomain(ctx context.Context, tx runner, d *model.Domain) (int64, error) {
	id, err := tx.insert(ctx, `INSERT INTO domains (tenant_id, domain, is_primary, ssl_enabled, created_at)
		VALUES (?, ?, ?, ?, ?)`, d.TenantID, d.Domain, d.IsPrimary, d.SSLEnabled, s.d.time(d.CreatedAt))
	if err != nil {
		return 0, s.mapConstraint(err)
	}
	return id, nil
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
		ids := make([]any, len(chunk))
		for i, t := range chunk {
			ids[i] = t.ID
		}
		if err := s.loadDomainChunk(ctx, byID, ids); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) loadDomainChunk(ctx context.Context, byID map[int64]*model.Tenant, ids []any) error {
	rows, err := s.run().query(ctx, `SELECT id, tenant_id, domain, is_primary, ssl_enabled, created_at FROM domains
		WHERE tenant_id IN (`+params(len(ids))+`) ORDER BY tenant_id, is_primary DESC, id`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d model.Domain
		if err := rows.Scan(&d.ID, &d.TenantID, &d.Domain, &d.IsPrimary, &d.SSLEnabled, timeColumn{&d.CreatedAt}); err != nil {
			return err
		}
		if t, ok := byID[d.TenantID]; ok {
			t.Domains = append(t.Domains, d)
		}
	}
	return rows.Err()
}

// lockTenant locks the tenant's row for the rest of tx and sets its
// updated_at to at, or returns ErrNotFound.
func (s *Store) lockTenant(ctx context.Context, tx runner, id int64, at time.Time) error {
	return tx.mustAffect(ctx, model.ErrNotFound, `UPDATE tenants SET updated_at = ? WHERE id = ?`, s.d.time(at), id)
}

// lockTenantOfDomain is lockTenant for a change to one of its domains: a
// missing tenant has no such domain.
func (s *Store) lockTenantOfDomain(ctx context.Context, tx runner, id int64) error {
	err := s.lockTenant(ctx, tx, id, s.now())
	if errors.Is(err, model.ErrNotFound) {
		return model.ErrDomainNotFound
	}
	return err
}

// AddDomain implements model.Store.
func (s *Store) AddDomain(ctx context.Context, d *model.Domain) error {
	at := s.now()
	var id int64
	var primary bool
	err := s.inTx(ctx, func(tx runner) error {
		if err := s.lockTenant(ctx, tx, d.TenantID, at); err != nil {
			return err
		}
		primary = d.IsPrimary
		if primary {
			if _, err := tx.exec(ctx, `UPDATE domains SET is_primary = ? WHERE tenant_id = ? AND is_primary`, false, d.TenantID); err != nil {
				return err
			}
		} else {
			var others int
			if err := tx.queryRow(ctx, `SELECT count(*) FROM domains WHERE tenant_id = ?`, d.TenantID).Scan(&others); err != nil {
				return err
			}
			primary = others == 0
		}
		nd := *d
		nd.IsPrimary, nd.CreatedAt = primary, at
		var err error
		id, err = s.insertDomain(ctx, tx, &nd)
		return err
	})
	if err != nil {
		return err
	}
	d.ID, d.IsPrimary, d.CreatedAt = id, primary, at
	return nil
}

// RemoveDomain implements model.Store.
func (s *Store) RemoveDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx runner) error {
		if err := s.lockTenantOfDomain(ctx, tx, tenantID); err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT id, is_primary, domain = ? FROM domains WHERE tenant_id = ? ORDER BY id`+s.d.ForUpdate,
			domain, tenantID)
		if err != nil {
			return err
		}
		var (
			n, mine, oldest int64
			wasPrimary      bool
		)
		for rows.Next() {
			var id int64
			var primary, match bool
			if err := rows.Scan(&id, &primary, &match); err != nil {
				rows.Close()
				return err
			}
			n++
			if match {
				mine, wasPrimary = id, primary
			} else if oldest == 0 {
				oldest = id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if mine == 0 {
			return model.ErrDomainNotFound
		}
		if n <= 1 {
			return model.ErrLastDomain
		}
		if _, err := tx.exec(ctx, `DELETE FROM domains WHERE id = ?`, mine); err != nil {
			return err
		}
		if wasPrimary {
			_, err = tx.exec(ctx, `UPDATE domains SET is_primary = ? WHERE id = ?`, true, oldest)
		}
		return err
	})
}

// UpdateDomain implements model.Store.
func (s *Store) UpdateDomain(ctx context.Context, tenantID, domainID int64, domain string, sslEnabled bool) error {
	return s.inTx(ctx, func(tx runner) error {
		if err := s.lockTenantOfDomain(ctx, tx, tenantID); err != nil {
			return err
		}
		n, err := tx.affected(ctx, `UPDATE domains SET domain = ?, ssl_enabled = ? WHERE id = ? AND tenant_id = ?`,
			domain, sslEnabled, domainID, tenantID)
		if err != nil {
			return s.mapConstraint(err)
		}
		if n == 0 {
			return model.ErrDomainNotFound
		}
		return nil
	})
}

// SetPrimaryDomain implements model.Store.
func (s *Store) SetPrimaryDomain(ctx context.Context, tenantID int64, domain string) error {
	return s.inTx(ctx, func(tx runner) error {
		if err := s.lockTenantOfDomain(ctx, tx, tenantID); err != nil {
			return err
		}
		var found int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM domains WHERE tenant_id = ? AND domain = ?`, tenantID, domain).Scan(&found); err != nil {
			return err
		}
		if found == 0 {
			return model.ErrDomainNotFound
		}
		_, err := tx.exec(ctx, `UPDATE domains SET is_primary = (domain = ?) WHERE tenant_id = ?`, domain, tenantID)
		return err
	})
}
