#!/usr/bin/env bash
# What the live monitoring costs tenant requests, measured in one run:
# GET /api/whoami over MONITOR_BENCH_TENANTS tenants (default 1000) through
# the server as `tenancy serve` runs it (monitoring sampler at 1 Hz), in
# alternating rounds with the dashboard closed (no client) and open (three
# clients on /admin/monitoring/stream, /metrics scraped every second). It
# prints each round, the median throughputs and their ratio open/closed (the
# goal: at least 0.98), the CPU time per request of each, and the CPU time
# per second the open dashboard adds without load; then the cost of one
# sample over 1,000 busy tenants (monitor.BenchmarkSample).
# The load is wrk when installed (MONITOR_BENCH_LOAD=go for a Go client in
# process). Knobs: MONITOR_BENCH_ROUNDS (10), MONITOR_BENCH_SECONDS (5),
# MONITOR_BENCH_CONNS (64). Results go to bench/results/monitor.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
mkdir -p "$out"
{
	echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	go test -run '^$' -bench '^BenchmarkMonitorOverhead$' -benchtime 1x -timeout 60m -v ./bench/ | grep -v '^=== RUN'
	go test -run '^$' -bench '^BenchmarkSample$' -benchtime 500x -benchmem ./monitor/ | grep '^Benchmark'
} | tee "$out/monitor.txt"
