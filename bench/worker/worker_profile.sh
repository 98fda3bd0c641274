#!/usr/bin/env bash
# worker_profile.sh: where the busy background worker spends its CPU, on a
# throwaway cluster (Engram preloaded, fsync on).
#
# Loads one space of MEMORIES memories of DIMS dimensions
# (bench/pgbench/load_space.sh), puts the worker in the stress setting of
# worker_bench.sh's "busy" rounds (engram.worker_naptime = 1 s,
# engram.consolidation_interval = 1 s, migration windows of 30 s), runs
# two pgbench recall clients for SECONDS and meanwhile records the worker
# process with perf (perf record -g -p PID).  Reports the worker's CPU
# seconds, its cycles (tier_migration runs: one per cycle) and CPU per
# cycle, each job's runs and counters, and perf's top symbols (self time)
# and top callers (children).
#
# Usage (as root, PG_CONFIG exported as for scripts/test.sh):
#   bash bench/worker/worker_profile.sh [MEMORIES] [DIMS] [SECONDS] [EXTRA_SETTING...]
# defaults 10000 768 30.  Writes bench/worker/results-profile-<timestamp>/
# (report.txt; perf.data too with ENGRAM_PROFILE_KEEP=1, for perf report -i).  Bounded: a 15 s warm-up and SECONDS
# of pgbench plus the load.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/worker_common.sh"

memories=${1:-10000}
dims=${2:-768}
seconds=${3:-30}
shift $(($# < 3 ? $# : 3))
extra_settings=("$@")

[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
command -v perf >/dev/null || engram_die "perf is not installed"
engram_build_install

out=$here/results-profile-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
worker_bench_cluster worker-profile "${extra_settings[@]}"
engram_log "loading $memories memories of $dims dimensions"
bash "$here/../pgbench/load_space.sh" --rows "$memories" --dims "$dims" >/dev/null
pgbench=$(engram_bindir)/pgbench

worker_settings busy
engram_log "warm-up: 15 s of recall with the worker busy"
"$pgbench" -n -M prepared -c 2 -j 2 -T 15 -D space=engram_bench -D queries=200 \
	-f "$here/../pgbench/recall.sql" bench >/dev/null 2>&1

pid=$(worker_pid)
[ -n "$pid" ] || engram_die "no engram worker for database bench"
status() {
	psql_q -At -F ' ' -c "SELECT job, runs, rows_moved, memories_consolidated, episodes_selected,
		rows_flushed, errors FROM engram_worker_status WHERE database = 'bench' ORDER BY job" 2>/dev/null ||
		psql_q -At -F ' ' -c "SELECT job, runs, rows_moved, memories_consolidated, episodes_selected,
		0, errors FROM engram_worker_status WHERE database = 'bench' ORDER BY job"
}
status >"$work/status-before"
ticks_before=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
engram_log "profiling worker $pid for $seconds s under 2 recall clients"
"$pgbench" -n -M prepared -c 2 -j 2 -T "$seconds" -D space=engram_bench -D queries=200 \
	-f "$here/../pgbench/recall.sql" bench >"$work/pgbench.out" 2>&1 &
pgbench_pid=$!
perf record -q -g -F 499 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" >/dev/null 2>&1 || true
wait "$pgbench_pid" || true
ticks_after=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
status >"$work/status-after"

report=$out/report.txt
{
	echo "# Engram busy-worker profile, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# memories=$memories dims=$dims seconds=$seconds settings: ${extra_settings[*]:-(defaults)}"
	echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "## Jobs during the profile: job runs rows_moved consolidated selected flushed errors (delta)"
	join "$work/status-before" "$work/status-after" | awk '{
		printf "%s %d %d %d %d %d %d\n", $1, $8 - $2, $9 - $3, $10 - $4, $11 - $5, $12 - $6, $13 - $7 }'
	cycles=$(join "$work/status-before" "$work/status-after" | awk '$1 == "tier_migration" { print $8 - $2 }')
	awk -v a="$ticks_before" -v b="$ticks_after" -v t="$(getconf CLK_TCK)" -v c="$cycles" -v s="$seconds" 'BEGIN {
		cpu = (b - a) / t
		printf "\nworker CPU: %.2f s in %d s (%.1f %% of a core), %d cycles, %.3f s per cycle\n",
			cpu, s, 100 * cpu / s, c, (c > 0 ? cpu / c : 0) }'
	grep -E "^(tps|latency average)" "$work/pgbench.out" || true
	echo
	echo "## perf: self time by symbol"
	perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9]' | head -40 || true
	echo
	echo "## perf: time including callees, by symbol"
	perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9]' | head -60 || true
} >"$report"
if [ "${ENGRAM_PROFILE_KEEP:-0}" = 1 ]; then mv "$work/perf.data" "$out/perf.data"; fi
cat "$report"
engram_log "report: $report"
