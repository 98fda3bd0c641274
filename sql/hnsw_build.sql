-- engram_hnsw build: a graph larger than maintenance_work_mem falls back to
-- on-disk insertion with a NOTICE and gives the same answers.
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.75);
CREATE TABLE hnsw_build (id int, v evector(2));
INSERT INTO hnsw_build SELECT i, ARRAY[random(), random()]::real[]::evector
FROM generate_series(1, 6000) i;
SET maintenance_work_mem = '1MB';
CREATE INDEX hnsw_build_small ON hnsw_build USING engram_hnsw (v);
RESET maintenance_work_mem;
CREATE INDEX hnsw_build_large ON hnsw_build USING engram_hnsw (v);
-- both indexes hold every row and verify clean
SELECT count(*) AS elements FROM engram_hnsw_index_tids('hnsw_build_small');
SELECT count(*) AS elements FROM engram_hnsw_index_tids('hnsw_build_large');
SELECT count(*) FILTER (WHERE severity = 'error') AS errors FROM engram_hnsw_verify('hnsw_build_small');
-- and both find the exact ten nearest of a few queries
CREATE TEMP TABLE hnsw_build_q AS SELECT q, ARRAY[random(), random()]::real[]::evector AS qv
FROM generate_series(1, 20) q;
SET enable_seqscan = off;
DROP INDEX hnsw_build_large;
CREATE TEMP TABLE hnsw_build_small_res AS SELECT q, n.id FROM hnsw_build_q,
  LATERAL (SELECT id FROM hnsw_build ORDER BY v <-> qv LIMIT 10) n;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE hnsw_build_exact AS SELECT q, n.id FROM hnsw_build_q,
  LATERAL (SELECT id FROM hnsw_build ORDER BY v <-> qv LIMIT 10) n;
RESET enable_indexscan;
SELECT count(*) AS found_of_200 FROM hnsw_build_exact JOIN hnsw_build_small_res USING (q, id);
-- the build phases have names for pg_stat_progress_create_index
SELECT amname, pg_indexam_progress_phasename(oid, 2) AS phase2,
       pg_indexam_progress_phasename(oid, 3) AS phase3
FROM pg_am WHERE amname = 'engram_hnsw';
-- CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY, with rows added
-- in between; every row stays in the index.
CREATE INDEX CONCURRENTLY hnsw_build_conc ON hnsw_build USING engram_hnsw (v);
INSERT INTO hnsw_build SELECT i, ARRAY[random(), random()]::real[]::evector
FROM generate_series(6001, 6100) i;
REINDEX INDEX CONCURRENTLY hnsw_build_conc;
SELECT count(*) AS elements FROM engram_hnsw_index_tids('hnsw_build_conc');
SELECT count(*) FILTER (WHERE severity = 'error') AS errors FROM engram_hnsw_verify('hnsw_build_conc');
SELECT indisvalid FROM pg_index WHERE indexrelid = 'hnsw_build_conc'::regclass;
DROP TABLE hnsw_build;
