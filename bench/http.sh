#!/usr/bin/env bash
# HTTP throughput of the tenancy stack against baselines measured in the same
# run, with wrk on loopback (both share this machine's cores, so read ratios):
#   1. GET /api/whoami: full middleware vs a bare net/http handler
#   2. GET /api/notes/count over 1,000 tenants (uniform random host):
#      budget 1,000 vs the naive server (mutex-guarded map of *sql.DB), and
#      beside them "prepared", the naive server keeping the query prepared per
#      tenant and no middleware: what a runtime that cost nothing itself
#      would reach doing the same database work. Each server is warmed up first (every tenant
#      opened), ROUNDS rounds alternate the three, and the median ratios are
#      printed with the servers' CPU time per request. Then the default
#      budget of 256, with the connection manager's hit ratio
#   3. 10,000 tenants with the default budget and the common open-files limit
#      of 1024: failed requests and peak memory, tenancy vs naive
# Needs wrk (apt-get install wrk). Results go to bench/results/http.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-5}
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
# cputicks: the server's user+system CPU time so far, in clock ticks.
cputicks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# warm TENANTS PATH: a short untimed load, so that every tenant is opened
# before the measured one.
warm() { TENANTS=$1 wrk -t2 -c"$CONNS" -d3s -s bench/random-host.lua "http://127.0.0.1:8090$2" >/dev/null; }
# measure MODE [ARGS…]: a warmed-up count run over 1,000 tenants; prints
# "req/s p99 cpu-µs-per-request".
measure() {
	local mode=$1; shift
	serve "$mode" "$work/d1k" "$@"
	warm 1000 /api/notes/count
	local c0 c1 n summary
	c0=$(cputicks)
	summary=$(load 1000 /api/notes/count) # leaves wrk's output in $work/wrk.txt
	c1=$(cputicks)
	stop >/dev/null
	case $summary in *errors:*) echo "  $mode: $summary" >&2 ;; esac
	n=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
	awk -v c="$((c1 - c0))" -v n="$n" -v hz="$(getconf CLK_TCK)" '/Requests\/sec/ {r=$2} $1=="99%" {p=$2} END {printf "%.0f %s %.1f", r, p, c/hz*1e6/n}' "$work/wrk.txt"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
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
: >"$work/ratios"
for round in $(seq "$ROUNDS"); do
	serve bare "$work/d1k";    b=$(load 1000 /api/whoami); stop >/dev/null
	serve tenancy "$work/d1k"; t=$(load 1000 /api/whoami); stop >/dev/null
	echo "${t%% *} ${b%% *}" | awk '{print $1/$2}' >>"$work/ratios"
	echo "whoami (round $round): bare $b | tenancy $t"
done
echo "whoami median over $ROUNDS rounds: tenancy/bare $(median <"$work/ratios")"
echo "count over 1,000 tenants, warmed up; per server: req/s, p99, server CPU µs per request"
: >"$work/ratios"
for round in $(seq "$ROUNDS"); do
	read -r nr np nc <<<"$(measure naive)"
	read -r pr pp pc <<<"$(measure prepared)"
	read -r tr tp tc <<<"$(measure tenancy -budget 1000)"
	echo "$tr $nr $pr $nc $tc" | awk '{print $1/$2, $3/$2, $1/$3, $4/$5}' >>"$work/ratios"
	echo "  round $round: naive $nr $np ${nc}µs | prepared $pr $pp ${pc}µs | tenancy b=1000 $tr $tp ${tc}µs"
done
echo "count medians over $ROUNDS rounds: tenancy/naive $(cut -d' ' -f1 "$work/ratios" | median)," \
	"prepared/naive $(cut -d' ' -f2 "$work/ratios" | median)," \
	"tenancy/prepared $(cut -d' ' -f3 "$work/ratios" | median)," \
	"naive CPU per request / tenancy's $(cut -d' ' -f4 "$work/ratios" | median)"
serve tenancy "$work/d1k" -budget 256;    echo "count tenancy b=256: $(load 1000 /api/notes/count)"; echo "  $(stop)"
echo "10,000 tenants, ulimit -n 1024:"
(ulimit -n 1024; serve tenancy "$work/d10k"; echo "  tenancy b=256: $(load 10000 /api/notes/count)"; echo "  $(stop)")
(ulimit -n 1024; serve naive "$work/d10k";   echo "  naive:         $(load 10000 /api/notes/count)"; echo "  $(stop)")
} | tee "$out/http.txt"
