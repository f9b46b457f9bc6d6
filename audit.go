package tenancy

import (
	"context"
	"encoding/json"
)

// Actor is who makes a change: an API key's name, "cli", an admin user.
type Actor struct {
	Name      string
	ClientIP  string
	RequestID string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor that the audit log records for
// changes made through the Manager with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the context's actor; without one it is "system".
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		return a
	}
	return Actor{Name: "system"}
}

// audit records a change to a tenant made through the Manager.
func (m *Manager) audit(ctx context.Context, action string, before, after *Tenant, opErr error) {
	uuid := ""
	switch {
	case after != nil:
		uuid = after.UUID
	case before != nil:
		uuid = before.UUID
	}
	m.recordAudit(ctx, action, uuid, tenantJSON(before), tenantJSON(after), opErr)
}

// NewAuditEntry returns the audit entry of an action by the context's
// actor (see WithActor) on the tenant with tenantUUID ("" for none):
// succeeded, or failed with opErr.
func NewAuditEntry(ctx context.Context, action, tenantUUID string, before, after json.RawMessage, opErr error) *AuditEntry {
	a := ActorFrom(ctx)
	e := &AuditEntry{
		Actor: a.Name, Action: action, TenantUUID: tenantUUID, ClientIP: a.ClientIP, RequestID: a.RequestID,
		Outcome: StateSucceeded, Before: before, After: after,
	}
	if opErr != nil {
		e.Outcome, e.Error = StateFailed, opErr.Error()
	}
	return e
}

// recordAudit appends one entry for the context's actor. A failure to
// record is logged: the change itself has happened and is not undone.
func (m *Manager) recordAudit(ctx context.Context, action, tenantUUID string, before, after json.RawMessage, opErr error) {
	if m.auditor == nil {
		return
	}
	e := NewAuditEntry(ctx, action, tenantUUID, before, after, opErr)
	if err := m.auditor.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
		m.log.WarnContext(ctx, "audit entry not recorded", "action", action, "tenant", tenantUUID, "err", err)
	}
}

func tenantJSON(t *Tenant) json.RawMessage {
	if t == nil {
		return nil
	}
	return jsonValue(t)
}

// jsonValue encodes v for the audit log (nil when it cannot be encoded).
func jsonValue(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
