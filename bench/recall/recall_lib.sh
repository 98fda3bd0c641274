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

# build_medians RESULTS FORMATS: for each build of RESULTS (lines "round
# build value..."), in the order first seen, the build and the median of
# each value column over its lines (the mean of the middle two for an even
# count), printed with FORMATS (one printf format per value column,
# space-separated, e.g. "%d %.1f").
build_medians() {
	awk -v formats="$2" '
		function median(a, n,   i, j, t) {
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ if (!($2 in n)) order[++builds] = $2; k = ++n[$2]; for (f = 3; f <= NF; f++) v[$2, f, k] = $f; columns = NF }
		END {
			split(formats, format, " ")
			for (b = 1; b <= builds; b++) {
				line = order[b]
				for (f = 3; f <= columns; f++) {
					delete a
					for (k = 1; k <= n[order[b]]; k++) a[k] = v[order[b], f, k]
					line = line " " sprintf(format[f - 2], median(a, n[order[b]]))
				}
				print line
			}
		}' "$1"
}

# restart_with_build DATADIR BUILD LOGFILE: stop the cluster, install BUILD
# as the engram.so of $PG_CONFIG's PostgreSQL, start the cluster.
restart_with_build() {
	engram_cluster_stop "$1"
	install -m 755 "$2" "$("$PG_CONFIG" --pkglibdir)/engram.so"
	engram_cluster_start "$1" "$3"
}

# migration_runs SOCKDIR PORT: the tier-migration cycles run so far by the
# worker of database "bench".
migration_runs() {
	engram_as_postgres psql -X -qAt -h "$1" -p "$2" -d bench -c \
		"SELECT runs FROM engram_worker_status WHERE database = 'bench' AND job = 'tier_migration'"
}

# wait_for_migration SOCKDIR PORT: until that worker has run a migration
# cycle (at most 60 s).
wait_for_migration() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(migration_runs "$1" "$2")" -ge 1 ] 2>/dev/null && return
		sleep 0.1
	done
	engram_die "no migration cycle within 60 s"
}

# ab_rounds ROUNDS A.so B.so RUN: ROUNDS rounds of "RUN ROUND WHICH BUILD"
# for builds A and B alternated (A first in odd rounds, B first in even).
ab_rounds() {
	local round which order
	for ((round = 1; round <= $1; round++)); do
		if ((round % 2 == 1)); then order="A B"; else order="B A"; fi
		for which in $order; do
			if [ "$which" = A ]; then "$4" "$round" A "$2"; else "$4" "$round" B "$3"; fi
		done
	done
}
