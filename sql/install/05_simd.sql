-- SIMD kernels: which implementation computes vector distances.
-- engram.simd (auto | avx512 | avx2 | neon | scalar) selects it per session.

CREATE FUNCTION engram_simd_active() RETURNS text
	AS 'MODULE_PATHNAME', 'engram_simd_active'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION engram_simd_active() IS
	'SIMD kernel level in use now (avx512, avx2, neon or scalar)';

CREATE FUNCTION engram_simd_info(
	OUT level text,
	OUT compiled boolean,
	OUT supported boolean,
	OUT active boolean,
	OUT kernels text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'engram_simd_info'
	LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION engram_simd_info() IS
	'Every SIMD kernel level, best first: compiled into this build, supported by this CPU, active now';
