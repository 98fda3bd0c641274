/*-------------------------------------------------------------------------
 *
 * simd_scalar.c
 *	  Scalar reference kernels: the definition every SIMD variant is tested
 *	  against, and the fallback on CPUs without a faster variant.
 *
 * Plain loops in element order, kept scalar on purpose (see
 * ENGRAM_SCALAR_FUNCTION in simd_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "engram_simd.h"
#include "simd_internal.h"

/*
 * The sum of squared differences, and with "check" the bounded form: the
 * partial sum is compared with "bound" every ENGRAM_SIMD_BOUND_STEP
 * elements.  Both kernels are this one loop, so their sums are the same.
 */
ENGRAM_SCALAR_FUNCTION
static inline float
scalar_l2_squared_sum(const float *a, const float *b, int n, float bound, bool check)
{
	float		sum = 0.0f;

	ENGRAM_SCALAR_LOOP
	for (int i = 0; i < n; i++)
	{
		float		diff = a[i] - b[i];

		sum += diff * diff;
		if (check && (i + 1) % ENGRAM_SIMD_BOUND_STEP == 0 && i + 1 < n && sum >= bound)
			return sum;
	}
	return sum;
}

ENGRAM_SCALAR_FUNCTION
static float
scalar_l2_squared(const float *a, const float *b, int n)
{
	return scalar_l2_squared_sum(a, b, n, 0.0f, false);
}

ENGRAM_SCALAR_FUNCTION
static float
scalar_l2_squared_bounded(const float *a, const float *b, int n, float bound)
{
	return scalar_l2_squared_sum(a, b, n, bound, true);
}

/*
 * The inner product, and with "check" the unit-vector cosine bound: the
 * squared differences are summed beside it and checked every
 * ENGRAM_SIMD_BOUND_STEP elements (engram_unit_cosine_reaches); sets
 * *reached and returns early when they prove 1 - a.b >= bound.
 */
ENGRAM_SCALAR_FUNCTION
static inline float
scalar_inner_product_sum(const float *a, const float *b, int n, float bound, bool check,
						 bool *reached)
{
	float		sum = 0.0f;
	float		squares = 0.0f;

	ENGRAM_SCALAR_LOOP
	for (int i = 0; i < n; i++)
	{
		sum += a[i] * b[i];
		if (check)
		{
			float		diff = a[i] - b[i];

			squares += diff * diff;
			if ((i + 1) % ENGRAM_SIMD_BOUND_STEP == 0 && i + 1 < n &&
				engram_unit_cosine_reaches(squares, n, bound))
			{
				*reached = true;
				return sum;
			}
		}
	}
	return sum;
}

ENGRAM_SCALAR_FUNCTION
static float
scalar_inner_product(const float *a, const float *b, int n)
{
	bool		reached = false;

	return scalar_inner_product_sum(a, b, n, 0.0f, false, &reached);
}

ENGRAM_SCALAR_FUNCTION
static float
scalar_unit_cosine_bounded(const float *a, const float *b, int n, float bound)
{
	bool		reached = false;
	float		product = scalar_inner_product_sum(a, b, n, bound, true, &reached);

	return reached ? bound : 1.0f - product;
}

ENGRAM_SCALAR_FUNCTION
static float
scalar_cosine_distance(const float *a, const float *b, int n)
{
	float		dot = 0.0f;
	float		norm_a = 0.0f;
	float		norm_b = 0.0f;

	ENGRAM_SCALAR_LOOP
	for (int i = 0; i < n; i++)
	{
		dot += a[i] * b[i];
		norm_a += a[i] * a[i];
		norm_b += b[i] * b[i];
	}
	return engram_cosine_from_sums(dot, norm_a, norm_b);
}

ENGRAM_SCALAR_FUNCTION
static int32_t
scalar_int8_inner_product(const int8_t *a, const int8_t *b, int n)
{
	int32_t		sum = 0;

	ENGRAM_SCALAR_LOOP
	for (int i = 0; i < n; i++)
		sum += (int32_t) a[i] * (int32_t) b[i];
	return sum;
}

ENGRAM_SCALAR_FUNCTION
static int32_t
scalar_int8_l2_squared(const int8_t *a, const int8_t *b, int n)
{
	int32_t		sum = 0;

	ENGRAM_SCALAR_LOOP
	for (int i = 0; i < n; i++)
	{
		int32_t		diff = (int32_t) a[i] - (int32_t) b[i];

		sum += diff * diff;
	}
	return sum;
}

const EngramSimdKernels engram_simd_scalar_kernels = {
	.level = ENGRAM_SIMD_SCALAR,
	.name = "scalar",
	.variant = "scalar",
	.description = "portable C, one element at a time",
	.l2_squared = scalar_l2_squared,
	.inner_product = scalar_inner_product,
	.cosine_distance = scalar_cosine_distance,
	.int8_inner_product = scalar_int8_inner_product,
	.int8_l2_squared = scalar_int8_l2_squared,
	.l2_squared_bounded = scalar_l2_squared_bounded,
	.unit_cosine_bounded = scalar_unit_cosine_bounded,
};
