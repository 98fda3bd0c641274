/*-------------------------------------------------------------------------
 *
 * simd_internal.h
 *	  Private to simd/ (and to its standalone test and benchmark): the
 *	  kernel table of each variant, the list of variants in order of
 *	  preference, and helpers the variants share.
 *
 * Each variant lives in its own file and is compiled into every build of
 * its architecture: simd_avx2.c and simd_avx512.c on x86-64, simd_neon.c
 * on AArch64 (elsewhere those files are empty translation units).  The
 * intrinsics functions carry __attribute__((target(...))) instead of
 * per-file -m flags, so the rest of the extension, and the LLVM bitcode
 * that Debian's PGXS builds with clang, stay free of CPU assumptions; only
 * simd_dispatch.c decides, from CPU detection, which table may be called.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_SIMD_INTERNAL_H
#define ENGRAM_SIMD_INTERNAL_H

#include <math.h>

#include "engram_simd.h"

#if defined(__x86_64__) || defined(__i386__)
#define ENGRAM_SIMD_X86 1
#endif
#if defined(__aarch64__)
#define ENGRAM_SIMD_AARCH64 1
#endif

extern const EngramSimdKernels engram_simd_scalar_kernels;
#ifdef ENGRAM_SIMD_X86
extern const EngramSimdKernels engram_simd_avx2_kernels;
extern const EngramSimdKernels engram_simd_avx512_kernels;
extern const EngramSimdKernels engram_simd_avx512_vnni_kernels;
#endif
#ifdef ENGRAM_SIMD_AARCH64
extern const EngramSimdKernels engram_simd_neon_kernels;
#endif

/*
 * Every kernel table compiled into this build, best first, whatever the
 * CPU; "supported" tells whether this CPU can run table i.  Used by the
 * dispatcher, by engram_simd_info() and by the test and benchmark, which
 * must exercise every table (both AVX-512 tables on a VNNI CPU).
 */
extern int	engram_simd_variant_count(void);
extern const EngramSimdKernels *engram_simd_variant(int i, bool *supported);

/*
 * Keep the scalar reference scalar.  clang -O2 and gcc -O3 vectorise the
 * int8 reductions on their own (gcc 12 -O2 does not, checked with objdump);
 * the reference must stay the plain definition, whatever the flags, so the
 * benchmark's "scalar" column means what it says and a vectoriser bug
 * cannot hide in both sides of the test.  A float sum is never split into
 * lanes without -ffast-math anyway (clang may still pack the cosine's
 * three independent sums into one register, which changes no rounding).
 * gcc takes a function attribute, clang a loop pragma.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define ENGRAM_SCALAR_FUNCTION __attribute__((optimize("no-tree-vectorize")))
#define ENGRAM_SCALAR_LOOP
#elif defined(__clang__)
#define ENGRAM_SCALAR_FUNCTION
#define ENGRAM_SCALAR_LOOP _Pragma("clang loop vectorize(disable) interleave(disable)")
#else
#define ENGRAM_SCALAR_FUNCTION
#define ENGRAM_SCALAR_LOOP
#endif

/*
 * Cosine distance from the three sums, in double to keep the square root
 * accurate; a zero vector gives NaN (the caller decides what that means).
 * The similarity is clamped to [-1, 1] against rounding.
 */
static inline float
engram_cosine_from_sums(float dot, float norm_a, float norm_b)
{
	double		denom = sqrt((double) norm_a * (double) norm_b);
	double		similarity;

	if (denom == 0.0)
		return NAN;
	similarity = (double) dot / denom;
	if (similarity > 1.0)
		similarity = 1.0;
	else if (similarity < -1.0)
		similarity = -1.0;
	return (float) (1.0 - similarity);
}

/*
 * Whether a partial float sum of squares "squares" of unit vectors a - b
 * (n floats each) proves that unit_cosine_bounded's result,
 * 1.0f - inner_product(a, b, n), is >= bound (engram_simd.h).  With
 * u = 2^-24 and in real numbers, 1 - a.b = |a - b|^2 / 2 - delta where
 * delta = (|a|^2 + |b|^2 - 2) / 2 <= (n + 7) u for vectors normalised in
 * float (a float inner product for the norm, a square root, a division, a
 * product per element); |a - b|^2 >= squares (1 - (n + 8) u) (a float sum
 * of at most n rounded squares of rounded differences, whatever its
 * order); the float inner product is within n u (1 + delta) of a.b; and
 * 1.0f - x rounds by at most 3u for |x| <= 2.  The margin M = 4 (n + 16) u
 * exceeds each relative term and the sum of the absolute ones, so
 * squares / 2 (1 - M) - M never exceeds the float result.  Computed in
 * double, where these few operations add no rounding that matters.
 */
static inline bool
engram_unit_cosine_reaches(float squares, int n, float bound)
{
	double		margin = 4.0 * ((double) n + 16.0) / 16777216.0;

	return 0.5 * (double) squares * (1.0 - margin) - margin >= (double) bound;
}

#endif							/* ENGRAM_SIMD_INTERNAL_H */
