#!/usr/bin/env bash
# worker_stats_ab.sh: two builds of engram.so compared alternately on one
# cluster for what an idle tier-migration cycle costs as the number of
# access-statistics entries grows.  The cluster (created on first use in
# DATADIR) holds one space, "stats_bench", of ROWS memories of 16
# dimensions: every row has a statistics entry (its written time), one in
# ten has been accessed once (engram_access_record); under the default
# rules nothing is to move.  Per round and build: restart the cluster with
# that build, wait for a first migration cycle, then let the worker cycle
# SECONDS with nothing else running, and record
#   - migration cycles, and the CPU of the "migrate" operation per cycle
#     (engram_stats: the worker's process CPU clock around each space's
#     listing, plan and moves);
#   - the worker process's CPU per cycle (/proc; includes its other jobs,
#     e.g. the access statistics' file written every 60 s).
# Run it again with a larger ROWS to grow the space (rows are added, the
# new ones accessed one in ten as well).  SCAN_PAGES=N in the environment
# sets engram.migration_scan_pages (ALTER SYSTEM; unset: the default), to
# make the window's share of a cycle small.
#
# Usage (as root, PG_CONFIG exported):
#   bash bench/recall/worker_stats_ab.sh DATADIR SOCKDIR PORT A.so B.so ROWS [ROUNDS] [SECONDS]
# defaults 3 rounds, 20 s.  Leaves build B installed and the cluster stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"

[ $# -ge 6 ] || engram_die "usage: worker_stats_ab.sh DATADIR SOCKDIR PORT A.so B.so ROWS [ROUNDS] [SECONDS]"
datadir=$1 sockdir=$2 port=$3 build_a=$4 build_b=$5 rows=$6
rounds=${7:-3} seconds=${8:-20}
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
libdir=$("$PG_CONFIG" --pkglibdir)
hz=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/engram-stats-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT

sql() { engram_as_postgres psql -X -qAt -h "$sockdir" -p "$port" -d "${2:-bench}" -c "$1"; }
migration() { migration_runs "$sockdir" "$port"; }
migrate_stats() { sql "SELECT coalesce(sum(operations), 0) || ' ' || coalesce(sum(cpu_seconds), 0) FROM engram_stats WHERE operation = 'migrate'"; }

start_build() { restart_with_build "$datadir" "$1" "$datadir/stats_ab_server.log"; }

mkdir -p "$sockdir" && chown postgres: "$sockdir"
if [ ! -f "$datadir/PG_VERSION" ]; then
	mkdir -p "$datadir" && chown postgres: "$datadir"
	engram_cluster_init "$datadir" "$port" "$sockdir" "engram.access_stats_max_rows = 400000" \
		"engram.worker_naptime = 1" "autovacuum = off" "shared_buffers = 256MB"
	start_build "$build_b"
	sql "CREATE DATABASE bench" postgres >/dev/null
	sql "SET client_min_messages = warning; CREATE EXTENSION engram; SELECT engram_create_space('stats_bench', 16)" >/dev/null
else
	start_build "$build_b"
fi
have=$(sql "SELECT count(*) FROM stats_bench")
while [ "$have" -lt "$rows" ]; do
	add=$((rows - have < 50000 ? rows - have : 50000))
	sql "SELECT setseed(0.5); INSERT INTO stats_bench (content, embedding)
		SELECT 'memory ' || i, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 16) WHERE i > 0)::evector
		FROM generate_series($have + 1, $have + $add) i;
		SELECT count(engram_access_record('stats_bench', ctid)) FROM stats_bench WHERE id > $have AND id % 10 = 0" >/dev/null
	have=$((have + add))
done
if [ -n "${SCAN_PAGES:-}" ]; then
	sql "ALTER SYSTEM SET engram.migration_scan_pages = $SCAN_PAGES" >/dev/null
else
	sql "ALTER SYSTEM RESET engram.migration_scan_pages" >/dev/null
fi
entries=$(sql "SELECT count(*) || ' entries, ' || count(*) FILTER (WHERE access_count > 0) || ' accessed' FROM engram_row_access_stats('stats_bench')")

echo "worker stats A/B, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: $build_a  B: $build_b  rounds $rounds, $seconds s each; space: $have rows, $entries; scan pages ${SCAN_PAGES:-default}"
echo "round build cycles migrate_cpu_ms_per_cycle worker_cpu_ms_per_cycle | last cycle's detail"
results=$work/results
: >"$results"
# one_run ROUND WHICH BUILD
one_run() {
	local round=$1 which=$2 so=$3 runs_before worker_before stats_before runs_after worker_after stats_after detail line
	start_build "$so"
	wait_for_migration "$sockdir" "$port"
	runs_before=$(migration)
	worker_before=$(worker_ticks "$datadir")
	stats_before=$(migrate_stats)
	sleep "$seconds"
	runs_after=$(migration)
	worker_after=$(worker_ticks "$datadir")
	stats_after=$(migrate_stats)
	detail=$(sql "SELECT detail FROM engram_worker_status WHERE database = 'bench' AND job = 'tier_migration'")
	line=$(awk -v r="$round" -v w="$which" -v c=$((runs_after - runs_before)) \
		-v wt=$((worker_after - worker_before)) -v hz="$hz" -v sb="$stats_before" -v sa="$stats_after" \
		'BEGIN { split(sb, b, " "); split(sa, a, " "); ops = a[1] - b[1];
			printf "%d %s %d %.2f %.1f", r, w, c, (ops > 0 ? (a[2] - b[2]) * 1000 / ops : 0),
				(c > 0 ? wt / hz * 1000 / c : 0) }')
	echo "$line" >>"$results"
	echo "$line | $detail"
}
ab_rounds "$rounds" "$build_a" "$build_b" one_run
engram_cluster_stop "$datadir"
install -m 755 "$build_b" "$libdir/engram.so"

echo "medians: build cycles migrate_cpu_ms_per_cycle worker_cpu_ms_per_cycle"
build_medians "$results" "%d %.2f %.1f"
