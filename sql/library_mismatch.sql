-- A library whose result rows differ from the SQL objects that CREATE
-- EXTENSION made (engram.so replaced by a newer build without recreating
-- the extension) errors instead of storing values under the wrong types.
-- Simulated by declaring the worker-state function with one column fewer.
CREATE FUNCTION stale_worker_state()
RETURNS TABLE (database oid, pid int, started_at timestamptz, restarts bigint,
               job text, state text, detail text, last_start timestamptz, last_end timestamptz,
               next_run timestamptz, runs bigint, rows_moved bigint, memories_consolidated bigint,
               episodes_linked bigint, episodes_selected bigint, rows_flushed bigint,
               errors bigint, last_error text, last_error_at timestamptz)
AS 'engram', 'engram_worker_state' LANGUAGE C;
SELECT count(*) FROM stale_worker_state();
-- The installed declaration reads the same function without error.
SELECT count(*) >= 0 AS ok FROM engram_worker_status;
DROP FUNCTION stale_worker_state();

-- The recall layer's functions check it too (one column fewer each).
CREATE FUNCTION stale_spread(space text, from_id bigint, max_hops integer DEFAULT NULL,
		k integer DEFAULT 10, activation double precision DEFAULT 1.0)
	RETURNS TABLE (id bigint, content text, activation double precision,
		confidence double precision, confidence_low double precision,
		confidence_high double precision, hops integer, tier text,
		occurred_at timestamptz)
	AS 'engram', 'engram_spread' LANGUAGE C;
CREATE FUNCTION stale_memory_stats(space text)
	RETURNS TABLE (id bigint, tier text, access_count bigint, last_access timestamptz,
		decay_function text, retention double precision)
	AS 'engram', 'engram_memory_stats' LANGUAGE C;
CREATE FUNCTION stale_recall(space text, cue evector, k integer DEFAULT 10,
		mode text DEFAULT 'hybrid', query text DEFAULT NULL,
		after timestamptz DEFAULT NULL, before timestamptz DEFAULT NULL,
		recent interval DEFAULT NULL, location text DEFAULT NULL,
		tags text[] DEFAULT NULL, participants text[] DEFAULT NULL,
		memory_id bigint DEFAULT NULL, max_hops integer DEFAULT NULL)
	RETURNS TABLE (id bigint, content text, score double precision,
		similarity double precision, activation double precision,
		confidence double precision, confidence_low double precision,
		confidence_high double precision, hops integer, tier text,
		occurred_at timestamptz)
	AS 'engram', 'engram_recall' LANGUAGE C;
SELECT engram_create_space('stale_space', 3) IS NOT NULL AS created;
SELECT engram_store('stale_space', 'one', '[1,0,0]') > 0 AS stored;
SELECT count(*) FROM stale_spread('stale_space', 1);
SELECT count(*) FROM stale_memory_stats('stale_space');
SELECT count(*) FROM stale_recall('stale_space', '[1,0,0]'::evector);
SELECT count(*) AS recalled FROM engram_recall('stale_space', '[1,0,0]'::evector);
SELECT engram_drop_space('stale_space');
DROP FUNCTION stale_spread(text, bigint, integer, integer, double precision);
DROP FUNCTION stale_memory_stats(text);
DROP FUNCTION stale_recall(text, evector, integer, text, text, timestamptz, timestamptz,
	interval, text, text[], text[], bigint, integer);

-- Functions returning one row check their declared row type the same way.
CREATE FUNCTION stale_hot_tier_info(OUT size_bytes bigint, OUT shards integer)
	RETURNS record AS 'engram', 'engram_hot_tier_info' LANGUAGE C;
SELECT * FROM stale_hot_tier_info();
CREATE TABLE stale_plain (id bigint);
CREATE FUNCTION stale_consolidate(space regclass, associations regclass DEFAULT NULL,
		OUT candidates bigint, OUT semantic_created bigint)
	RETURNS record AS 'engram', 'engram_consolidate' LANGUAGE C;
SELECT * FROM stale_consolidate('stale_plain');
SELECT shards > 0 AS installed_answers FROM engram_hot_tier_info();
DROP FUNCTION stale_hot_tier_info();
DROP FUNCTION stale_consolidate(regclass, regclass);
DROP TABLE stale_plain;

-- And the index's two.
CREATE FUNCTION stale_pending_stats(index regclass, OUT entries bigint)
	RETURNS bigint AS 'engram', 'engram_hnsw_pending_stats' LANGUAGE C;
CREATE FUNCTION stale_layout_stats(index regclass, OUT element_pages bigint, OUT elements bigint)
	RETURNS record AS 'engram', 'engram_hnsw_layout_stats' LANGUAGE C;
CREATE TABLE stale_vectors (v evector(2));
CREATE INDEX stale_vectors_idx ON stale_vectors USING engram_hnsw (v evector_l2_ops);
SELECT * FROM stale_layout_stats('stale_vectors_idx');
SELECT elements FROM engram_hnsw_layout_stats('stale_vectors_idx');
DROP FUNCTION stale_pending_stats(regclass);
DROP FUNCTION stale_layout_stats(regclass);
DROP TABLE stale_vectors;
