#!/usr/bin/env bash
# PostgreSQL at scale (issue 13): GET /api/notes/count on a random tenant
# (uniform or Zipf s=1.1), connection budget 80, wrk -t2 -c64, for
#
#   postgres-schema and postgres-rls at 1,000 and 10,000 tenants on one shard:
#     tenancy serve               (the full middleware)
#     pgbaseline                  (bench/cmd/pgbaseline: one shared pgxpool of
#                                  BUDGET connections, schema-qualified count,
#                                  no middleware) on the same tenant data
#     tenancy via PgBouncer       (the shard URL through PgBouncer in
#                                  pool_mode=transaction; the catalog stays direct)
#     and the ratio tenancy/baseline of requests/s, all from the same run;
#   postgres-database at 1,000 tenants: tenancy serve, with the connection
#     manager's hit ratio over the measured run (from /metrics).
#
# For each run: requests/s, p50, p99, non-2xx responses and socket errors,
# and the most server connections seen at once, sampled from
# pg_stat_activity every 50 ms by one psql session (which is excluded):
# client backends of the tenant database(s), and of all databases (the
# catalog and River's jobs included). Creating the tenants is timed (the
# 10,000-tenant schema case is the issue's creation figure); then VACUUM
# ANALYZE and a CHECKPOINT settle the server before anything is measured.
#
# Environment (defaults in brackets); every list is space-separated:
#   MODES          [postgres-schema postgres-rls postgres-database]
#   TENANT_COUNTS  [1000 10000]   (postgres-database runs only at DATABASE_TENANTS)
#   DATABASE_TENANTS [1000]
#   DISTS          [uniform zipf]
#   SERVERS        [tenancy baseline pgbouncer]  (which runs of a schema/rls case)
#   DURATION [10s]  WARMUP [2s]  THREADS [2]  CONNS [64]  BUDGET [80]  ZIPF_S [1.1]
#   RESULTS        [bench/results/pgscale.txt]  (appended to, one block per run)
#   KEEP_DATA=1    keep the tenants of an earlier run on the same servers
#                  (only useful with running services, below)
# It starts its own servers with scripts/services (and stops them), unless
# TENANCY_TEST_POSTGRES_URL and TENANCY_TEST_PGBOUNCER_URL are set, in which
# case it uses those and leaves them running. Needs wrk, psql, curl, go.
#
#   MODES=postgres-schema TENANT_COUNTS=1000 DISTS=uniform DURATION=5s bench/pgscale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/pgscale.sh: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }

MODES=${MODES:-postgres-schema postgres-rls postgres-database}
TENANT_COUNTS=${TENANT_COUNTS:-1000 10000}
DATABASE_TENANTS=${DATABASE_TENANTS:-1000}
DISTS=${DISTS:-uniform zipf}
SERVERS=${SERVERS:-tenancy baseline pgbouncer}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
BUDGET=${BUDGET:-80}
ZIPF_S=${ZIPF_S:-1.1}
RESULTS=${RESULTS:-bench/results/pgscale.txt}
KEEP_DATA=${KEEP_DATA:-}

die() { echo "bench/pgscale.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

mkdir -p "$(dirname "$RESULTS")"
work=$(mktemp -d)
own_services=
if [ -z "${TENANCY_TEST_POSTGRES_URL:-}" ] || [ -z "${TENANCY_TEST_PGBOUNCER_URL:-}" ]; then
	eval "$(scripts/services start)"
	own_services=1
fi
cleanup() {
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	[ -z "$own_services" ] || scripts/services stop
	rm -rf "$work"
}
trap cleanup EXIT

log "building"
go build -o "$work/tenancy" ./cmd/tenancy
go build -o "$work/pgbaseline" ./bench/cmd/pgbaseline

# URLs: SERVER is the first test PostgreSQL's postgres database; db_url
# swaps the database of a URL (PgBouncer's too, which keeps its
# default_query_exec_mode=exec).
SERVER=$TENANCY_TEST_POSTGRES_URL
db_url() { # URL DB
	local u=$1 db=$2 rest=${1#*://*/}
	echo "${u%%/"$rest"}/$db?${rest#*\?}"
}
BOUNCER=$TENANCY_TEST_PGBOUNCER_URL
BOUNCER_ADMIN=$(db_url "$BOUNCER" pgbouncer | sed 's/&default_query_exec_mode=[a-z_]*//')
psql -XAtq "$BOUNCER_ADMIN" -c 'SHOW VERSION' >/dev/null || die "PgBouncer's admin console at $BOUNCER_ADMIN does not answer"
# psql without NOTICEs (DROP ... IF EXISTS)
psqlq() { PGOPTIONS='-c client_min_messages=warning' psql -XAtq "$@"; }
export TENANCY_CONNECTION_BUDGET=$BUDGET
export TENANCY_API_RATE_LIMIT=false

pgversion=$(psql -XAt "$SERVER" -c 'SHOW server_version' | cut -d' ' -f1)
bversion=$(psql -XAt "$BOUNCER_ADMIN" -c 'SHOW VERSION' 2>/dev/null | head -1 || true)
{
	echo
	echo "# $(date -u +%FT%TZ) bench/pgscale.sh on $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes'), $(nproc) cores, PostgreSQL $pgversion, ${bversion:-PgBouncer ?}"
	echo "# wrk -t$THREADS -c$CONNS -d$DURATION (after a $WARMUP warm-up) GET /api/notes/count, budget $BUDGET, Zipf s=$ZIPF_S"
	echo "# conns: most client backends at once on the tenant database(s) / on all databases (sampler excluded), every 50 ms"
	echo "# via PgBouncer: the server side of PgBouncer (default_pool_size 20 per database and role, see scripts/services)"
	printf '%-17s %7s %-7s %-10s %10s %9s %9s %8s %7s %11s %9s\n' mode tenants dist server 'req/s' p50 p99 non-2xx sockerr conns hit-ratio
} | tee -a "$RESULTS"

# wait_http URL SECONDS: until URL answers 200.
wait_http() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -sf -o /dev/null "$1" && return 0
		sleep 0.1
	done
	return 1
}

# metric PORT NAME: a counter of tenancy's /metrics (0 when missing).
metric() {
	curl -sf "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}

# measure LABEL PORT TENANTS DIST DBFILTER [METRICS-PORT]: warm up, then run
# wrk while sampling connections, and print the result line.
measure() {
	local mode=$1 server=$2 port=$3 n=$4 dist=$5 filter=$6 mport=${7:-}
	local url="http://127.0.0.1:$port/api/notes/count" h0=0 m0=0 ratio=-
	TENANTS=$n DIST=$dist ZIPF_S=$ZIPF_S HOST_SUFFIX=.localhost \
		wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s bench/random-host.lua "$url" >/dev/null
	if [ -n "$mport" ]; then
		h0=$(metric "$mport" tenancy_connections_hits_total)
		m0=$(metric "$mport" tenancy_connections_misses_total)
	fi
	local q="SELECT count(*) FILTER (WHERE $filter), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
	printf '%s\n\\watch 0.05\n' "$q" | psql -XAt -F ' ' "$SERVER" >"$work/samples.txt" 2>/dev/null &
	local sampler=$!
	TENANTS=$n DIST=$dist ZIPF_S=$ZIPF_S HOST_SUFFIX=.localhost \
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/random-host.lua "$url" >"$work/wrk.txt"
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	if [ -n "$mport" ]; then
		local h1 m1
		h1=$(metric "$mport" tenancy_connections_hits_total)
		m1=$(metric "$mport" tenancy_connections_misses_total)
		ratio=$(awk -v h0="$h0" -v h1="$h1" -v m0="$m0" -v m1="$m1" \
			'BEGIN {h = h1 - h0; m = m1 - m0; if (h + m > 0) printf "%.4f", h / (h + m); else print "-"}')
	fi
	cp "$work/wrk.txt" "$work/wrk-$mode-$n-$dist-$server.txt"
	local rps p50 p99 non2xx sockerr conns
	rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
	p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
	non2xx=$(awk '/Non-2xx/ {print $5; f=1} END {if (!f) print 0}' "$work/wrk.txt")
	sockerr=$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10; f=1} END {if (!f) print 0}' "$work/wrk.txt")
	conns=$(awk 'NF == 2 && $1 ~ /^[0-9]+$/ {if ($1 > a) a = $1; if ($2 > b) b = $2; n++} END {printf "%d/%d", a, b}' "$work/samples.txt")
	printf '%-17s %7s %-7s %-10s %10s %9s %9s %8s %7s %11s %9s\n' \
		"$mode" "$n" "$dist" "$server" "$rps" "$p50" "$p99" "$non2xx" "$sockerr" "$conns" "$ratio" | tee -a "$RESULTS"
	echo "$rps" >"$work/rps-$server"
}

# serve_tenancy DATADIR PORT: start tenancy serve in the background.
serve_tenancy() {
	"$work/tenancy" --data-dir "$1" serve --addr "127.0.0.1:$2" --access-log=false >>"$work/serve.log" 2>&1 &
	echo $! >"$work/serve.pid"
	wait_http "http://127.0.0.1:$2/healthz" 120 || die "tenancy serve did not start: $(tail -5 "$work/serve.log")"
}
# bouncer_reset DB: PgBouncer closes its server connections to DB (which it
# would otherwise keep idle for server_idle_timeout, and the next run's
# samples would count), then takes clients for it again.
bouncer_reset() {
	psql -XAtq "$BOUNCER_ADMIN" -c "KILL \"$1\"" -c "RESUME \"$1\"" >/dev/null 2>&1 || true
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# drop_bench CATALOG [TENANTDB]: drops an earlier run's databases: the
# tenant databases its catalog lists (postgres-database), the tenant data
# database and the catalog.
drop_bench() {
	local cat=$1 data=${2:-}
	if [ "$(psql -XAt "$SERVER" -c "SELECT count(*) FROM pg_database WHERE datname = '$cat'")" = 1 ] && [ -z "$data" ]; then
		psql -XAt "$(db_url "$SERVER" "$cat")" -c 'SELECT database_name FROM tenants' 2>/dev/null | while read -r db; do
			[ -n "$db" ] && psqlq "$SERVER" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
		done
	fi
	[ -z "$data" ] || psqlq "$SERVER" -c "DROP DATABASE IF EXISTS \"$data\" WITH (FORCE)"
	psqlq "$SERVER" -c "DROP DATABASE IF EXISTS \"$cat\" WITH (FORCE)"
}

for mode in $MODES; do
	case $mode in
	postgres-schema | postgres-rls) counts=$TENANT_COUNTS ;;
	postgres-database) counts=$DATABASE_TENANTS ;;
	*) die "invalid mode $mode in MODES: want postgres-schema, postgres-rls or postgres-database" ;;
	esac
	for n in $counts; do
		short=${mode#postgres-}
		cat="bench_${short}_${n}_catalog"
		data="bench_${short}_${n}"
		export TENANCY_TENANT_DB=$mode
		export TENANCY_DATABASE_URL
		TENANCY_DATABASE_URL=$(db_url "$SERVER" "$cat")
		if [ "$mode" = postgres-database ]; then
			data=
			shard=$SERVER
			filter="datname LIKE 'tenant\\_%'"
		else
			shard=$(db_url "$SERVER" "$data")
			filter="datname = '$data'"
		fi
		if [ -z "$KEEP_DATA" ]; then
			drop_bench "$cat" "$data"
		fi
		psql -XAtq "$SERVER" -c "SELECT 1 FROM pg_database WHERE datname = '$cat'" | grep -q 1 ||
			psql -XAtq "$SERVER" -c "CREATE DATABASE \"$cat\""
		if [ -n "$data" ]; then
			psql -XAtq "$SERVER" -c "SELECT 1 FROM pg_database WHERE datname = '$data'" | grep -q 1 ||
				psql -XAtq "$SERVER" -c "CREATE DATABASE \"$data\""
		fi
		export TENANCY_SHARDS="default=$shard"
		[ -z "$data" ] || bouncer_reset "$data"
		dir="$work/data-$short-$n"

		log "creating $n tenants in $mode mode"
		start=$(date +%s.%N)
		"$work/tenancy" --data-dir "$dir" create-test-tenants --count "$n" --domain-prefix t --with-data >"$work/create.log" 2>&1 ||
			die "create-test-tenants failed: $(tail -5 "$work/create.log")"
		secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
		made=$(grep -c '^created ' "$work/create.log" || true)
		echo "# $mode: created $made of $n tenants (with data) in $secs s$([ "$made" = "$n" ] || echo ", the others kept from an earlier run")" | tee -a "$RESULTS"
		# Let the server settle before measuring: creating thousands of
		# schemas leaves autovacuum and checkpoint work that would land on
		# whichever server is measured first.
		log "settling: VACUUM ANALYZE, CHECKPOINT"
		for db in "$cat" ${data:+"$data"}; do
			psqlq "$(db_url "$SERVER" "$db")" -c 'VACUUM ANALYZE'
		done
		psqlq "$SERVER" -c 'CHECKPOINT'

		for dist in $DISTS; do
			rm -f "$work"/rps-*
			if [[ " $SERVERS " == *" tenancy "* ]] || [ "$mode" = postgres-database ]; then
				log "$mode $n $dist: tenancy"
				port=$(free_port)
				serve_tenancy "$dir" "$port"
				measure "$mode" tenancy "$port" "$n" "$dist" "$filter" "$port"
				stop_pid "$(cat "$work/serve.pid")"
			fi
			[ "$mode" != postgres-database ] || continue
			if [[ " $SERVERS " == *" baseline "* ]]; then
				log "$mode $n $dist: pgbaseline"
				port=$(free_port)
				bmode=schema
				[ "$mode" = postgres-rls ] && bmode=rls
				"$work/pgbaseline" -addr "127.0.0.1:$port" -url "$shard" -catalog "$TENANCY_DATABASE_URL" \
					-max-conns "$BUDGET" -mode "$bmode" >>"$work/baseline.log" 2>&1 &
				bpid=$!
				wait_http "http://127.0.0.1:$port/healthz" 60 || die "pgbaseline did not start: $(tail -5 "$work/baseline.log")"
				measure "$mode" baseline "$port" "$n" "$dist" "$filter"
				stop_pid "$bpid"
			fi
			if [ -f "$work/rps-tenancy" ] && [ -f "$work/rps-baseline" ]; then
				awk -v m="$mode" -v n="$n" -v d="$dist" -v t="$(cat "$work/rps-tenancy")" -v b="$(cat "$work/rps-baseline")" \
					'BEGIN {printf "%-17s %7s %-7s %-10s %9.3fx\n", m, n, d, "ratio", (b > 0 ? t / b : 0)}' | tee -a "$RESULTS"
			fi
			if [[ " $SERVERS " == *" pgbouncer "* ]]; then
				log "$mode $n $dist: tenancy via PgBouncer"
				port=$(free_port)
				TENANCY_SHARDS="default=$(db_url "$BOUNCER" "$data")" serve_tenancy "$dir" "$port"
				measure "$mode" pgbouncer "$port" "$n" "$dist" "$filter" "$port"
				stop_pid "$(cat "$work/serve.pid")"
				bouncer_reset "$data"
			fi
		done
		# Leave the servers as they were: thousands of leftover databases
		# would skew later runs and the tests' shard placement.
		if [ -z "$KEEP_DATA" ]; then
			[ -z "$data" ] || bouncer_reset "$data"
			drop_bench "$cat" "$data"
		fi
	done
done
if grep -qiE 'level=(ERROR|WARN)' "$work/serve.log" 2>/dev/null; then
	echo "# tenancy serve logged $(grep -ciE 'level=(ERROR|WARN)' "$work/serve.log") errors or warnings; the first:" | tee -a "$RESULTS"
	grep -iE 'level=(ERROR|WARN)' "$work/serve.log" | head -3 | cut -c1-300 | sed 's/^/#   /' | tee -a "$RESULTS"
fi
if grep -q 'pgbaseline: .*: ' "$work/baseline.log" 2>/dev/null; then
	echo "# pgbaseline logged $(grep -c 'pgbaseline: .*: ' "$work/baseline.log") query errors; the first:" | tee -a "$RESULTS"
	grep 'pgbaseline: .*: ' "$work/baseline.log" | head -3 | cut -c1-300 | sed 's/^/#   /' | tee -a "$RESULTS"
fi
