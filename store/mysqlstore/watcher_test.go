package mysqlstore_test

import (
	"testing"

	"github.com/gotenancy/tenancy/internal/testenv"
	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
	"github.com/gotenancy/tenancy/store/mysqlstore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// TestWatcherConformance runs the watcher suite on a catalog database
// watched by one Store and changed through another, which stands for
// another node.
func TestWatcherConformance(t *testing.T) {
	t.Parallel()
	watchertest.Run(t, watchertest.Harness{
		New: func(t *testing.T) (model.Watcher, func(t *testing.T)) {
			dsn := testenv.NewMySQLDatabase(t)
			watched := openStore(t, dsn)
			other := openStore(t, dsn)
			return watched, storetest.CreatesTenants(other)
		},
		Close: func(w model.Watcher) error { return w.(*mysqlstore.Store).Close() },
	})
}
