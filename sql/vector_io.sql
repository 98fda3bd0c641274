-- evector text and binary I/O, typmod, storage.
--
-- pg_temp.vector_test_error(statement) runs a statement and returns the
-- SQLSTATE, message, detail and hint of the error it raises (or
-- 'no error'), so that every error's errcode is checked.
CREATE FUNCTION pg_temp.vector_test_error(statement text,
	OUT state text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $fn$
BEGIN
	EXECUTE statement;
	state := '00000';
	message := 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$fn$;

-- Text input: whitespace around brackets, commas and elements is accepted.
SELECT '[1,2.5,-3]'::evector;
SELECT ' [ 1 , 2.5 ,-3 ] '::evector;
SELECT E'\t[\n1,\r\n2\t]\n'::evector;
SELECT '[+1,-0,0.5e1,1E2,.25]'::evector;
SELECT '[42]'::evector;

-- Output: shortest text that reads back to the same float4, regardless of
-- extra_float_digits.
SELECT '[0.1,0.2,0.3]'::evector;
SELECT '[1e-05,123456.79,3.4028235e+38,-1.1754944e-38,1.0000001]'::evector;
SET extra_float_digits = 0;
SELECT '[0.1,1.0000001]'::evector;
RESET extra_float_digits;
-- round trip of values that are not exact in decimal
SELECT v::text::evector = v AS round_trip
FROM (SELECT ARRAY[pi(), exp(1.0::float8), 1.0/3.0, 1e-20]::float8[]::evector AS v) t;
-- values below float4's range round to zero or a subnormal (not an error)
SELECT '[1e-50,1e-40]'::evector;

-- Malformed text: errcode 22P02 with a detail saying what is wrong.
SELECT input, e.*
FROM (VALUES ('1,2,3'), ('(1,2,3)'), ('[1,2,3'), ('[1,2,3]]'), ('[1,2,3] x'),
			 ('[1,,3]'), ('[,1]'), ('[1,2,]'), ('[1 2]'), ('[1;2]'), ('[abc]'),
			 ('[1,2x]'), ('[1e]'), ('[1é]'), (''), ('   '), ('['), ('[1,')) AS t(input),
	 LATERAL pg_temp.vector_test_error(format('SELECT %L::evector', input)) e;

-- Empty vector.
SELECT '[]'::evector;
SELECT * FROM pg_temp.vector_test_error($$SELECT '[ ]'::evector$$);

-- NaN and infinities are refused; values beyond float4 are out of range.
SELECT input, e.*
FROM (VALUES ('[NaN]'), ('[1,nan]'), ('[inf]'), ('[1,-Infinity,3]'),
			 ('[1e39]'), ('[1,-1e39]')) AS t(input),
	 LATERAL pg_temp.vector_test_error(format('SELECT %L::evector', input)) e;

-- The same check on 40 dimensions (blocks of 16, then a tail of 8): the
-- first non-finite element is named wherever it lies, and a finite vector
-- passes; through text input and through the real[] cast.
SELECT position, value, e.state, e.message, e.detail
FROM (VALUES (1, 'NaN'), (16, 'Infinity'), (17, '-Infinity'), (32, 'NaN'), (33, 'Infinity'),
			 (40, 'NaN'), (0, '1')) AS t(position, value),
	 LATERAL pg_temp.vector_test_error(format('SELECT %L::evector',
		'[' || (SELECT string_agg(CASE WHEN i = position THEN value ELSE (i * 0.25)::text END, ',')
				  FROM generate_series(1, 40) i) || ']')) e
ORDER BY position;
SELECT position, e.state, e.detail
FROM (VALUES (5), (20), (39)) AS t(position),
	 LATERAL pg_temp.vector_test_error(format('SELECT %L::real[]::evector',
		(SELECT array_agg(CASE WHEN i = position THEN 'Infinity'::real ELSE i END ORDER BY i)
		   FROM generate_series(1, 40) i))) e
ORDER BY position;
SELECT vector_dims(array_agg(i::real ORDER BY i)::evector) FROM generate_series(1, 40) i;

-- Up to 16000 dimensions, not one more.
SELECT vector_dims(('[' || array_to_string(array_fill(0.5, ARRAY[16000]), ',') || ']')::evector);
SELECT * FROM pg_temp.vector_test_error(
	$$SELECT ('[' || array_to_string(array_fill(0.5, ARRAY[16001]), ',') || ']')::evector$$);

-- Typmod: the declared dimension count.
SELECT '[1,2,3]'::evector(3);
CREATE TABLE vector_io_typed (id int, v evector(3), w evector);
INSERT INTO vector_io_typed VALUES (1, '[1,2,3]', '[1]'), (2, '[4,5,6]', '[1,2,3,4,5]');
SELECT * FROM vector_io_typed ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'vector_io_typed'::regclass AND attname IN ('v', 'w') ORDER BY attname;
-- value vs typmod mismatch, on insert, update, cast and COPY
INSERT INTO vector_io_typed VALUES (3, '[1,2]', NULL);
SELECT * FROM pg_temp.vector_test_error($$INSERT INTO vector_io_typed VALUES (3, '[1,2,3,4]')$$);
SELECT * FROM pg_temp.vector_test_error($$UPDATE vector_io_typed SET v = w WHERE id = 2$$);
SELECT * FROM pg_temp.vector_test_error($$SELECT '[1,2]'::evector(3)$$);
SELECT * FROM pg_temp.vector_test_error($$SELECT '[1,2]'::evector::evector(3)$$);
UPDATE vector_io_typed SET v = '[7,8,9]' WHERE id = 1;
SELECT * FROM vector_io_typed ORDER BY id;
-- typmod out of range or malformed: errcode 22023
SELECT typmod, e.*
FROM (VALUES ('0'), ('-1'), ('16001'), ('1,2')) AS t(typmod),
	 LATERAL pg_temp.vector_test_error(format('SELECT NULL::evector(%s)', typmod)) e;
SELECT * FROM pg_temp.vector_test_error($$CREATE TABLE vector_io_bad (v evector(0))$$);
SELECT NULL::evector(16000) IS NULL AS max_typmod_accepted;
DROP TABLE vector_io_typed;

-- Binary send: int16 dim, int16 0, float4 big-endian elements.
SELECT evector_send('[1,2]');
SELECT evector_send('[-0.5]');

-- Binary receive through COPY ... (FORMAT binary): the payload is wrapped in
-- a one-row binary COPY file written with lo_export (relative to the data
-- directory) and loaded into "target" (a table with one evector column).
CREATE FUNCTION pg_temp.vector_test_recv(payload bytea, target regclass) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
	copy_file bytea := '\x5047434f50590aff0d0a00'::bytea	-- signature
		|| '\x0000000000000000'::bytea							-- flags, extension
		|| '\x0001'::bytea || int4send(length(payload)) || payload	-- one field
		|| '\xffff'::bytea;										-- trailer
	large_object oid := lo_from_bytea(0, copy_file);
	result text;
BEGIN
	PERFORM lo_export(large_object, 'engram_vector_recv_test.copy');
	PERFORM lo_unlink(large_object);
	EXECUTE format('TRUNCATE %s', target);
	EXECUTE format('COPY %s FROM %L WITH (FORMAT binary)', target, 'engram_vector_recv_test.copy');
	EXECUTE format('SELECT string_agg(v::text, '';'') FROM %s', target) INTO result;
	RETURN result;
END
$fn$;
CREATE TABLE vector_io_recv (v evector);
CREATE TABLE vector_io_recv3 (v evector(3));
-- round trip of send output
SELECT pg_temp.vector_test_recv(evector_send('[1,2.5,-3]'), 'vector_io_recv');
SELECT pg_temp.vector_test_recv(evector_send('[0.1,1e-05,3.4028235e+38]'), 'vector_io_recv');
SELECT pg_temp.vector_test_recv(evector_send('[1,2,3]'), 'vector_io_recv3');
SELECT pg_temp.vector_test_recv(
	evector_send(array_fill(0.25, ARRAY[16000])::evector), 'vector_io_recv') =
	array_fill(0.25, ARRAY[16000])::evector::text AS max_dims_round_trip;
-- hand-made payloads: dim 2, [1, 2]
SELECT pg_temp.vector_test_recv('\x000200003f80000040000000', 'vector_io_recv');
-- bad payloads
SELECT payload, e.*
FROM (VALUES
	('\x00000000'),							-- zero dimensions
	('\xffff0000'),							-- negative dimensions
	('\x3e810000'),							-- 16001 dimensions
	('\x000100013f800000'),					-- reserved field not zero
	('\x000200003f800000'),					-- 2 dimensions announced, 1 sent
	('\x000100007fc00000'),					-- NaN
	('\x000200003f8000007f800000'),			-- 1, +Infinity
	('\x00010000ff800000'),					-- -Infinity
	('\x0001')								-- truncated header
	) AS t(payload),
	LATERAL pg_temp.vector_test_error(
		format('SELECT pg_temp.vector_test_recv(%L::bytea, %L)', payload, 'vector_io_recv')) e;
-- dimension count vs the column's typmod
SELECT * FROM pg_temp.vector_test_error(
	$$SELECT pg_temp.vector_test_recv(evector_send('[1,2]'), 'vector_io_recv3')$$);
-- trailing bytes after a valid value are refused by COPY itself
SELECT state, message FROM pg_temp.vector_test_error(
	$$SELECT pg_temp.vector_test_recv('\x000100003f80000000', 'vector_io_recv')$$);
DROP TABLE vector_io_recv, vector_io_recv3;

-- Storage: main (large values stay uncompressed in the row; vector_storage.sql).
SELECT typstorage, typlen, typcategory FROM pg_type WHERE typname = 'evector';
CREATE TABLE vector_io_storage (id int, v evector(768));
INSERT INTO vector_io_storage
SELECT 1, array_agg(sin(i))::evector FROM generate_series(1, 768) i;
-- 768 * 4 + 8 bytes, stored whole (not compressed)
SELECT pg_column_size(v) AS stored_bytes, vector_dims(v) FROM vector_io_storage;
SELECT v = (SELECT array_agg(sin(i))::evector FROM generate_series(1, 768) i) AS intact
FROM vector_io_storage;
-- over the TOAST threshold (about 2 kB), still in the row: TOAST empty
SELECT pg_relation_size(reltoastrelid) > 0 AS toasted
FROM pg_class WHERE relname = 'vector_io_storage';
DROP TABLE vector_io_storage;

-- NULL handling: every function is strict.
SELECT NULL::evector AS null_vector, evector_send(NULL) IS NULL AS send_null;
