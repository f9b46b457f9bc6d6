#!/usr/bin/env bash
# Backups of SQLite tenants (the default engine) through the CLI, each figure
# against a baseline measured in the same run (this machine is shared and
# noisy: read the ratios, not the absolute numbers):
#
#   1. One tenant of SIZE_MB MB (notes filled with random-ish text by a
#      recursive-CTE INSERT through `tenancy run`, then
#      PRAGMA wal_checkpoint(TRUNCATE)). Timed ROUNDS times each, interleaved,
#      median reported:
#        cp of its database file           (the baseline)
#        cp + fsync of the copy            (the backup destination fsyncs)
#        VACUUM INTO through `tenancy run` (what the backup's snapshot does)
#        tenancy backup                    (uncompressed)
#        tenancy backup --compress         (zstd)
#        tenancy restore ID --force        of the uncompressed and of the
#                                          compressed backup
#        tenancy show                      (the CLI's fixed cost per command)
#      MB/s is the database file's size (MB = 2^20 bytes) over wall seconds,
#      with its ratio to cp's and to cp+fsync's MB/s. After the restores the
#      row count is checked against the original.
#   2. backup-all over COUNT small tenants (create-test-tenants --with-data:
#      3 notes each) with --concurrency 1 and --concurrency CONCURRENCY, each
#      to a fresh destination: wall seconds, the command's own "seconds",
#      tenants/s, failed, archives found; and the speed-up.
#   3. Serving while backing up: tenancy serve --demo on the data directory
#      of (1), wrk -tTHREADS -cCONNS -dDURATION --latency with the big
#      tenant's Host header on GET /api/notes (1,000 rows a response), after a
#      WARMUP warm-up: once idle (the baseline), once while a loop runs
#      `tenancy backup DOMAIN` back to back for the whole run. req/s, p50,
#      p99, non-2xx, socket errors, backups done (and failed) during the run,
#      and the ratios busy/idle.
#
# Environment (defaults in brackets):
#   SIZE_MB [100]  COUNT [1000]  ROUNDS [3]  CONCURRENCY [4]
#   DURATION [10s]  WARMUP [2s]  THREADS [2]  CONNS [16]
#   DOMAIN         [big.localhost]  (the big tenant's domain)
#   RESULTS        [bench/results/backup.txt]  (appended to, one block per run)
#   KEEP_DATA=1    keep the temporary data directories (printed at the end)
# Needs go, wrk (apt-get install -y wrk), curl, jq, python3.
#
#   SIZE_MB=10 COUNT=50 DURATION=3s bench/backup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in go wrk curl jq python3; do
	command -v "$tool" >/dev/null || {
		hint=
		[ "$tool" != wrk ] || hint=" (apt-get install -y wrk)"
		echo "bench/backup.sh: $tool is not installed$hint" >&2
		exit 1
	}
done

SIZE_MB=${SIZE_MB:-100}
COUNT=${COUNT:-1000}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-4}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-16}
DOMAIN=${DOMAIN:-big.localhost}
RESULTS=${RESULTS:-bench/results/backup.txt}
KEEP_DATA=${KEEP_DATA:-}

# die MESSAGE: fails loudly, and notes the failure in the results once the
# run's block has begun there.
die() {
	echo "bench/backup.sh: $*" >&2
	[ ! -e "$tmp/begun" ] || echo "# FAILED: $*" | cut -c1-600 >>"$RESULTS"
	exit 1
}
log() { echo "== $*" >&2; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

mkdir -p "$(dirname "$RESULTS")"
tmp=$(mktemp -d /tmp/tenancy-backup-bench.XXXXXX)
loop_pid=
cleanup() {
	# The backup loop stops after its current backup (killing it would
	# leave that tenancy process running).
	touch "$tmp/stop-loop" 2>/dev/null || true
	[ -z "$loop_pid" ] || wait "$loop_pid" 2>/dev/null || true
	kill $(jobs -p) 2>/dev/null || true
	wait 2>/dev/null || true
	if [ -n "$KEEP_DATA" ]; then
		echo "bench/backup.sh: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

log "building"
go build -o "$tmp/tenancy" ./cmd/tenancy
bin=$tmp/tenancy
big=$tmp/big     # data directory of the big tenant (1 and 3)
fleet=$tmp/fleet # data directory of the COUNT small tenants (2)

# now: seconds since the epoch, with nanoseconds.
now() { date +%s.%N; }
# since T0: seconds elapsed since T0, 3 decimals.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
# timed OUT CMD…: runs CMD, its stdout to OUT, and prints its wall seconds;
# the script dies (loudly) when CMD fails.
timed() {
	local out=$1 t0
	shift
	t0=$(now)
	"$@" >"$out" 2>"$tmp/stderr" || die "failed (exit $?): $* — $(tail -5 "$tmp/stderr")"
	since "$t0"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }
t() { "$bin" --data-dir "$big" "$@"; }
db_file() { echo "$big/tenants/$(t show "$DOMAIN" -o json | jq -r .database_name).sqlite"; }
filesize() { stat -c %s "$1"; }
rows() { t run "$DOMAIN" --sql 'SELECT count(*) AS n FROM notes' -o json | jq -r '.[0].n'; }
checkpoint() { t run "$DOMAIN" --sql 'PRAGMA wal_checkpoint(TRUNCATE)' -o json >/dev/null; }

rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
{
	echo
	echo "# $(date -u +%FT%TZ) bench/backup.sh on $rev, $(nproc) cores, $(go env GOVERSION), SIZE_MB=$SIZE_MB COUNT=$COUNT ROUNDS=$ROUNDS"
} | tee -a "$RESULTS"
touch "$tmp/begun"
out() { tee -a "$RESULTS"; }

# ---------------------------------------------------------------- 1. one big tenant
log "1. a tenant of $SIZE_MB MB"
t install >/dev/null
t create Big "$DOMAIN" --migrate -o json >/dev/null
target=$((SIZE_MB * 1048576))
# A row: "note N " + 96 random hex digits + a fixed sentence, ~230 bytes on disk.
fill_sql() { # FROM COUNT
	echo "WITH RECURSIVE c(x) AS (SELECT $1 UNION ALL SELECT x + 1 FROM c WHERE x < $(($1 + $2 - 1)))" \
		"INSERT INTO notes(body) SELECT printf('note %d ', x) || hex(randomblob(48)) ||" \
		"' the quick brown fox jumps over the lazy dog; every tenant keeps its own notes here' FROM c"
}
t0=$(now)
inserted=0 size=0 fills=0
while [ "$size" -lt $((target * 99 / 100)) ]; do
	[ "$fills" -lt 5 ] || die "the database is still $size bytes after $fills fills of notes (target $target)"
	if [ "$inserted" -eq 0 ]; then n=$((target / 230)); else n=$(((target - size) / (size / inserted) + 1)); fi
	t run "$DOMAIN" --sql "$(fill_sql $((inserted + 1)) "$n")" -o json >/dev/null || die "filling notes failed"
	inserted=$((inserted + n)) fills=$((fills + 1))
	checkpoint
	size=$(filesize "$(db_file)")
done
fill_secs=$(since "$t0")
db=$(db_file)
nrows=$(rows)
[ "$nrows" = "$inserted" ] || die "notes has $nrows rows, $inserted were inserted"
[ ! -s "$db-wal" ] || die "$db-wal is not empty after wal_checkpoint(TRUNCATE)"
mb=$(awk -v s="$size" 'BEGIN {printf "%.1f", s / 1048576}')
echo "# 1. one tenant: $mb MB database file, $nrows notes (filled in $fill_secs s, $fills INSERT(s)); median of $ROUNDS interleaved runs; MB = 2^20 bytes" | out

: >"$tmp/cp" >"$tmp/cpsync" >"$tmp/vacuum" >"$tmp/backup" >"$tmp/backupz" >"$tmp/show"
last_plain= last_z=
for r in $(seq "$ROUNDS"); do
	log "1. round $r of $ROUNDS"
	timed /dev/null cp "$db" "$tmp/copy.sqlite" >>"$tmp/cp"
	echo >>"$tmp/cp"
	rm -f "$tmp/copy.sqlite"
	timed /dev/null sh -c 'cp "$1" "$2" && sync "$2"' sh "$db" "$tmp/copy.sqlite" >>"$tmp/cpsync"
	echo >>"$tmp/cpsync"
	rm -f "$tmp/copy.sqlite"
	timed /dev/null t run "$DOMAIN" --sql "VACUUM INTO '$tmp/vacuum.sqlite'" -o json >>"$tmp/vacuum"
	echo >>"$tmp/vacuum"
	rm -f "$tmp/vacuum.sqlite"
	timed "$tmp/b.json" t backup "$DOMAIN" --disk "file://$tmp/backups" -o json >>"$tmp/backup"
	echo >>"$tmp/backup"
	[ -z "$last_plain" ] || rm -f "$tmp/backups/$(jq -r .key <<<"$last_plain")"
	last_plain=$(cat "$tmp/b.json")
	timed "$tmp/b.json" t backup "$DOMAIN" --compress --disk "file://$tmp/backups" -o json >>"$tmp/backupz"
	echo >>"$tmp/backupz"
	[ -z "$last_z" ] || rm -f "$tmp/backups/$(jq -r .key <<<"$last_z")"
	last_z=$(cat "$tmp/b.json")
	timed /dev/null t show "$DOMAIN" -o json >>"$tmp/show"
	echo >>"$tmp/show"
done
for b in "$last_plain" "$last_z"; do
	[ "$(jq -r .state <<<"$b")" = complete ] || die "a backup is not complete: $b"
	f="$tmp/backups/$(jq -r .key <<<"$b")"
	[ "$(filesize "$f")" = "$(jq -r .size <<<"$b")" ] || die "$f is $(filesize "$f") bytes, its record says $(jq -r .size <<<"$b")"
	[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$(jq -r .sha256 <<<"$b")" ] || die "$f does not match its record's sha256"
done
plain_id=$(jq -r .id <<<"$last_plain") z_id=$(jq -r .id <<<"$last_z")
plain_mb=$(jq -r '.size / 1048576 * 10 | round / 10' <<<"$last_plain")
z_mb=$(jq -r '.size / 1048576 * 10 | round / 10' <<<"$last_z")

: >"$tmp/restore" >"$tmp/restorez"
for r in $(seq "$ROUNDS"); do
	log "1. restores, round $r of $ROUNDS"
	timed /dev/null t restore "$DOMAIN" "$plain_id" --force -o json >>"$tmp/restore"
	echo >>"$tmp/restore"
	[ "$(rows)" = "$nrows" ] || die "after restoring $plain_id, notes has $(rows) rows, not $nrows"
	timed /dev/null t restore "$DOMAIN" "$z_id" --force -o json >>"$tmp/restorez"
	echo >>"$tmp/restorez"
	[ "$(rows)" = "$nrows" ] || die "after restoring $z_id, notes has $(rows) rows, not $nrows"
done
checkpoint
restored_size=$(filesize "$(db_file)")

cp_s=$(median <"$tmp/cp")
cpsync_s=$(median <"$tmp/cpsync")
line() { # LABEL SECONDS-FILE ARCHIVE-MB
	local s
	s=$(median <"$2")
	awk -v l="$1" -v s="$s" -v size="$size" -v c="$cp_s" -v cs="$cpsync_s" -v a="$3" -v all="$(sort -g "$2" | tr '\n' ' ')" \
		'BEGIN {m = size / 1048576; r = (s > 0 ? m / s : 0)
		printf "%-30s %8.3f %9.1f %8.3fx %8.3fx %10s   runs: %s\n", l, s, r, (c > 0 ? r / (m / c) : 0), (cs > 0 ? r / (m / cs) : 0), a, all}'
}
{
	printf '%-30s %8s %9s %9s %9s %10s\n' step seconds 'MB/s' 'vs cp' 'vs cp+fs' 'archive MB'
	line "cp (baseline)" "$tmp/cp" -
	line "cp + fsync" "$tmp/cpsync" -
	line "VACUUM INTO (tenancy run)" "$tmp/vacuum" -
	line "tenancy backup" "$tmp/backup" "$plain_mb"
	line "tenancy backup --compress" "$tmp/backupz" "$z_mb"
	line "tenancy restore (plain)" "$tmp/restore" "$plain_mb"
	line "tenancy restore (zstd)" "$tmp/restorez" "$z_mb"
	echo "# CLI fixed cost: tenancy show takes $(median <"$tmp/show") s (median); restored file $restored_size bytes (original $size), $nrows notes"
} | out

# ---------------------------------------------------------------- 2. backup-all
log "2. creating $COUNT small tenants"
"$bin" --data-dir "$fleet" install >/dev/null
create_s=$(timed "$tmp/create.log" "$bin" --data-dir "$fleet" create-test-tenants --count "$COUNT" --with-data)
made=$(grep -c '^created ' "$tmp/create.log" || true)
[ "$made" = "$COUNT" ] || die "create-test-tenants created $made of $COUNT tenants: $(tail -3 "$tmp/create.log")"
echo "# 2. backup-all over $COUNT tenants (3 notes each, created in $create_s s); each run to a fresh --disk" | out
printf '%-16s %8s %10s %10s %7s %7s %9s\n' concurrency 'wall s' 'its own s' 'tenants/s' total failed archives | out
for c in 1 "$CONCURRENCY"; do
	log "2. backup-all --concurrency $c"
	dest=$tmp/fleet-backups-$c
	wall=$(timed "$tmp/all.json" "$bin" --data-dir "$fleet" backup-all --concurrency "$c" --disk "file://$dest" -o json)
	read -r total failed secs <<<"$(jq -r '"\(.total) \(.failed) \(.seconds)"' "$tmp/all.json")"
	archives=$(find "$dest" -type f -name '*.tar' | wc -l)
	if [ "$failed" != 0 ]; then
		jq -c '[.results[] | select(.error != null and .error != "")] | .[:3]' "$tmp/all.json" >"$tmp/failed-$c.json" || true
	fi
	cp "$tmp/all.json" "$tmp/all-$c.json"
	awk -v c="$c" -v w="$wall" -v s="$secs" -v t="$total" -v f="$failed" -v a="$archives" \
		'BEGIN {printf "%-16s %8.2f %10.2f %10.1f %7s %7s %9s\n", c, w, s, (w > 0 ? t / w : 0), t, f, a}' | out
	echo "$wall" >"$tmp/wall-$c"
	rm -rf "$dest"
done
awk -v c="$CONCURRENCY" -v a="$(cat "$tmp/wall-1")" -v b="$(cat "$tmp/wall-$CONCURRENCY")" \
	'BEGIN {printf "%-16s %7.3fx  (wall time --concurrency 1 / --concurrency %s)\n", "speed-up", (b > 0 ? a / b : 0), c}' | out
for c in 1 "$CONCURRENCY"; do
	[ ! -s "$tmp/failed-$c.json" ] || echo "#   --concurrency $c, the first failures: $(cut -c1-400 "$tmp/failed-$c.json")" | out
done

# ---------------------------------------------------------------- 3. serving while backing up
log "3. serving while backing up"
port=$(free_port)
"$bin" --data-dir "$big" serve --demo --addr "127.0.0.1:$port" --access-log=false >"$tmp/serve.log" 2>&1 &
serve_pid=$!
for i in $(seq 300); do
	curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
	kill -0 "$serve_pid" 2>/dev/null || die "tenancy serve exited: $(tail -5 "$tmp/serve.log")"
	[ "$i" -lt 300 ] || die "tenancy serve did not start in 30 s: $(tail -5 "$tmp/serve.log")"
	sleep 0.1
done
url="http://127.0.0.1:$port/api/notes"
got=$(curl -sf -H "Host: $DOMAIN" "$url" | jq '.data | length') || die "GET /api/notes for $DOMAIN failed"
[ "$got" = 1000 ] || die "GET /api/notes for $DOMAIN returned $got notes, not 1000"

# backup_loop: tenancy backup DOMAIN back to back until $tmp/stop-loop
# exists; a line per backup in loop.ok or loop.err.
backup_loop() {
	: >"$tmp/loop.ok"
	: >"$tmp/loop.err"
	while [ ! -e "$tmp/stop-loop" ]; do
		if t backup "$DOMAIN" --disk "file://$tmp/loop-backups" -o json >"$tmp/loop.json" 2>"$tmp/loop.stderr"; then
			echo "$(jq -r .size "$tmp/loop.json")" >>"$tmp/loop.ok"
			rm -f "$tmp/loop-backups/$(jq -r .key "$tmp/loop.json")"
		else
			echo "$(tr '\n' ' ' <"$tmp/loop.stderr" | cut -c1-300)" >>"$tmp/loop.err"
		fi
	done
}
wrk_run() { # LABEL: wrk into $tmp/wrk-LABEL.txt, prints the result line
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Host: $DOMAIN" "$url" >"$tmp/wrk-$1.txt"
}
wrk_line() { # LABEL BACKUPS
	local f=$tmp/wrk-$1.txt
	printf '%-14s %10s %10s %10s %8s %8s %9s\n' "$1" \
		"$(awk '/Requests\/sec/ {print $2}' "$f")" \
		"$(awk '$1 == "50%" {print $2}' "$f")" \
		"$(awk '$1 == "99%" {print $2}' "$f")" \
		"$(awk '/Non-2xx/ {print $5; x = 1} END {if (!x) print 0}' "$f")" \
		"$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10; x = 1} END {if (!x) print 0}' "$f")" \
		"$2"
}
# ms FILE PCT: wrk's latency at PCT in milliseconds.
ms() {
	awk -v p="$2" '$1 == p {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		print v * (u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1)}' "$1"
}
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "Host: $DOMAIN" "$url" >/dev/null
log "3. idle"
wrk_run idle
log "3. while backing up"
rm -f "$tmp/stop-loop"
backup_loop &
loop_pid=$!
t0=$(now)
wrk_run backup
busy_s=$(since "$t0")
ok_during=$(wc -l <"$tmp/loop.ok")
err_during=$(wc -l <"$tmp/loop.err")
touch "$tmp/stop-loop"
wait "$loop_pid" || true
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
{
	echo "# 3. tenancy serve --demo, wrk -t$THREADS -c$CONNS -d$DURATION --latency GET /api/notes (1,000 notes) with Host $DOMAIN, after a $WARMUP warm-up"
	printf '%-14s %10s %10s %10s %8s %8s %9s\n' run 'req/s' p50 p99 non-2xx sockerr backups
	wrk_line idle -
	wrk_line backup "$ok_during ok, $err_during failed (in $busy_s s; loop total $(wc -l <"$tmp/loop.ok") ok, $(wc -l <"$tmp/loop.err") failed)"
	awk -v ri="$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk-idle.txt")" -v rb="$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk-backup.txt")" \
		-v pi="$(ms "$tmp/wrk-idle.txt" 99%)" -v pb="$(ms "$tmp/wrk-backup.txt" 99%)" \
		-v mi="$(ms "$tmp/wrk-idle.txt" 50%)" -v mb="$(ms "$tmp/wrk-backup.txt" 50%)" \
		'BEGIN {printf "%-14s p99 %.3fx, p50 %.3fx, req/s %.3fx (backing up / idle)\n", "ratio", (pi > 0 ? pb / pi : 0), (mi > 0 ? mb / mi : 0), (ri > 0 ? rb / ri : 0)}'
	if [ -s "$tmp/loop.err" ]; then
		echo "#   the first failed backups: $(head -2 "$tmp/loop.err" | tr '\n' '|')"
	fi
	if grep -qiE 'level=(ERROR|WARN)' "$tmp/serve.log"; then
		echo "# tenancy serve logged $(grep -ciE 'level=(ERROR|WARN)' "$tmp/serve.log") errors or warnings; the first:"
		grep -iE 'level=(ERROR|WARN)' "$tmp/serve.log" | head -3 | cut -c1-300 | sed 's/^/#   /'
	fi
} | out
log "appended to $RESULTS"
