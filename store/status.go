package store

import (
	"strings"

	"github.com/gotenancy/tenancy/model"
)

// StatusColumns splits a tenant's status into the catalog's two columns:
// a lifecycle state goes to lifecycle, and status keeps a settable value
// (inactive), as its CHECK constraint wants.
func StatusColumns(st model.Status) (status, lifecycle string) {
	if st.Lifecycle() {
		return string(model.StatusInactive), string(st)
	}
	return string(st), ""
}

// SettableOrEmpty returns a settable status as text, "" for a lifecycle
// state (which an update must not write to the status column).
func SettableOrEmpty(st model.Status) string {
	if st.Lifecycle() {
		return ""
	}
	return string(st)
}

// SplitStatuses separates settable statuses from lifecycle states.
func SplitStatuses(statuses []model.Status) (settable, lifecycle []string) {
	for _, st := range statuses {
		if st.Lifecycle() {
			lifecycle = append(lifecycle, string(st))
		} else {
			settable = append(settable, string(st))
		}
	}
	return settable, lifecycle
}

// StatusFilter is the condition, with ? placeholders, matching tenants
// (aliased t) in any of statuses, lifecycle states or settable statuses,
// and its arguments.
func StatusFilter(statuses []model.Status) (string, []any) {
	settable, lifecycle := SplitStatuses(statuses)
	var conds []string
	var args []any
	if len(settable) > 0 {
		conds = append(conds, `(t.lifecycle = '' AND t.status IN (?`+strings.Repeat(",?", len(settable)-1)+`))`)
		for _, s := range settable {
			args = append(args, s)
		}
	}
	if len(lifecycle) > 0 {
		conds = append(conds, `t.lifecycle IN (?`+strings.Repeat(",?", len(lifecycle)-1)+`)`)
		for _, s := range lifecycle {
			args = append(args, s)
		}
	}
	return `(` + strings.Join(conds, ` OR `) + `)`, args
}
