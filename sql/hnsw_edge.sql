-- engram_hnsw: empty tables, NULLs, duplicates, zero vectors under cosine,
-- columns without declared dimensions, inserts after the build, VACUUM.
SET max_parallel_workers_per_gather = 0;
SET enable_seqscan = off;

-- An empty table: the index builds, scans return nothing, inserts work.
CREATE TABLE hnsw_edge (id int, v evector(3));
CREATE INDEX hnsw_edge_idx ON hnsw_edge USING engram_hnsw (v);
SELECT id FROM hnsw_edge ORDER BY v <-> '[1,1,1]' LIMIT 3;
SELECT * FROM engram_hnsw_verify('hnsw_edge_idx');
INSERT INTO hnsw_edge VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0,0,1]');
SELECT id FROM hnsw_edge ORDER BY v <-> '[0.9,0.1,0]' LIMIT 3;

-- NULLs are not indexed, never returned, and do not disturb the others.
INSERT INTO hnsw_edge VALUES (4, NULL), (5, NULL);
SELECT id FROM hnsw_edge ORDER BY v <-> '[0,0.9,0.1]' LIMIT 10;
-- A NULL query parameter reaches the index scan (generic plan): rows come
-- back (the indexed ones), all with a NULL distance.
SET plan_cache_mode = force_generic_plan;
PREPARE hnsw_edge_knn(evector) AS SELECT id, v <-> $1 AS dist FROM hnsw_edge ORDER BY v <-> $1 LIMIT 10;
EXPLAIN (COSTS OFF) EXECUTE hnsw_edge_knn(NULL);
CREATE TEMP TABLE hnsw_edge_null_query AS EXECUTE hnsw_edge_knn(NULL);
SELECT count(*) AS rows, count(dist) AS non_null_distances FROM hnsw_edge_null_query;
DROP TABLE hnsw_edge_null_query;
DEALLOCATE hnsw_edge_knn;
RESET plan_cache_mode;

-- Duplicates: every copy is its own element and is returned.
INSERT INTO hnsw_edge SELECT 100 + i, '[0.5,0.5,0.5]' FROM generate_series(1, 25) i;
SELECT count(*) AS copies FROM
  (SELECT id FROM hnsw_edge ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 25) s WHERE id > 100;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_edge_idx');

-- VACUUM after deletes: dead elements leave, the rest stays reachable.
DELETE FROM hnsw_edge WHERE id BETWEEN 101 AND 120 OR id = 1;
VACUUM hnsw_edge;
-- (the five equal copies tie: compare as a sorted set)
SELECT array_agg(id ORDER BY id) FROM
  (SELECT id FROM hnsw_edge ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 8) s;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_edge_idx');
-- and freed space is reused by new elements
SELECT pg_relation_size('hnsw_edge_idx') AS size_before \gset
INSERT INTO hnsw_edge SELECT 200 + i, ARRAY[i, 1, 1]::real[]::evector FROM generate_series(1, 20) i;
SELECT pg_relation_size('hnsw_edge_idx') = :size_before AS same_size;
SELECT id FROM hnsw_edge ORDER BY v <-> '[3.2,1,1]' LIMIT 3;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_edge_idx');
DROP TABLE hnsw_edge;

-- Zero vectors under cosine have no direction: they are not indexed, and
-- a zero query (NaN distance to everything) still returns rows.
CREATE TABLE hnsw_zero (id int, v evector(2));
INSERT INTO hnsw_zero VALUES (1, '[0,0]'), (2, '[1,0]'), (3, '[0,1]'), (4, '[1,1]');
CREATE INDEX hnsw_zero_idx ON hnsw_zero USING engram_hnsw (v evector_cosine_ops);
INSERT INTO hnsw_zero VALUES (5, '[0,0]'), (6, '[-1,0]');
SELECT id, round((v <=> '[1,0.1]')::numeric, 4) AS dist
FROM hnsw_zero ORDER BY v <=> '[1,0.1]' LIMIT 10;
SELECT count(*) AS rows_for_zero_query FROM
  (SELECT id FROM hnsw_zero ORDER BY v <=> '[0,0]' LIMIT 10) s;
SELECT DISTINCT v <=> '[0,0]' AS distance_for_zero_query FROM
  (SELECT v FROM hnsw_zero ORDER BY v <=> '[0,0]' LIMIT 10) s;
-- Under L2 and inner product a zero vector is an ordinary point.
CREATE INDEX hnsw_zero_l2 ON hnsw_zero USING engram_hnsw (v evector_l2_ops);
SELECT id FROM hnsw_zero ORDER BY v <-> '[0.1,0.1]' LIMIT 2;
DROP TABLE hnsw_zero;

-- A column without declared dimensions: the first vector fixes them.
CREATE TABLE hnsw_free (id int, v evector);
CREATE INDEX hnsw_free_idx ON hnsw_free USING engram_hnsw (v);
INSERT INTO hnsw_free VALUES (1, '[1,2,3,4]'), (2, '[2,3,4,5]');
INSERT INTO hnsw_free VALUES (3, '[1,2,3]');
SELECT id FROM hnsw_free ORDER BY v <-> '[2,3,4,5]' LIMIT 1;
-- Vectors too large for a page with this m are refused with a hint.
CREATE TABLE hnsw_big (v evector(2100));
CREATE INDEX hnsw_big_idx ON hnsw_big USING engram_hnsw (v);
CREATE INDEX hnsw_big_idx ON hnsw_big USING engram_hnsw (v) WITH (m = 4, ef_construction = 8);
DROP TABLE hnsw_free, hnsw_big;

-- Unlogged tables get an init fork; TRUNCATE empties the index.
CREATE UNLOGGED TABLE hnsw_unlogged (id int, v evector(2));
INSERT INTO hnsw_unlogged SELECT i, ARRAY[i, i % 7]::real[]::evector FROM generate_series(1, 50) i;
CREATE INDEX hnsw_unlogged_idx ON hnsw_unlogged USING engram_hnsw (v);
SELECT id FROM hnsw_unlogged ORDER BY v <-> '[10,3.2]' LIMIT 2;
TRUNCATE hnsw_unlogged;
SELECT count(*) FROM (SELECT id FROM hnsw_unlogged ORDER BY v <-> '[10,3.2]' LIMIT 2) s;
INSERT INTO hnsw_unlogged VALUES (7, '[7,0]');
SELECT id FROM hnsw_unlogged ORDER BY v <-> '[10,3.2]' LIMIT 2;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_unlogged_idx');
DROP TABLE hnsw_unlogged;
RESET enable_seqscan;
