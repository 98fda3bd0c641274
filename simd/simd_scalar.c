/*-------------------------------------------------------------------------
 *
 * simd_scalar.c
 *	  Scalar reference kernels: the definition every SIMD variant is tested
 *	  against.  Plain loops; the compiler may auto-vectorise them.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "engram_simd.h"
#include "simd_internal.h"

static float
scalar_l2_squared(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
	{
		float		diff = a[i] - b[i];

		sum += diff * diff;
	}
	return sum;
}

static float
scalar_inner_product(const float *a, const float *b, int n)
{
	float		sum = 0.0f;

	for (int i = 0; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

static float
scalar_cosine_distance(const float *a, const float *b, int n)
{
	float		dot = 0.0f;
	float		norm_a = 0.0f;
	float		norm_b = 0.0f;

	for (int i = 0; i < n; i++)
	{
		dot += a[i] * b[i];
		norm_a += a[i] * a[i];
		norm_b += b[i] * b[i];
	}
	return engram_cosine_from_sums(dot, norm_a, norm_b);
}

const EngramSimdKernels engram_simd_scalar_kernels = {
	.level = ENGRAM_SIMD_SCALAR,
	.name = "scalar",
	.l2_squared = scalar_l2_squared,
	.inner_product = scalar_inner_product,
	.cosine_distance = scalar_cosine_distance,
};
