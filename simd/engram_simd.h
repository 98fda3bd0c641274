/*-------------------------------------------------------------------------
 *
 * engram_simd.h
 *	  Distance kernels over float4 arrays and int8 codes, and the one
 *	  dispatch point that picks an implementation for this CPU.
 *
 * This directory is plain C (no PostgreSQL headers) so the kernels can be
 * linked into the standalone test (tests/simd/) and micro-benchmark
 * (bench/) as well as into the extension.
 *
 * Float kernels: a and b point to n >= 0 floats (no alignment required);
 * the result is computed in float with any summation order, so variants
 * agree with the scalar reference only within rounding error (the bound
 * is stated and checked in tests/simd/test_simd.c).
 *
 * Bounded float kernels, for searches that only need a
 * distance when it is below the distance of their furthest result:
 *	  l2_squared_bounded(a, b, n, bound) returns l2_squared(a, b, n), bit
 *	  for bit, when that is below "bound", and otherwise a value >= bound:
 *	  the sum of squares so far, as soon as it reaches the bound.  Exact:
 *	  each accumulator lane only ever grows (a rounded sum of non-negative
 *	  terms never decreases), and the partial sum is reduced by the same
 *	  additions as the final one, so the final sum is at least any partial
 *	  sum it checked.
 *	  unit_cosine_bounded(a, b, n, bound), for vectors of unit length
 *	  (normalised in float, as the index stores them), returns
 *	  1.0f - inner_product(a, b, n), bit for bit, when that is below
 *	  "bound", and otherwise a value >= bound.  It sums (a_i - b_i)^2 beside
 *	  the product: 1 - a.b = |a - b|^2 / 2 + (2 - |a|^2 - |b|^2) / 2, so
 *	  half the partial sum of squares, less a margin for every rounding
 *	  involved (ENGRAM_UNIT_COSINE_MARGIN), is a lower bound of the final
 *	  float value.
 * Both check their partial sum once every ENGRAM_SIMD_BOUND_STEP floats;
 * the sums and their order are those of the unbounded kernels, whatever
 * the bound (an infinite or NaN bound never stops them).
 *
 * Int8 kernels (scalar quantization, for the index's compact vectors):
 * a and b point to n int8_t codes, any value in [-128, 127], no alignment
 * required, 0 <= n <= ENGRAM_SIMD_INT8_MAX_DIM.  They return the exact
 * integer sum, identical in every variant: |sum a*b| <= 16384 n and
 * sum (a-b)^2 <= 65025 n, so the bound on n keeps both inside int32.
 * How floats become codes (scale and offset per vector or per dimension,
 * rounding, clipping) is the caller's business: with x ~= s_x * q_x the
 * caller rescales, e.g. dot(x, y) ~= s_x * s_y * int8_inner_product(q_x, q_y).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_SIMD_H
#define ENGRAM_SIMD_H

#include <stdbool.h>
#include <stdint.h>

typedef enum EngramSimdLevel
{
	ENGRAM_SIMD_AUTO = 0,		/* best the CPU supports */
	ENGRAM_SIMD_SCALAR,
	ENGRAM_SIMD_AVX2,			/* AVX2 + FMA */
	ENGRAM_SIMD_AVX512,			/* AVX-512 F + BW (VNNI used when present) */
	ENGRAM_SIMD_NEON			/* AArch64 Advanced SIMD */
} EngramSimdLevel;

/* Longest int8 code array whose sums are guaranteed to fit in int32. */
#define ENGRAM_SIMD_INT8_MAX_DIM 32768

typedef float (*EngramDistanceKernel) (const float *a, const float *b, int n);
typedef int32_t (*EngramInt8Kernel) (const int8_t *a, const int8_t *b, int n);
typedef float (*EngramBoundedKernel) (const float *a, const float *b, int n, float bound);

/* Floats between two checks of a bounded kernel's partial sum. */
#define ENGRAM_SIMD_BOUND_STEP 64

/* One implementation of every kernel. */
typedef struct EngramSimdKernels
{
	EngramSimdLevel level;
	const char *name;			/* level name: "scalar", "avx2", "avx512", "neon" */
	const char *variant;		/* unique name of this table: "avx512-vnni" */
	const char *description;	/* instruction sets used, for engram_simd_info() */
	EngramDistanceKernel l2_squared;	/* sum (a-b)^2 */
	EngramDistanceKernel inner_product;	/* sum a*b */
	EngramDistanceKernel cosine_distance;	/* 1 - a.b/(|a||b|); 0 vectors: NaN */
	EngramInt8Kernel int8_inner_product;	/* sum a*b over int8 codes, exact */
	EngramInt8Kernel int8_l2_squared;	/* sum (a-b)^2 over int8 codes, exact */
	EngramBoundedKernel l2_squared_bounded; /* l2_squared below a bound */
	EngramBoundedKernel unit_cosine_bounded;	/* 1 - a.b of unit vectors
												 * below a bound */
} EngramSimdKernels;

/* The kernels in use; never NULL (scalar until engram_simd_select runs). */
extern const EngramSimdKernels *engram_simd;

/*
 * Kernels of one level (AUTO: the best supported), or NULL when the level
 * is not compiled into this build or this CPU cannot run it.
 */
extern const EngramSimdKernels *engram_simd_kernels_for(EngramSimdLevel level);

/* True when this build has kernels for the level (whatever the CPU). */
extern bool engram_simd_compiled(EngramSimdLevel level);

/* True when this CPU (and this build) can run the given level. */
extern bool engram_simd_supported(EngramSimdLevel level);

/* "auto", "scalar", "avx2", "avx512" or "neon". */
extern const char *engram_simd_level_name(EngramSimdLevel level);

/*
 * Make "level" the active implementation (AUTO: the best supported).
 * Returns false, changing nothing, when the level is not supported.
 */
extern bool engram_simd_select(EngramSimdLevel level);

#define engram_l2_squared_distance(a, b, n)	(engram_simd->l2_squared((a), (b), (n)))
#define engram_inner_product(a, b, n)		(engram_simd->inner_product((a), (b), (n)))
#define engram_cosine_distance(a, b, n)		(engram_simd->cosine_distance((a), (b), (n)))
#define engram_l2_squared_distance_bounded(a, b, n, bound) \
	(engram_simd->l2_squared_bounded((a), (b), (n), (bound)))
#define engram_unit_cosine_distance_bounded(a, b, n, bound) \
	(engram_simd->unit_cosine_bounded((a), (b), (n), (bound)))
#define engram_int8_inner_product(a, b, n)	(engram_simd->int8_inner_product((a), (b), (n)))
#define engram_int8_l2_squared_distance(a, b, n) (engram_simd->int8_l2_squared((a), (b), (n)))

#endif							/* ENGRAM_SIMD_H */
