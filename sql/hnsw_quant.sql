-- engram_hnsw compact representation: quantization = 'int8' (reloption),
-- exact re-ranking of the rows of a scan, every operator class.
SET max_parallel_workers_per_gather = 0;
CREATE TABLE hnsw_quant (id int, v evector(2));

-- Reloption: accepted values (case-insensitive), errors, reloptions shown.
CREATE INDEX hnsw_quant_a ON hnsw_quant USING engram_hnsw (v) WITH (quantization = 'int8');
CREATE INDEX hnsw_quant_b ON hnsw_quant USING engram_hnsw (v) WITH (quantization = 'NONE');
SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'hnsw_quant_%' ORDER BY relname;
CREATE INDEX hnsw_quant_bad ON hnsw_quant USING engram_hnsw (v) WITH (quantization = 'int4');
CREATE INDEX hnsw_quant_bad ON hnsw_quant USING engram_hnsw (v) WITH (quantization = '');
CREATE INDEX hnsw_quant_bad ON hnsw_quant USING engram_hnsw (v) WITH (quantization = 8);
ALTER INDEX hnsw_quant_a SET (quantization = 'float');
DROP INDEX hnsw_quant_a, hnsw_quant_b;

-- A vector too large for a float4 element fits as int8 codes (m = 16).
CREATE TABLE hnsw_quant_wide (v evector(3000));
CREATE INDEX hnsw_quant_bad ON hnsw_quant_wide USING engram_hnsw (v);
CREATE INDEX hnsw_quant_wide_idx ON hnsw_quant_wide USING engram_hnsw (v) WITH (quantization = 'int8');
INSERT INTO hnsw_quant_wide SELECT array_fill(i::real, ARRAY[3000])::evector FROM generate_series(1, 3) i;
SET enable_seqscan = off;
SELECT round((v <-> array_fill(2.2::real, ARRAY[3000])::evector)::numeric, 3) AS distance
FROM hnsw_quant_wide ORDER BY v <-> array_fill(2.2::real, ARRAY[3000])::evector LIMIT 3;
RESET enable_seqscan;
DROP TABLE hnsw_quant_wide;

-- A hand-checkable set.  With the per-vector scale 1/127 (largest
-- coordinate 1) the second coordinates -0.0042, 0.003 and 0.0075 become
-- codes -1, 0 and 1, and the query's -0.0035 becomes 0: the codes alone
-- rank id 2 (code 0, like the query) before id 1, but exactly id 1 is
-- nearer (0.0007 against 0.0065).  The index must return the exact order.
INSERT INTO hnsw_quant VALUES
	(1, '[1,-0.0042]'), (2, '[1,0.003]'), (3, '[1,0.0075]'),
	(4, '[2,0.1]'), (5, '[0,1]'), (6, '[-1,0.2]'), (7, '[3,3]'), (8, '[0.5,-0.6]');

CREATE INDEX hnsw_quant_l2 ON hnsw_quant USING engram_hnsw (v evector_l2_ops) WITH (quantization = 'int8');
CREATE INDEX hnsw_quant_ip ON hnsw_quant USING engram_hnsw (v evector_ip_ops) WITH (quantization = 'int8');
CREATE INDEX hnsw_quant_cos ON hnsw_quant USING engram_hnsw (v evector_cosine_ops) WITH (quantization = 'int8');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_ip');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_cos');

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_quant ORDER BY v <-> '[1,-0.0035]' LIMIT 4;
SELECT id, round((v <-> '[1,-0.0035]')::numeric, 4) AS l2
FROM hnsw_quant ORDER BY v <-> '[1,-0.0035]' LIMIT 4;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_quant ORDER BY v <#> '[1,-0.0035]' LIMIT 4;
-- -q.x: ids 7 (-2.9895) and 4 (-1.99965) first, then -1 + 0.0035 x2 for
-- ids 1, 2, 3 in that order (on the codes all three tie at -1)
SELECT id, round((v <#> '[1,-0.0035]')::numeric, 6) AS negative_ip
FROM hnsw_quant ORDER BY v <#> '[1,-0.0035]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_quant ORDER BY v <=> '[1,-0.0035]' LIMIT 4;
-- by angle: ids 1, 2, 3 as under L2 (the codes rank 2 first), then 4
SELECT id, round((v <=> '[1,-0.0035]')::numeric, 7) AS cosine
FROM hnsw_quant ORDER BY v <=> '[1,-0.0035]' LIMIT 4;

-- Every row of the index order equals the exact order, for all queries
-- taken from the set itself and every operator (k = 8: all rows).
EXPLAIN (COSTS OFF) SELECT q.id, ARRAY(SELECT id FROM hnsw_quant t ORDER BY t.v <=> q.v LIMIT 8)
FROM hnsw_quant q;
CREATE TEMP TABLE hnsw_quant_got AS
SELECT q.id AS qid, op,
       CASE op WHEN '<->' THEN ARRAY(SELECT id FROM hnsw_quant t ORDER BY t.v <-> q.v LIMIT 8)
               WHEN '<#>' THEN ARRAY(SELECT id FROM hnsw_quant t ORDER BY t.v <#> q.v LIMIT 8)
               ELSE ARRAY(SELECT id FROM hnsw_quant t ORDER BY t.v <=> q.v LIMIT 8) END AS ids
FROM hnsw_quant q, unnest(ARRAY['<->', '<#>', '<=>']) op;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT g.qid, g.op, g.ids AS index_order, e.ids AS exact_order
FROM hnsw_quant_got g,
     LATERAL (SELECT CASE g.op
         WHEN '<->' THEN ARRAY(SELECT t.id FROM hnsw_quant t, hnsw_quant q WHERE q.id = g.qid ORDER BY t.v <-> q.v, t.id)
         WHEN '<#>' THEN ARRAY(SELECT t.id FROM hnsw_quant t, hnsw_quant q WHERE q.id = g.qid ORDER BY t.v <#> q.v, t.id)
         ELSE ARRAY(SELECT t.id FROM hnsw_quant t, hnsw_quant q WHERE q.id = g.qid ORDER BY t.v <=> q.v, t.id) END AS ids) e
WHERE g.ids <> e.ids;
RESET enable_indexscan;

-- Inserts after the build, VACUUM, REINDEX keep the format and the order.
INSERT INTO hnsw_quant VALUES (9, '[1,-0.0036]'), (10, NULL), (11, '[0,0]');
DELETE FROM hnsw_quant WHERE id = 3;
VACUUM hnsw_quant;
REINDEX INDEX hnsw_quant_l2;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_l2');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_ip');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_cos');
SET enable_seqscan = off;
SELECT id FROM hnsw_quant ORDER BY v <-> '[1,-0.0035]' LIMIT 3;
SELECT id FROM hnsw_quant ORDER BY v <#> '[1,-0.0035]' LIMIT 3;
-- a zero query has no cosine direction: rows come back with NaN distances
SELECT count(*) FROM (SELECT id FROM hnsw_quant ORDER BY v <=> '[0,0]' LIMIT 3) s;
RESET enable_seqscan;

-- ALTER INDEX changes the reloption; the format changes at REINDEX.
CREATE TABLE hnsw_quant_big (id int, v evector(64));
SELECT setseed(0.5);
INSERT INTO hnsw_quant_big
SELECT i, ARRAY(SELECT random() FROM generate_series(1, 64) d WHERE i > 0)::real[]::evector
FROM generate_series(1, 600) i;
CREATE INDEX hnsw_quant_big_idx ON hnsw_quant_big USING engram_hnsw (v);
CREATE TEMP TABLE hnsw_quant_size AS SELECT pg_relation_size('hnsw_quant_big_idx') AS float_bytes;
ALTER INDEX hnsw_quant_big_idx SET (quantization = 'int8');
SELECT pg_relation_size('hnsw_quant_big_idx') = float_bytes AS same_until_reindex FROM hnsw_quant_size;
REINDEX INDEX hnsw_quant_big_idx;
-- 64 dimensions, m = 16: 288 instead of 464 bytes per layer-0 element
SELECT pg_relation_size('hnsw_quant_big_idx') < 0.7 * float_bytes AS smaller_after_reindex FROM hnsw_quant_size;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_quant_big_idx');

DROP TABLE hnsw_quant, hnsw_quant_big;
