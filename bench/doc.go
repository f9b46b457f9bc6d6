// Package bench holds the benchmarks that measure tenancy's numbers against
// baselines run in the same process: tenant creation, fleet migrations and
// the connection manager. Run them with bench/run.sh or
// `go test -run '^$' -bench . ./bench/`.
package bench
