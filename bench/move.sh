#!/usr/bin/env bash
# Moving a tenant between two PostgreSQL servers: `tenancy move TENANT
# --shard NAME` of one tenant of SIZE_MB MB, against a baseline measured in
# the same run (this machine is shared and noisy: read the ratios, not the
# absolute numbers). For each mode of MODES:
#
#   1. A fresh catalog (mvcat_<random>) and shard a (mva_<random>) on the
#      first server, shard b (mvb_<random>) on the second; `tenancy install`,
#      `tenancy create Big big.test --migrate --shard a`, then notes filled by
#      `tenancy run` (INSERT … SELECT repeat(md5(g::text), 20) FROM
#      generate_series) until pg_total_relation_size of the tenant's notes
#      table (heap, TOAST and index) is SIZE_MB MB; VACUUM ANALYZE of notes
#      and a CHECKPOINT on both servers settle it before anything is timed.
#   2. ROUNDS rounds, each: tenancy move big.test --shard b -o json, the
#      same --shard a, then the baseline: pg_dump -Fc -Z0 of the same data
#      on shard a (postgres-schema: only the tenant's schema, -n) piped into
#      pg_restore --single-transaction --no-owner --no-acl into a fresh,
#      empty database (mvdump_<random>) on the second server. Reported, as
#      medians: the move's own seconds and maintenance seconds (its JSON),
#      the CLI's wall time, MB/s (table MB / move seconds) and the ratio
#      move seconds / pg_dump|pg_restore seconds. Every move is checked:
#      the JSON's shard and rows, the row count through `tenancy run`, and
#      that the replaced schema or database is gone from the old shard.
#   3. What a reader sees: tenancy serve (same environment, a free port,
#      --central-domains localhost) and a curl loop, GET /api/notes/count
#      with Host big.test, one request at a time, INTERVAL seconds after
#      the previous answer (so the resolution is the answer time, a
#      count(*) of the whole table, plus INTERVAL), while one more move (a
#      to b, not part of the medians) runs. Answers by status code before,
#      during and after the move (by when each answer arrived), 200 answers
#      whose count is wrong, and the 503 window as seen from outside: from
#      the first to the last 503 answer (at least), and from the last good
#      answer before the first 503 to the first one after the last
#      (at most).
#
# Environment (defaults in brackets); lists are space-separated:
#   MODES     [postgres-schema postgres-database]  (TENANCY_TENANT_DB of each run)
#   SIZE_MB   [100]  (MB = 2^20 bytes of pg_total_relation_size of notes)
#   ROUNDS    [3]    INTERVAL [0.02]  (seconds between the reader's requests)
#   READER_BEFORE [2]  READER_AFTER [3]  (seconds the reader runs before and
#                      after the observed move)
#   RESULTS   [bench/results/move.txt]  (appended to, one block per run)
# It starts its own servers with scripts/services (and stops them), unless
# TENANCY_TEST_POSTGRES_URL and TENANCY_TEST_POSTGRES_URL2 are set (admin
# URLs, …/postgres?…), in which case it uses those and leaves them running.
# The databases it creates are dropped at the end. Needs go, psql, pg_dump,
# pg_restore, curl, jq, python3, bash 5.
#
#   MODES=postgres-schema SIZE_MB=10 ROUNDS=1 bench/move.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in go psql pg_dump pg_restore curl jq python3; do
	command -v "$tool" >/dev/null || { echo "bench/move.sh: $tool is not installed" >&2; exit 1; }
done
[ -n "${EPOCHREALTIME:-}" ] || { echo "bench/move.sh: needs bash 5 (EPOCHREALTIME)" >&2; exit 1; }

MODES=${MODES:-postgres-schema postgres-database}
SIZE_MB=${SIZE_MB:-100}
ROUNDS=${ROUNDS:-3}
INTERVAL=${INTERVAL:-0.02}
READER_BEFORE=${READER_BEFORE:-2}
READER_AFTER=${READER_AFTER:-3}
RESULTS=${RESULTS:-bench/results/move.txt}
DOMAIN=big.test

# die MESSAGE: fails loudly, and notes the failure in the results once the
# run's block has begun there.
die() {
	echo "bench/move.sh: $*" >&2
	[ ! -e "$tmp/begun" ] || echo "# FAILED: $*" | cut -c1-600 >>"$RESULTS"
	exit 1
}
log() { echo "== $*" >&2; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

mkdir -p "$(dirname "$RESULTS")"
tmp=$(mktemp -d /tmp/tenancy-move-bench.XXXXXX)
own_services=
if [ -z "${TENANCY_TEST_POSTGRES_URL:-}" ] || [ -z "${TENANCY_TEST_POSTGRES_URL2:-}" ]; then
	eval "$(scripts/services start)"
	own_services=1
fi
S1=$TENANCY_TEST_POSTGRES_URL
S2=$TENANCY_TEST_POSTGRES_URL2
reader_pid= serve_pid=
: >"$tmp/drop" # lines "SERVER-URL DATABASE": dropped at the end
: >"$tmp/tenant-dbs" # lines "BASE": tenant databases named BASE or BASE_gN, dropped on both servers

# psql without NOTICEs (DROP ... IF EXISTS)
psqlq() { PGOPTIONS='-c client_min_messages=warning' psql -XAtq "$@"; }
drop_all() {
	local srv db base
	while read -r srv db; do
		[ -z "$db" ] || psqlq "$srv" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
	done <"$tmp/drop"
	while read -r base; do
		for srv in "$S1" "$S2"; do
			psql -XAt "$srv" -c "SELECT datname FROM pg_database WHERE datname ~ '^${base}(_g[0-9]+)?\$'" 2>/dev/null |
				while read -r db; do
					psqlq "$srv" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || true
				done
		done
	done <"$tmp/tenant-dbs"
	: >"$tmp/drop"
	: >"$tmp/tenant-dbs"
}
cleanup() {
	touch "$tmp/stop-reader" 2>/dev/null || true
	[ -z "$reader_pid" ] || wait "$reader_pid" 2>/dev/null || true
	[ -z "$serve_pid" ] || kill "$serve_pid" 2>/dev/null || true
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	drop_all
	[ -z "$own_services" ] || scripts/services stop
	rm -rf "$tmp"
}
trap cleanup EXIT

log "building"
go build -o "$tmp/tenancy" ./cmd/tenancy
bin=$tmp/tenancy

# db_url URL DB: URL with its database (the path before ?) swapped for DB.
db_url() {
	local u
	u=$(sed "s|/[^/?]*?|/$2?|" <<<"$1")
	[ "$u" != "$1" ] || die "cannot swap the database of $1 (want postgres://…/DB?…)"
	echo "$u"
}
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}'; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
runs() { sort -g "$1" | awk '{printf "%.3f ", $1}'; }
t() { "$bin" "$@"; }
rows() { t run "$DOMAIN" --sql 'SELECT count(*) AS n FROM notes' -o json | jq -r '.[0].n'; }
out() { tee -a "$RESULTS"; }
problem() { echo "$*" >>"$tmp/problems"; echo "bench/move.sh: PROBLEM: $*" >&2; }

# shard_server SHARD: the admin URL of the server SHARD is on.
shard_server() { if [ "$1" = a ]; then echo "$S1"; else echo "$S2"; fi; }
# rel_url SHARD DBNAME / rel_name DBNAME: where the tenant's notes table is
# (postgres-schema: the schema DBNAME in the shard's database;
# postgres-database: the database DBNAME itself).
rel_url() {
	if [ "$mode" = postgres-schema ]; then
		if [ "$1" = a ]; then echo "$A_URL"; else echo "$B_URL"; fi
	else
		db_url "$(shard_server "$1")" "$2"
	fi
}
rel_name() { if [ "$mode" = postgres-schema ]; then echo "\"$1\".notes"; else echo notes; fi; }
table_size() { # SHARD DBNAME
	psql -XAt "$(rel_url "$1" "$2")" -c "SELECT pg_total_relation_size('$(rel_name "$2")'::regclass)"
}
# exists SHARD DBNAME: 1 when the tenant's schema or database DBNAME is on SHARD.
exists() {
	if [ "$mode" = postgres-schema ]; then
		psql -XAt "$(rel_url "$1" "$2")" -c "SELECT count(*) FROM pg_namespace WHERE nspname = '$2'"
	else
		psql -XAt "$(shard_server "$1")" -c "SELECT count(*) FROM pg_database WHERE datname = '$2'"
	fi
}

pgv1=$(psql -XAt "$S1" -c 'SHOW server_version' | cut -d' ' -f1)
pgv2=$(psql -XAt "$S2" -c 'SHOW server_version' | cut -d' ' -f1)
rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
{
	echo
	echo "# $(date -u +%FT%TZ) bench/move.sh on $rev, $(nproc) cores, $(go env GOVERSION), PostgreSQL $pgv1 and $pgv2 (two servers, loopback), SIZE_MB=$SIZE_MB ROUNDS=$ROUNDS"
	echo "# per round: tenancy move $DOMAIN --shard b, --shard a, then pg_dump -Fc -Z0 | pg_restore --single-transaction (shard a to a fresh database on server 2); medians; MB = 2^20 bytes of pg_total_relation_size(notes)"
	echo "# move s / maint s: the move's JSON seconds / maintenance_seconds; wall s: the CLI process; vs dump: move s / pg_dump|pg_restore s"
} | out
touch "$tmp/begun"

# move_to SHARD [TAG]: tenancy move to SHARD, checked; its JSON seconds,
# maintenance seconds and wall time appended to $tmp/TAG.{s,m,w}.
move_to() {
	local to=$1 tag=${2:-} before t0 wall j
	before=$(t show "$DOMAIN" -o json | jq -r '"\(.shard) \(.database_name)"')
	t0=$(now)
	echo "$t0" >"$tmp/move.began"
	t move "$DOMAIN" --shard "$to" -o json >"$tmp/move.json" 2>"$tmp/stderr" ||
		die "tenancy move $DOMAIN --shard $to ($mode) failed (exit $?): $(tail -5 "$tmp/stderr" | tr '\n' ' ')"
	now >"$tmp/move.ended"
	wall=$(since "$t0")
	j=$(jq -c '.move' "$tmp/move.json")
	[ "$(jq -r .to <<<"$j")" = "$to" ] && [ "$(jq -r '.tenant.shard' "$tmp/move.json")" = "$to" ] ||
		die "tenancy move $DOMAIN --shard $to ($mode) answered $j, tenant on shard $(jq -r .tenant.shard "$tmp/move.json")"
	[ "$(jq -r .from <<<"$j")" = "${before%% *}" ] || problem "$mode: move to $to says from $(jq -r .from <<<"$j"), the tenant was on ${before%% *}"
	[ "$(jq -r .rows <<<"$j")" = "$nrows" ] || problem "$mode: move to $to copied $(jq -r .rows <<<"$j") rows, notes has $nrows: $j"
	local got
	got=$(rows) || die "tenancy run $DOMAIN (count) after the move to $to ($mode) failed"
	[ "$got" = "$nrows" ] || problem "$mode: after the move to $to, notes has $got rows, not $nrows"
	[ "$(exists "${before%% *}" "${before#* }")" = 0 ] ||
		problem "$mode: after the move to $to, the replaced ${before#* } is still on shard ${before%% *}"
	[ "$(stderr_lines)" = 0 ] || problem "$mode: tenancy move --shard $to wrote to stderr: $(head -3 "$tmp/stderr" | tr '\n' ' ' | cut -c1-300)"
	echo "$(jq -r .database <<<"$j")" >"$tmp/dbname"
	if [ -n "$tag" ]; then
		jq -r .seconds <<<"$j" >>"$tmp/$tag.s"
		jq -r .maintenance_seconds <<<"$j" >>"$tmp/$tag.m"
		echo "$wall" >>"$tmp/$tag.w"
	fi
	cp "$tmp/move.json" "$tmp/last-move.json"
}
stderr_lines() { grep -cv '^$' "$tmp/stderr" || true; }

# dump_once: the baseline, pg_dump of shard a's copy into a fresh database
# on server 2; its wall seconds appended to $tmp/dump.w.
dump_once() {
	local dbname src dst_url t0 got
	dbname=$(t show "$DOMAIN" -o json | jq -r .database_name)
	psqlq "$S2" -c "DROP DATABASE IF EXISTS \"$DUMP_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$DUMP_DB\""
	dst_url=$(db_url "$S2" "$DUMP_DB")
	local dump=(pg_dump -Fc -Z0)
	if [ "$mode" = postgres-schema ]; then
		dump+=(-n "$dbname" "$A_URL")
	else
		dump+=("$(db_url "$S1" "$dbname")")
	fi
	t0=$(now)
	(set -o pipefail; "${dump[@]}" | pg_restore --single-transaction --no-owner --no-acl -d "$dst_url") 2>"$tmp/dump.err" ||
		die "${dump[*]} | pg_restore -d $dst_url failed: $(tail -5 "$tmp/dump.err" | tr '\n' ' ')"
	echo "$(since "$t0")" >>"$tmp/dump.w"
	got=$(psql -XAt "$dst_url" -c "SELECT count(*) FROM $(rel_name "$dbname")")
	[ "$got" = "$nrows" ] || die "the pg_dump|pg_restore copy has $got notes, not $nrows"
}

# reader URL OUTFILE: GET URL every INTERVAL s until $tmp/stop-reader; a line
# per answer: sent received code count.
reader() {
	local url=$1 f=$2 s code body c
	: >"$f"
	while [ ! -e "$tmp/stop-reader" ]; do
		: >"$tmp/body"
		s=$EPOCHREALTIME
		code=$(curl -s -o "$tmp/body" -w '%{http_code}' -m 10 -H "Host: $DOMAIN" "$url" 2>/dev/null) || true
		body=$(<"$tmp/body") c=-
		[[ $body =~ \"count\":([0-9]+) ]] && c=${BASH_REMATCH[1]}
		echo "$s $EPOCHREALTIME ${code:-000} $c" >>"$f"
		sleep "$INTERVAL"
	done
}

hdr() { printf '%-17s %-20s %8s %8s %8s %8s %8s   %s\n' mode step 'move s' 'maint s' 'wall s' 'MB/s' 'vs dump' runs; }
for mode in $MODES; do
	case $mode in
	postgres-schema | postgres-database) ;;
	*) die "invalid mode $mode in MODES: want postgres-schema or postgres-database" ;;
	esac
	short=${mode#postgres-}
	rnd=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
	CAT_DB=mvcat_$rnd A_DB=mva_$rnd B_DB=mvb_$rnd DUMP_DB=mvdump_$rnd
	echo "$S1 $CAT_DB" >>"$tmp/drop"
	echo "$S1 $A_DB" >>"$tmp/drop"
	echo "$S2 $B_DB" >>"$tmp/drop"
	echo "$S2 $DUMP_DB" >>"$tmp/drop"
	psqlq "$S1" -c "CREATE DATABASE \"$CAT_DB\"" -c "CREATE DATABASE \"$A_DB\""
	psqlq "$S2" -c "CREATE DATABASE \"$B_DB\""
	A_URL=$(db_url "$S1" "$A_DB")
	B_URL=$(db_url "$S2" "$B_DB")
	export TENANCY_DATABASE_URL TENANCY_TENANT_DB=$mode TENANCY_SHARDS="a=$A_URL,b=$B_URL"
	export TENANCY_DATA_DIR=$tmp/data-$short TENANCY_API_RATE_LIMIT=false
	TENANCY_DATABASE_URL=$(db_url "$S1" "$CAT_DB")
	rm -f "$tmp"/*.s "$tmp"/*.m "$tmp"/*.w "$tmp/problems"
	touch "$tmp/problems"

	# ------------------------------------------------------------ 1. the tenant
	log "$mode: a tenant of $SIZE_MB MB on shard a"
	t install >/dev/null 2>"$tmp/stderr" || die "tenancy install ($mode) failed: $(tail -5 "$tmp/stderr")"
	t create Big "$DOMAIN" --migrate --shard a -o json >"$tmp/create.json" 2>"$tmp/stderr" ||
		die "tenancy create Big $DOMAIN --migrate --shard a ($mode) failed: $(tail -5 "$tmp/stderr")"
	dbname=$(jq -r .database_name "$tmp/create.json")
	echo "$dbname" >>"$tmp/tenant-dbs"
	[ "$(jq -r .shard "$tmp/create.json")" = a ] || die "tenancy create --shard a put the tenant on shard $(jq -r .shard "$tmp/create.json")"
	target=$((SIZE_MB * 1048576))
	t0=$(now)
	inserted=0 size=0 fills=0
	while [ "$size" -lt $((target * 99 / 100)) ]; do
		[ "$fills" -lt 5 ] || die "notes is still $size bytes after $fills fills (target $target)"
		# ~770 bytes a row on disk (640 characters of body, heap and index)
		if [ "$inserted" -eq 0 ]; then n=$((target / 790)); else n=$(((target - size) / (size / inserted) + 1)); fi
		t run "$DOMAIN" -o json --sql "INSERT INTO notes (body) SELECT repeat(md5(g::text), 20) FROM generate_series($((inserted + 1)), $((inserted + n))) g" \
			>/dev/null 2>"$tmp/stderr" || die "filling notes ($mode) failed: $(tail -5 "$tmp/stderr")"
		inserted=$((inserted + n)) fills=$((fills + 1))
		size=$(table_size a "$dbname")
	done
	fill_s=$(since "$t0")
	psqlq "$(rel_url a "$dbname")" -c "VACUUM ANALYZE $(rel_name "$dbname")"
	psqlq "$S1" -c CHECKPOINT
	psqlq "$S2" -c CHECKPOINT
	size=$(table_size a "$dbname")
	nrows=$(rows)
	[ "$nrows" = "$inserted" ] || die "notes has $nrows rows, $inserted were inserted"
	mb=$(awk -v s="$size" 'BEGIN {printf "%.1f", s / 1048576}')

	# ------------------------------------------------------------ 2. moves and the baseline
	for r in $(seq "$ROUNDS"); do
		log "$mode: round $r of $ROUNDS"
		move_to b ab
		if [ "$r" = 1 ]; then
			bsize=$(table_size b "$(cat "$tmp/dbname")")
		fi
		move_to a ba
		dump_once
	done
	cat "$tmp/ab.s" "$tmp/ba.s" >"$tmp/all.s"
	cat "$tmp/ab.m" "$tmp/ba.m" >"$tmp/all.m"
	cat "$tmp/ab.w" "$tmp/ba.w" >"$tmp/all.w"
	dump_s=$(median <"$tmp/dump.w")
	line() { # STEP TAG
		awk -v m="$mode" -v st="$1" -v s="$(median <"$tmp/$2.s")" -v mt="$(median <"$tmp/$2.m")" -v w="$(median <"$tmp/$2.w")" \
			-v size="$size" -v d="$dump_s" -v all="$(runs "$tmp/$2.s")" \
			'BEGIN {printf "%-17s %-20s %8.3f %8.3f %8.3f %8.1f %7.3fx   move s: %s\n", m, st, s, mt, w, size / 1048576 / s, (d > 0 ? s / d : 0), all}'
	}
	{
		echo "# $mode: notes $mb MB ($size bytes; $(awk -v s="$bsize" 'BEGIN {printf "%.1f", s / 1048576}') MB on shard b after the first move), $nrows rows; filled in $fill_s s ($fills INSERT(s))"
		hdr
		line "move a->b" ab
		line "move b->a" ba
		line "move (both ways)" all
		awk -v m="$mode" -v d="$dump_s" -v size="$size" -v all="$(runs "$tmp/dump.w")" -v w="$(median <"$tmp/all.w")" \
			'BEGIN {printf "%-17s %-20s %8s %8s %8.3f %8.1f %7.3fx   wall s: %s (move wall / dump: %.3fx)\n", m, "pg_dump|pg_restore", "-", "-", d, size / 1048576 / d, 1, all, (d > 0 ? w / d : 0)}'
	} | out

	# ------------------------------------------------------------ 3. a reader during a move
	log "$mode: a reader during a move"
	port=$(free_port)
	# (not through t: $! must be tenancy's own pid, for kill)
	"$bin" serve --addr "127.0.0.1:$port" --central-domains localhost --access-log=false >"$tmp/serve.log" 2>&1 &
	serve_pid=$!
	for i in $(seq 300); do
		curl -sf -o /dev/null -H 'Host: localhost' "http://127.0.0.1:$port/healthz" && break
		kill -0 "$serve_pid" 2>/dev/null || die "tenancy serve exited: $(tail -5 "$tmp/serve.log")"
		[ "$i" -lt 300 ] || die "tenancy serve did not answer /healthz in 30 s: $(tail -5 "$tmp/serve.log")"
		sleep 0.1
	done
	url="http://127.0.0.1:$port/api/notes/count"
	got=$(curl -sf -H "Host: $DOMAIN" "$url" | jq -r .count) || die "GET /api/notes/count with Host $DOMAIN failed ($mode)"
	[ "$got" = "$nrows" ] || die "GET /api/notes/count with Host $DOMAIN says $got, not $nrows ($mode)"
	rm -f "$tmp/stop-reader"
	reader "$url" "$tmp/reader.txt" &
	reader_pid=$!
	sleep "$READER_BEFORE"
	move_to b observed
	m0=$(cat "$tmp/move.began") m1=$(cat "$tmp/move.ended")
	sleep "$READER_AFTER"
	touch "$tmp/stop-reader"
	wait "$reader_pid" || true
	reader_pid=
	# The server after the move: does it still answer, from the new shard?
	got=$(curl -s -H "Host: $DOMAIN" "$url" | jq -r .count 2>/dev/null || echo '?')
	kill "$serve_pid" 2>/dev/null || true
	wait "$serve_pid" 2>/dev/null || true
	serve_pid=
	cp "$tmp/reader.txt" "$tmp/reader-$short.txt"
	{
		awk -v m="$mode" -v m0="$m0" -v m1="$m1" -v n="$nrows" -v iv="$INTERVAL" \
			-v s="$(cat "$tmp/observed.s")" -v mt="$(cat "$tmp/observed.m")" -v w="$(cat "$tmp/observed.w")" '
			function med(str,   a, k, i, j, x) {
				k = split(substr(str, 2), a, " ")
				for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
				return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
			}
			function phase(e) { return e < m0 ? "before" : e <= m1 ? "during" : "after" }
			{ sent[NR] = $1; recv[NR] = $2; code[NR] = $3; cnt[NR] = $4
			  p = phase($2); by[p, $3]++; codes[$3] = 1; tot[p]++
			  if ($3 == 200) lat[p] = lat[p] " " ($2 - $1)
			  if ($3 == 200 && $4 != n) bad[p]++
			  if ($3 == 503) { if (!f503) f503 = NR; l503 = NR } }
			END {
				printf "# %s: tenancy serve, GET /api/notes/count (Host big.test) every %s s, %d answers; during one more move a->b (move %.3f s, maintenance %.3f s, CLI %.3f s)\n", m, iv, NR, s, mt, w
				split("before during after", ps, " ")
				for (i = 1; i <= 3; i++) {
					p = ps[i]; l = ""
					for (c in codes) if (by[p, c]) l = l sprintf(" %s:%d", c, by[p, c])
					if (bad[p]) l = l sprintf(" (200 with a wrong count: %d)", bad[p])
					if (lat[p] != "") l = l sprintf("; 200 answers took %.3f s (median)", med(lat[p]))
					printf "%-17s reader %-7s %5d answers%s\n", m, p, tot[p], l
				}
				if (!f503) { printf "%-17s reader 503 window: no 503 answer seen\n", m; exit }
				lo = recv[l503] - recv[f503]
				prev = 0; for (i = f503 - 1; i >= 1; i--) if (code[i] == 200) { prev = i; break }
				next_ = 0; for (i = l503 + 1; i <= NR; i++) if (code[i] == 200) { next_ = i; break }
				other = 0; for (i = f503; i <= l503; i++) if (code[i] != 503) other++
				hi = (prev && next_) ? sprintf("%.3f", recv[next_] - recv[prev]) : "?"
				printf "%-17s reader 503 window: %.3f s (first to last 503), at most %s s (last 200 before to first 200 after); %d answers in it, %d not 503; first 503 %.3f s after the move began, last 503 %.3f s before it ended\n", \
					m, lo, hi, l503 - f503 + 1, other, recv[f503] - m0, m1 - recv[l503]
			}' "$tmp/reader.txt"
		[ "$got" = "$nrows" ] || echo "# $mode: after the observed move, GET /api/notes/count said $got, not $nrows"
		if grep -aqiE 'level=(ERROR|WARN)' "$tmp/serve.log"; then
			echo "# $mode: tenancy serve logged $(grep -aciE 'level=(ERROR|WARN)' "$tmp/serve.log") errors or warnings; the first:"
			grep -aoE 'level=(ERROR|WARN) msg="[^"]*"' "$tmp/serve.log" | sort | uniq -c | sed 's/^ */#   /'
			echo "# the first:"
			grep -aiE 'level=(ERROR|WARN)' "$tmp/serve.log" | head -3 | cut -c1-400 | tr -c '[:print:]\n' '?' | sed 's/^/#   /'
		fi
		if [ -s "$tmp/problems" ]; then
			echo "# $mode: PROBLEMS ($(wc -l <"$tmp/problems")):"
			head -5 "$tmp/problems" | cut -c1-300 | sed 's/^/#   /'
		fi
	} | out
	drop_all
done
log "appended to $RESULTS"
