-- engram_hnsw pending list: reloptions deferred_insert and
-- pending_list_limit, scans that merge pending rows into the graph's
-- order, engram_hnsw_flush_pending(), VACUUM, verify.
SET max_parallel_workers_per_gather = 0;
CREATE TABLE hnsw_pending (id int PRIMARY KEY, kind int, v evector(2));

-- Reloptions: accepted values, errors, shown in pg_class, ALTER INDEX.
CREATE INDEX hnsw_pending_a ON hnsw_pending USING engram_hnsw (v) WITH (deferred_insert = on);
CREATE INDEX hnsw_pending_b ON hnsw_pending USING engram_hnsw (v) WITH (deferred_insert = false, pending_list_limit = 64);
SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'hnsw_pending_%' ORDER BY relname;
CREATE INDEX hnsw_pending_bad ON hnsw_pending USING engram_hnsw (v) WITH (deferred_insert = 'sometimes');
CREATE INDEX hnsw_pending_bad ON hnsw_pending USING engram_hnsw (v) WITH (pending_list_limit = 63);
CREATE INDEX hnsw_pending_bad ON hnsw_pending USING engram_hnsw (v) WITH (pending_list_limit = 'big');
ALTER INDEX hnsw_pending_b SET (deferred_insert = on, pending_list_limit = 128);
ALTER INDEX hnsw_pending_b SET (pending_list_limit = 0);
SELECT relname, reloptions FROM pg_class WHERE relname = 'hnsw_pending_b';
DROP INDEX hnsw_pending_a, hnsw_pending_b;
SET engram.hnsw_pending_list_limit = 32;
SET engram.hnsw_pending_list_limit = '8MB';
SHOW engram.hnsw_pending_list_limit;
RESET engram.hnsw_pending_list_limit;

-- A hand-checkable set: the graph holds the rows at distance 1, 3, 5, 7
-- from the origin (on the x axis), the pending list those at 2, 4, 6, 8
-- (on the y axis).  Every scan must interleave them exactly.
INSERT INTO hnsw_pending VALUES (1, 0, '[1,0]'), (3, 1, '[3,0]'), (5, 0, '[5,0]'), (7, 1, '[7,0]');
CREATE INDEX hnsw_pending_l2 ON hnsw_pending USING engram_hnsw (v) WITH (deferred_insert = on);
INSERT INTO hnsw_pending VALUES (2, 0, '[0,2]'), (4, 1, '[0,4]'), (6, 0, '[0,6]'), (8, 1, '[0,8]');
SELECT * FROM engram_hnsw_pending_stats('hnsw_pending_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_pending_l2');
SELECT count(*) AS tids, count(DISTINCT heap_tid) AS distinct_tids FROM engram_hnsw_index_tids('hnsw_pending_l2');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_pending ORDER BY v <-> '[0,0]' LIMIT 5;
SELECT id, v <-> '[0,0]' AS distance FROM hnsw_pending ORDER BY v <-> '[0,0]' LIMIT 8;
-- from the other end: 8 is nearest to (0,9), then 6, 4, 2, then graph rows
SELECT id FROM hnsw_pending ORDER BY v <-> '[0,9]' LIMIT 8;
-- filtered: the iterative scan keeps merging pending rows in order
SET engram.ef_search = 1;
SELECT id FROM hnsw_pending WHERE kind = 1 ORDER BY v <-> '[0,0]' LIMIT 4;
SELECT id FROM hnsw_pending WHERE id > 4 ORDER BY v <-> '[0,0]' LIMIT 4;
RESET engram.ef_search;

-- Flush: merges the four pending rows; the same rows come back.
SELECT engram_hnsw_flush_pending('hnsw_pending_l2') AS merged;
SELECT engram_hnsw_flush_pending('hnsw_pending_l2') AS merged_again;
SELECT * FROM engram_hnsw_pending_stats('hnsw_pending_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_pending_l2');
SELECT id FROM hnsw_pending ORDER BY v <-> '[0,0]' LIMIT 8;

-- VACUUM merges the list and drops the rows deleted meanwhile.
INSERT INTO hnsw_pending VALUES (9, 0, '[0.5,0]'), (10, 0, '[0,0.6]'), (11, 1, '[0.7,0]');
DELETE FROM hnsw_pending WHERE id IN (2, 10);
RESET enable_seqscan;
VACUUM hnsw_pending;
SET enable_seqscan = off;
SELECT * FROM engram_hnsw_pending_stats('hnsw_pending_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_pending_l2');
SELECT count(*) FILTER (WHERE NOT deleted) AS live_tids FROM engram_hnsw_index_tids('hnsw_pending_l2');
SELECT id FROM hnsw_pending ORDER BY v <-> '[0,0]' LIMIT 5;
RESET enable_seqscan;
DROP TABLE hnsw_pending;

-- An empty graph with pending rows only; a zero-vector query;
-- a zero vector under cosine is not indexed; dimension mismatch.
CREATE TABLE hnsw_pending_cos (id int, v evector);
CREATE INDEX hnsw_pending_cos_idx ON hnsw_pending_cos USING engram_hnsw (v evector_cosine_ops)
	WITH (deferred_insert = on);
INSERT INTO hnsw_pending_cos VALUES (1, '[1,0]'), (2, '[1,1]'), (3, '[0,1]'), (4, '[0,0]'), (5, NULL);
SELECT * FROM engram_hnsw_pending_stats('hnsw_pending_cos_idx');
SET enable_seqscan = off;
SELECT id, round((v <=> '[1,0.1]')::numeric, 4) AS distance FROM hnsw_pending_cos ORDER BY v <=> '[1,0.1]' LIMIT 5;
SELECT count(*) AS rows_with_zero_query FROM (SELECT id FROM hnsw_pending_cos ORDER BY v <=> '[0,0]' LIMIT 5) s;
SELECT id FROM hnsw_pending_cos ORDER BY v <=> '[1,0,0]' LIMIT 1;
INSERT INTO hnsw_pending_cos VALUES (6, '[1,2,3]');
RESET enable_seqscan;
SELECT engram_hnsw_flush_pending('hnsw_pending_cos_idx') AS merged;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_pending_cos_idx');

-- 9 dimensions: 44-byte entries, 48 with alignment; the 157th entry of a
-- page finds exactly 44 bytes free, which is not enough.  (An expression
-- index: its entries hold their vectors, a plain column's would be compact
-- ones, hnsw_pending_compact.)
CREATE TABLE hnsw_pending_odd (id int, v evector(9));
CREATE INDEX hnsw_pending_odd_idx ON hnsw_pending_odd USING engram_hnsw (evector_add(v, v)) WITH (deferred_insert = on);
INSERT INTO hnsw_pending_odd SELECT i, array_fill(i::real, ARRAY[9])::evector FROM generate_series(1, 400) i;
SELECT * FROM engram_hnsw_pending_stats('hnsw_pending_odd_idx');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_pending_odd_idx');
DROP TABLE hnsw_pending_odd;

-- int8 and inner product: pending rows carry lower bounds and are
-- re-ranked exactly; a larger random set matches exact search.
CREATE TABLE hnsw_pending_rand (id int, kind int, v evector(6));
SELECT setseed(0.25);
INSERT INTO hnsw_pending_rand SELECT i, i % 7,
	(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 6) WHERE i > 0)::evector
	FROM generate_series(1, 600) i;
CREATE INDEX hnsw_pending_rand_ip ON hnsw_pending_rand USING engram_hnsw (v evector_ip_ops)
	WITH (quantization = 'int8', deferred_insert = on, pending_list_limit = 100000);
CREATE INDEX hnsw_pending_rand_l2 ON hnsw_pending_rand USING engram_hnsw (v evector_l2_ops)
	WITH (deferred_insert = on, pending_list_limit = 64);
INSERT INTO hnsw_pending_rand SELECT i, i % 7,
	(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 6) WHERE i > 0)::evector
	FROM generate_series(601, 3000) i;
-- past the 64 kB limit the inserters merged part of the list themselves
SELECT entries > 0 AS some_pending, entries < 2400 AS some_merged, pages <= 9 AS within_limit
FROM engram_hnsw_pending_stats('hnsw_pending_rand_l2');
-- VACUUM merges both lists (and reconnects what graph inserts left
-- unreachable, so that the search below can reach every element); then
-- 1,500 more rows wait on both lists while the queries run.
ALTER INDEX hnsw_pending_rand_l2 SET (pending_list_limit = 100000);
VACUUM hnsw_pending_rand;
SELECT (SELECT entries FROM engram_hnsw_pending_stats('hnsw_pending_rand_ip')) AS ip_pending,
	(SELECT entries FROM engram_hnsw_pending_stats('hnsw_pending_rand_l2')) AS l2_pending;
INSERT INTO hnsw_pending_rand SELECT i, i % 7,
	(SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 6) WHERE i > 0)::evector
	FROM generate_series(3001, 4500) i;
SELECT (SELECT entries FROM engram_hnsw_pending_stats('hnsw_pending_rand_ip')) AS ip_pending,
	(SELECT entries FROM engram_hnsw_pending_stats('hnsw_pending_rand_l2')) AS l2_pending;
CREATE TABLE hnsw_pending_queries AS SELECT g, (SELECT array_agg((random() - 0.5)::real)
	FROM generate_series(1, 6) WHERE g > 0)::evector AS q FROM generate_series(1, 20) g;
SET engram.ef_search = 400;
SET enable_seqscan = off;
CREATE TEMP TABLE by_index AS SELECT g,
	array(SELECT id FROM hnsw_pending_rand ORDER BY v <#> q LIMIT 10) AS ip,
	array(SELECT id FROM hnsw_pending_rand WHERE kind = 3 ORDER BY v <#> q LIMIT 10) AS ip_filtered,
	array(SELECT id FROM hnsw_pending_rand ORDER BY v <-> q LIMIT 10) AS l2,
	array(SELECT id FROM hnsw_pending_rand WHERE kind = 3 ORDER BY v <-> q LIMIT 10) AS l2_filtered
	FROM hnsw_pending_queries;
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
CREATE TEMP TABLE exact AS SELECT g,
	array(SELECT id FROM hnsw_pending_rand ORDER BY v <#> q, id LIMIT 10) AS ip,
	array(SELECT id FROM hnsw_pending_rand WHERE kind = 3 ORDER BY v <#> q, id LIMIT 10) AS ip_filtered,
	array(SELECT id FROM hnsw_pending_rand ORDER BY v <-> q, id LIMIT 10) AS l2,
	array(SELECT id FROM hnsw_pending_rand WHERE kind = 3 ORDER BY v <-> q, id LIMIT 10) AS l2_filtered
	FROM hnsw_pending_queries;
RESET enable_indexscan;
RESET enable_bitmapscan;
RESET engram.ef_search;
SELECT count(*) AS queries,
	count(*) FILTER (WHERE i.ip = e.ip) AS ip_same,
	count(*) FILTER (WHERE i.ip_filtered = e.ip_filtered) AS ip_filtered_same,
	count(*) FILTER (WHERE i.l2 = e.l2) AS l2_same,
	count(*) FILTER (WHERE i.l2_filtered = e.l2_filtered) AS l2_filtered_same
FROM by_index i JOIN exact e USING (g);
SELECT count(*) AS errors FROM engram_hnsw_verify('hnsw_pending_rand_ip') WHERE severity = 'error';
SELECT count(*) AS errors FROM engram_hnsw_verify('hnsw_pending_rand_l2') WHERE severity = 'error';

-- Only the index's owner flushes; only engram_hnsw indexes.
CREATE ROLE hnsw_pending_stranger;
SET ROLE hnsw_pending_stranger;
SELECT engram_hnsw_flush_pending('hnsw_pending_rand_l2');
RESET ROLE;
DROP ROLE hnsw_pending_stranger;
CREATE INDEX hnsw_pending_btree ON hnsw_pending_rand (id);
SELECT engram_hnsw_flush_pending('hnsw_pending_btree');
SELECT * FROM engram_hnsw_pending_stats('hnsw_pending_btree');
DROP TABLE hnsw_pending_rand, hnsw_pending_queries, hnsw_pending_cos;
