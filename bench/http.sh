#!/usr/bin/env bash
# HTTP throughput of the tenancy stack against baselines measured in the same
# run, with wrk on loopback (both share this machine's cores, so read ratios):
#   1. GET /api/whoami: full middleware vs a bare net/http handler
#   2. GET /api/notes/count over 1,000 tenants (uniform random host):
#      budget 1,000 vs the naive server (mutex-guarded map of *sql.DB);
#      then the default budget of 256, with the connection manager's hit ratio
#   3. 10,000 tenants with the default budget and the common open-files limit
#      of 1024: failed requests and peak memory, tenancy vs naive
# Needs wrk (apt-get install wrk). Results go to bench/results/http.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
out=bench/results
mkdir -p "$out"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/httpbench" ./bench/cmd/httpbench

echo "== creating 1,000 and 10,000 benchmark tenants (once)"
"$work/httpbench" -data-dir "$work/d1k" -setup 1000
"$work/httpbench" -data-dir "$work/d10k" -setup 10000

# serve MODE DATA [ARGS…]: starts httpbench in the background and waits for it.
serve() {
	local mode=$1 data=$2; shift 2
	"$work/httpbench" -data-dir "$data" -mode "$mode" -addr 127.0.0.1:8090 "$@" >"$work/report.json" &
	server=$!
	for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8090/ && return; sleep 0.1; done
	echo "httpbench did not start" >&2; exit 1
}
stop() { kill -TERM "$server"; wait "$server" || true; cat "$work/report.json"; }
# load TENANTS PATH: wrk with random tenant hosts; prints requests/s, p99 and errors.
load() {
	TENANTS=$1 wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/random-host.lua "http://127.0.0.1:8090$2" >"$work/wrk.txt"
	local rps p99 errs
	rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
	p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
	errs=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print}' "$work/wrk.txt" | tr '\n' ' ')
	echo "$rps req/s, p99 $p99${errs:+, errors: $errs}"
}

{
echo "# $(date -u +%FT%TZ) $(nproc) cores, wrk -t2 -c$CONNS -d$DURATION"
for round in 1 2; do
	serve bare "$work/d1k";          echo "whoami bare      (round $round): $(load 1000 /api/whoami)"; stop >/dev/null
	serve tenancy "$work/d1k";       echo "whoami tenancy   (round $round): $(load 1000 /api/whoami)"; stop >/dev/null
done
for round in 1 2; do
	serve naive "$work/d1k";                  echo "count naive          (round $round): $(load 1000 /api/notes/count)"; echo "  $(stop)"
	serve tenancy "$work/d1k" -budget 1000;   echo "count tenancy b=1000 (round $round): $(load 1000 /api/notes/count)"; echo "  $(stop)"
done
serve tenancy "$work/d1k" -budget 256;    echo "count tenancy b=256: $(load 1000 /api/notes/count)"; echo "  $(stop)"
echo "10,000 tenants, ulimit -n 1024:"
(ulimit -n 1024; serve tenancy "$work/d10k"; echo "  tenancy b=256: $(load 10000 /api/notes/count)"; echo "  $(stop)")
(ulimit -n 1024; serve naive "$work/d10k";   echo "  naive:         $(load 10000 /api/notes/count)"; echo "  $(stop)")
} | tee "$out/http.txt"
