-- engram_hnsw pending list, compact entries (src/hnsw/hnsw.h, COMPACT
-- ENTRIES): an entry of a row whose vector the heap tuple holds inline is
-- its heap TID alone; scans, merges and verify read the vector from the
-- row.  Every answer below through a deferred index must equal the exact
-- one (a sequential scan); the graph alone is exact on these few rows at
-- ef_search 400.  The pending list's page count tells compact entries (408
-- a page) from full ones (30 a page at 64 dimensions).
SET max_parallel_workers_per_gather = 0;
SET engram.ef_search = 400;

-- The same rows in an engram-AM table and a heap table.
CREATE TABLE hpc (id int PRIMARY KEY, note text, emb evector(64))
    USING engram WITH (fillfactor = 50, autovacuum_enabled = off);
CREATE TABLE hpc_heap (id int PRIMARY KEY, note text, emb evector(64))
    WITH (fillfactor = 50, autovacuum_enabled = off);
CREATE FUNCTION hpc_vector(seed float8) RETURNS evector LANGUAGE sql IMMUTABLE AS
$$ SELECT array(SELECT sin(seed * k * 0.37)::real FROM generate_series(1, 64) k)::evector $$;
INSERT INTO hpc SELECT g, 'row ' || g, hpc_vector(g) FROM generate_series(1, 100) g;
INSERT INTO hpc_heap SELECT * FROM hpc;
CREATE INDEX hpc_l2 ON hpc USING engram_hnsw (emb) WITH (deferred_insert = on);
CREATE INDEX hpc_cos8 ON hpc USING engram_hnsw (emb evector_cosine_ops)
    WITH (deferred_insert = on, quantization = 'int8');
CREATE INDEX hpc_heap_l2 ON hpc_heap USING engram_hnsw (emb) WITH (deferred_insert = on);

-- md5 of the top 10 of six queries, through the index (mode 'index') or a
-- sequential scan ('seq'), by L2 or cosine distance.
CREATE FUNCTION hpc_answers(tbl regclass, mode text, op text DEFAULT '<->') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    result text := '';
    part text;
BEGIN
    PERFORM set_config('enable_seqscan', (mode = 'seq')::text, true);
    PERFORM set_config('enable_indexscan', (mode <> 'seq')::text, true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    FOR q IN 1..6 LOOP
        EXECUTE format('SELECT string_agg(id::text, '','' ORDER BY d, id) FROM (
                SELECT id, emb %1$s hpc_vector(%2$s) AS d FROM %3$s
                 ORDER BY emb %1$s hpc_vector(%2$s) LIMIT 10) x', op, q * 1.3 + 0.05, tbl)
            INTO part;
        result := result || part || ';';
    END LOOP;
    RETURN md5(result);
END;
$$;
-- Answers through each deferred index equal the exact ones.
CREATE VIEW hpc_check AS
SELECT hpc_answers('hpc', 'index') = hpc_answers('hpc', 'seq') AS l2_ok,
       hpc_answers('hpc', 'index', '<=>') = hpc_answers('hpc', 'seq', '<=>') AS cosine_int8_ok,
       hpc_answers('hpc_heap', 'index') = hpc_answers('hpc_heap', 'seq') AS heap_ok,
       (SELECT pages FROM engram_hnsw_pending_stats('hpc_l2')) AS l2_pages,
       (SELECT entries FROM engram_hnsw_pending_stats('hpc_l2')) AS l2_entries,
       (SELECT pages FROM engram_hnsw_pending_stats('hpc_heap_l2')) AS heap_pages;
CREATE VIEW hpc_verify AS
SELECT i AS index, severity, problem, count(*)
  FROM unnest(ARRAY['hpc_l2', 'hpc_cos8', 'hpc_heap_l2']::regclass[]) i,
       engram_hnsw_verify(i)
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- 200 inserted rows: compact entries (one page each list).
INSERT INTO hpc SELECT g, 'row ' || g, hpc_vector(g) FROM generate_series(101, 300) g;
INSERT INTO hpc_heap SELECT * FROM hpc WHERE id > 100;
SELECT * FROM hpc_check;
SELECT * FROM hpc_verify;

-- UPDATE, not HOT (the vector changes): the new versions get compact
-- entries, the old ones stay until VACUUM.
UPDATE hpc SET emb = hpc_vector(id + 1000) WHERE id % 7 = 0;
UPDATE hpc_heap SET emb = hpc_vector(id + 1000) WHERE id % 7 = 0;
SELECT * FROM hpc_check;
-- HOT updates (only the note changes), then a scan that may prune the
-- chains to redirects: entries are reached through their root TIDs.
UPDATE hpc SET note = note || ' again' WHERE id % 5 = 0;
UPDATE hpc_heap SET note = note || ' again' WHERE id % 5 = 0;
UPDATE hpc SET note = note || ' and again' WHERE id % 5 = 0;
UPDATE hpc_heap SET note = note || ' and again' WHERE id % 5 = 0;
SELECT count(*) FROM hpc WHERE note LIKE '%again';
SELECT count(*) FROM hpc_heap WHERE note LIKE '%again';
-- the updated rows' current TIDs are not the indexed ones: HOT chains
SELECT count(*) AS hot_rows FROM hpc WHERE note LIKE '%again' AND ctid NOT IN
    (SELECT heap_tid FROM engram_hnsw_index_tids('hpc_l2'));
SELECT * FROM hpc_check;
-- Rolled back inserts: their entries name dead tuples, never returned.
BEGIN;
INSERT INTO hpc SELECT g, 'rolled back', hpc_vector(g - 0.5) FROM generate_series(301, 350) g;
INSERT INTO hpc_heap SELECT g, 'rolled back', hpc_vector(g - 0.5) FROM generate_series(301, 350) g;
ROLLBACK;
SELECT * FROM hpc_check;
SELECT * FROM hpc_verify;

-- DELETE + VACUUM: the bulk delete merges the lists (reading compact
-- entries' rows) and drops the dead rows' entries.
DELETE FROM hpc WHERE id % 11 = 0;
DELETE FROM hpc_heap WHERE id % 11 = 0;
VACUUM hpc;
VACUUM hpc_heap;
SELECT * FROM hpc_check;
SELECT * FROM hpc_verify;
SELECT count(*) FILTER (WHERE NOT deleted) = (SELECT count(*) FROM hpc) AS l2_holds_every_row
  FROM engram_hnsw_index_tids('hpc_l2');

-- Tier moves of pending rows: to cold (a stub holds no vector: full
-- entries for the new TIDs) and back to warm (compact again).
INSERT INTO hpc SELECT g, 'row ' || g, hpc_vector(g) FROM generate_series(400, 460) g;
SELECT engram_move_to_tier('hpc', array_agg(ctid), 'cold') FROM hpc WHERE id BETWEEN 400 AND 459;
SELECT engram_row_tier('hpc', ctid) AS tier, count(*) FROM hpc WHERE id >= 400 GROUP BY 1 ORDER BY 1;
SELECT * FROM hpc_check;
SELECT * FROM hpc_verify;
SELECT engram_move_to_tier('hpc', array_agg(ctid), 'warm') FROM hpc WHERE id BETWEEN 400 AND 429;
SELECT * FROM hpc_check;
-- The old versions' entries die with them.
VACUUM hpc;
SELECT * FROM hpc_check;
SELECT * FROM hpc_verify;

-- engram_hnsw_flush_pending() merges compact entries too.
INSERT INTO hpc SELECT g, 'row ' || g, hpc_vector(g) FROM generate_series(500, 560) g;
INSERT INTO hpc_heap SELECT g, 'row ' || g, hpc_vector(g) FROM generate_series(500, 560) g;
SELECT engram_hnsw_flush_pending('hpc_l2') AS l2_merged,
       engram_hnsw_flush_pending('hpc_cos8') AS cos8_merged,
       engram_hnsw_flush_pending('hpc_heap_l2') AS heap_merged;
SELECT * FROM hpc_check;
SELECT * FROM hpc_verify;
-- The same answers from an index built without deferral.
DROP VIEW hpc_check, hpc_verify;
DROP INDEX hpc_l2;
CREATE INDEX hpc_l2_plain ON hpc USING engram_hnsw (emb);
SELECT hpc_answers('hpc', 'index') = hpc_answers('hpc', 'seq') AS undeferred_ok;
DROP INDEX hpc_l2_plain;

-- Inner product and float cosine: a scan computes a compact entry's
-- distance on the heap page (inner product, as L2) or normalises the
-- vector from the page (cosine); HOT-updated rows among them.
CREATE INDEX hpc_heap_ip ON hpc_heap USING engram_hnsw (emb evector_ip_ops)
    WITH (deferred_insert = on);
CREATE INDEX hpc_heap_cos ON hpc_heap USING engram_hnsw (emb evector_cosine_ops)
    WITH (deferred_insert = on);
INSERT INTO hpc_heap SELECT g, 'row ' || g, hpc_vector(g * 0.9) FROM generate_series(600, 800) g;
UPDATE hpc_heap SET note = note || ' hot' WHERE id >= 600 AND id % 3 = 0;
SELECT (SELECT entries FROM engram_hnsw_pending_stats('hpc_heap_ip')) AS ip_entries,
       (SELECT pages FROM engram_hnsw_pending_stats('hpc_heap_ip')) AS ip_pages,
       (SELECT pages FROM engram_hnsw_pending_stats('hpc_heap_cos')) AS cos_pages,
       hpc_answers('hpc_heap', 'index', '<#>') = hpc_answers('hpc_heap', 'seq', '<#>') AS ip_ok,
       hpc_answers('hpc_heap', 'index', '<=>') = hpc_answers('hpc_heap', 'seq', '<=>') AS cosine_ok,
       hpc_answers('hpc_heap', 'index') = hpc_answers('hpc_heap', 'seq') AS l2_ok;
DROP INDEX hpc_heap_ip, hpc_heap_cos;

-- Where the row does not hold the vector inline, full entries: a vector
-- moved to TOAST (storage external, 600 dimensions), a compressed one
-- (storage main, a repetitive vector of 1,000 dimensions), an expression
-- index (the row holds the column, not the indexed value).
CREATE TABLE hpc_toast (id int, emb evector) WITH (autovacuum_enabled = off);
ALTER TABLE hpc_toast ALTER COLUMN emb SET STORAGE external;
CREATE INDEX hpc_toast_l2 ON hpc_toast USING engram_hnsw (emb) WITH (deferred_insert = on);
INSERT INTO hpc_toast SELECT g, array(SELECT sin(g * k * 0.01)::real FROM generate_series(1, 600) k)::evector
  FROM generate_series(1, 20) g;
CREATE TABLE hpc_compressed (id int, emb evector) WITH (autovacuum_enabled = off);
CREATE INDEX hpc_compressed_l2 ON hpc_compressed USING engram_hnsw (emb) WITH (deferred_insert = on);
INSERT INTO hpc_compressed SELECT g, array(SELECT (g % 3)::real FROM generate_series(1, 1000) k)::evector
  FROM generate_series(1, 20) g;
SELECT pg_column_compression(emb) AS compression, count(*) FROM hpc_compressed GROUP BY 1;
CREATE TABLE hpc_expr (id int, emb evector(64)) WITH (autovacuum_enabled = off);
CREATE INDEX hpc_expr_l2 ON hpc_expr USING engram_hnsw (evector_multiply(emb, emb))
    WITH (deferred_insert = on);
INSERT INTO hpc_expr SELECT g, hpc_vector(g) FROM generate_series(1, 60) g;
SELECT (SELECT pages FROM engram_hnsw_pending_stats('hpc_toast_l2')) AS toast_pages,
       (SELECT pages FROM engram_hnsw_pending_stats('hpc_compressed_l2')) AS compressed_pages,
       (SELECT pages FROM engram_hnsw_pending_stats('hpc_expr_l2')) AS expr_pages;
SET enable_seqscan = off;
SELECT id FROM hpc_toast ORDER BY emb <-> (SELECT emb FROM hpc_toast WHERE id = 7) LIMIT 3;
SELECT id FROM hpc_expr ORDER BY evector_multiply(emb, emb) <-> evector_multiply(hpc_vector(9), hpc_vector(9)) LIMIT 3;
RESET enable_seqscan;
SELECT id FROM hpc_expr ORDER BY evector_multiply(emb, emb) <-> evector_multiply(hpc_vector(9), hpc_vector(9)) LIMIT 3;
SELECT index, severity, problem, count(*)
  FROM unnest(ARRAY['hpc_toast_l2', 'hpc_compressed_l2', 'hpc_expr_l2']::regclass[]) index,
       engram_hnsw_verify(index)
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

DROP TABLE hpc, hpc_heap, hpc_toast, hpc_compressed, hpc_expr;
DROP FUNCTION hpc_answers, hpc_vector;
