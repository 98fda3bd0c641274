-- engram_hnsw quantization = 'int8_rerank': 8-bit codes for the search and
-- a float4 copy of each vector in the element, re-ranked inside the scan
-- (hnsw.h, IN-INDEX RE-RANKING): exact order and exact distances, the
-- executor re-ranks nothing, every operator class, pending rows, inserts,
-- VACUUM, REINDEX, verify.
SET max_parallel_workers_per_gather = 0;
CREATE TABLE hnsw_qr (id int, v evector(2));

-- Reloption: accepted (case-insensitive) and shown.
CREATE INDEX hnsw_qr_a ON hnsw_qr USING engram_hnsw (v) WITH (quantization = 'INT8_RERANK');
SELECT relname, reloptions FROM pg_class WHERE relname = 'hnsw_qr_a';
DROP INDEX hnsw_qr_a;

-- The hand-checkable set of hnsw_quant.sql: the codes alone rank id 2
-- before id 1 for the query [1,-0.0035], exactly id 1 is nearer.
INSERT INTO hnsw_qr VALUES
	(1, '[1,-0.0042]'), (2, '[1,0.003]'), (3, '[1,0.0075]'),
	(4, '[2,0.1]'), (5, '[0,1]'), (6, '[-1,0.2]'), (7, '[3,3]'), (8, '[0.5,-0.6]');
CREATE INDEX hnsw_qr_l2 ON hnsw_qr USING engram_hnsw (v evector_l2_ops) WITH (quantization = 'int8_rerank');
CREATE INDEX hnsw_qr_ip ON hnsw_qr USING engram_hnsw (v evector_ip_ops) WITH (quantization = 'int8_rerank');
CREATE INDEX hnsw_qr_cos ON hnsw_qr USING engram_hnsw (v evector_cosine_ops) WITH (quantization = 'int8_rerank');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_ip');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_cos');

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_qr ORDER BY v <-> '[1,-0.0035]' LIMIT 4;
SELECT id, round((v <-> '[1,-0.0035]')::numeric, 4) AS l2
FROM hnsw_qr ORDER BY v <-> '[1,-0.0035]' LIMIT 4;
SELECT id, round((v <#> '[1,-0.0035]')::numeric, 6) AS negative_ip
FROM hnsw_qr ORDER BY v <#> '[1,-0.0035]' LIMIT 5;
SELECT id, round((v <=> '[1,-0.0035]')::numeric, 7) AS cosine
FROM hnsw_qr ORDER BY v <=> '[1,-0.0035]' LIMIT 4;

-- The executor re-ranks nothing: a LIMIT 4 scan hands it exactly 4 rows
-- (an index with quantization = 'int8' hands it more, to re-rank them).
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
SELECT id FROM hnsw_qr ORDER BY v <-> '[1,-0.0035]' LIMIT 4;

-- Every row of the index order equals the exact order, for all queries
-- taken from the set itself and every operator (k = 8: all rows).
CREATE TEMP TABLE hnsw_qr_got AS
SELECT q.id AS qid, op,
       CASE op WHEN '<->' THEN ARRAY(SELECT id FROM hnsw_qr t ORDER BY t.v <-> q.v LIMIT 8)
               WHEN '<#>' THEN ARRAY(SELECT id FROM hnsw_qr t ORDER BY t.v <#> q.v LIMIT 8)
               ELSE ARRAY(SELECT id FROM hnsw_qr t ORDER BY t.v <=> q.v LIMIT 8) END AS ids
FROM hnsw_qr q, unnest(ARRAY['<->', '<#>', '<=>']) op;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT g.qid, g.op, g.ids AS index_order, e.ids AS exact_order
FROM hnsw_qr_got g,
     LATERAL (SELECT CASE g.op
         WHEN '<->' THEN ARRAY(SELECT t.id FROM hnsw_qr t, hnsw_qr q WHERE q.id = g.qid ORDER BY t.v <-> q.v, t.id)
         WHEN '<#>' THEN ARRAY(SELECT t.id FROM hnsw_qr t, hnsw_qr q WHERE q.id = g.qid ORDER BY t.v <#> q.v, t.id)
         ELSE ARRAY(SELECT t.id FROM hnsw_qr t, hnsw_qr q WHERE q.id = g.qid ORDER BY t.v <=> q.v, t.id) END AS ids) e
WHERE g.ids <> e.ids;
RESET enable_indexscan;

-- Inserts after the build, VACUUM, REINDEX keep the format and the order.
INSERT INTO hnsw_qr VALUES (9, '[1,-0.0036]'), (10, NULL), (11, '[0,0]');
DELETE FROM hnsw_qr WHERE id = 3;
VACUUM hnsw_qr;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_l2');
REINDEX INDEX hnsw_qr_l2;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_ip');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_cos');
SET enable_seqscan = off;
SELECT id FROM hnsw_qr ORDER BY v <-> '[1,-0.0035]' LIMIT 3;
SELECT id FROM hnsw_qr ORDER BY v <#> '[1,-0.0035]' LIMIT 3;
-- a zero query has no cosine direction: rows come back with NaN distances
SELECT count(*) FROM (SELECT id FROM hnsw_qr ORDER BY v <=> '[0,0]' LIMIT 3) s;
RESET enable_seqscan;
DROP INDEX hnsw_qr_ip, hnsw_qr_cos;

-- Deferred inserts: pending rows (exact distances) merge with the graph's
-- re-ranked rows in exact order, before and after the merge.
ALTER INDEX hnsw_qr_l2 SET (deferred_insert = on);
INSERT INTO hnsw_qr VALUES (12, '[1,-0.0034]'), (13, '[1,0.0031]');
SET enable_seqscan = off;
SELECT id, round((v <-> '[1,-0.0035]')::numeric, 4) AS l2
FROM hnsw_qr ORDER BY v <-> '[1,-0.0035]' LIMIT 5;
SELECT engram_hnsw_flush_pending('hnsw_qr_l2') AS merged;
SELECT id, round((v <-> '[1,-0.0035]')::numeric, 4) AS l2
FROM hnsw_qr ORDER BY v <-> '[1,-0.0035]' LIMIT 5;
RESET enable_seqscan;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_l2');

-- A larger set: 64 dimensions, 800 rows, 40 queries (rows filtered out
-- by the WHERE clause, so that iterative rounds re-rank too), against
-- exact search.  The re-ranked order must be exact for whatever the
-- search found: every returned list is sorted by the true distance, and
-- recall@10 is high.
CREATE TABLE hnsw_qr_big (id int, v evector(64));
SELECT setseed(0.25);
INSERT INTO hnsw_qr_big
SELECT i, ARRAY(SELECT random() + (i % 8) FROM generate_series(1, 64) d WHERE i > 0)::real[]::evector
FROM generate_series(1, 840) i;
CREATE INDEX hnsw_qr_big_idx ON hnsw_qr_big USING engram_hnsw (v) WITH (quantization = 'int8_rerank');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_qr_big_idx');
SET enable_seqscan = off;
CREATE TEMP TABLE hnsw_qr_big_got AS
SELECT q.id AS qid,
       ARRAY(SELECT t.id FROM hnsw_qr_big t WHERE t.id <= 800 ORDER BY t.v <-> q.v LIMIT 10) AS ids,
       ARRAY(SELECT (t.v <-> q.v)::float8 FROM hnsw_qr_big t WHERE t.id <= 800 ORDER BY t.v <-> q.v LIMIT 10) AS distances
FROM hnsw_qr_big q WHERE q.id > 800;
RESET enable_seqscan;
SELECT count(*) AS unsorted_lists FROM hnsw_qr_big_got
WHERE distances <> ARRAY(SELECT d FROM unnest(distances) d ORDER BY d);
SET enable_indexscan = off;
SELECT sum((SELECT count(*) FROM unnest(g.ids) i
            WHERE i = ANY (ARRAY(SELECT t.id FROM hnsw_qr_big t, hnsw_qr_big q
                                 WHERE q.id = g.qid AND t.id <= 800 ORDER BY t.v <-> q.v LIMIT 10))))
       >= 0.9 * 10 * count(*) AS recall_at_least_0_9
FROM hnsw_qr_big_got g;
RESET enable_indexscan;
-- the copies make the index about a float index's size, not a quarter
CREATE INDEX hnsw_qr_big_float ON hnsw_qr_big USING engram_hnsw (v);
SELECT pg_relation_size('hnsw_qr_big_idx') >= 0.9 * pg_relation_size('hnsw_qr_big_float') AS about_float_size;

DROP TABLE hnsw_qr, hnsw_qr_big;
