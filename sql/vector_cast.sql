-- Casts between evector and arrays.
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

-- The casts and their contexts (i = implicit, a = assignment).
SELECT castsource::regtype, casttarget::regtype, castfunc::regprocedure, castcontext
FROM pg_cast
WHERE castsource = 'evector'::regtype OR casttarget = 'evector'::regtype
ORDER BY castsource::regtype::text, casttarget::regtype::text;

-- Explicit casts from each array type.
SELECT ARRAY[1.5, -2, 3]::real[]::evector AS from_real,
	   ARRAY[1.5, -2, 3]::float8[]::evector AS from_float8,
	   ARRAY[1.5, -2, 3]::numeric[]::evector AS from_numeric,
	   ARRAY[1, -2, 3]::evector AS from_integer;
-- float8 and numeric round to the nearest float4; integers above 2^24 too
SELECT ARRAY[0.1]::float8[]::evector = '[0.1]' AS float8_rounds,
	   ARRAY[0.1]::numeric[]::evector = '[0.1]' AS numeric_rounds,
	   ARRAY[16777217]::evector AS integer_rounds;
-- below float4's range: zero, not an error
SELECT ARRAY[1e-50]::float8[]::evector;
-- any lower bound
SELECT '[0:2]={1,2,3}'::int[]::evector;
-- up to 16000 elements
SELECT vector_dims(array_fill(1.0::real, ARRAY[16000])::evector);

-- Back to real[]: explicit or on assignment.
SELECT '[1,2.5,-3]'::evector::real[];
SELECT pg_typeof('[1,2]'::evector::real[]);
CREATE TABLE vector_cast_arrays (id int, r real[], v evector(3));
INSERT INTO vector_cast_arrays (id, r) VALUES (1, '[4,5,6]'::evector);
-- arrays of each type assign to evector columns, with the typmod checked
INSERT INTO vector_cast_arrays (id, v) VALUES
	(2, ARRAY[1, 2, 3]::real[]), (3, ARRAY[1, 2, 3]::float8[]),
	(4, ARRAY[1.0, 2, 3]), (5, ARRAY[1, 2, 3]);
UPDATE vector_cast_arrays SET v = r WHERE id = 1;
SELECT * FROM vector_cast_arrays ORDER BY id;
SELECT * FROM pg_temp.vector_test_error(
	$$INSERT INTO vector_cast_arrays (id, v) VALUES (6, ARRAY[1, 2]::real[])$$);
SELECT * FROM pg_temp.vector_test_error($$SELECT ARRAY[1, 2]::evector(3)$$);
SELECT ARRAY[1, 2, 3]::float8[]::evector(3);
DROP TABLE vector_cast_arrays;

-- Implicit towards real[] (as pgvector's vector): a function declared with
-- a real[] parameter takes an evector.  Polymorphic array functions
-- (anyarray) do not: PostgreSQL never casts to match anyarray.
CREATE FUNCTION pg_temp.vector_test_first(elements real[]) RETURNS real
	LANGUAGE sql AS 'SELECT elements[1]';
SELECT pg_temp.vector_test_first('[7,8]'::evector) AS first_element;
SELECT array_length('[1,2]'::evector::real[], 1) AS length,
	   unnest('[7,8]'::evector::real[]) AS element;
SELECT state, message FROM pg_temp.vector_test_error(
	$$SELECT array_length('[1,2]'::evector, 1)$$);

-- Assignment-only from arrays: expressions and function arguments need an
-- explicit cast ...
SELECT state, message FROM pg_temp.vector_test_error(
	$$SELECT l2_distance(ARRAY[1, 2, 3]::real[], '[4,5,6]')$$);
SELECT state, message FROM pg_temp.vector_test_error(
	$$SELECT ARRAY[1, 2]::float8[] <-> '[4,6]'::evector$$);
SELECT l2_distance(ARRAY[1, 2, 3]::real[]::evector, '[4,5,6]') AS real_arg,
	   l2_distance(ARRAY[1, 2, 3]::float8[]::evector, ARRAY[4, 5, 6]::float8[]::evector) AS float8_args,
	   ARRAY[1.0, 2, 3]::evector <-> '[4,5,6]' AS numeric_arg,
	   vector_dims(ARRAY[1, 2, 3, 4]::evector) AS integer_arg;
-- ... so that array operators keep their meaning (an implicit cast would make
-- integer[] = integer[] ambiguous with evector = evector)
SELECT ARRAY[1, 2] || ARRAY[3] AS concatenated, ARRAY[1, 2] = ARRAY[1, 2] AS int_equal,
	   ARRAY[1.5, 2] = ARRAY[1.5, 2] AS numeric_equal,
	   '{1,2}'::real[] = '{1,2}'::real[] AS real_equal,
	   '{1,2}'::float8[] <> '{1,3}'::float8[] AS float8_not_equal,
	   ARRAY[1.5] < ARRAY[2.5] AS less, '{1,2}'::real[] @> '{1}' AS contains;
SELECT state, message FROM pg_temp.vector_test_error(
	$$SELECT ARRAY[1, 2]::real[] + ARRAY[3, 4]::real[]$$);

-- Errors: one-dimensional arrays only, no NULLs, not empty, finite, in range.
SELECT expression, e.*
FROM (VALUES
	('ARRAY[[1,2],[3,4]]::real[]'), ('ARRAY[[1,2],[3,4]]::float8[]'),
	('ARRAY[[1,2],[3,4]]::numeric[]'), ('ARRAY[[1,2],[3,4]]'),
	('ARRAY[1,NULL,3]::real[]'), ('ARRAY[NULL]::float8[]'),
	('ARRAY[1.5,NULL]'), ('ARRAY[1,NULL]'),
	('''{}''::real[]'), ('''{}''::float8[]'), ('''{}''::numeric[]'), ('''{}''::int[]'),
	('ARRAY[1,''NaN'']::real[]'), ('ARRAY[''Infinity'']::real[]'),
	('ARRAY[''NaN'']::float8[]'), ('ARRAY[1,''-Infinity'']::float8[]'),
	('ARRAY[''NaN'']::numeric[]'), ('ARRAY[''Infinity'']::numeric[]'),
	('ARRAY[1e39]::float8[]'), ('ARRAY[-1e300]::float8[]'), ('ARRAY[1e39]::numeric[]'),
	('array_fill(1.0::real, ARRAY[16001])'), ('array_fill(1, ARRAY[16001])')
	) AS t(expression),
	LATERAL pg_temp.vector_test_error(format('SELECT (%s)::evector', expression)) e;

-- COPY in text form checks the column's dimension count too.
CREATE TABLE vector_cast_copy (id int, v evector(2));
COPY vector_cast_copy FROM stdin;
1	[1,2]
2	 [ 3 , 4 ] 
\.
SELECT * FROM vector_cast_copy ORDER BY id;
COPY vector_cast_copy FROM stdin;
3	[1,2,3]
\.
COPY vector_cast_copy FROM stdin;
4	[1,NaN]
\.
COPY vector_cast_copy (v) TO stdout;
DROP TABLE vector_cast_copy;
