#!/usr/bin/env bash
# analyze_slow_queries.sh [THRESHOLD_MS] [WINDOW] [full]
#
# Slow Engram operations of the last WINDOW (default 1h; any PostgreSQL
# interval: 30s, 5m, 1h, 2d) that took at least THRESHOLD_MS (default 10,
# the seed's P99 recall target), from Engram's slow-operation log
# (engram_slow_operations: ef_search, nodes visited, tiers touched, hops),
# with the latency distribution of every operation (engram_stats and its
# histogram), the WAL fsync time, cache and lock figures, and the slowest
# statements of pg_stat_statements when it is installed.  Ends with the
# findings and the advice that follows from them; every finding quotes the
# measurement and the seed threshold it crossed.  "full" also lists every
# slow operation and the whole statement texts.
#
# The server is the one libpq's PGHOST/PGPORT/PGUSER/PGDATABASE name; the
# user needs pg_monitor.  Exit status: 0 report written, 1 error, 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

usage() {
	echo "usage: $0 [THRESHOLD_MS] [WINDOW] [full]   e.g. $0 10 5m, $0 10 1h full" >&2
	exit 2
}
threshold=${1:-10}
window=${2:-1h}
mode=${3:-summary}
[[ $threshold =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage
case "$mode" in full | summary) ;; *) usage ;; esac
[ $# -le 3 ] || usage

psql_cmd=("$(engram_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off
	-v threshold="$threshold" -v window="$window")
"${psql_cmd[@]}" -At -c 'SELECT 1' >/dev/null 2>&1 ||
	engram_die "PostgreSQL does not answer (PGHOST=${PGHOST:-default} PGPORT=${PGPORT:-5432})"
err=$(echo "SELECT :'window'::interval" | "${psql_cmd[@]}" -At 2>&1 >/dev/null) ||
	engram_die "WINDOW must be a PostgreSQL interval such as 30s, 5m, 1h or 2d: $err"
err=$("${psql_cmd[@]}" -At -c 'SELECT count(*) FROM engram_slow_operations' 2>&1 >/dev/null) ||
	engram_die "cannot read Engram's slow-operation log: $err"
has_pgss=$("${psql_cmd[@]}" -At -c "SELECT to_regclass('pg_stat_statements') IS NOT NULL")

echo "Engram slow operations: at least ${threshold} ms, last ${window} ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
"${psql_cmd[@]}" -At <<'SQL'
SELECT format('Database %s on %s; the log keeps operations of at least %s (engram.slow_operation_threshold_ms), the 256 most recent; counters since %s.',
			  current_database(), split_part(version(), ' on ', 1),
			  current_setting('engram.slow_operation_threshold_ms'), engram_metrics_stats_reset());
SQL
"${psql_cmd[@]}" <<'SQL'
\pset footer off
\echo
\echo '== Latency of every operation since the counters started (engram_stats, histogram) =='
WITH h AS (
	SELECT operation, le, cumulative_count, max(cumulative_count) OVER (PARTITION BY operation) AS total
	  FROM engram_operation_latency
), q AS (
	SELECT operation, total,
		   min(le) FILTER (WHERE cumulative_count >= 0.5 * total) AS p50_le,
		   min(le) FILTER (WHERE cumulative_count >= 0.99 * total) AS p99_le
	  FROM h GROUP BY operation, total
)
SELECT s.operation, s.operations, s.errors,
	   round((s.mean_seconds * 1000)::numeric, 3) AS mean_ms,
	   CASE WHEN q.p50_le = 'Infinity' THEN '> 10000' ELSE '<= ' || (q.p50_le * 1000)::text END AS p50_ms,
	   CASE WHEN q.p99_le = 'Infinity' THEN '> 10000' ELSE '<= ' || (q.p99_le * 1000)::text END AS p99_ms,
	   round((s.cpu_seconds * 1000 / nullif(s.operations, 0))::numeric, 3) AS cpu_ms_per_op
  FROM engram_stats s JOIN q USING (operation)
 WHERE s.operations > 0
 ORDER BY s.operations DESC;

\echo
\echo '== Slow operations in the window (engram_slow_operations) =='
SELECT operation, count(*) AS slow, count(*) FILTER (WHERE NOT ok) AS failed,
	   round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::numeric, 2) AS p50_ms,
	   round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::numeric, 2) AS p95_ms,
	   round(max(duration_ms)::numeric, 2) AS max_ms,
	   round(avg(ef_search)) AS avg_ef_search,
	   round(avg(nodes_visited)) AS avg_nodes_visited,
	   round(100.0 * count(*) FILTER (WHERE 'cold' = ANY (tiers_touched)) / count(*)) AS pct_touching_cold,
	   round(avg(hops), 1) AS avg_hops
  FROM engram_slow_operations
 WHERE finished_at > now() - :'window'::interval AND duration_ms >= :threshold
 GROUP BY operation ORDER BY count(*) DESC;
SQL

if [ "$mode" = full ]; then
	echo
	echo "== Every slow operation in the window =="
	"${psql_cmd[@]}" <<'SQL'
SELECT finished_at, operation, ok, round(duration_ms::numeric, 3) AS duration_ms,
	   round(cpu_ms::numeric, 3) AS cpu_ms, username, space, k, ef_search, nodes_visited,
	   tiers_touched, hops, rows_processed
  FROM engram_slow_operations
 WHERE finished_at > now() - :'window'::interval AND duration_ms >= :threshold
 ORDER BY duration_ms DESC;
SQL
fi

if [ "$has_pgss" = t ]; then
	echo
	echo "== Statements averaging at least ${threshold} ms (pg_stat_statements, cumulative since its reset: the window does not apply) =="
	width=$([ "$mode" = full ] && echo 100000 || echo 80)
	"${psql_cmd[@]}" -v width="$width" -v limit="$([ "$mode" = full ] && echo ALL || echo 10)" <<'SQL'
SELECT calls, round(mean_exec_time::numeric, 2) AS mean_ms, round(max_exec_time::numeric, 2) AS max_ms,
	   round(stddev_exec_time::numeric, 2) AS stddev_ms, rows,
	   round(100.0 * shared_blks_hit / nullif(shared_blks_hit + shared_blks_read, 0), 1) AS cache_hit_pct,
	   temp_blks_written,
	   left(regexp_replace(query, '\s+', ' ', 'g'), :width) AS query
  FROM pg_stat_statements
 WHERE mean_exec_time >= :threshold AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 ORDER BY total_exec_time DESC
 LIMIT :limit;
SQL
else
	echo
	echo "== pg_stat_statements is not installed in this database: statement-level figures skipped (add it to shared_preload_libraries and CREATE EXTENSION pg_stat_statements) =="
fi

echo
echo "== Findings and advice =="
"${psql_cmd[@]}" -At <<'SQL'
WITH slow AS (
	SELECT * FROM engram_slow_operations
	 WHERE finished_at > now() - :'window'::interval AND duration_ms >= :threshold
), latency AS (
	SELECT operation,
		   coalesce(max(le) FILTER (WHERE cumulative_count < 0.99 * total), 0) AS p99_low,
		   min(le) FILTER (WHERE cumulative_count >= 0.99 * total) AS p99_high,
		   max(total) AS total
	  FROM (SELECT operation, le, cumulative_count,
				   max(cumulative_count) OVER (PARTITION BY operation) AS total
			  FROM engram_operation_latency) h
	 GROUP BY operation
), wal AS (
	SELECT CASE WHEN syncs > 0 THEN round((1000 * sync_seconds / syncs)::numeric, 2) END AS mean_sync_ms
	  FROM engram_wal_stats
), findings(rank, line) AS (
	SELECT 1, format('recall P99 is in the (%s, %s] ms histogram bucket, over the 10 ms target: the findings below say why.',
					 p99_low * 1000, p99_high * 1000)
	  FROM latency WHERE operation = 'recall' AND total > 0 AND p99_low >= 0.01
	UNION ALL
	SELECT 1, format('store P99 is in the (%s, %s] ms histogram bucket, over the 5 ms target; WAL fsyncs average %s ms (pg_stat_wal).',
					 p99_low * 1000, p99_high * 1000, coalesce((SELECT mean_sync_ms::text FROM wal), 'unknown'))
	  FROM latency WHERE operation = 'store' AND total > 0 AND p99_low >= 0.005
	UNION ALL
	SELECT 2, format('%s%% of the slow %s operations read the cold tier: frequently used memories are not hot. Raise engram.hot_tier_size_mb (seed: 10-20%% of RAM) or lower engram.migration_warm_to_hot_accesses / cold_to_warm_accesses.',
					 round(100.0 * count(*) FILTER (WHERE 'cold' = ANY (tiers_touched)) / count(*)), operation)
	  FROM slow WHERE operation IN ('recall', 'spread', 'index_search')
	 GROUP BY operation
	HAVING count(*) FILTER (WHERE 'cold' = ANY (tiers_touched)) > 0.5 * count(*)
	UNION ALL
	SELECT 3, format('slow %s operations ran with ef_search %s on average, above the seed production range 100-200: lower engram.ef_search (recall quality drops a little, latency a lot).',
					 operation, round(avg(ef_search)))
	  FROM slow WHERE ef_search IS NOT NULL
	 GROUP BY operation HAVING avg(ef_search) > 200
	UNION ALL
	SELECT 4, format('slow %s operations reached %s hops on average: spreading runs to its hop limit. Lower max_hops for these recalls or raise the stop threshold.',
					 operation, round(avg(hops), 1))
	  FROM slow WHERE hops IS NOT NULL
	 GROUP BY operation HAVING avg(hops) >= 3.5
	UNION ALL
	SELECT 5, format('%s of the slow operations in the window ended in an error (see full mode).', count(*))
	  FROM slow WHERE NOT ok HAVING count(*) > 0
	UNION ALL
	SELECT 6, format('activation cache hit rate is %s%%, under the 80%% target: raise engram.hot_tier_size_mb.',
					 round(100.0 * hits / requests, 1))
	  FROM engram_cache_stats WHERE requests > 0 AND hits < 0.8 * requests
	UNION ALL
	SELECT 7, format('waits for %s locks average %s us, over the 100 us target: raise engram.hot_tier_shards to 2-4x the CPU cores.',
					 lock_type, round((1e6 * wait_seconds / waits)::numeric, 1))
	  FROM engram_lock_waits WHERE waits > 0 AND wait_seconds / waits > 0.0001
	UNION ALL
	SELECT 8, format('WAL fsyncs take %s ms on average (pg_stat_wal), over the 5 ms SSD target: stores wait on the disk. Use faster storage for pg_wal, or group commits (commit_delay; tune_config.sh sets it for HDDs).',
					 round((1000 * sync_seconds / syncs)::numeric, 2))
	  FROM engram_wal_stats WHERE syncs > 0 AND sync_seconds / syncs > 0.005
	UNION ALL
	SELECT 9, format('the slow-operation log only keeps operations of at least %s: operations between %s ms and that are not in it. Lower engram.slow_operation_threshold_ms to see them.',
					 current_setting('engram.slow_operation_threshold_ms'), :threshold)
	 WHERE current_setting('engram.slow_operation_threshold_ms') <> '-1'
	   AND (SELECT setting::float8 FROM pg_settings WHERE name = 'engram.slow_operation_threshold_ms') > :threshold
	UNION ALL
	SELECT 9, 'the slow-operation log is off (engram.slow_operation_threshold_ms = -1).'
	 WHERE current_setting('engram.slow_operation_threshold_ms') = '-1'
)
SELECT CASE WHEN count(*) = 0
			THEN format('no finding: %s slow operations in the window, and every figure checked is within the seed targets.',
						(SELECT count(*) FROM slow))
			ELSE string_agg('- ' || line, E'\n' ORDER BY rank, line) END
  FROM findings;
SQL
