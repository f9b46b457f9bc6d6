//go:build !unix

package jobs

import "context"

// lockFile does nothing where flock is not available: processes sharing a
// SQLite jobs database must then not start at the same moment.
func lockFile(ctx context.Context, path string) (func(), error) {
	return func() {}, nil
}
