-- engram_hnsw: reloptions, engram.ef_search, and when the planner uses the index.
SET max_parallel_workers_per_gather = 0;
CREATE TABLE hnsw_opt (id int, v evector(3));

-- Reloptions: accepted values, range errors, the ef_construction >= 2 * m rule.
CREATE INDEX hnsw_opt_a ON hnsw_opt USING engram_hnsw (v) WITH (m = 8, ef_construction = 32);
SELECT reloptions FROM pg_class WHERE relname = 'hnsw_opt_a';
CREATE INDEX hnsw_opt_b ON hnsw_opt USING engram_hnsw (v) WITH (m = 2, ef_construction = 4);
CREATE INDEX hnsw_opt_c ON hnsw_opt USING engram_hnsw (v) WITH (m = 100, ef_construction = 1000);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (m = 1);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (m = 101);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (ef_construction = 3);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (ef_construction = 1001);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (m = 16, ef_construction = 20);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (m = 'many');
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v) WITH (lists = 4);
ALTER INDEX hnsw_opt_a SET (m = 1);
DROP INDEX hnsw_opt_a, hnsw_opt_b, hnsw_opt_c;

-- Only one column, only evector, no uniqueness.
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v, v);
CREATE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (id);
CREATE UNIQUE INDEX hnsw_opt_bad ON hnsw_opt USING engram_hnsw (v);

-- engram.ef_search: default, bounds, SET LOCAL scoped to the transaction.
SHOW engram.ef_search;
SET engram.ef_search = 0;
SET engram.ef_search = 1001;
SET engram.ef_search = 100;
SHOW engram.ef_search;
BEGIN;
SET LOCAL engram.ef_search = 7;
SHOW engram.ef_search;
COMMIT;
SHOW engram.ef_search;
RESET engram.ef_search;

-- The planner: index scan for ORDER BY ... LIMIT, not without LIMIT.
SELECT setseed(0.25);
INSERT INTO hnsw_opt
SELECT i, ARRAY[random(), random(), random()]::real[]::evector
FROM generate_series(1, 20000) i;
CREATE INDEX hnsw_opt_idx ON hnsw_opt USING engram_hnsw (v);
ANALYZE hnsw_opt;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5,0.5]';
-- prepared statements: the generic plan of "ORDER BY v <-> $1 LIMIT 10"
-- uses the index; with "LIMIT $2" the custom plans (known k) use it, while
-- a forced generic plan cannot know k and sorts (documented).
SET plan_cache_mode = force_generic_plan;
PREPARE hnsw_opt_knn(evector) AS SELECT id FROM hnsw_opt ORDER BY v <-> $1 LIMIT 10;
EXPLAIN (COSTS OFF) EXECUTE hnsw_opt_knn('[0.5,0.5,0.5]');
DEALLOCATE hnsw_opt_knn;
RESET plan_cache_mode;
PREPARE hnsw_opt_knn(evector, int) AS SELECT id FROM hnsw_opt ORDER BY v <-> $1 LIMIT $2;
EXPLAIN (COSTS OFF) EXECUTE hnsw_opt_knn('[0.5,0.5,0.5]', 10);
EXECUTE hnsw_opt_knn('[0.5,0.5,0.5]', 3);
DEALLOCATE hnsw_opt_knn;
-- a lateral join (one index scan per outer row) uses it as well
EXPLAIN (COSTS OFF)
SELECT q.id, n.id FROM hnsw_opt q,
  LATERAL (SELECT id FROM hnsw_opt o ORDER BY o.v <-> q.v LIMIT 3) n WHERE q.id <= 2;
-- the ten nearest through the index are the exact ten nearest here
CREATE TEMP TABLE hnsw_opt_index AS
SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 10;
SET enable_indexscan = off;
CREATE TEMP TABLE hnsw_opt_exact AS
SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 10;
RESET enable_indexscan;
SELECT count(*) AS found_of_10 FROM hnsw_opt_index JOIN hnsw_opt_exact USING (id);
-- one search round returns at most engram.ef_search rows; the iterative
-- scan (on by default) searches again for more
SET engram.ef_search = 5;
SET engram.hnsw_iterative_scan = off;
SELECT count(*) FROM (SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 10) s;
RESET engram.hnsw_iterative_scan;
SELECT count(*) FROM (SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5,0.5]' LIMIT 10) s;
RESET engram.ef_search;
-- dimensions must match the index
SELECT id FROM hnsw_opt ORDER BY v <-> '[0.5,0.5]' LIMIT 1;
INSERT INTO hnsw_opt VALUES (0, '[1,2]');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_opt_idx');
SELECT * FROM engram_hnsw_verify('hnsw_opt');
DROP TABLE hnsw_opt;
