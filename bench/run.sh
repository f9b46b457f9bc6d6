#!/usr/bin/env bash
# Measures the core numbers, each beside a baseline run in the same process
# or script run (these machines are shared and noisy, so read the ratios):
#   - creating a tenant with five migrations vs a bare SQLite file with them
#   - `migrate --all` over BENCH_TENANTS tenants (default 1000): nothing to
#     apply, and one new migration; default concurrency vs sequential
#   - the connection manager: acquire on a hit vs a mutex-guarded map, and
#     memory with 1,000 tenants touched under a budget of 256
#   - the same fleet runs end to end through the `tenancy` binary
# Results go to bench/results/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
mkdir -p "$out"
export BENCH_TENANTS=${BENCH_TENANTS:-1000}

echo "== go benchmarks (BENCH_TENANTS=$BENCH_TENANTS)"
go test -run '^$' -bench 'Create' -benchtime 200x -count 3 ./bench/ | tee "$out/create.txt"
go test -run '^$' -bench 'MigrateAll' -benchtime 3x -timeout 30m ./bench/ | tee "$out/fleet.txt"
go test -run '^$' -bench . -benchmem -count 3 ./tenantdb/ | tee "$out/conn.txt"

echo "== end to end through the tenancy binary"
bin=$(mktemp -d)/tenancy
go build -o "$bin" ./cmd/tenancy
data=$(mktemp -d)
trap 'rm -rf "$data" "$(dirname "$bin")"' EXIT
"$bin" --data-dir "$data" create-test-tenants --count "$BENCH_TENANTS" --domain-prefix fleet >/dev/null
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
{
	echo "tenants: $BENCH_TENANTS"
	echo "migrate --all, nothing to apply:      $(seconds "$bin" --data-dir "$data" migrate --all) s"
	echo "migrate --all --concurrency 1 (noop): $(seconds "$bin" --data-dir "$data" migrate --all --concurrency 1) s"
	printf -- '-- +goose Up\nALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;\n-- +goose Down\nALTER TABLE notes DROP COLUMN pinned;\n' \
		>"$data/migrations/tenant/00003_pinned.sql"
	echo "migrate --all, one new migration:     $(seconds "$bin" --data-dir "$data" migrate --all) s"
	"$bin" --data-dir "$data" migrate status -o json | grep -c '"version": 3' | sed 's/^/tenants at version 3: /'
} | tee "$out/e2e.txt"
