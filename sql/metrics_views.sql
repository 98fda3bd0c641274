-- Metrics views over the shared-memory counters (src/metrics/).  The
-- observations come from the engram_metrics_test_record* testing aids,
-- which go through the same C entry points the subsystems call.
-- Counters are cluster-wide: start from a reset.
SELECT engram_metrics_reset();
SELECT count(*) AS operations, sum(operations) AS total, sum(errors) AS errors
  FROM engram_stats;
SELECT engram_metrics_stats_reset() <= now() AS reset_time_ok;

-- Bucket edges: a bound is inclusive (le), 0 lands in the first bucket,
-- 20 s beyond the last bound lands in +Inf.
SELECT engram_metrics_test_record('recall', 0);
SELECT engram_metrics_test_record('recall', 0.005);
SELECT engram_metrics_test_record('recall', 0.0050001);
SELECT engram_metrics_test_record('recall', 20, false);
SELECT engram_metrics_test_record('store', 0.0002, cpu_seconds => 0.0001);
SELECT operation, operations, errors, round(total_seconds::numeric, 7) AS total_seconds,
	   round(mean_seconds::numeric, 7) AS mean_seconds, round(cpu_seconds::numeric, 7) AS cpu_seconds
  FROM engram_stats WHERE operations > 0 ORDER BY operation;
SELECT operation, le, count, cumulative_count
  FROM engram_operation_latency
 WHERE count > 0 OR le = 'Infinity' ORDER BY operation, le;
SELECT operation, cardinality(bounds) AS bounds, cumulative_counts, round(sum_seconds::numeric, 7) AS sum, count
  FROM engram_operation_histogram WHERE operation IN ('recall', 'store') ORDER BY operation;
SELECT engram_metrics_latency_bounds();

-- Slow-operation log: default threshold 10 ms keeps the 20 s recall only.
SHOW engram.slow_operation_threshold_ms;
SELECT operation, ok, duration_ms, database = current_database() AS this_database, username, ef_search, nodes_visited, tiers_touched, hops
  FROM engram_slow_operations;
SELECT engram_metrics_test_record('index_search', 0.012, ef_search => 200, nodes_visited => 5000,
								  hops => 2, tiers => ARRAY['warm', 'cold', 'warm']);
SET engram.slow_operation_threshold_ms = -1;
SELECT engram_metrics_test_record('index_search', 5);
SET engram.slow_operation_threshold_ms = 0;
SELECT engram_metrics_test_record('spread', 0.00001);
RESET engram.slow_operation_threshold_ms;
SELECT operation, ok, duration_ms, ef_search, nodes_visited, tiers_touched, hops
  FROM engram_slow_operations ORDER BY finished_at;

-- The C timer path: begin/end, an error inside the operation, and an
-- error inside a subtransaction that the caller catches.
SELECT engram_metrics_test_record_timed('consolidate', false);
SELECT engram_metrics_test_record_timed('consolidate', true);
DO $$
BEGIN
	PERFORM engram_metrics_test_record_timed('migrate', true);
EXCEPTION WHEN raise_exception THEN
	PERFORM engram_metrics_test_record_timed('migrate', false);
END
$$;
BEGIN;
SAVEPOINT s;
SELECT engram_metrics_test_record_timed('forget', true);
ROLLBACK TO SAVEPOINT s;
SELECT engram_metrics_test_record_timed('forget', false);
COMMIT;
SELECT operation, operations, errors, total_seconds < 1 AS fast
  FROM engram_stats WHERE operation IN ('consolidate', 'migrate', 'forget') ORDER BY operation;

-- Caches, tier moves, lock waits.
SELECT engram_metrics_test_record_cache('activation', true) FROM generate_series(1, 3);
SELECT engram_metrics_test_record_cache('activation', false);
SELECT * FROM engram_cache_stats;
SELECT engram_metrics_test_record_tier_move('hot', 'warm', 5);
SELECT engram_metrics_test_record_tier_move('cold', 'warm', 2);
SELECT engram_metrics_test_record_tier_move('warm', 'warm', 7);
SELECT * FROM engram_tier_moves ORDER BY from_tier, to_tier;
SELECT engram_metrics_test_record_lock_wait('hot_tier_shard', 0.00025);
SELECT engram_metrics_test_record_lock_wait('hot_tier_shard', 0.00075);
SELECT * FROM engram_lock_waits ORDER BY lock_type;

-- Bad input.
SELECT engram_metrics_test_record('remember', 0.1);
SELECT engram_metrics_test_record('recall', -1);
SELECT engram_metrics_test_record('recall', 'Infinity');
SELECT engram_metrics_test_record('recall', 0.1, tiers => ARRAY['lukewarm']);
SELECT engram_metrics_test_record_cache('plan', true);
SET engram.slow_operation_threshold_ms = -2;

-- Reset empties everything, slow log included.
SELECT engram_metrics_reset();
SELECT sum(operations) AS operations, sum(errors) AS errors, sum(cpu_seconds) AS cpu FROM engram_stats;
SELECT sum(count) AS buckets FROM engram_operation_latency;
SELECT count(*) AS slow FROM engram_slow_operations;
SELECT sum(hits) + sum(requests) AS cache FROM engram_cache_stats;
SELECT sum(moves) AS moves FROM engram_tier_moves;
SELECT sum(waits) AS waits FROM engram_lock_waits;

-- PostgreSQL-side sources.  Shapes and signs only: values depend on the
-- server's history.
SELECT shared_memory_bytes > 0 AS has_engram_shmem, shared_buffers_bytes >= 0 AS buffers_ok
  FROM engram_memory_usage;
SELECT data_bytes >= 0 AND total_bytes >= data_bytes AS sizes_ok FROM engram_storage_size;
SELECT operation, kind, bytes >= 0 AS ok FROM engram_disk_io ORDER BY operation, kind;
SELECT pool, active_threads >= 0 AND active_threads <= total_threads AS ok
  FROM engram_thread_pools ORDER BY pool;
SELECT writes >= 0 AND syncs >= 0 AND bytes > 0 AS ok FROM engram_wal_stats;
CREATE TABLE metrics_buffered (id int, pad text);
INSERT INTO metrics_buffered SELECT g, repeat('x', 500) FROM generate_series(1, 200) g;
SELECT engram_shared_buffers_bytes(ARRAY['metrics_buffered'::regclass])
	   >= pg_relation_size('metrics_buffered') AS table_pages_in_buffers;
SELECT engram_shared_buffers_bytes(ARRAY[]::regclass[]) AS none;
DROP TABLE metrics_buffered;

-- WAL flush histogram: no row without track_wal_io_timing, a histogram with it.
SET track_wal_io_timing = off;
SELECT count(*) FROM engram_wal_flush_sample();
SET track_wal_io_timing = on;
SELECT cardinality(bounds) AS bounds, cardinality(cumulative_counts) AS buckets,
	   count >= 0 AS count_ok, sum_seconds >= 0 AS sum_ok
  FROM engram_wal_flush_sample();
RESET track_wal_io_timing;
