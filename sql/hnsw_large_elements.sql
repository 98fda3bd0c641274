-- engram_hnsw: searches of an index whose elements take half a page or
-- more (768 dimensions at m = 16: two elements a page) keep no pins and
-- prefetch through the buffers that last held their pages, unpinned
-- (UNPINNED SEARCH in src/hnsw/hnswutils.c).  The answers must be those of
-- any other search: each check compares the index's answer with the exact
-- one on a table small enough that the search is exhaustive at this
-- ef_search: the session's first searches (no remembered buffers: pages
-- pinned ahead), warm ones, with an insert and a second scan in between,
-- and after TRUNCATE and REINDEX (a new relation file: the remembered
-- buffers are dropped and the blocks come back with other elements).
SET max_parallel_workers_per_gather = 0;
SET engram.ef_search = 400;
CREATE TABLE hnsw_large (id int, v evector(768));
CREATE FUNCTION hnsw_large_vector(seed int) RETURNS evector LANGUAGE sql IMMUTABLE AS $$
  SELECT ('[' || array_to_string(ARRAY(SELECT round(sin(seed * 0.37 + k * (1 + seed % 7) * 0.013)::numeric, 4)
                                       FROM generate_series(1, 768) k), ',') || ']')::evector
$$;
INSERT INTO hnsw_large SELECT i, hnsw_large_vector(i) FROM generate_series(1, 300) i;
CREATE INDEX hnsw_large_idx ON hnsw_large USING engram_hnsw (v) WITH (m = 16);
-- two elements a page: the index has at least half as many pages as rows
SELECT pg_relation_size('hnsw_large_idx') / current_setting('block_size')::int >= 150 AS two_a_page;
-- The index's top 10 against the exact top 10 (an ORDER BY expression no
-- index serves: a sequential scan and a sort).  enable_seqscan = off gives
-- the exact query a huge cost, which would have JIT compile every call.
SET enable_seqscan = off;
SET jit = off;
CREATE FUNCTION hnsw_large_same(q evector) RETURNS boolean LANGUAGE sql AS $$
  SELECT (SELECT array_agg(id) FROM (SELECT id FROM hnsw_large ORDER BY v <-> q LIMIT 10) s)
     IS NOT DISTINCT FROM
         (SELECT array_agg(id) FROM (SELECT id FROM hnsw_large ORDER BY (v <-> q) + 0, id LIMIT 10) s)
$$;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_large ORDER BY v <-> (SELECT v FROM hnsw_large WHERE id = 1) LIMIT 10;
-- First searches of the session (no remembered buffers), then warm ones.
SELECT count(*) FILTER (WHERE hnsw_large_same(hnsw_large_vector(1000 + i))) AS same, count(*) AS queries
FROM generate_series(1, 20) i;
-- Inserts search with kept pins; the scans after them do not.
INSERT INTO hnsw_large SELECT i, hnsw_large_vector(i) FROM generate_series(301, 360) i;
SELECT count(*) FILTER (WHERE hnsw_large_same(hnsw_large_vector(2000 + i))) AS same_after_inserts,
       count(*) AS queries
FROM generate_series(1, 20) i;
-- Two scans of the index open at once (the inner one per outer row).
SELECT count(*) FILTER (WHERE hnsw_large_same(o.v)) AS same_nested, count(*) AS queries
FROM (SELECT v FROM hnsw_large ORDER BY v <-> hnsw_large_vector(3000) LIMIT 5) o;
TRUNCATE hnsw_large;
INSERT INTO hnsw_large SELECT i, hnsw_large_vector(i + 5000) FROM generate_series(1, 300) i;
SELECT count(*) FILTER (WHERE hnsw_large_same(hnsw_large_vector(4000 + i))) AS same_after_truncate,
       count(*) AS queries
FROM generate_series(1, 20) i;
REINDEX INDEX hnsw_large_idx;
SELECT count(*) FILTER (WHERE hnsw_large_same(hnsw_large_vector(6000 + i))) AS same_after_reindex,
       count(*) AS queries
FROM generate_series(1, 20) i;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_large_idx');
DROP FUNCTION hnsw_large_same(evector);
DROP TABLE hnsw_large;
DROP FUNCTION hnsw_large_vector(int);
