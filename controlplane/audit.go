package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/model"
)

// Audit lists audit entries, newest first.
func (c *ControlPlane) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	switch {
	case f.Limit < 0 || f.Limit > MaxAuditLimit:
		return nil, &model.ValidationError{Field: "limit", Reason: fmt.Sprintf("must be between 1 and %d", MaxAuditLimit)}
	case f.Limit == 0:
		f.Limit = 100
	}
	f.TenantUUID = strings.TrimSpace(f.TenantUUID)
	return c.store.ListAudit(ctx, f)
}

// RecordAction adds an audit entry for an operation that is not a change to
// a tenant's record (a cache flush, a connection repair, …); tenantUUID may
// be empty and details is stored as JSON.
func (c *ControlPlane) RecordAction(ctx context.Context, action, tenantUUID string, details any, opErr error) {
	c.recordAudit(ctx, action, tenantUUID, nil, jsonValue(details), opErr)
}

// recordAudit appends one entry for the context's actor. A failure to
// record is logged: the change itself has happened and is not undone.
func (c *ControlPlane) recordAudit(ctx context.Context, action, tenantUUID string, before, after json.RawMessage, opErr error) {
	e := tenancy.NewAuditEntry(ctx, action, tenantUUID, before, after, opErr)
	if err := c.store.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
		c.log.WarnContext(ctx, "audit entry not recorded", "action", action, "tenant", tenantUUID, "err", err)
	}
}

// jsonValue encodes v for the audit log (nil when it cannot be encoded).
func jsonValue(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
