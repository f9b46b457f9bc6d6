package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/gotenancy/tenancy/model"
	"github.com/gotenancy/tenancy/resolve/watchertest"
	"github.com/gotenancy/tenancy/store/sqlitestore"
	"github.com/gotenancy/tenancy/store/storetest"
)

// TestWatcherConformance runs the watcher suite on a catalog file watched
// by one Store and changed through another, which stands for another
// process.
func TestWatcherConformance(t *testing.T) {
	t.Parallel()
	watchertest.Run(t, watchertest.Harness{
		New: func(t *testing.T) (model.Watcher, func(t *testing.T)) {
			path := filepath.Join(t.TempDir(), "catalog.sqlite")
			watched := openStore(t, path)
			other := openStore(t, path)
			return watched, storetest.CreatesTenants(other)
		},
		Close: func(w model.Watcher) error { return w.(*sqlitestore.Store).Close() },
	})
}
