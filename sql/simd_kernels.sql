-- engram.simd selects the kernels every vector distance uses.
-- Outputs here must not depend on the CPU: levels are compared, not printed,
-- except where a level is fixed (scalar always runs; this build is x86-64,
-- so neon is never compiled in).

-- The default is auto: the best level this CPU runs.
SHOW engram.simd;
SELECT engram_simd_active() IN ('avx512', 'avx2', 'neon', 'scalar') AS known_level;
CREATE TEMP VIEW simd_best AS
	SELECT level FROM engram_simd_info() WITH ORDINALITY AS i(level, compiled, supported, active, kernels, rank)
	WHERE supported ORDER BY rank LIMIT 1;
SELECT engram_simd_active() = (SELECT level FROM simd_best) AS auto_is_best;

-- One row per level, exactly one active; supported levels are compiled and described.
SELECT count(*) AS levels,
	   count(*) FILTER (WHERE active) AS active_levels,
	   bool_and(compiled OR NOT supported) AS supported_implies_compiled,
	   bool_and(supported = (kernels IS NOT NULL)) AS supported_levels_described
FROM engram_simd_info();
SELECT level, compiled, supported FROM engram_simd_info() WHERE level IN ('scalar', 'neon') ORDER BY level;

-- CPU detection agrees with the flags the Linux kernel reports (it hides
-- a feature whose register state it does not save).
SELECT bool_and(supported = CASE level
			WHEN 'avx512' THEN cpuinfo ~ '\mavx512f\M' AND cpuinfo ~ '\mavx512bw\M'
			WHEN 'avx2' THEN cpuinfo ~ '\mavx2\M' AND cpuinfo ~ '\mfma\M'
			WHEN 'neon' THEN cpuinfo ~ '\masimd\M'
			ELSE true END) AS detection_matches_cpuinfo
FROM engram_simd_info(), (SELECT pg_read_file('/proc/cpuinfo') AS cpuinfo) AS proc;

-- Forcing scalar, and back.
SET engram.simd = scalar;
SHOW engram.simd;
SELECT engram_simd_active();
SELECT level FROM engram_simd_info() WHERE active;
RESET engram.simd;
SELECT engram_simd_active() = (SELECT level FROM simd_best) AS back_to_best;

-- Every supported level can be chosen, and is then the one in use.
BEGIN;
SELECT bool_and(set_config('engram.simd', level, true) = level AND engram_simd_active() = level)
	   AS every_supported_level_selectable,
	   count(*) >= 1 AS at_least_scalar
FROM engram_simd_info() WHERE supported;
ROLLBACK;

-- SET LOCAL ends with the transaction; a rollback restores the kernels.
BEGIN;
SET LOCAL engram.simd = 'scalar';
SELECT engram_simd_active();
ROLLBACK;
SELECT engram_simd_active() = (SELECT level FROM simd_best) AS restored_after_rollback;

-- A level this build lacks is refused and changes nothing.
SET engram.simd = scalar;
SET engram.simd = neon;
SHOW engram.simd;
SELECT engram_simd_active();
RESET engram.simd;

-- So is a name that is no level at all.
SET engram.simd = sse2;

DROP VIEW simd_best;
