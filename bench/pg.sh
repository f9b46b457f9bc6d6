#!/usr/bin/env bash
# GET /api/notes/count over 1,000 tenants in postgres-database mode (two
# shards) with the connection budget at 80: failed requests, p99, and the
# most tenant connections the two servers held at once, sampled from
# pg_stat_activity every 50 ms during the load. Starts its own servers with
# scripts/services. Needs wrk. Results go to bench/results/pg.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/pg.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
TENANTS=${TENANTS:-1000}
DURATION=${DURATION:-15s}
out=bench/results
mkdir -p "$out"
work=$(mktemp -d)
eval "$(scripts/services start)"
trap 'kill $(jobs -p) 2>/dev/null || true; scripts/services stop; rm -rf "$work"' EXIT
go build -o "$work/tenancy" ./cmd/tenancy
psql -q "$TENANCY_TEST_POSTGRES_URL" -c "CREATE DATABASE bench_catalog"
export TENANCY_DATABASE_URL=${TENANCY_TEST_POSTGRES_URL/\/postgres\?/\/bench_catalog?}
export TENANCY_TENANT_DB=postgres-database
export TENANCY_SHARDS="a=$TENANCY_TEST_POSTGRES_URL,b=$TENANCY_TEST_POSTGRES_URL2"
export TENANCY_CONNECTION_BUDGET=80
export TENANCY_API_RATE_LIMIT=false

echo "== creating $TENANTS tenants in postgres-database mode"
start=$(date +%s)
"$work/tenancy" --data-dir "$work/data" create-test-tenants --count "$TENANTS" --domain-prefix t --with-data >/dev/null
echo "created in $(( $(date +%s) - start )) s"
"$work/tenancy" --data-dir "$work/data" serve --addr 127.0.0.1:8091 --access-log=false >"$work/serve.log" 2>&1 &
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:8091/healthz && break; sleep 0.1; done

# sample: each server's tenant connections every 50 ms, in one psql
# session per server, until stopped.
q="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname LIKE 'tenant_%'"
printf '%s\n\\watch 0.05\n' "$q" | psql -At "$TENANCY_TEST_POSTGRES_URL" >"$work/samples_a.txt" 2>/dev/null &
sampler_a=$!
printf '%s\n\\watch 0.05\n' "$q" | psql -At "$TENANCY_TEST_POSTGRES_URL2" >"$work/samples_b.txt" 2>/dev/null &
sampler_b=$!
TENANTS=$TENANTS HOST_SUFFIX=.localhost wrk -t2 -c64 -d"$DURATION" --latency -s bench/random-host.lua \
	http://127.0.0.1:8091/api/notes/count >"$work/wrk.txt"
kill "$sampler_a" "$sampler_b"
{
	echo "# $(date -u +%FT%TZ) $(nproc) cores, $TENANTS tenants, postgres-database on 2 shards, budget $TENANCY_CONNECTION_BUDGET"
	awk '/Requests\/sec/ {print "requests/s: " $2} $1=="99%" {print "p99: " $2} $1=="50%" {print "p50: " $2} /requests in/ {print "requests: " $1} /Non-2xx/ {print "non-2xx: " $5} /Socket errors/ {print}' "$work/wrk.txt"
	grep -q Non-2xx "$work/wrk.txt" || echo "non-2xx: 0"
	max_a=$(grep -E '^[0-9]+$' "$work/samples_a.txt" | sort -n | tail -1)
	max_b=$(grep -E '^[0-9]+$' "$work/samples_b.txt" | sort -n | tail -1)
	echo "tenant connections: shard a max $max_a, shard b max $max_b, together at most $((max_a + max_b)) (budget $TENANCY_CONNECTION_BUDGET; $(grep -cE '^[0-9]+$' "$work/samples_a.txt") + $(grep -cE '^[0-9]+$' "$work/samples_b.txt") samples)"
} | tee "$out/pg.txt"
