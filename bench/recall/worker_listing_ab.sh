#!/usr/bin/env bash
# worker_listing_ab.sh: two builds of engram.so compared alternately on one
# loaded cluster (recall_bench.sh's "bench" space, kept by the caller) for
# what the background worker's tier-migration cycles cost while recalls
# run: per round and build, restart the cluster with that build, let the
# worker start, then run engram_recall (recall_bench.sh's recall.sql) with
# one client for SECONDS while the worker cycles, and record
#   - migration cycles run, and the worker's CPU per cycle (user + system
#     of the cluster's "engram worker" processes, from /proc);
#   - the last cycle's detail (a build with the windowed listing says what
#     it read; an older one reads every row of the space);
#   - recall calls/s and recall CPU per call (engram_stats' backend CPU);
#     the server's CPU per call (every process of the cluster).
# The worker runs with engram.worker_naptime = 1 s (ALTER SYSTEM in the
# cluster) so that a run holds several cycles of either build.
#
# Usage (as root, PG_CONFIG exported):
#   bash bench/recall/worker_listing_ab.sh DATADIR SOCKDIR PORT A.so B.so [ROUNDS] [SECONDS]
# defaults 3 rounds, 30 s.  WARMUP=S in the environment first runs the
# recall S seconds, unmeasured, after each start (the windowed listing
# reads up to engram.migration_batch "settled" candidates a cycle after a
# start until it knows them; see docs/worker.md).  Leaves build B installed.  Prints one line per
# run and the medians per build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"

[ $# -ge 5 ] || engram_die "usage: worker_listing_ab.sh DATADIR SOCKDIR PORT A.so B.so [ROUNDS] [SECONDS]"
datadir=$1 sockdir=$2 port=$3 build_a=$4 build_b=$5
rounds=${6:-3} seconds=${7:-30}
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
libdir=$("$PG_CONFIG" --pkglibdir)
hz=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/engram-worker-ab.XXXXXX)
chmod 755 "$work" && chown postgres: "$work"
trap 'rm -rf "$work"' EXIT
write_recall_scripts "$work"

sql() { engram_as_postgres psql -X -qAt -h "$sockdir" -p "$port" -d bench -c "$1"; }
migration() { migration_runs "$sockdir" "$port"; }
recall_stats() { sql "SELECT coalesce(sum(operations), 0) || ' ' || coalesce(sum(cpu_seconds), 0) FROM engram_stats WHERE operation = 'recall'"; }

install_build() {
	restart_with_build "$datadir" "$1" "$datadir/worker_ab_server.log"
	sql "ALTER SYSTEM SET engram.worker_naptime = 1" >/dev/null
	sql "SELECT pg_reload_conf()" >/dev/null
	wait_for_migration "$sockdir" "$port"
}

echo "worker listing A/B, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: $build_a  B: $build_b  rounds $rounds, $seconds s each, warm-up ${WARMUP:-0} s"
echo "round build cycles worker_cpu_ms_per_cycle recall_calls/s recall_cpu_ms_per_call server_cpu_ms_per_call | last cycle's detail"
results=$work/results
: >"$results"
# one_run ROUND WHICH BUILD
one_run() {
	local round=$1 which=$2 so=$3 runs_before worker_before cluster_before stats_before runs_after worker_after cluster_after stats_after detail tps line
	install_build "$so"
	[ -n "${space:-}" ] || { space=$(sql "SELECT count(*) || ' rows, ' || pg_relation_size('bench') / 8192 || ' pages' FROM bench"); echo "space: $space"; }
	if [ "${WARMUP:-0}" -gt 0 ]; then
		(cd "$work" && engram_as_postgres pgbench -n -h "$sockdir" -p "$port" -f "$work/recall.sql" \
			-c 1 -j 1 -T "$WARMUP" bench) >/dev/null 2>&1 || true
	fi
	runs_before=$(migration)
	worker_before=$(worker_ticks "$datadir")
	cluster_before=$(cluster_ticks "$datadir")
	stats_before=$(recall_stats)
	(cd "$work" && engram_as_postgres pgbench -n -h "$sockdir" -p "$port" -f "$work/recall.sql" \
		-c 1 -j 1 -T "$seconds" bench) >"$work/summary.txt" 2>&1 || true
	sleep 1
	runs_after=$(migration)
	worker_after=$(worker_ticks "$datadir")
	cluster_after=$(cluster_ticks "$datadir")
	stats_after=$(recall_stats)
	detail=$(sql "SELECT detail FROM engram_worker_status WHERE database = 'bench' AND job = 'tier_migration'")
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/summary.txt")
	line=$(awk -v r="$round" -v w="$which" -v c=$((runs_after - runs_before)) \
		-v wt=$((worker_after - worker_before)) -v ct=$((cluster_after - cluster_before)) \
		-v hz="$hz" -v tps="${tps:-0}" -v sb="$stats_before" -v sa="$stats_after" \
		'BEGIN { split(sb, b, " "); split(sa, a, " "); calls = a[1] - b[1];
			printf "%d %s %d %.1f %.1f %.3f %.3f", r, w, c, (c > 0 ? wt / hz * 1000 / c : 0), tps,
				(calls > 0 ? (a[2] - b[2]) * 1000 / calls : 0), (calls > 0 ? ct / hz * 1000 / calls : 0) }')
	echo "$line" >>"$results"
	echo "$line | $detail"
}
ab_rounds "$rounds" "$build_a" "$build_b" one_run
engram_cluster_stop "$datadir"
install -m 755 "$build_b" "$libdir/engram.so"

echo "medians: build cycles worker_cpu_ms_per_cycle recall_calls/s recall_cpu_ms_per_call server_cpu_ms_per_call"
build_medians "$results" "%d %.1f %.1f %.3f %.3f"
