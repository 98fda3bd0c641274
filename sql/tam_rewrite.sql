-- tam_rewrite: table rewrites and cold rows.  CLUSTER puts cold rows in
-- index order (and keeps them cold); ALTER TABLE ... SET ACCESS METHOD
-- heap reads cold rows into the new heap and deletes the old segments.

CREATE TABLE tam_rw (id int PRIMARY KEY, k int, body text, e evector(3)) USING engram;
CREATE INDEX tam_rw_k ON tam_rw (k);
-- Physical order is by id; k runs the other way.
INSERT INTO tam_rw SELECT g, 1000 - g, 'row ' || g, ARRAY[g, g / 2.0, -g]::real[]::evector
  FROM generate_series(1, 300) g;
-- Cold: every row with an odd id, so cold and warm rows alternate in k order.
SELECT engram_move_to_tier('tam_rw', (SELECT array_agg(ctid) FROM tam_rw WHERE id % 2 = 1), 'cold');
CREATE TABLE tam_rw_before AS SELECT * FROM tam_rw;

-- CLUSTER on k (sorted: the table is small and has no useful order).
CLUSTER tam_rw USING tam_rw_k;
-- Every row in its tier, same contents.
SELECT engram_row_tier('tam_rw', ctid) AS tier, count(*) FROM tam_rw GROUP BY 1 ORDER BY 1;
SELECT count(*) AS differ FROM (
  (SELECT * FROM tam_rw EXCEPT SELECT * FROM tam_rw_before)
  UNION ALL (SELECT * FROM tam_rw_before EXCEPT SELECT * FROM tam_rw)) d;
-- Physical order follows k for all rows, cold ones included: in ctid
-- order, k never decreases (before, cold rows sorted as if k were NULL,
-- after every warm row).
SELECT count(*) AS out_of_order FROM (
  SELECT k, lag(k) OVER (ORDER BY ctid) AS prev_k FROM tam_rw) s
 WHERE prev_k > k;
SELECT (SELECT id FROM tam_rw ORDER BY ctid LIMIT 1) AS first_id,
       engram_row_tier('tam_rw', (SELECT ctid FROM tam_rw ORDER BY ctid LIMIT 1)) AS first_tier;
-- The cold rows still read and index-scan correctly.
SET enable_seqscan = off;
SELECT id, k, body, e FROM tam_rw WHERE k = 701;
RESET enable_seqscan;
SELECT count(*) AS segments FROM engram.cold_segments WHERE relid = 'tam_rw'::regclass;

-- SET ACCESS METHOD heap: every row read decoded into the new heap, then
-- the segments of the table are gone (same transaction as the ALTER).
BEGIN;
ALTER TABLE tam_rw SET ACCESS METHOD heap;
SELECT count(*) AS segments FROM engram.cold_segments WHERE relid = 'tam_rw'::regclass;
ROLLBACK;
-- A rolled-back ALTER leaves the segments and the cold rows as they were.
SELECT count(*) AS segments FROM engram.cold_segments WHERE relid = 'tam_rw'::regclass;
SELECT count(*) AS cold_rows FROM tam_rw WHERE engram_row_tier('tam_rw', ctid) = 'cold';
ALTER TABLE tam_rw SET ACCESS METHOD heap;
SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'tam_rw'::regclass;
SELECT count(*) AS segments FROM engram.cold_segments WHERE relid = 'tam_rw'::regclass;
SELECT count(*) AS differ FROM (
  (SELECT * FROM tam_rw EXCEPT SELECT * FROM tam_rw_before)
  UNION ALL (SELECT * FROM tam_rw_before EXCEPT SELECT * FROM tam_rw)) d;
-- Other ALTER TABLE commands on other tables leave segments alone.
CREATE TABLE tam_rw_other (id int, body text) USING engram;
INSERT INTO tam_rw_other SELECT g, 'other ' || g FROM generate_series(1, 20) g;
SELECT engram_move_to_tier('tam_rw_other', (SELECT array_agg(ctid) FROM tam_rw_other), 'cold');
ALTER TABLE tam_rw_other ADD COLUMN extra int;
ALTER TABLE tam_rw ADD COLUMN extra int;
SELECT count(*) AS other_segments FROM engram.cold_segments WHERE relid = 'tam_rw_other'::regclass;
SELECT count(*), min(body), max(body) FROM tam_rw_other;
-- And back to engram: an ordinary engram table again, warm rows.
ALTER TABLE tam_rw SET ACCESS METHOD engram;
SELECT engram_row_tier('tam_rw', ctid) AS tier, count(*) FROM tam_rw GROUP BY 1;
DROP TABLE tam_rw, tam_rw_before, tam_rw_other;

-- An ALTER TABLE that rewrites an engram table writes every row warm and
-- drops the segments at its end; one that does not rewrite keeps them.
CREATE TABLE tam_alt (id int PRIMARY KEY, body text, n int) USING engram;
INSERT INTO tam_alt SELECT g, 'alt ' || g, g FROM generate_series(1, 100) g;
SELECT engram_move_to_tier('tam_alt', (SELECT array_agg(ctid) FROM tam_alt WHERE id <= 60), 'cold');
ALTER TABLE tam_alt RENAME COLUMN n TO m;
SELECT count(*) AS segments_after_rename FROM engram.cold_segments WHERE relid = 'tam_alt'::regclass;
ALTER TABLE tam_alt ALTER COLUMN m TYPE bigint;
SELECT count(*) AS segments_after_rewrite FROM engram.cold_segments WHERE relid = 'tam_alt'::regclass;
SELECT count(*), sum(m), count(DISTINCT body) FROM tam_alt;
-- Rows moved cold after a rewrite in the same transaction keep their
-- segments through a later ALTER TABLE (the file is new in this
-- transaction, so the end of that ALTER collects, and finds them in use).
BEGIN;
ALTER TABLE tam_alt ALTER COLUMN m TYPE int;
SELECT engram_move_to_tier('tam_alt', (SELECT array_agg(ctid) FROM tam_alt WHERE id > 50), 'cold');
ALTER TABLE tam_alt RENAME TO tam_alt2;
COMMIT;
SELECT count(*) AS segments FROM engram.cold_segments WHERE relid = 'tam_alt2'::regclass;
SELECT count(*), sum(m), count(DISTINCT body),
       count(*) FILTER (WHERE engram_row_tier('tam_alt2', ctid) = 'cold') AS cold_rows
  FROM tam_alt2;
DROP TABLE tam_alt2;
