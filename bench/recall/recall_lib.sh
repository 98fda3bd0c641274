# recall_lib.sh: what the recall benchmarks of this folder (recall_bench.sh,
# recall_ab.sh, query_cpu_ab.sh) share.  Source it from a script here.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"

# write_recall_scripts DIR: the pgbench scripts against the space "bench"
# and its query table bench_queries (i, v): recall.sql (hybrid, max_hops 2,
# k 10), plain.sql (ORDER BY embedding <=> q LIMIT 10), store.sql.
write_recall_scripts() {
	cat >"$1/recall.sql" <<'SQL'
\set q random(1, 1000)
SELECT count(*) FROM engram_recall('bench', (SELECT v FROM bench_queries WHERE i = :q), k => 10, max_hops => 2);
SQL
	cat >"$1/plain.sql" <<'SQL'
\set q random(1, 1000)
SELECT count(*) FROM (SELECT id FROM bench ORDER BY embedding <=> (SELECT v FROM bench_queries WHERE i = :q) LIMIT 10) s;
SQL
	cat >"$1/store.sql" <<'SQL'
\set q random(1, 1000)
SELECT engram_store('bench', 'stored by pgbench', (SELECT v FROM bench_queries WHERE i = :q));
SQL
	chown postgres: "$1"/recall.sql "$1"/plain.sql "$1"/store.sql
}

# children_ticks POSTMASTER [PGREP_ARGS...]: clock ticks of CPU (user +
# system) used so far by the postmaster's live children (those pgrep also
# matches with PGREP_ARGS).
children_ticks() {
	local postmaster=$1 total=0 pid
	shift
	for pid in $(pgrep -P "$postmaster" "$@"); do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

# cluster_ticks DATADIR: clock ticks of CPU (user + system) used so far by
# the cluster: the postmaster's own and its reaped children's (cutime,
# cstime: pgbench's backends exit before the run is over), plus its live
# children's.
cluster_ticks() {
	local postmaster
	postmaster=$(head -1 "$1/postmaster.pid")
	echo $(($(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat") + $(children_ticks "$postmaster")))
}

# worker_ticks DATADIR: clock ticks of CPU (user + system) used so far by
# the cluster's live Engram database workers (a part of cluster_ticks).
worker_ticks() {
	children_ticks "$(head -1 "$1/postmaster.pid")" -f '^postgres: engram worker for database'
}

# pgbench_latencies LOGDIR: the latencies of pgbench's --log files
# LOGDIR/log.* sorted into LOGDIR/latencies_ms (milliseconds); prints
# "calls p50 p99" (nearest rank, 0 when there were none).
pgbench_latencies() {
	local n p50 p99
	cat "$1"/log.* 2>/dev/null | awk '{print $3 / 1000.0}' | sort -n >"$1/latencies_ms"
	n=$(wc -l <"$1/latencies_ms")
	p50=$(awk -v n="$n" 'NR == int(n * 0.50) + 1 {print; exit}' "$1/latencies_ms")
	p99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 {print; exit}' "$1/latencies_ms")
	echo "$n ${p50:-0} ${p99:-0}"
}
