-- tam_tiers: every SQL operation on an engram table gives the same results
-- whatever tier its rows are in (warm, cold, hot), and moves are counted.

CREATE TABLE tam_mem (
    id bigint PRIMARY KEY,
    content text NOT NULL,
    emb real[],
    tags text[],
    meta jsonb,
    note text
) USING engram;

-- 300 rows; every 50th has a large note (TOASTed while warm).
INSERT INTO tam_mem
SELECT g,
       'memory ' || g || repeat(' about things', g % 7),
       array(SELECT ((g * 7 + k) % 97 / 97.0)::real FROM generate_series(1, 32) k),
       ARRAY['t' || (g % 5), 'u' || (g % 3)],
       jsonb_build_object('g', g, 'odd', g % 2 = 1),
       CASE WHEN g % 50 = 0 THEN repeat(md5(g::text), 400) END
  FROM generate_series(1, 300) g;
CREATE INDEX tam_mem_content_idx ON tam_mem (content);
CREATE INDEX tam_mem_tags_idx ON tam_mem USING gin (tags);

-- Fingerprint of a query under one scan strategy.
CREATE FUNCTION tam_fp(query text, mode text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    PERFORM set_config('enable_seqscan', (mode = 'seq')::text, true);
    PERFORM set_config('enable_indexscan', (mode = 'index')::text, true);
    PERFORM set_config('enable_indexonlyscan', 'off', true);
    PERFORM set_config('enable_bitmapscan', (mode = 'bitmap')::text, true);
    EXECUTE format('SELECT md5(coalesce(string_agg(x::text, ''|'' ORDER BY x::text), '''')) || '' '' || count(*) FROM (%s) x', query)
       INTO result;
    RETURN result;
END;
$$;

-- The same questions, asked through every read path.
CREATE VIEW tam_answers AS
SELECT 'all rows (seq)' AS question, tam_fp('SELECT * FROM tam_mem', 'seq') AS answer
UNION ALL SELECT 'id range (index)', tam_fp('SELECT * FROM tam_mem WHERE id BETWEEN 40 AND 160', 'index')
UNION ALL SELECT 'id range (bitmap)', tam_fp('SELECT * FROM tam_mem WHERE id BETWEEN 40 AND 160', 'bitmap')
UNION ALL SELECT 'id range (seq)', tam_fp('SELECT * FROM tam_mem WHERE id BETWEEN 40 AND 160', 'seq')
UNION ALL SELECT 'content (index)', tam_fp('SELECT id, note FROM tam_mem WHERE content > ''memory 2''', 'index')
UNION ALL SELECT 'tags (bitmap, gin)', tam_fp('SELECT id, emb FROM tam_mem WHERE tags @> ARRAY[''t3'']', 'bitmap')
UNION ALL SELECT 'sample', tam_fp('SELECT * FROM tam_mem TABLESAMPLE SYSTEM (100)', 'seq')
UNION ALL SELECT 'ctid scan', tam_fp('SELECT id FROM tam_mem WHERE ctid >= ''(0,1)''', 'seq')
UNION ALL SELECT 'aggregate', tam_fp('SELECT count(*), sum(id), sum(emb[3]::numeric), sum(length(note)), string_agg(DISTINCT meta->>''odd'', '','') FROM tam_mem', 'seq');

-- The plans really take the named paths.
SET enable_seqscan = off; SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM tam_mem WHERE id BETWEEN 40 AND 160;
RESET enable_bitmapscan; SET enable_indexscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM tam_mem WHERE id BETWEEN 40 AND 160;
RESET enable_seqscan; RESET enable_indexscan;

CREATE TABLE tam_expected AS SELECT * FROM tam_answers;
SELECT question, answer FROM tam_expected ORDER BY question;

-- A query that differs from the expected answers (each row is one mismatch).
CREATE VIEW tam_mismatches AS
SELECT e.question, e.answer AS expected, a.answer AS got
  FROM tam_expected e JOIN tam_answers a USING (question)
 WHERE a.answer IS DISTINCT FROM e.answer;

CREATE VIEW tam_tiers AS
SELECT tier, rows FROM engram_tier_stats_for('tam_mem') WHERE tier <> 'hot' ORDER BY tier;

-- Two rows in three go cold (the TOASTed notes included).
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem WHERE id % 3 <> 0), 'cold');
SELECT * FROM tam_tiers;
SELECT count(*) AS segments, sum(nrows) AS rows FROM engram.cold_segments
 WHERE relid = 'tam_mem'::regclass;
SELECT * FROM tam_mismatches;
-- Moving again is a no-op.
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem WHERE id % 3 <> 0), 'cold');
SELECT engram_row_tier('tam_mem', ctid) AS tier, count(*) FROM tam_mem GROUP BY 1 ORDER BY 1;
-- Cold compresses: the cold rows' stored bytes are well under their own size.
SELECT compressed_bytes < bytes / 2 AS cold_is_smaller FROM engram_tier_stats_for('tam_mem') WHERE tier = 'cold';

-- System columns of a cold row come from its stub.
SELECT ctid = (SELECT ctid FROM tam_mem WHERE id = 1), xmin::text::bigint > 0 FROM tam_mem WHERE id = 1;

-- Indexes built while rows are cold (plain, expression, partial, unique,
-- concurrently) index the real values.
CREATE INDEX tam_mem_g_idx ON tam_mem (((meta->>'g')::int));
CREATE INDEX tam_mem_partial_idx ON tam_mem (id) WHERE meta->>'odd' = 'true';
CREATE UNIQUE INDEX CONCURRENTLY tam_mem_content_id_idx ON tam_mem (content, id);
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
CREATE INDEX tam_mem_parallel_idx ON tam_mem (meta);
RESET max_parallel_maintenance_workers;
RESET min_parallel_table_scan_size;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT id FROM tam_mem WHERE (meta->>'g')::int IN (7, 8, 9) ORDER BY id;
SELECT count(*) FROM tam_mem WHERE meta = '{"g": 8, "odd": false}';
EXPLAIN (COSTS OFF) SELECT count(*) FROM tam_mem WHERE meta->>'odd' = 'true' AND id < 50;
SELECT count(*) FROM tam_mem WHERE meta->>'odd' = 'true' AND id < 50;
RESET enable_seqscan; RESET enable_bitmapscan;
SELECT count(*) FROM tam_mem WHERE meta->>'odd' = 'true' AND id < 50;
INSERT INTO tam_mem (id, content) VALUES (2, 'duplicate key of a cold row');

-- Updates and deletes of cold rows, then the same on a warm twin.
CREATE TABLE tam_twin (LIKE tam_mem) USING heap;
INSERT INTO tam_twin SELECT * FROM tam_mem;
UPDATE tam_mem SET content = content || ' (edited)', meta = meta || '{"edited": true}' WHERE id % 10 = 1;
UPDATE tam_twin SET content = content || ' (edited)', meta = meta || '{"edited": true}' WHERE id % 10 = 1;
DELETE FROM tam_mem WHERE id % 10 = 2;
DELETE FROM tam_twin WHERE id % 10 = 2;
SELECT count(*) AS differences FROM (
    (SELECT * FROM tam_mem EXCEPT SELECT * FROM tam_twin)
    UNION ALL
    (SELECT * FROM tam_twin EXCEPT SELECT * FROM tam_mem)) d;
-- SELECT FOR UPDATE and UPDATE ... RETURNING on cold rows.
SELECT id, left(content, 12) FROM tam_mem WHERE id IN (4, 5) ORDER BY id FOR UPDATE;
UPDATE tam_mem SET tags = tags || '{x}' WHERE id = 5 RETURNING id, tags;
UPDATE tam_twin SET tags = tags || '{x}' WHERE id = 5;
-- INSERT ... ON CONFLICT and foreign keys reach cold rows.
INSERT INTO tam_mem (id, content) VALUES (8, 'conflict')
    ON CONFLICT (id) DO UPDATE SET content = excluded.content || ' / ' || left(tam_mem.content, 8)
    RETURNING id, content;
UPDATE tam_twin SET content = 'conflict / memory 8' WHERE id = 8;
INSERT INTO tam_mem (id, content) VALUES (9, 'ignored') ON CONFLICT DO NOTHING;
CREATE TABLE tam_child (parent bigint REFERENCES tam_mem (id));
INSERT INTO tam_child VALUES (7);
DELETE FROM tam_mem WHERE id = 7;
DROP TABLE tam_child;
DELETE FROM tam_expected;
INSERT INTO tam_expected SELECT * FROM tam_answers;

-- VACUUM drops the segments whose rows are all gone.
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem WHERE id > 290), 'cold');
SELECT count(*) AS segments_before FROM engram.cold_segments WHERE relid = 'tam_mem'::regclass \gset
DELETE FROM tam_mem WHERE id > 290;
DELETE FROM tam_twin WHERE id > 290;
DELETE FROM tam_expected;
INSERT INTO tam_expected SELECT * FROM tam_answers;
VACUUM tam_mem;
SELECT count(*) = :segments_before - 1 AS one_segment_dropped FROM engram.cold_segments
 WHERE relid = 'tam_mem'::regclass;
SELECT * FROM tam_mismatches;

-- The hot tier serves index fetches and returns the same answers.
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem WHERE id <= 100), 'hot');
SELECT rows >= 90 AS all_cached FROM engram_tier_stats_for('tam_mem') WHERE tier = 'hot';
SELECT * FROM tam_mismatches;
SELECT hits > 0 AS hot_hits FROM engram_tier_stats_for('tam_mem') WHERE tier = 'hot';
-- An update invalidates the cached row before anyone can read the new one.
UPDATE tam_mem SET content = 'rewritten' WHERE id = 10;
UPDATE tam_twin SET content = 'rewritten' WHERE id = 10;
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT id, content FROM tam_mem WHERE id = 10;
RESET enable_seqscan; RESET enable_bitmapscan;
DELETE FROM tam_expected;
INSERT INTO tam_expected SELECT * FROM tam_answers;
-- A warm move takes a row out of the hot tier.
-- (lookups off, so that finding the row does not cache it again)
SET engram.hot_tier_lookups = off;
SELECT engram_hot_tier_contains('tam_mem', ctid) FROM tam_mem WHERE id = 3;
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem WHERE id = 3), 'warm');
SELECT engram_hot_tier_contains('tam_mem', ctid) FROM tam_mem WHERE id = 3;
RESET engram.hot_tier_lookups;
-- Index fetches are counted as accesses (sequential scans are not).
SELECT engram_access_record('tam_mem', ctid) FROM tam_mem WHERE id = 4;
SELECT access_count >= 1 AS tracked FROM engram_row_access_stats('tam_mem') s
  JOIN tam_mem m ON m.ctid = s.ctid WHERE m.id = 4;

-- Repacking: when most rows of a segment are gone, engram_cold_vacuum()
-- rewrites the live ones into a new segment and VACUUM drops the old one.
-- (Stub to stub is a HOT update when the page has room: VACUUM FULL below
-- then copies heap-only stubs.)
SELECT count(*) AS segments, sum(nrows) AS rows FROM engram.cold_segments
 WHERE relid = 'tam_mem'::regclass;
DELETE FROM tam_mem WHERE id % 3 = 1 AND id > 20;
DELETE FROM tam_twin WHERE id % 3 = 1 AND id > 20;
DELETE FROM tam_expected;
INSERT INTO tam_expected SELECT * FROM tam_answers;
SELECT * FROM engram_cold_vacuum('tam_mem', 0.9);
VACUUM tam_mem;
SELECT count(*) AS segments, sum(nrows) AS rows FROM engram.cold_segments
 WHERE relid = 'tam_mem'::regclass;
SELECT * FROM tam_tiers;
SELECT * FROM tam_mismatches;
SELECT * FROM engram_cold_vacuum('tam_mem');

-- VACUUM FULL and CLUSTER keep every row in its tier.
SELECT * INTO TEMP tiers_before FROM tam_tiers;
VACUUM FULL tam_mem;
SELECT * FROM tam_mismatches;
SELECT * FROM tam_tiers EXCEPT SELECT * FROM tiers_before;
CLUSTER tam_mem USING tam_mem_pkey;
SELECT * FROM tam_mismatches;
SELECT * FROM tam_tiers EXCEPT SELECT * FROM tiers_before;
ANALYZE tam_mem;
SELECT reltuples FROM pg_class WHERE relname = 'tam_mem';
SELECT n_distinct FROM pg_stats WHERE tablename = 'tam_mem' AND attname = 'id';

-- ALTER TABLE: added columns read through cold rows; a rewrite warms them.
ALTER TABLE tam_mem ADD COLUMN importance real DEFAULT 0.5;
ALTER TABLE tam_mem DROP COLUMN tags;
SELECT id, importance, engram_row_tier('tam_mem', ctid) FROM tam_mem WHERE id IN (4, 7) ORDER BY id;
ALTER TABLE tam_mem ALTER COLUMN importance TYPE float8;
SELECT * FROM tam_tiers;
SELECT count(*) AS differences FROM (
    (SELECT id, content, emb, meta, note FROM tam_mem EXCEPT SELECT id, content, emb, meta, note FROM tam_twin)
    UNION ALL
    (SELECT id, content, emb, meta, note FROM tam_twin EXCEPT SELECT id, content, emb, meta, note FROM tam_mem)) d;

-- Back and forth: everything cold, then everything warm again.
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem), 'cold') > 0 AS moved;
SELECT * FROM tam_tiers;
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem), 'warm') > 0 AS moved;
SELECT * FROM tam_tiers;

-- COPY (multi-insert) and TRUNCATE.
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem WHERE id < 100), 'cold');
CREATE TEMP TABLE tam_copy AS SELECT * FROM tam_mem;
TRUNCATE tam_mem;
SELECT * FROM tam_tiers;
SELECT count(*) AS segments_after_truncate FROM engram.cold_segments WHERE relid = 'tam_mem'::regclass;
COPY tam_copy TO '/tmp/tam_regress_copy.data';
COPY tam_mem FROM '/tmp/tam_regress_copy.data';
SELECT count(*) AS differences FROM (
    (SELECT * FROM tam_mem EXCEPT SELECT * FROM tam_copy)
    UNION ALL
    (SELECT * FROM tam_copy EXCEPT SELECT * FROM tam_mem)) d;

-- Rolled-back moves leave nothing behind.
BEGIN;
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem), 'cold') > 0 AS moved;
ROLLBACK;
SELECT * FROM tam_tiers;
SELECT * FROM engram_cold_vacuum('tam_mem');
SELECT count(*) AS segments FROM engram.cold_segments WHERE relid = 'tam_mem'::regclass;

-- A move can be a HOT update (here the only indexed column is NULL, so the
-- stub changes no indexed value): the new version then gets no index entry
-- of its own; the hot tier caches it under its chain's root and serves it
-- once.
CREATE TABLE tam_hot (id int, k int, body text) USING engram;
CREATE INDEX tam_hot_k_idx ON tam_hot (k);
INSERT INTO tam_hot SELECT g, NULL, 'b' || g FROM generate_series(1, 20) g;
SELECT engram_move_to_tier('tam_hot', (SELECT array_agg(ctid) FROM tam_hot), 'cold');
SELECT engram_move_to_tier('tam_hot', (SELECT array_agg(ctid) FROM tam_hot), 'hot');
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*), count(DISTINCT id) FROM tam_hot WHERE k IS NULL;
SELECT engram_move_to_tier('tam_hot', (SELECT array_agg(ctid) FROM tam_hot), 'warm');
SELECT engram_move_to_tier('tam_hot', (SELECT array_agg(ctid) FROM tam_hot), 'hot');
SELECT count(*), count(DISTINCT id) FROM tam_hot WHERE k IS NULL;
RESET enable_seqscan; RESET enable_bitmapscan;
DROP TABLE tam_hot;

-- DROP TABLE drops its segments.
SELECT engram_move_to_tier('tam_mem', (SELECT array_agg(ctid) FROM tam_mem), 'cold') > 0 AS moved;
DROP VIEW tam_mismatches, tam_answers, tam_tiers;
DROP TABLE tam_mem;
SELECT count(*) AS orphan_segments FROM engram.cold_segments s
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.relid);
DROP TABLE tam_twin, tam_expected;
DROP FUNCTION tam_fp(text, text);
-- An UPDATE of a cold row is never HOT: the stub keeps only the key, and an
-- update setting another indexed column to NULL must not leave the old
-- index entry pointing at the row.
CREATE TABLE tam_nohot (id int PRIMARY KEY, c int, body text) USING engram;
CREATE INDEX tam_nohot_c ON tam_nohot (c);
INSERT INTO tam_nohot SELECT g, g, 'row ' || g FROM generate_series(1, 10) g;
SELECT engram_move_to_tier('tam_nohot', ARRAY(SELECT ctid FROM tam_nohot), 'cold');
UPDATE tam_nohot SET c = NULL WHERE id = 3;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT id, c, body FROM tam_nohot WHERE c = 3;
SELECT id, c, body FROM tam_nohot WHERE id = 3;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE tam_nohot;
