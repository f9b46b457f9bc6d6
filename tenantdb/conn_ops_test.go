package tenantdb

import (
	"context"
	"testing"
)

func TestCloseUnusedAndRepair(t *testing.T) {
	t.Parallel()
	o := newCountingOpener(t)
	createAll(t, o.p, names("db", 4))
	m := newManager(t, o, &ConnConfig{MaxOpen: 8})
	inUse := acquire(t, m, names("db", 1)[0])
	for _, n := range names("db", 4)[1:] {
		acquire(t, m, n).Release()
	}
	if got := m.CloseUnused(); got != 3 {
		t.Fatalf("CloseUnused closed %d, want 3", got)
	}
	if st := m.Stats(); st.Open != 1 || st.InUse != 1 {
		t.Fatalf("after CloseUnused: %+v", st)
	}
	ping(t, inUse) // the handle in use was left alone
	inUse.Release()

	for _, n := range names("db", 4) {
		acquire(t, m, n).Release()
	}
	if broken := m.Repair(context.Background()); len(broken) != 0 {
		t.Fatalf("Repair forgot healthy handles %v", broken)
	}
	if got := m.Names(); len(got) != 4 {
		t.Fatalf("open after Repair: %v", got)
	}
}
