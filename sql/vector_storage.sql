-- evector's storage is main: a vector stays uncompressed in its row and
-- moves to TOAST only when the row would not fit a page; STORAGE EXTERNAL
-- on a column restores the former layout (vectors over about 2 kB in
-- TOAST), and a column's storage is its own: changing it affects the
-- values written afterwards (or rewritten by VACUUM FULL).
SELECT typstorage FROM pg_type WHERE typname = 'evector';

-- 768 dimensions (3,080 bytes): in the row, two rows a page, TOAST empty.
CREATE TABLE vector_storage_768 (id int PRIMARY KEY, v evector(768));
SELECT attstorage FROM pg_attribute
WHERE attrelid = 'vector_storage_768'::regclass AND attname = 'v';
INSERT INTO vector_storage_768
SELECT i, (SELECT array_agg(sin(i * d)) FROM generate_series(1, 768) d)::evector
FROM generate_series(1, 20) i;
SELECT count(*) AS rows_3080_bytes FROM vector_storage_768 WHERE pg_column_size(v) = 3080;
SELECT pg_relation_size('vector_storage_768') / current_setting('block_size')::int AS pages,
	   pg_relation_size(reltoastrelid) AS toast_bytes
FROM pg_class WHERE relname = 'vector_storage_768';
-- the values are intact and the operators read them
SELECT bool_and(v = (SELECT array_agg(sin(id * d)) FROM generate_series(1, 768) d)::evector) AS intact
FROM vector_storage_768;
SELECT id FROM vector_storage_768
ORDER BY v <-> (SELECT v FROM vector_storage_768 WHERE id = 7), id LIMIT 3;
-- and so does an engram_hnsw index on them
CREATE INDEX vector_storage_768_v ON vector_storage_768 USING engram_hnsw (v evector_l2_ops);
SET enable_seqscan = off;
SELECT id FROM vector_storage_768
ORDER BY v <-> (SELECT v FROM vector_storage_768 WHERE id = 7) LIMIT 1;
RESET enable_seqscan;

-- The same column under STORAGE EXTERNAL: the vectors go to TOAST.
CREATE TABLE vector_storage_external (LIKE vector_storage_768);
ALTER TABLE vector_storage_external ALTER COLUMN v SET STORAGE EXTERNAL;
INSERT INTO vector_storage_external SELECT * FROM vector_storage_768;
SELECT pg_relation_size('vector_storage_external') / current_setting('block_size')::int AS pages,
	   pg_relation_size(reltoastrelid) > 0 AS toasted
FROM pg_class WHERE relname = 'vector_storage_external';
-- a column's storage changes the values written afterwards; VACUUM FULL
-- rewrites the others (how a table made before evector's default changed
-- brings its vectors into the rows)
ALTER TABLE vector_storage_external ALTER COLUMN v SET STORAGE MAIN;
INSERT INTO vector_storage_external SELECT id + 100, v FROM vector_storage_768 WHERE id <= 2;
SELECT id > 100 AS new_row, pg_column_size(v) AS column_bytes, count(*)
FROM vector_storage_external GROUP BY 1, 2 ORDER BY 1;
VACUUM FULL vector_storage_external;
SELECT pg_relation_size('vector_storage_external') / current_setting('block_size')::int AS pages,
	   pg_relation_size(reltoastrelid) AS toast_bytes
FROM pg_class WHERE relname = 'vector_storage_external';
SELECT count(*) AS same_vectors
FROM vector_storage_external e JOIN vector_storage_768 m USING (id) WHERE e.v = m.v;

-- A row that would not fit a page (2,100 dimensions: 8,408 bytes) moves
-- its vector to TOAST, and so does a vector of 16,000 dimensions (64 kB).
CREATE TABLE vector_storage_huge (id int, v evector);
INSERT INTO vector_storage_huge
SELECT n, (SELECT array_agg(cos(n * d)) FROM generate_series(1, n) d)::evector
FROM unnest(ARRAY[2100, 16000]) n;
SELECT id, vector_dims(v), pg_column_size(v) AS column_bytes FROM vector_storage_huge ORDER BY id;
SELECT pg_relation_size(reltoastrelid) > 0 AS toasted
FROM pg_class WHERE relname = 'vector_storage_huge';
SELECT id, v = (SELECT array_agg(cos(id * d)) FROM generate_series(1, id) d)::evector AS intact,
	   round((v <-> v)::numeric, 6) AS self_distance
FROM vector_storage_huge ORDER BY id;

-- Small vectors are stored as before: in the row, whole.
CREATE TABLE vector_storage_small (id int, v evector);
INSERT INTO vector_storage_small
SELECT n, (SELECT array_agg(sin(n * d)) FROM generate_series(1, n) d)::evector
FROM unnest(ARRAY[3, 128, 400]) n;
SELECT id, pg_column_size(v) AS column_bytes FROM vector_storage_small ORDER BY id;
SELECT pg_relation_size(reltoastrelid) AS toast_bytes
FROM pg_class WHERE relname = 'vector_storage_small';

-- Under the default toast_tuple_target (about 2 kB) a 768-dimension row
-- is over the target, so the toaster tries pglz on the vector: a vector
-- that compresses (all zeros) is stored compressed, one that does not
-- stays whole.  With toast_tuple_target = 8160 it does not even try.
CREATE TABLE vector_storage_zeros (id int, v evector(768));
CREATE TABLE vector_storage_zeros_target (id int, v evector(768)) WITH (toast_tuple_target = 8160);
INSERT INTO vector_storage_zeros SELECT 1, array_fill(0, ARRAY[768])::evector;
INSERT INTO vector_storage_zeros_target SELECT 1, array_fill(0, ARRAY[768])::evector;
SELECT pg_column_size(v) < 200 AS compressed, v = array_fill(0, ARRAY[768])::evector AS intact,
	   v <-> v AS self_distance
FROM vector_storage_zeros;
SELECT pg_column_size(v) AS column_bytes FROM vector_storage_zeros_target;

-- The cost of main for other columns: with the default target, a row that
-- holds a 768-dimension vector in line is over it, so the toaster moves
-- the row's other varlena values longer than a TOAST pointer out of line
-- (compressed when they compress); toast_tuple_target = 8160 keeps them.
CREATE TABLE vector_storage_mixed (id int, note text, v evector(768));
CREATE TABLE vector_storage_mixed_target (id int, note text, v evector(768))
	WITH (toast_tuple_target = 8160);
INSERT INTO vector_storage_mixed
SELECT id, md5(id::text) || md5((id + 1)::text), v FROM vector_storage_768 WHERE id <= 4;
INSERT INTO vector_storage_mixed_target SELECT * FROM vector_storage_mixed;
SELECT relname, pg_relation_size(reltoastrelid) > 0 AS toasted,
	   pg_relation_size(oid) / current_setting('block_size')::int AS pages
FROM pg_class WHERE relname IN ('vector_storage_mixed', 'vector_storage_mixed_target') ORDER BY relname;
SELECT count(*) AS same_rows
FROM vector_storage_mixed a JOIN vector_storage_mixed_target b USING (id)
WHERE a.note = b.note AND a.v = b.v;

-- A column keeps the storage it was made with when the type's default
-- changes: in an install created before evector's default became main,
-- ALTER TYPE evector SET (STORAGE = main) changes only the columns made
-- afterwards (rolled back here).
BEGIN;
ALTER TYPE evector SET (STORAGE = external);
CREATE TABLE vector_storage_before (id int, v evector(768));
ALTER TYPE evector SET (STORAGE = main);
CREATE TABLE vector_storage_after (id int, v evector(768));
SELECT attrelid::regclass::text AS table_name, attstorage FROM pg_attribute
WHERE attrelid IN ('vector_storage_before'::regclass, 'vector_storage_after'::regclass)
  AND attname = 'v' ORDER BY 1;
ROLLBACK;
SELECT typstorage FROM pg_type WHERE typname = 'evector';

DROP TABLE vector_storage_768, vector_storage_external, vector_storage_huge, vector_storage_small,
	vector_storage_zeros, vector_storage_zeros_target, vector_storage_mixed,
	vector_storage_mixed_target;
