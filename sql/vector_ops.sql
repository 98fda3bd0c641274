-- evector distances, functions, arithmetic, comparison, operator classes and
-- aggregates.  Distances of non-integer data go through SIMD kernels whose
-- summation order varies by CPU, so those results are rounded; integer data
-- gives exact sums with every kernel.
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

-- L2: [1,2,3] to [4,5,6] = sqrt(3*3 + 3*3 + 3*3) = sqrt(27).
SELECT '[1,2,3]'::evector <-> '[4,5,6]' AS l2_op,
	   l2_distance('[1,2,3]'::evector, '[4,5,6]') AS l2_function,
	   sqrt(27::float8) AS expected;
SELECT evector_l2_squared_distance('[1,2,3]', '[4,5,6]') AS squared;	-- 27
SELECT '[3,4]'::evector <-> '[0,0]' AS three_four_five,
	   '[1,2,3]'::evector <-> '[1,2,3]' AS same;
-- odd lengths and long vectors (exact integer sums in every kernel):
-- 1..17 against zeros: sqrt(1^2 + ... + 17^2) = sqrt(17*18*35/6) = sqrt(1785)
SELECT array_agg(i)::evector <-> array_fill(0, ARRAY[17])::evector = sqrt(1785::float8)
	AS l2_17_dims
FROM generate_series(1, 17) i;
-- 16000 ones against 16000 zeros: sqrt(16000)
SELECT array_fill(1, ARRAY[16000])::evector <-> array_fill(0, ARRAY[16000])::evector
	= sqrt(16000::float8) AS l2_16000_dims;

-- Inner product: 1*4 + 2*5 + 3*6 = 32; <#> is its negative.
SELECT inner_product('[1,2,3]'::evector, '[4,5,6]') AS inner_product,
	   negative_inner_product('[1,2,3]'::evector, '[4,5,6]') AS negative,
	   '[1,2,3]'::evector <#> '[4,5,6]' AS ip_op;
SELECT inner_product('[1,0]'::evector, '[0,1]') AS orthogonal,
	   '[-1,-2]'::evector <#> '[1,2]' AS opposite;	-- -(-5) = 5
SELECT array_agg(i)::evector <#> array_agg(i)::evector AS minus_sum_of_squares	-- -1785
FROM generate_series(1, 17) i;

-- Cosine distance = 1 - a.b / (|a| |b|):
-- [1,2,3] and [4,5,6]: 1 - 32 / sqrt(14 * 77) = 0.0253681538...
SELECT round(('[1,2,3]'::evector <=> '[4,5,6]')::numeric, 6) AS cosine_op,
	   round(cosine_distance('[1,2,3]'::evector, '[4,5,6]')::numeric, 6) AS cosine_function,
	   round((1 - 32 / sqrt(14.0 * 77.0))::numeric, 6) AS expected;
SELECT '[1,0]'::evector <=> '[0,1]' AS orthogonal,		-- 1
	   '[1,0]'::evector <=> '[-3,0]' AS opposite,			-- 2
	   '[1,2]'::evector <=> '[2,4]' AS same_direction,		-- 0
	   abs(('[2,0]'::evector <=> '[1,1]') - (1 - 1 / sqrt(2::float8))) < 1e-6 AS diagonal;
-- with a zero vector the angle is undefined: NaN (as pgvector), sorted last
SELECT '[0,0]'::evector <=> '[1,2]' AS zero_left,
	   cosine_distance('[1,2]', '[0,0]') AS zero_right,
	   '[0,0]'::evector <=> '[0,0]' AS both_zero;
SELECT v FROM (VALUES ('[0,0]'::evector), ('[1,1]'), ('[1,0]')) t(v)
ORDER BY v <=> '[1,0]';

-- Dimensions, norm, normalisation.
SELECT vector_dims('[1,2,3]'::evector) AS three, vector_dims('[7]'::evector) AS one;
SELECT vector_norm('[3,4]') AS five, vector_norm('[0,0,0]') AS zero,
	   vector_norm('[1,1,1,1]') AS two, vector_norm('[-2]') AS abs_two;
SELECT l2_normalize('[3,4]'::evector) AS unit, l2_normalize('[0,-5]'::evector) AS axis,
	   l2_normalize('[0,0]'::evector) AS zero_unchanged;
SELECT abs(vector_norm(l2_normalize(array_agg(sin(i))::evector)) - 1) < 1e-6 AS unit_norm
FROM generate_series(1, 768) i;

-- Elementwise arithmetic.
SELECT '[1,2,3]'::evector + '[4,5,6]' AS plus, '[1,2,3]'::evector - '[4,5,6]' AS minus,
	   '[1,2,3]'::evector * '[4,5,6]' AS times;
SELECT '[0.5,-1.5]'::evector * '[2,2]' AS halves, '[1e38]'::evector * '[1e-38]' AS tiny;
-- overflow is an error, underflow gives zero
SELECT expression, e.*
FROM (VALUES ('''[3e38]''::evector + ''[3e38]'''), ('''[-3e38]''::evector - ''[3e38]'''),
			 ('''[1,1e20]''::evector * ''[1,1e20]''')) AS t(expression),
	 LATERAL pg_temp.vector_test_error('SELECT ' || expression) e;
SELECT '[1e-30]'::evector * '[1e-30]' AS underflow;

-- Dimension mismatch between operands: errcode 22000 for every operator.
SELECT operator, e.*
FROM (VALUES ('<->'), ('<=>'), ('<#>'), ('+'), ('-'), ('*')) AS t(operator),
	 LATERAL pg_temp.vector_test_error(
		format('SELECT %L::evector %s %L::evector', '[1,2]', operator, '[1,2,3]')) e;
SELECT function, e.*
FROM (VALUES ('l2_distance'), ('cosine_distance'), ('inner_product'),
			 ('negative_inner_product'), ('evector_l2_squared_distance')) AS t(function),
	 LATERAL pg_temp.vector_test_error(
		format('SELECT %s(%L::evector, %L::evector)', function, '[1]', '[1,2]')) e;

-- Comparison: lexicographic, a prefix sorts first; -0 equals 0.
SELECT '[1,2]'::evector = '[1,2]' AS eq, '[1,2]'::evector <> '[1,3]' AS ne,
	   '[1,2]'::evector < '[1,3]' AS lt, '[1,2]'::evector <= '[1,2]' AS le,
	   '[2]'::evector > '[1,9]' AS gt, '[1,2]'::evector >= '[1]' AS ge,
	   '[1,2]'::evector < '[1,2,0]' AS prefix_first, '[-0]'::evector = '[0]' AS zeros,
	   '[1,2]'::evector = '[1,2,3]' AS different_dims;
SELECT evector_cmp('[1,2]', '[1,3]') AS minus_one, evector_cmp('[1,2]', '[1,2]') AS zero,
	   evector_cmp('[1,2,3]', '[1,2]') AS one;
SELECT evector_hash('[-0,1]') = evector_hash('[0,1]') AS hash_zero_sign,
	   evector_hash_extended('[-0,1]', 7) = evector_hash_extended('[0,1]', 7) AS extended,
	   evector_hash('[1,2]') <> evector_hash('[2,1]') AS hash_order_matters;

-- btree and hash operator classes: DISTINCT, GROUP BY, ORDER BY, indexes.
CREATE TABLE vector_ops_items (id int, v evector(2));
INSERT INTO vector_ops_items VALUES
	(1, '[1,2]'), (2, '[0,5]'), (3, '[1,2]'), (4, '[-1,7]'), (5, '[1,1]'), (6, '[-0,5]');
SELECT v, count(*) FROM vector_ops_items GROUP BY v ORDER BY v;
SELECT DISTINCT v FROM vector_ops_items ORDER BY v DESC;
SET enable_sort = off;		-- hashed grouping uses evector_hash
EXPLAIN (COSTS OFF) SELECT v, count(*) FROM vector_ops_items GROUP BY v;
SELECT v, count(*) FROM vector_ops_items GROUP BY v ORDER BY count(*), v::text;
RESET enable_sort;
SELECT a.id, b.id FROM vector_ops_items a JOIN vector_ops_items b ON a.v = b.v AND a.id < b.id
ORDER BY 1, 2;
-- nearest neighbours by each distance
SELECT id, v, round((v <-> '[1,1]')::numeric, 4) AS l2 FROM vector_ops_items
ORDER BY v <-> '[1,1]', id LIMIT 3;
SELECT id, v FROM vector_ops_items ORDER BY v <#> '[1,0]', id LIMIT 3;
SELECT id, v FROM vector_ops_items ORDER BY v <=> '[0,1]', id LIMIT 3;
CREATE INDEX vector_ops_items_btree ON vector_ops_items (v);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM vector_ops_items WHERE v = '[1,2]';
SELECT id FROM vector_ops_items WHERE v = '[1,2]' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT id FROM vector_ops_items WHERE v < '[1,0]';
SELECT id FROM vector_ops_items WHERE v < '[1,0]' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT v FROM vector_ops_items ORDER BY v LIMIT 2;
SELECT v FROM vector_ops_items ORDER BY v LIMIT 2;
DROP INDEX vector_ops_items_btree;
CREATE INDEX vector_ops_items_hash ON vector_ops_items USING hash (v);
EXPLAIN (COSTS OFF) SELECT id FROM vector_ops_items WHERE v = '[1,2]';
SELECT id FROM vector_ops_items WHERE v = '[0,5]' ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- statistics: ANALYZE handles the type (btree ordering, wide values)
ANALYZE vector_ops_items;
SELECT n_distinct FROM pg_stats WHERE tablename = 'vector_ops_items' AND attname = 'v';
CREATE UNIQUE INDEX vector_ops_items_unique ON vector_ops_items (id, v);
SELECT * FROM pg_temp.vector_test_error($$INSERT INTO vector_ops_items VALUES (1, '[1,2]')$$);
DROP TABLE vector_ops_items;

-- Aggregates: elementwise sum and mean (centroid); NULL inputs are skipped,
-- no rows give NULL.
SELECT sum(v), avg(v) FROM (VALUES ('[1,2,3]'::evector), ('[4,5,6]'), (NULL), ('[1,1,0]')) t(v);
SELECT sum(v) IS NULL AS sum_empty, avg(v) IS NULL AS avg_empty
FROM (SELECT '[1]'::evector AS v WHERE false) t;
SELECT g, sum(v), avg(v)
FROM (VALUES (1, '[1,1]'::evector), (1, '[3,5]'), (2, '[10,0]')) t(g, v)
GROUP BY g ORDER BY g;
-- sums kept in float8: (1e8 + 1 - 1e8) / 3 = 1/3 (float4 sums would give 0)
SELECT avg(v) FROM (VALUES ('[100000000]'::evector), ('[1]'), ('[-100000000]')) t(v);
-- avg of 1000 rows of [i, -i, 1]: [500.5, -500.5, 1], also through a parallel plan
CREATE TABLE vector_ops_many AS
SELECT i, ARRAY[i, -i, 1]::evector AS v FROM generate_series(1, 1000) i;
SELECT avg(v), sum(v) FROM vector_ops_many;
-- as window aggregates: running sum and a moving centroid of 2 rows
SELECT i, sum(v) OVER (ORDER BY i) AS running_sum,
	   avg(v) OVER (ORDER BY i ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS moving_avg
FROM vector_ops_many WHERE i <= 4 ORDER BY i;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v) FROM vector_ops_many;
SELECT avg(v), sum(v) FROM vector_ops_many;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE vector_ops_many;
-- the transition and combine functions called directly
SELECT evector_accumulate('{0}', '[1,2]') AS first,
	   evector_accumulate('{1,1,2}', '[3,4]') AS second,
	   evector_combine('{2,4,6}', '{1,1,1}') AS combined,
	   evector_combine('{0}', '{1,1,1}') AS empty_left,
	   evector_avg_final('{4,2,6}') AS mean, evector_sum_final('{0}') IS NULL AS no_rows;
-- errors: mixed dimensions, overflow of the sum, a malformed state
SELECT * FROM pg_temp.vector_test_error(
	$$SELECT avg(v) FROM (VALUES ('[1,2]'::evector), ('[1,2,3]')) t(v)$$);
SELECT * FROM pg_temp.vector_test_error(
	$$SELECT sum(v) FROM (VALUES ('[3e38]'::evector), ('[3e38]')) t(v)$$);
SELECT avg(v) FROM (VALUES ('[3e38]'::evector), ('[3e38]')) t(v);
SELECT * FROM pg_temp.vector_test_error($$SELECT evector_combine('{2,4,6}', '{1,1}')$$);
SELECT * FROM pg_temp.vector_test_error($$SELECT evector_avg_final('{{1,2},{3,4}}')$$);
SELECT * FROM pg_temp.vector_test_error($$SELECT evector_accumulate('{1,NULL}', '[1]')$$);

-- Operators and functions are C (not inlinable SQL) and strict.
SELECT p.oid::regprocedure, l.lanname, p.proisstrict, p.provolatile, p.proparallel
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid IN (SELECT oprcode FROM pg_operator WHERE oprleft = 'evector'::regtype)
ORDER BY p.oid::regprocedure::text;
