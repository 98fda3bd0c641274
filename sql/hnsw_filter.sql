-- engram_hnsw: filtered queries keep searching (iterative scan) until they
-- have k rows, bounded by engram.hnsw_max_scan_tuples.
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.125);
CREATE TABLE hnsw_filter (id int, kind text, v evector(4));
INSERT INTO hnsw_filter
SELECT i, CASE WHEN i % 50 = 0 THEN 'semantic' ELSE 'episodic' END,
       ARRAY[random(), random(), random(), random()]::real[]::evector
FROM generate_series(1, 5000) i;
CREATE INDEX hnsw_filter_v ON hnsw_filter USING engram_hnsw (v);
ANALYZE hnsw_filter;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM hnsw_filter WHERE kind = 'semantic' ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 10;
-- 2% of the rows match: the first round (ef_search 40) finds about one,
-- later rounds find the rest; the answer is the exact one here
CREATE TEMP TABLE hnsw_filter_index AS
SELECT id FROM hnsw_filter WHERE kind = 'semantic' ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 10;
SET enable_indexscan = off;
CREATE TEMP TABLE hnsw_filter_exact AS
SELECT id FROM hnsw_filter WHERE kind = 'semantic' ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 10;
RESET enable_indexscan;
SELECT (SELECT count(*) FROM hnsw_filter_index) AS rows,
       (SELECT count(*) FROM hnsw_filter_index JOIN hnsw_filter_exact USING (id)) AS exact_rows;
-- without the iterative scan, the answer is short
SET engram.hnsw_iterative_scan = off;
SELECT count(*) < 10 AS short_answer FROM
  (SELECT id FROM hnsw_filter WHERE kind = 'semantic' ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 10) s;
RESET engram.hnsw_iterative_scan;
-- the bound: a candidate list of at most 100 finds at most the matches among 100
SET engram.hnsw_max_scan_tuples = 100;
SELECT count(*) < 10 AS bounded FROM
  (SELECT id FROM hnsw_filter WHERE kind = 'semantic' ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 10) s;
RESET engram.hnsw_max_scan_tuples;
-- (the bound is at least 1)
SET engram.hnsw_max_scan_tuples = 0;
-- a filter no row passes ends (every element seen) instead of looping
SELECT count(*) FROM
  (SELECT id FROM hnsw_filter WHERE kind = 'none' ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 10) s;
-- a lateral (rescanned) filtered scan
SELECT count(*) AS rows FROM (SELECT id FROM hnsw_filter WHERE id <= 3) q,
  LATERAL (SELECT f.id FROM hnsw_filter f WHERE f.kind = 'semantic'
           ORDER BY f.v <-> (SELECT v FROM hnsw_filter WHERE id = q.id) LIMIT 5) n;
RESET enable_seqscan;
DROP TABLE hnsw_filter;
