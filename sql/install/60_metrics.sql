-- 60_metrics.sql: Engram's metrics (src/metrics/) as SQL views, plus the
-- PostgreSQL-side sources that monitoring/queries.yaml exports.
--
-- The counters live in shared memory: every function and view reading them
-- raises "... requires engram to be loaded via shared_preload_libraries"
-- when Engram was loaded lazily.  Reading is for pg_monitor members;
-- resetting and the engram_metrics_test_record* testing aids are for
-- superusers only.

CREATE FUNCTION engram_metrics_latency_bounds() RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION engram_metrics_latency_bounds() IS
	'Upper bounds (seconds) of the Engram latency histogram buckets, +Inf excluded';

CREATE FUNCTION engram_metrics_operations(
	OUT operation text, OUT operations bigint, OUT errors bigint,
	OUT total_seconds float8, OUT cpu_seconds float8, OUT bucket_counts bigint[])
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION engram_metrics_caches(OUT cache text, OUT hits bigint, OUT requests bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION engram_metrics_tier_moves(OUT from_tier text, OUT to_tier text, OUT moves bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION engram_metrics_lock_waits(OUT lock_type text, OUT waits bigint,
	OUT wait_seconds float8)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION engram_metrics_network(OUT direction text, OUT bytes bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION engram_metrics_slow_operations(
	OUT finished_at timestamptz, OUT operation text, OUT ok boolean, OUT pid integer,
	OUT database oid, OUT userid oid, OUT seconds float8, OUT cpu_seconds float8,
	OUT space oid, OUT k integer, OUT ef_search integer, OUT nodes_visited bigint,
	OUT tiers_touched text[], OUT hops integer, OUT rows_processed bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION engram_metrics_stats_reset() RETURNS timestamptz
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION engram_metrics_reset() RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_metrics_reset() IS
	'Zero every Engram counter and histogram and empty the slow-operation log';

CREATE FUNCTION engram_wal_flush_sample(
	OUT bounds float8[], OUT cumulative_counts bigint[], OUT sum_seconds float8, OUT count bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_wal_flush_sample() IS
	'Fold the WAL fsyncs counted by pg_stat_wal since the last call into a histogram (bucket = mean fsync time of the interval) and return it; no row while track_wal_io_timing is off';

CREATE FUNCTION engram_shared_buffers_bytes(regclass[]) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_shared_buffers_bytes(regclass[]) IS
	'Bytes of shared buffers holding valid pages of the given relations';

-- Testing aids: they record synthetic observations exactly as the C API
-- does, so that the views and the export path can be tested before (and
-- independently of) the code paths that call the API.  Never use them to
-- feed a production dashboard.
CREATE FUNCTION engram_metrics_test_record(
	operation text, seconds float8, ok boolean DEFAULT true,
	cpu_seconds float8 DEFAULT NULL, ef_search integer DEFAULT NULL,
	nodes_visited bigint DEFAULT NULL, hops integer DEFAULT NULL,
	tiers text[] DEFAULT NULL) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION engram_metrics_test_record(text, float8, boolean, float8, integer, bigint, integer, text[]) IS
	'Testing aid: record one synthetic operation in the Engram metrics';
CREATE FUNCTION engram_metrics_test_record_cache(cache text, hit boolean) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_metrics_test_record_cache(text, boolean) IS
	'Testing aid: record one synthetic cache lookup in the Engram metrics';
CREATE FUNCTION engram_metrics_test_record_tier_move(from_tier text, to_tier text, moves bigint)
	RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_metrics_test_record_tier_move(text, text, bigint) IS
	'Testing aid: record synthetic tier moves in the Engram metrics';
CREATE FUNCTION engram_metrics_test_record_lock_wait(lock_type text, seconds float8)
	RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_metrics_test_record_lock_wait(text, float8) IS
	'Testing aid: record one synthetic lock wait in the Engram metrics';
CREATE FUNCTION engram_metrics_test_record_timed(operation text, fail boolean) RETURNS void
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION engram_metrics_test_record_timed(text, boolean) IS
	'Testing aid: time an empty operation with engram_metrics_begin/end, or begin it and raise an error when fail is true';

-- Operation counters: operations counts successes and errors alike.
CREATE VIEW engram_stats AS
	SELECT o.operation, o.operations, o.errors, o.total_seconds,
		   CASE WHEN o.operations > 0 THEN o.total_seconds / o.operations END AS mean_seconds,
		   o.cpu_seconds, engram_metrics_stats_reset() AS stats_reset
	  FROM engram_metrics_operations() o;

-- One row per operation and bucket; le = 'Infinity' for the last bucket.
CREATE VIEW engram_operation_latency AS
	SELECT o.operation,
		   coalesce((engram_metrics_latency_bounds())[b.bucket], 'Infinity'::float8) AS le,
		   b.count,
		   sum(b.count) OVER (PARTITION BY o.operation ORDER BY b.bucket)::bigint AS cumulative_count
	  FROM engram_metrics_operations() o,
		   unnest(o.bucket_counts) WITH ORDINALITY AS b(count, bucket);

-- The same histogram, one row per operation, in postgres_exporter's shape.
CREATE VIEW engram_operation_histogram AS
	SELECT o.operation,
		   engram_metrics_latency_bounds() AS bounds,
		   ARRAY(SELECT sum(c) OVER (ORDER BY i)::bigint
				   FROM unnest(o.bucket_counts) WITH ORDINALITY AS u(c, i)
				  ORDER BY i
				  LIMIT cardinality(o.bucket_counts) - 1) AS cumulative_counts,
		   o.total_seconds AS sum_seconds,
		   o.operations AS count
	  FROM engram_metrics_operations() o;

CREATE VIEW engram_cache_stats AS
	SELECT c.cache, c.hits, c.requests,
		   CASE WHEN c.requests > 0 THEN c.hits::float8 / c.requests END AS hit_ratio
	  FROM engram_metrics_caches() c;

CREATE VIEW engram_tier_moves AS
	SELECT from_tier, to_tier, moves FROM engram_metrics_tier_moves();

CREATE VIEW engram_lock_waits AS
	SELECT lock_type, waits, wait_seconds FROM engram_metrics_lock_waits();

-- Bytes client backends received from and sent to TCP clients (not Unix
-- sockets), counted by the kernel per socket and read at the end of each
-- transaction (src/metrics/metrics_network.c).
CREATE VIEW engram_network AS
	SELECT direction, bytes FROM engram_metrics_network();

CREATE VIEW engram_slow_operations AS
	SELECT s.finished_at, s.operation, s.ok, s.seconds * 1000 AS duration_ms,
		   s.cpu_seconds * 1000 AS cpu_ms, s.pid, d.datname AS database,
		   r.rolname AS username, s.space::regclass AS space, s.k, s.ef_search,
		   s.nodes_visited, s.tiers_touched, s.hops, s.rows_processed
	  FROM engram_metrics_slow_operations() s
	  LEFT JOIN pg_database d ON d.oid = s.database
	  LEFT JOIN pg_roles r ON r.oid = s.userid;

-- Relations holding Engram data in the current database: tables of the
-- engram table access method, their TOAST tables and indexes, and every
-- engram_hnsw index (also on ordinary tables).  Access methods that are not
-- installed simply contribute nothing.
CREATE VIEW engram_storage_relations AS
	WITH tables AS (
		SELECT c.oid, c.reltoastrelid
		  FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		 WHERE a.amname = 'engram' AND c.relkind IN ('r', 'm')
	)
	SELECT t.oid::regclass AS relid, 'table'::text AS kind FROM tables t
	UNION ALL
	SELECT t.reltoastrelid::regclass, 'toast' FROM tables t WHERE t.reltoastrelid <> 0
	UNION
	SELECT i.indexrelid::regclass, 'index'
	  FROM pg_index i
	  JOIN pg_class c ON c.oid = i.indexrelid
	  JOIN pg_am a ON a.oid = c.relam
	 WHERE i.indrelid IN (SELECT oid FROM tables) OR a.amname = 'engram_hnsw';

-- data_bytes: table data (heap + TOAST + free-space and visibility maps);
-- total_bytes: the same plus every index.
CREATE VIEW engram_storage_size AS
	SELECT coalesce(sum(pg_total_relation_size(relid)) FILTER (WHERE kind = 'table'), 0)
			 - coalesce(sum(pg_indexes_size(relid)) FILTER (WHERE kind = 'table'), 0)
			 AS data_bytes,
		   coalesce(sum(pg_total_relation_size(relid)) FILTER (WHERE kind = 'table'), 0)
			 + coalesce(sum(pg_total_relation_size(relid))
						  FILTER (WHERE kind = 'index'
								  AND relid::oid NOT IN (SELECT i.indexrelid FROM pg_index i
														 JOIN engram_storage_relations t
														   ON t.relid::oid = i.indrelid
														  AND t.kind = 'table')), 0)
			 AS total_bytes
	  FROM engram_storage_relations;

-- Memory Engram holds: its own shared-memory regions (cluster-wide) and the
-- shared buffers holding pages of its relations (this database).
CREATE VIEW engram_memory_usage AS
	SELECT (SELECT coalesce(sum(allocated_size), 0)::bigint
			  FROM pg_shmem_allocations WHERE name LIKE 'engram%') AS shared_memory_bytes,
		   engram_shared_buffers_bytes(ARRAY(SELECT relid FROM engram_storage_relations))
			 AS shared_buffers_bytes;

-- PostgreSQL's WAL activity (pg_stat_wal; times need track_wal_io_timing).
CREATE VIEW engram_wal_stats AS
	SELECT wal_write AS writes, wal_sync AS syncs, wal_bytes::bigint AS bytes,
		   wal_write_time / 1000 AS write_seconds, wal_sync_time / 1000 AS sync_seconds,
		   stats_reset
	  FROM pg_stat_wal;

-- Bytes PostgreSQL read and wrote for the whole cluster (PostgreSQL 15 has
-- no pg_stat_io): reads = blocks read from the kernel (page cache or
-- disk); data writes = buffers written by checkpointer, background writer
-- and backends; WAL writes = WAL generated; temp = temporary files.
CREATE VIEW engram_disk_io AS
	WITH bs AS (SELECT current_setting('block_size')::bigint AS block_size)
	SELECT 'read'::text AS operation, 'data'::text AS kind,
		   (SELECT sum(blks_read) FROM pg_stat_database)::bigint * bs.block_size AS bytes
	  FROM bs
	UNION ALL
	SELECT 'write', 'data',
		   (buffers_checkpoint + buffers_clean + buffers_backend) * bs.block_size
	  FROM pg_stat_bgwriter, bs
	UNION ALL
	SELECT 'write', 'wal', wal_bytes::bigint FROM pg_stat_wal
	UNION ALL
	SELECT 'write', 'temp', (SELECT sum(temp_bytes) FROM pg_stat_database)::bigint;

-- Process pools of PostgreSQL that stand in for the seed's thread pools:
-- active processes against each pool's configured capacity.
CREATE VIEW engram_thread_pools AS
	WITH a AS (SELECT backend_type, state FROM pg_stat_activity)
	SELECT 'client_backends'::text AS pool,
		   (SELECT count(*) FROM a WHERE backend_type = 'client backend' AND state = 'active')
			 AS active_threads,
		   current_setting('max_connections')::bigint AS total_threads
	UNION ALL
	SELECT 'parallel_workers',
		   (SELECT count(*) FROM a WHERE backend_type = 'parallel worker'),
		   current_setting('max_parallel_workers')::bigint
	UNION ALL
	SELECT 'background_workers',
		   (SELECT count(*) FROM a WHERE backend_type NOT IN
				('client backend', 'autovacuum launcher', 'autovacuum worker',
				 'background writer', 'checkpointer', 'startup', 'walreceiver',
				 'walsender', 'walwriter', 'archiver')),
		   current_setting('max_worker_processes')::bigint
	UNION ALL
	SELECT 'autovacuum_workers',
		   (SELECT count(*) FROM a WHERE backend_type = 'autovacuum worker'),
		   current_setting('autovacuum_max_workers')::bigint;

REVOKE ALL ON FUNCTION engram_metrics_operations(), engram_metrics_caches(),
	engram_metrics_tier_moves(), engram_metrics_lock_waits(), engram_metrics_network(),
	engram_metrics_slow_operations(), engram_metrics_stats_reset(),
	engram_metrics_reset(), engram_wal_flush_sample(),
	engram_shared_buffers_bytes(regclass[]),
	engram_metrics_test_record(text, float8, boolean, float8, integer, bigint, integer, text[]),
	engram_metrics_test_record_cache(text, boolean),
	engram_metrics_test_record_tier_move(text, text, bigint),
	engram_metrics_test_record_lock_wait(text, float8),
	engram_metrics_test_record_timed(text, boolean)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION engram_metrics_operations(), engram_metrics_caches(),
	engram_metrics_tier_moves(), engram_metrics_lock_waits(), engram_metrics_network(),
	engram_metrics_slow_operations(), engram_metrics_stats_reset(),
	engram_wal_flush_sample(), engram_shared_buffers_bytes(regclass[])
	TO pg_monitor;
REVOKE ALL ON engram_stats, engram_operation_latency, engram_operation_histogram,
	engram_cache_stats, engram_tier_moves, engram_lock_waits, engram_network,
	engram_slow_operations, engram_storage_relations, engram_storage_size, engram_memory_usage, engram_wal_stats,
	engram_disk_io, engram_thread_pools
	FROM PUBLIC;
GRANT SELECT ON engram_stats, engram_operation_latency, engram_operation_histogram,
	engram_cache_stats, engram_tier_moves, engram_lock_waits, engram_network,
	engram_slow_operations, engram_storage_relations, engram_storage_size, engram_memory_usage, engram_wal_stats,
	engram_disk_io, engram_thread_pools
	TO pg_monitor;

-- Storage tiers of every engram table this role can read (engram_tier_stats
-- of 30_tam.sql, which scans each table's pages): memories and bytes per
-- relation and tier.  The hot tier is a cache: its rows are also counted in
-- the tier they are stored in.
CREATE VIEW engram_storage_tiers AS
	SELECT relation, tier, rows AS memories, bytes, compressed_bytes
	  FROM engram_tier_stats;

-- Associations per memory of each registered space this role can read:
-- edges = rows of the space's association table (one per direction),
-- nodes = rows of the space.  Counted exactly, one space at a time.
CREATE FUNCTION engram_graph_stats(OUT space regclass, OUT edges bigint, OUT nodes bigint,
	OUT edges_per_node float8)
	RETURNS SETOF record LANGUAGE plpgsql VOLATILE
	-- Fixed search_path: runs as the caller, whose search_path may hold
	-- functions that shadow the ones below.
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT c.space, c.associations FROM @extschema@.engram_spaces c
			  WHERE has_table_privilege(c.space, 'SELECT')
				AND has_table_privilege(c.associations, 'SELECT')
			  ORDER BY c.space
	LOOP
		space := s.space;
		EXECUTE format('SELECT count(*) FROM %s', s.associations) INTO edges;
		EXECUTE format('SELECT count(*) FROM %s', s.space) INTO nodes;
		edges_per_node := CASE WHEN nodes > 0 THEN edges::float8 / nodes ELSE 0 END;
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION engram_graph_stats() IS
	'Association edges, memories and edges per memory of each space the caller can read';

REVOKE ALL ON engram_storage_tiers FROM PUBLIC;
GRANT SELECT ON engram_storage_tiers TO pg_monitor;
