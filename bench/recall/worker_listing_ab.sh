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
migration() { sql "SELECT runs FROM engram_worker_status WHERE database = 'bench' AND job = 'tier_migration'"; }
recall_stats() { sql "SELECT coalesce(sum(operations), 0) || ' ' || coalesce(sum(cpu_seconds), 0) FROM engram_stats WHERE operation = 'recall'"; }

install_build() {
	engram_cluster_stop "$datadir"
	install -m 755 "$1" "$libdir/engram.so"
	engram_cluster_start "$datadir" "$datadir/worker_ab_server.log"
	sql "ALTER SYSTEM SET engram.worker_naptime = 1" >/dev/null
	sql "SELECT pg_reload_conf()" >/dev/null
	# the worker has run its first migration cycle (bounded wait)
	for ((i = 0; i < 600; i++)); do
		[ "$(migration)" -ge 1 ] 2>/dev/null && return
		sleep 0.1
	done
	engram_die "no migration cycle within 60 s"
}

echo "worker listing A/B, $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: $build_a  B: $build_b  rounds $rounds, $seconds s each, warm-up ${WARMUP:-0} s"
echo "round build cycles worker_cpu_ms_per_cycle recall_calls/s recall_cpu_ms_per_call server_cpu_ms_per_call | last cycle's detail"
results=$work/results
: >"$results"
for ((round = 1; round <= rounds; round++)); do
	if ((round % 2 == 1)); then order="A B"; else order="B A"; fi
	for which in $order; do
		if [ "$which" = A ]; then so=$build_a; else so=$build_b; fi
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
	done
done
engram_cluster_stop "$datadir"
install -m 755 "$build_b" "$libdir/engram.so"

echo "medians: build cycles worker_cpu_ms_per_cycle recall_calls/s recall_cpu_ms_per_call server_cpu_ms_per_call"
for which in A B; do
	awk -v w="$which" '$2 == w' "$results" | awk -v w="$which" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ n++; c[n] = $3; w1[n] = $4; t[n] = $5; r[n] = $6; s[n] = $7 }
		END { printf "%s %d %.1f %.1f %.3f %.3f\n", w, median(c, n), median(w1, n), median(t, n), median(r, n), median(s, n) }'
done
