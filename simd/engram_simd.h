/*-------------------------------------------------------------------------
 *
 * engram_simd.h
 *	  Distance kernels over float4 arrays and the one dispatch point that
 *	  picks an implementation for this CPU.
 *
 * This directory is plain C (no PostgreSQL headers) so the kernels can be
 * linked into the standalone test (tests/simd/) and micro-benchmark
 * (bench/) as well as into the extension.
 *
 * Contract of every kernel: a and b point to n >= 0 floats (no alignment
 * required); the result is computed in float with any summation order, so
 * variants agree with the scalar reference only within rounding error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_SIMD_H
#define ENGRAM_SIMD_H

#include <stdbool.h>

typedef enum EngramSimdLevel
{
	ENGRAM_SIMD_AUTO = 0,		/* best the CPU supports */
	ENGRAM_SIMD_SCALAR,
	ENGRAM_SIMD_AVX2,			/* AVX2 + FMA */
	ENGRAM_SIMD_AVX512,			/* AVX-512 F */
	ENGRAM_SIMD_NEON
} EngramSimdLevel;

typedef float (*EngramDistanceKernel) (const float *a, const float *b, int n);

/* One implementation of every kernel. */
typedef struct EngramSimdKernels
{
	EngramSimdLevel level;
	const char *name;			/* "scalar", "avx2", "avx512", "neon" */
	EngramDistanceKernel l2_squared;	/* sum (a-b)^2 */
	EngramDistanceKernel inner_product;	/* sum a*b */
	EngramDistanceKernel cosine_distance;	/* 1 - a.b/(|a||b|); 0 vectors: NaN */
} EngramSimdKernels;

/* The kernels in use; never NULL (scalar until engram_simd_select runs). */
extern const EngramSimdKernels *engram_simd;

/* Kernels of one level, or NULL when not compiled in or not supported. */
extern const EngramSimdKernels *engram_simd_kernels_for(EngramSimdLevel level);

/* True when this CPU (and this build) can run the given level. */
extern bool engram_simd_supported(EngramSimdLevel level);

/*
 * Make "level" the active implementation (AUTO: the best supported).
 * Returns false, changing nothing, when the level is not supported.
 */
extern bool engram_simd_select(EngramSimdLevel level);

#define engram_l2_squared_distance(a, b, n)	(engram_simd->l2_squared((a), (b), (n)))
#define engram_inner_product(a, b, n)		(engram_simd->inner_product((a), (b), (n)))
#define engram_cosine_distance(a, b, n)		(engram_simd->cosine_distance((a), (b), (n)))

#endif							/* ENGRAM_SIMD_H */
