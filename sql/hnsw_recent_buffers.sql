-- engram_hnsw: a backend pins index pages again through the buffer that
-- last held them (RECENT BUFFERS in src/hnsw/hnswutils.c).  Those hints
-- live in the index's relcache entry and are only tried: after REINDEX,
-- TRUNCATE and a rebuilt table, the same session must read the new pages,
-- never a buffer of the old ones.  Each check compares the index's answer
-- with the exact one (sequential scan) on a table small enough that the
-- search is exhaustive at this ef_search.
SET max_parallel_workers_per_gather = 0;
SET engram.ef_search = 200;
CREATE TABLE hnsw_recent (id int, v evector(8));
INSERT INTO hnsw_recent
  SELECT i, ('[' || array_to_string(ARRAY(SELECT round(sin(i * k)::numeric, 4)
                                            FROM generate_series(1, 8) k), ',') || ']')::evector
  FROM generate_series(1, 400) i;
CREATE INDEX hnsw_recent_idx ON hnsw_recent USING engram_hnsw (v) WITH (m = 4);
CREATE FUNCTION hnsw_recent_same(q evector) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  by_index int[];
  exact int[];
BEGIN
  SET LOCAL enable_seqscan = off;
  SELECT array_agg(id ORDER BY id) INTO by_index FROM (SELECT id FROM hnsw_recent ORDER BY v <-> q LIMIT 5) s;
  SET LOCAL enable_seqscan = on;
  SET LOCAL enable_indexscan = off;
  SELECT array_agg(id ORDER BY id) INTO exact FROM (SELECT id FROM hnsw_recent ORDER BY v <-> q LIMIT 5) s;
  RETURN by_index IS NOT DISTINCT FROM exact;
END $$;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_recent ORDER BY v <-> '[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]' LIMIT 5;
RESET enable_seqscan;
SELECT hnsw_recent_same('[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]') AS same_before;
-- Inserts after the build go through the same pins.
INSERT INTO hnsw_recent
  SELECT i, ('[' || array_to_string(ARRAY(SELECT round(sin(i * k)::numeric, 4)
                                            FROM generate_series(1, 8) k), ',') || ']')::evector
  FROM generate_series(401, 450) i;
SELECT hnsw_recent_same('[0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1]') AS same_after_inserts;
-- REINDEX: a new relfilenode, the hints of the old one are dropped.
REINDEX INDEX hnsw_recent_idx;
SELECT hnsw_recent_same('[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]') AS same_after_reindex;
-- TRUNCATE and other rows: the blocks come back with other contents.
TRUNCATE hnsw_recent;
INSERT INTO hnsw_recent
  SELECT i, ('[' || array_to_string(ARRAY(SELECT round(cos(i * k + 0.5)::numeric, 4)
                                            FROM generate_series(1, 8) k), ',') || ']')::evector
  FROM generate_series(1, 400) i;
SELECT hnsw_recent_same('[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8]') AS same_after_truncate;
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_recent_idx');
DROP FUNCTION hnsw_recent_same(evector);
DROP TABLE hnsw_recent;
