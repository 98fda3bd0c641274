-- The evector distance operators agree with a double-precision reference
-- under every kernel level this CPU runs, within the bound stated in
-- tests/simd/test_simd.c: |d - exact| <= 1e-5 * sum|terms| + 1e-6
-- (cosine: 2e-5 + 1e-6).  Lengths around every vector width and tail.
CREATE TEMP TABLE simd_pairs AS
SELECT d, i,
	   array_agg(sin(i * 7.1 + k * 0.37)::real ORDER BY k) AS a,
	   array_agg((cos(i * 3.3 + k * 0.11) * (1 + k % 5))::real ORDER BY k) AS b
FROM unnest(ARRAY[1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65,
				  127, 128, 129, 767, 768, 769, 1536, 4095]) AS d,
	 generate_series(1, 3) AS i,
	 generate_series(1, d) AS k
GROUP BY d, i;

CREATE TEMP TABLE simd_exact AS
SELECT d, i,
	   sum((x::float8 - y::float8) ^ 2) AS l2_squared,
	   sum(x::float8 * y::float8) AS dot,
	   sum(abs(x::float8 * y::float8)) AS dot_magnitude,
	   sum(x::float8 * x::float8) AS norm_a,
	   sum(y::float8 * y::float8) AS norm_b
FROM simd_pairs, unnest(a, b) AS u(x, y)
GROUP BY d, i;

-- Pairs outside the bound under one level (the level is set for the
-- rest of the calling transaction).
CREATE FUNCTION pg_temp.simd_violations(level text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	violations bigint;
BEGIN
	PERFORM set_config('engram.simd', level, true);
	IF engram_simd_active() <> level THEN
		RAISE EXCEPTION 'engram.simd = % did not select it', level;
	END IF;
	SELECT count(*) INTO violations
	FROM simd_pairs p JOIN simd_exact e USING (d, i)
	WHERE (abs(evector_l2_squared_distance(p.a::evector, p.b::evector) - e.l2_squared)
				   <= 1e-5 * e.l2_squared + 1e-6
			   AND abs((p.a::evector <#> p.b::evector) + e.dot)
				   <= 1e-5 * e.dot_magnitude + 1e-6
			   AND abs((p.a::evector <=> p.b::evector) - (1 - e.dot / sqrt(e.norm_a * e.norm_b)))
				   <= 2e-5 + 1e-6
			   AND abs((p.a::evector <-> p.b::evector) - sqrt(e.l2_squared))
				   <= 1e-5 * sqrt(e.l2_squared) + 1e-6) IS NOT TRUE;
	RETURN violations;
END
$$;

SELECT count(*) AS pairs FROM simd_pairs;
SELECT sum(pg_temp.simd_violations(level)) AS violations,
	   bool_or(level = 'scalar') AS scalar_checked
FROM engram_simd_info() WHERE supported;
-- The level is back to auto afterwards.
SELECT engram_simd_active() = (SELECT level FROM engram_simd_info() WITH ORDINALITY
							   AS i(level, c, supported, a, k, rank)
							   WHERE supported ORDER BY rank LIMIT 1) AS back_to_auto;

DROP TABLE simd_pairs, simd_exact;
