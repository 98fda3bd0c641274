/*-------------------------------------------------------------------------
 *
 * simd_internal.h
 *	  Private to simd/: the kernel tables of each variant and helpers they
 *	  share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_SIMD_INTERNAL_H
#define ENGRAM_SIMD_INTERNAL_H

#include <math.h>

#include "engram_simd.h"

extern const EngramSimdKernels engram_simd_scalar_kernels;

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

#endif							/* ENGRAM_SIMD_INTERNAL_H */
