package resolve

import (
	"maps"

	"github.com/gotenancy/tenancy/model"
)

// snapshot is the Cache's view of the catalog. A published snapshot is never
// changed: writers clone it, change the clone and publish that.
type snapshot struct {
	byDomain map[string]*model.Tenant
	byUUID   map[string]*model.Tenant
}

func newSnapshot(n int) *snapshot {
	return &snapshot{byDomain: make(map[string]*model.Tenant, n), byUUID: make(map[string]*model.Tenant, n)}
}

func (s *snapshot) clone() *snapshot {
	return &snapshot{byDomain: maps.Clone(s.byDomain), byUUID: maps.Clone(s.byUUID)}
}

// change is one update of the snapshot: a tenant's new state, or its
// deletion.
type change struct {
	tenant  *model.Tenant // set for an upsert
	deleted string        // uuid of a deleted tenant
}

// apply makes the change on an unpublished snapshot.
func (s *snapshot) apply(c change) {
	if c.tenant != nil {
		s.upsert(c.tenant)
	} else {
		s.remove(c.deleted)
	}
}

// upsert puts t in place of the tenant's previous state, unless the state it
// has is newer (hooks of concurrent changes may run out of order).
func (s *snapshot) upsert(t *model.Tenant) {
	if old := s.byUUID[t.UUID]; old != nil {
		if old.UpdatedAt.After(t.UpdatedAt) {
			return
		}
		s.dropDomains(old)
	}
	s.byUUID[t.UUID] = t
	for _, d := range t.Domains {
		s.byDomain[d.Domain] = t
	}
}

// remove forgets the tenant with the uuid and its domains.
func (s *snapshot) remove(uuid string) {
	if old := s.byUUID[uuid]; old != nil {
		s.dropDomains(old)
		delete(s.byUUID, uuid)
	}
}

// dropDomains forgets the domains of old that still point at its tenant (a
// domain may have moved to another tenant already).
func (s *snapshot) dropDomains(old *model.Tenant) {
	for _, d := range old.Domains {
		if cur := s.byDomain[d.Domain]; cur != nil && cur.UUID == old.UUID {
			delete(s.byDomain, d.Domain)
		}
	}
}
