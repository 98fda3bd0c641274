-- tam_precision: engram.cold_embedding_precision.  'full' (the default)
-- stores cold rows bit for bit; 'half' stores evector and real[] values as
-- IEEE binary16, so rows read back rounded; every segment says how it was
-- written, so segments of both kinds coexist.

SHOW engram.cold_embedding_precision;
SET engram.cold_embedding_precision = 'int8';
SET engram.cold_embedding_precision = 'bf16';
SET engram.cold_embedding_precision = '';
SET engram.cold_embedding_precision = 'HALF';
SHOW engram.cold_embedding_precision;
RESET engram.cold_embedding_precision;

CREATE TABLE tam_prec (id int PRIMARY KEY, e evector(8), r real[], d float8[], note text)
    USING engram;
CREATE INDEX tam_prec_r ON tam_prec (r);
SELECT setseed(0.17);
INSERT INTO tam_prec
SELECT g,
       (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 8) WHERE g > 0)::evector,
       (SELECT array_agg((random() * 100)::real) FROM generate_series(1, 3) WHERE g > 0),
       ARRAY[g / 3.0, pi() * g],
       'row ' || g
  FROM generate_series(1, 200) g;
-- Values chosen by hand (ids 1001..):
--   1001: ties round to even: 1 + 2^-11 -> 1, 1 + 3 * 2^-11 -> 1 + 2^-9;
--         0.1 -> 0.0999755859375; 1e-6 -> 17 * 2^-24 (subnormal binary16)
--   1002: 1e-8 (under 2^-25) -> 0, 3e-8 -> 2^-24, -65504 kept
--   1003: NaN and the infinities keep their class
--   1004: 65519 does not fit binary16 (65504 is its largest value), so the
--         whole region stays full precision; so does an evector with 70000
INSERT INTO tam_prec VALUES
 (1001, '[1.00048828125, 1.00146484375, 0.1, 1e-6, -0.5, 0, 2, 3]', '{1.00048828125}', '{0.1}', 'ties'),
 (1002, '[1e-8, 3e-8, -65504, 1, 1, 1, 1, 1]', '{1e-8, 3e-8, -65504}', NULL, 'tiny'),
 (1003, '[1,2,3,4,5,6,7,8]', '{NaN, Infinity, -Infinity, 0.1}', '{NaN}', 'specials'),
 (1004, '[70000,0.1,0,0,0,0,0,0]', '{65519, 0.1}', '{1e300}', 'wide');
CREATE TABLE tam_prec_before AS SELECT * FROM tam_prec;

-- 'full': a cold row is bit-identical to the warm one.
SELECT engram_move_to_tier('tam_prec', (SELECT array_agg(ctid) FROM tam_prec WHERE id % 2 = 0), 'cold');
SELECT count(*) AS cold_rows FROM tam_prec WHERE engram_row_tier('tam_prec', ctid) = 'cold';
SELECT count(*) AS differ
  FROM tam_prec t JOIN tam_prec_before b USING (id)
 WHERE t.e::text IS DISTINCT FROM b.e::text OR t.r::text IS DISTINCT FROM b.r::text
    OR t.d::text IS DISTINCT FROM b.d::text OR t.note IS DISTINCT FROM b.note;

-- 'half' for the odd rows: a second kind of segment next to the first.
SET engram.cold_embedding_precision = half;
SELECT engram_move_to_tier('tam_prec', (SELECT array_agg(ctid) FROM tam_prec WHERE id % 2 = 1), 'cold');
RESET engram.cold_embedding_precision;
SELECT count(*) AS cold_rows FROM tam_prec WHERE engram_row_tier('tam_prec', ctid) = 'cold';
-- Even rows (full segments) are still identical...
SELECT count(*) AS even_differ
  FROM tam_prec t JOIN tam_prec_before b USING (id)
 WHERE t.id % 2 = 0
   AND (t.e::text IS DISTINCT FROM b.e::text OR t.r::text IS DISTINCT FROM b.r::text
        OR t.d::text IS DISTINCT FROM b.d::text);
-- ... odd rows are rounded: every value within binary16's rounding
-- (relative 2^-11 for normal values, absolute 2^-25 below 2^-14), most of
-- them changed, float8[] and text untouched.
WITH pairs AS (
  SELECT t.id, x.a AS now, x.b AS was
    FROM tam_prec t JOIN tam_prec_before b USING (id),
         LATERAL unnest(t.e::real[] || t.r, b.e::real[] || b.r) AS x(a, b)
   WHERE t.id % 2 = 1 AND t.id < 1000)
SELECT count(*) AS values_checked,
       count(*) FILTER (WHERE now <> was) > count(*) / 2 AS most_changed,
       count(*) FILTER (WHERE abs(now - was) > greatest(abs(was) * 2 ^ -11, 2 ^ -25)) AS out_of_bound
  FROM pairs;
SELECT count(*) AS other_columns_differ
  FROM tam_prec t JOIN tam_prec_before b USING (id)
 WHERE t.id % 2 = 1 AND (t.d::text IS DISTINCT FROM b.d::text OR t.note IS DISTINCT FROM b.note);
-- The hand-picked rows (1001 and 1003 half, 1002 and 1004 full).
SELECT id, e, r, d FROM tam_prec WHERE id > 1000 ORDER BY id;
SET engram.cold_embedding_precision = half;
SELECT engram_move_to_tier('tam_prec', (SELECT array_agg(ctid) FROM tam_prec WHERE id IN (1002, 1004)), 'warm');
SELECT engram_move_to_tier('tam_prec', (SELECT array_agg(ctid) FROM tam_prec WHERE id IN (1002, 1004)), 'cold');
RESET engram.cold_embedding_precision;
SELECT id, e, r, d FROM tam_prec WHERE id IN (1002, 1004) ORDER BY id;

-- Index entries made by the move hold the rounded values: the btree on r
-- finds row 1001 by the value it reads back ({1}, not {1.00048828125}).
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM tam_prec WHERE r = '{1}';
SELECT id AS found_by_index FROM tam_prec WHERE r = '{1}';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Rounding is idempotent: half rows moved warm and cold again under
-- 'half', and a repack (which writes at the current setting, here 'full')
-- of segments of both kinds, read back the same values.
CREATE TABLE tam_prec_rounded AS SELECT * FROM tam_prec;
SELECT engram_move_to_tier('tam_prec', (SELECT array_agg(ctid) FROM tam_prec WHERE id % 4 = 1), 'warm');
SET engram.cold_embedding_precision = half;
SELECT engram_move_to_tier('tam_prec', (SELECT array_agg(ctid) FROM tam_prec WHERE id % 4 = 1), 'cold');
RESET engram.cold_embedding_precision;
DELETE FROM tam_prec WHERE id % 10 = 3;
SELECT rows_repacked > 0 AS repacked FROM engram_cold_vacuum('tam_prec', 1.0);
SELECT count(*) AS differ
  FROM tam_prec t JOIN tam_prec_rounded b USING (id)
 WHERE t.e::text IS DISTINCT FROM b.e::text OR t.r::text IS DISTINCT FROM b.r::text
    OR t.d::text IS DISTINCT FROM b.d::text;
SELECT count(*) AS rows_left FROM tam_prec;

-- Half segments are smaller: the same 300 rows of 64 dimensions, full then
-- half; and nearest neighbours barely move (top-10 of 10 queries, exact
-- order, compared with the warm rows' answers: 100 means identical).
CREATE TABLE tam_prec_size (id int, e evector(64)) USING engram;
INSERT INTO tam_prec_size
SELECT g, (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, 64) WHERE g > 0)::evector
  FROM generate_series(1, 300) g;
CREATE TABLE tam_prec_queries AS SELECT id AS qid, e AS qe FROM tam_prec_size WHERE id <= 10;
CREATE TABLE tam_prec_knn_warm AS
SELECT qid, n.id FROM tam_prec_queries,
       LATERAL (SELECT id FROM tam_prec_size ORDER BY e <-> qe, id LIMIT 10) n;
SELECT engram_move_to_tier('tam_prec_size', (SELECT array_agg(ctid) FROM tam_prec_size), 'cold');
SELECT sum(compressed_bytes) AS full_bytes FROM engram.cold_segments
 WHERE relid = 'tam_prec_size'::regclass \gset
SELECT engram_move_to_tier('tam_prec_size', (SELECT array_agg(ctid) FROM tam_prec_size), 'warm');
VACUUM tam_prec_size;
SET engram.cold_embedding_precision = half;
SELECT engram_move_to_tier('tam_prec_size', (SELECT array_agg(ctid) FROM tam_prec_size), 'cold');
RESET engram.cold_embedding_precision;
SELECT sum(compressed_bytes)::float8 / :full_bytes < 0.65 AS half_is_smaller
  FROM engram.cold_segments WHERE relid = 'tam_prec_size'::regclass;
SELECT count(*) AS knn_overlap_of_100
  FROM tam_prec_queries q,
       LATERAL (SELECT id FROM tam_prec_size ORDER BY e <-> q.qe, id LIMIT 10) n,
       tam_prec_knn_warm w
 WHERE w.qid = q.qid AND w.id = n.id;
DROP TABLE tam_prec_size, tam_prec_queries, tam_prec_knn_warm;

-- A damaged half segment is data corruption, like any other.
\c
UPDATE engram.cold_segments
   SET data = set_byte(data, length(data) / 2, get_byte(data, length(data) / 2) # 255)
 WHERE relid = 'tam_prec'::regclass;
\set VERBOSITY sqlstate
SELECT count(*) FROM tam_prec;
\set VERBOSITY default
DROP TABLE tam_prec, tam_prec_before, tam_prec_rounded;
