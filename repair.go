package tenancy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/gotenancy/tenancy/tenantdb"
)

// Repair actions reported in RepairAction.Action.
const (
	// RepairUndidCreate: a create whose process died was undone (its
	// database dropped, its record removed); creating it again works.
	RepairUndidCreate = "undid create"
	// RepairFinishedDelete: a delete whose process died was finished.
	RepairFinishedDelete = "finished delete"
	// RepairInProgress: the create or delete is still running elsewhere
	// (its lock is held); nothing was changed.
	RepairInProgress = "in progress"
	// RepairDroppedOrphan: a tenant database that no tenant owns was
	// dropped.
	RepairDroppedOrphan = "dropped orphan database"
	// RepairEndedMaintenance: a restore or move whose process died had
	// left its tenant in maintenance; the maintenance was ended (the
	// tenant's database is the one the catalog names: the old one when
	// the swap had not committed, the new one when it had).
	RepairEndedMaintenance = "ended maintenance of a dead data operation"
	// RepairRemovedLeftover: a work file of a database copy that a killed
	// restore left was removed.
	RepairRemovedLeftover = "removed leftover copy"
)

// RepairAction is one thing Repair did or found.
type RepairAction struct {
	Tenant   string `json:"tenant_uuid,omitempty"`
	Name     string `json:"name,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Database string `json:"database_name"`
	Action   string `json:"action"`
	// Holder names the lock holder of an operation in progress.
	Holder string `json:"holder,omitempty"`
	Error  string `json:"error,omitempty"`
}

// RepairReport lists what Repair did.
type RepairReport struct {
	Actions []RepairAction `json:"actions"`
	// Failed counts the tenants or databases Repair could not repair.
	Failed int `json:"failed"`
}

// Repair finishes what crashed processes left half done: every tenant
// still provisioning whose create no longer runs is undone, every tenant
// still deleting whose delete no longer runs is finished, and (where the
// provisioner can list its databases) databases that no tenant owns are
// dropped. Operations still running (their tenant's lock is held) are left
// alone and reported as in progress. serve runs it at start; the CLI and
// the API run it on demand, and Create, Delete and the other operations
// repair the one tenant they touch.
//
// The rule it keeps: a create is undone unless it committed, a delete is
// finished once it started; a database is made only after its tenant's
// record, and dropped before it, so a database without a record is always
// an orphan.
func (m *Manager) Repair(ctx context.Context) (*RepairReport, error) {
	report := &RepairReport{Actions: []RepairAction{}}
	// Databases are listed before the catalog is read: a database made
	// after this listing is not considered, and one listed has had its
	// record since before the listing, unless it is an orphan.
	var dbs []string
	if l, ok := m.prov.(tenantdb.Lister); ok {
		var err error
		if dbs, err = l.List(ctx); err != nil {
			return nil, err
		}
	}
	stuck, err := m.store.AllTenants(ctx, LifecycleStatuses...)
	if err != nil {
		return nil, err
	}
	for _, t := range stuck {
		a := RepairAction{Tenant: t.UUID, Name: t.Name, Domain: t.PrimaryDomain(), Database: t.DatabaseName}
		a.Action, err = m.settle(ctx, t)
		var le *LockedError
		switch {
		case errors.As(err, &le):
			a.Action, a.Holder = RepairInProgress, le.Holder
		case err != nil:
			a.Action, a.Error = "failed", err.Error()
			report.Failed++
		case a.Action == "":
			continue // committed or finished meanwhile
		}
		report.Actions = append(report.Actions, a)
	}
	if len(dbs) > 0 {
		all, err := m.store.AllTenants(ctx)
		if err != nil {
			return nil, err
		}
		owned := make(map[string]bool, len(all)+len(stuck))
		for _, t := range stuck {
			owned[t.DatabaseName] = true // repaired above, or in progress
		}
		// A database of a tenant's next generation (name_gN) is an orphan
		// only when no restore or move of that tenant runs: it is made
		// before the catalog names it.
		byBase := make(map[string]*Tenant, len(all))
		for _, t := range all {
			owned[t.DatabaseName] = true
			byBase[generationSuffix.ReplaceAllString(t.DatabaseName, "")] = t
		}
		for _, name := range dbs {
			if owned[name] {
				continue
			}
			a := RepairAction{Database: name, Action: RepairDroppedOrphan}
			if t := byBase[generationSuffix.ReplaceAllString(name, "")]; t != nil {
				a.Tenant = t.UUID
				dropped, holder, err := m.dropOrphanOf(ctx, t, name)
				switch {
				case err != nil:
					a.Action, a.Error = "failed", err.Error()
					report.Failed++
				case holder != "":
					a.Action, a.Holder = RepairInProgress, holder
				case !dropped:
					continue // the catalog names it now
				}
				report.Actions = append(report.Actions, a)
				continue
			}
			if err := m.prov.Drop(ctx, name); err != nil {
				a.Error = err.Error()
				report.Failed++
			}
			report.Actions = append(report.Actions, a)
		}
	}
	if sw, ok := m.prov.(tenantdb.Sweeper); ok {
		removed, err := sw.Sweep(ctx)
		for _, name := range removed {
			report.Actions = append(report.Actions, RepairAction{Database: name, Action: RepairRemovedLeftover})
		}
		if err != nil {
			report.Actions = append(report.Actions, RepairAction{Action: "failed", Error: err.Error()})
			report.Failed++
		}
	}
	ended, err := m.endDeadMaintenance(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range ended {
		if a.Error != "" {
			report.Failed++
		}
		report.Actions = append(report.Actions, a)
	}
	if len(report.Actions) > 0 {
		m.recordAudit(ctx, "tenancy.repair", "", nil, jsonValue(report), nil)
	}
	return report, nil
}

// settle repairs one tenant in a lifecycle state: under its lock (taken
// without waiting) an abandoned create is undone and an abandoned delete
// finished. It returns what it did ("" when the tenant had meanwhile
// committed or gone). A lock held by a live operation is a *LockedError
// wrapped in a *StateError naming the tenant's state.
func (m *Manager) settle(ctx context.Context, t *Tenant) (string, error) {
	if !t.Status.Lifecycle() {
		return "", nil
	}
	ctx, lock, err := m.lockTenant(ctx, t.UUID, "repair", 0, nil)
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return "", &stateLockedError{StateError{Tenant: t.UUID, Status: t.Status}, le}
		}
		return "", err
	}
	defer lock.release()
	cur, err := m.store.TenantByUUID(ctx, t.UUID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch cur.Status {
	case StatusProvisioning:
		if err := m.undoCreate(ctx, cur); err != nil {
			return "", err
		}
		m.audit(ctx, "tenant.create.undo", cur, nil, nil)
		m.emit(ctx, Event{Kind: EventDeleted, Tenant: cur})
		return RepairUndidCreate, nil
	case StatusDeleting:
		if err := m.finishDelete(ctx, cur); err != nil {
			return "", err
		}
		m.audit(ctx, "tenant.delete", cur, nil, nil)
		m.emit(ctx, Event{Kind: EventDeleted, Tenant: cur})
		return RepairFinishedDelete, nil
	}
	return "", nil
}

// stateLockedError is a *StateError of a tenant whose create or delete is
// running: errors.Is matches both ErrTenantState and ErrLocked.
type stateLockedError struct {
	StateError
	locked *LockedError
}

func (e *stateLockedError) Error() string {
	return fmt.Sprintf("tenant %s is %s (locked by %s)", e.Tenant, e.Status, e.locked.Holder)
}

func (e *stateLockedError) Unwrap() []error { return []error{&e.StateError, e.locked} }

// ready returns t, repaired if it was left in a lifecycle state by a
// crash, or a *StateError when it is being created or deleted: the guard
// of every operation on one tenant.
func (m *Manager) ready(ctx context.Context, t *Tenant) (*Tenant, error) {
	if !t.Status.Lifecycle() {
		return t, nil
	}
	if _, err := m.settle(ctx, t); err != nil {
		return nil, err
	}
	// Repaired: an undone create or a finished delete leaves nothing.
	cur, err := m.store.TenantByUUID(ctx, t.UUID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %s (its %s was interrupted and has been finished)", ErrNotFound, t.UUID, lifecycleOp(t.Status))
	}
	if err != nil {
		return nil, err
	}
	if cur.Status.Lifecycle() {
		return nil, &StateError{Tenant: cur.UUID, Status: cur.Status}
	}
	return cur, nil
}

func lifecycleOp(s Status) string {
	if s == StatusProvisioning {
		return "create"
	}
	return "delete"
}

// withoutLifecycle drops tenants in a lifecycle state from a fleet run's
// targets.
func withoutLifecycle(ts []*Tenant) []*Tenant {
	return slices.DeleteFunc(ts, func(t *Tenant) bool { return t.Status.Lifecycle() })
}

// getReady is Get for operations that change a tenant: a tenant left
// provisioning or deleting by a crash is repaired first, and one whose
// create or delete is running is a *StateError.
func (m *Manager) getReady(ctx context.Context, ref string) (*Tenant, error) {
	t, err := m.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return m.ready(ctx, t)
}

// dropOrphanOf drops the database name, another generation of tenant t's,
// under t's lock (taken without waiting) unless the catalog names it by
// then. A held lock (a restore or move running) returns its holder.
func (m *Manager) dropOrphanOf(ctx context.Context, t *Tenant, name string) (dropped bool, holder string, err error) {
	lctx, lock, err := m.lockTenant(ctx, t.UUID, "repair", 0, nil)
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return false, le.Holder, nil
		}
		return false, "", err
	}
	defer lock.release()
	cur, err := m.store.TenantByUUID(lctx, t.UUID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, "", err
	}
	if err == nil && cur.DatabaseName == name {
		return false, "", nil
	}
	return true, "", m.prov.Drop(lctx, name)
}

// endDeadMaintenance ends the maintenance that a restore or move left on
// when its process died: the tenants in maintenance with the data
// operations' message whose lock is free.
func (m *Manager) endDeadMaintenance(ctx context.Context) ([]RepairAction, error) {
	all, err := m.store.AllTenants(ctx)
	if err != nil {
		return nil, err
	}
	var out []RepairAction
	for _, t := range all {
		if !t.Maintenance || t.MaintenanceMessage != dataOpMaintenance {
			continue
		}
		a := RepairAction{Tenant: t.UUID, Name: t.Name, Domain: t.PrimaryDomain(), Database: t.DatabaseName, Action: RepairEndedMaintenance}
		lctx, lock, err := m.lockTenant(ctx, t.UUID, "repair", 0, nil)
		var le *LockedError
		switch {
		case errors.As(err, &le):
			a.Action, a.Holder = RepairInProgress, le.Holder
		case err != nil:
			a.Action, a.Error = "failed", err.Error()
		default:
			cur, gerr := m.store.TenantByUUID(lctx, t.UUID)
			if gerr == nil && cur.Maintenance && cur.MaintenanceMessage == dataOpMaintenance {
				cur.Maintenance, cur.MaintenanceMessage = false, ""
				if gerr = m.store.UpdateTenant(lctx, cur); gerr == nil {
					m.emit(lctx, Event{Kind: EventUpdated, Tenant: cur})
				}
			}
			lock.release()
			if gerr != nil {
				a.Action, a.Error = "failed", gerr.Error()
			}
		}
		out = append(out, a)
	}
	return out, nil
}
