/*-------------------------------------------------------------------------
 *
 * simd_avx2.c
 *	  AVX2 + FMA kernels (x86-64): 8 floats or 16 int16 lanes per
 *	  instruction.
 *
 * Float kernels keep four independent accumulators (32 floats a step) so
 * that consecutive FMAs do not wait on each other's latency, then finish
 * with 8-float steps and one masked load for the last 1..7 elements
 * (vmaskmovps never touches the masked-off memory, so no overread).
 * Loads are unaligned: an element's lane and accumulator depend only on
 * its index, so the result does not depend on where the vectors sit.
 * Int8 kernels widen 16 codes at a time to int16 and use vpmaddwd, which
 * multiplies and adds pairs into int32 lanes; sums are exact.
 *
 * Only simd_dispatch.c may hand these out, after checking the CPU.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>

#include "engram_simd.h"
#include "simd_internal.h"

#ifdef ENGRAM_SIMD_X86

#include <immintrin.h>

#define ENGRAM_TARGET_AVX2 __attribute__((target("avx2,fma")))

/* Eight -1 then eight 0: a window of 8 at [8 - r] enables the first r lanes. */
static const int32_t avx2_tail_mask_table[16] = {
	-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0
};

/* Lane mask selecting the first "remaining" (1..7) lanes. */
ENGRAM_TARGET_AVX2
static inline __m256i
avx2_tail_mask(int remaining)
{
	return _mm256_loadu_si256((const __m256i *) (avx2_tail_mask_table + 8 - remaining));
}

ENGRAM_TARGET_AVX2
static inline float
avx2_sum_floats(__m256 v)
{
	__m128		sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
	sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
	return _mm_cvtss_f32(sum);
}

ENGRAM_TARGET_AVX2
static inline int32_t
avx2_sum_int32(__m256i v)
{
	__m128i		sum = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));

	sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
	sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
	return _mm_cvtsi128_si32(sum);
}

_Static_assert(ENGRAM_SIMD_BOUND_STEP == 64, "the bounded kernels check once per two 32-float steps");

/* The one reduction of four accumulators, for partial and final sums alike. */
ENGRAM_TARGET_AVX2
static inline float
avx2_sum4(__m256 acc0, __m256 acc1, __m256 acc2, __m256 acc3)
{
	return avx2_sum_floats(_mm256_add_ps(_mm256_add_ps(acc0, acc1),
										 _mm256_add_ps(acc2, acc3)));
}

/*
 * Sum of squared differences; with "check" (a constant: each caller gets
 * its own copy of the loop) the partial sum is compared with "bound" after
 * every second 32-float step but the last, and returned once it reaches it.
 */
ENGRAM_TARGET_AVX2
static inline __attribute__((always_inline)) float
avx2_l2_squared_sum(const float *a, const float *b, int n, float bound, bool check)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	__m256		acc2 = _mm256_setzero_ps();
	__m256		acc3 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256		d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256		d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		__m256		d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		__m256		d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));

		acc0 = _mm256_fmadd_ps(d0, d0, acc0);
		acc1 = _mm256_fmadd_ps(d1, d1, acc1);
		acc2 = _mm256_fmadd_ps(d2, d2, acc2);
		acc3 = _mm256_fmadd_ps(d3, d3, acc3);
		if (check && (i + 32) % ENGRAM_SIMD_BOUND_STEP == 0 && i + 32 < n)
		{
			float		partial = avx2_sum4(acc0, acc1, acc2, acc3);

			if (partial >= bound)
				return partial;
		}
	}
	for (; i + 8 <= n; i += 8)
	{
		__m256		d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));

		acc0 = _mm256_fmadd_ps(d, d, acc0);
	}
	if (i < n)
	{
		__m256i		mask = avx2_tail_mask(n - i);
		__m256		d = _mm256_sub_ps(_mm256_maskload_ps(a + i, mask),
									  _mm256_maskload_ps(b + i, mask));

		acc1 = _mm256_fmadd_ps(d, d, acc1);
	}
	return avx2_sum4(acc0, acc1, acc2, acc3);
}

ENGRAM_TARGET_AVX2
static float
avx2_l2_squared(const float *a, const float *b, int n)
{
	return avx2_l2_squared_sum(a, b, n, 0.0f, false);
}

ENGRAM_TARGET_AVX2
static float
avx2_l2_squared_bounded(const float *a, const float *b, int n, float bound)
{
	return avx2_l2_squared_sum(a, b, n, bound, true);
}

/*
 * Inner product; with "check", the unit-vector cosine bound: squared
 * differences summed beside the product and checked after every second
 * 32-float step but the last (engram_unit_cosine_reaches), setting
 * *reached and returning early once they prove 1 - a.b >= bound.  The
 * product's own accumulators and order do not depend on "check".
 */
ENGRAM_TARGET_AVX2
static inline __attribute__((always_inline)) float
avx2_inner_product_sum(const float *a, const float *b, int n, float bound, bool check,
					   bool *reached)
{
	__m256		acc0 = _mm256_setzero_ps();
	__m256		acc1 = _mm256_setzero_ps();
	__m256		acc2 = _mm256_setzero_ps();
	__m256		acc3 = _mm256_setzero_ps();
	__m256		squares0 = _mm256_setzero_ps();
	__m256		squares1 = _mm256_setzero_ps();
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256		va0 = _mm256_loadu_ps(a + i);
		__m256		vb0 = _mm256_loadu_ps(b + i);
		__m256		va1 = _mm256_loadu_ps(a + i + 8);
		__m256		vb1 = _mm256_loadu_ps(b + i + 8);
		__m256		va2 = _mm256_loadu_ps(a + i + 16);
		__m256		vb2 = _mm256_loadu_ps(b + i + 16);
		__m256		va3 = _mm256_loadu_ps(a + i + 24);
		__m256		vb3 = _mm256_loadu_ps(b + i + 24);

		acc0 = _mm256_fmadd_ps(va0, vb0, acc0);
		acc1 = _mm256_fmadd_ps(va1, vb1, acc1);
		acc2 = _mm256_fmadd_ps(va2, vb2, acc2);
		acc3 = _mm256_fmadd_ps(va3, vb3, acc3);
		if (check)
		{
			__m256		d0 = _mm256_sub_ps(va0, vb0);
			__m256		d1 = _mm256_sub_ps(va1, vb1);
			__m256		d2 = _mm256_sub_ps(va2, vb2);
			__m256		d3 = _mm256_sub_ps(va3, vb3);

			squares0 = _mm256_fmadd_ps(d0, d0, squares0);
			squares1 = _mm256_fmadd_ps(d1, d1, squares1);
			squares0 = _mm256_fmadd_ps(d2, d2, squares0);
			squares1 = _mm256_fmadd_ps(d3, d3, squares1);
			if ((i + 32) % ENGRAM_SIMD_BOUND_STEP == 0 && i + 32 < n &&
				engram_unit_cosine_reaches(avx2_sum_floats(_mm256_add_ps(squares0, squares1)),
										   n, bound))
			{
				*reached = true;
				return 0.0f;
			}
		}
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
	if (i < n)
	{
		__m256i		mask = avx2_tail_mask(n - i);

		acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mask),
							   _mm256_maskload_ps(b + i, mask), acc1);
	}
	return avx2_sum4(acc0, acc1, acc2, acc3);
}

ENGRAM_TARGET_AVX2
static float
avx2_inner_product(const float *a, const float *b, int n)
{
	bool		reached = false;

	return avx2_inner_product_sum(a, b, n, 0.0f, false, &reached);
}

ENGRAM_TARGET_AVX2
static float
avx2_unit_cosine_bounded(const float *a, const float *b, int n, float bound)
{
	bool		reached = false;
	float		product = avx2_inner_product_sum(a, b, n, bound, true, &reached);

	return reached ? bound : 1.0f - product;
}

/*
 * Three sums at once (a.b, a.a, b.b), two accumulators each: six
 * independent FMA chains, 16 floats a step.
 */
ENGRAM_TARGET_AVX2
static float
avx2_cosine_distance(const float *a, const float *b, int n)
{
	__m256		dot0 = _mm256_setzero_ps();
	__m256		dot1 = _mm256_setzero_ps();
	__m256		norm_a0 = _mm256_setzero_ps();
	__m256		norm_a1 = _mm256_setzero_ps();
	__m256		norm_b0 = _mm256_setzero_ps();
	__m256		norm_b1 = _mm256_setzero_ps();
	int			i = 0;
	for (; i + 16 <= n; i += 16)
	{
		__m256		va0 = _mm256_loadu_ps(a + i);
		__m256		vb0 = _mm256_loadu_ps(b + i);
		__m256		va1 = _mm256_loadu_ps(a + i + 8);
		__m256		vb1 = _mm256_loadu_ps(b + i + 8);

		dot0 = _mm256_fmadd_ps(va0, vb0, dot0);
		norm_a0 = _mm256_fmadd_ps(va0, va0, norm_a0);
		norm_b0 = _mm256_fmadd_ps(vb0, vb0, norm_b0);
		dot1 = _mm256_fmadd_ps(va1, vb1, dot1);
		norm_a1 = _mm256_fmadd_ps(va1, va1, norm_a1);
		norm_b1 = _mm256_fmadd_ps(vb1, vb1, norm_b1);
	}
	if (i + 8 <= n)
	{
		__m256		va = _mm256_loadu_ps(a + i);
		__m256		vb = _mm256_loadu_ps(b + i);

		dot0 = _mm256_fmadd_ps(va, vb, dot0);
		norm_a0 = _mm256_fmadd_ps(va, va, norm_a0);
		norm_b0 = _mm256_fmadd_ps(vb, vb, norm_b0);
		i += 8;
	}
	if (i < n)
	{
		__m256i		mask = avx2_tail_mask(n - i);
		__m256		va = _mm256_maskload_ps(a + i, mask);
		__m256		vb = _mm256_maskload_ps(b + i, mask);

		dot1 = _mm256_fmadd_ps(va, vb, dot1);
		norm_a1 = _mm256_fmadd_ps(va, va, norm_a1);
		norm_b1 = _mm256_fmadd_ps(vb, vb, norm_b1);
	}
	return engram_cosine_from_sums(avx2_sum_floats(_mm256_add_ps(dot0, dot1)),
								   avx2_sum_floats(_mm256_add_ps(norm_a0, norm_a1)),
								   avx2_sum_floats(_mm256_add_ps(norm_b0, norm_b1)));
}

/* 32 codes a step: sign-extend 16 at a time to int16, vpmaddwd into int32. */
ENGRAM_TARGET_AVX2
static int32_t
avx2_int8_inner_product(const int8_t *a, const int8_t *b, int n)
{
	__m256i		acc0 = _mm256_setzero_si256();
	__m256i		acc1 = _mm256_setzero_si256();
	int32_t		sum;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256i		a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
		__m256i		b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));
		__m256i		a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i + 16)));
		__m256i		b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i + 16)));

		acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
		acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
	}
	if (i + 16 <= n)
	{
		__m256i		a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i)));
		__m256i		b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i)));

		acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
		i += 16;
	}
	sum = avx2_sum_int32(_mm256_add_epi32(acc0, acc1));
	for (; i < n; i++)
		sum += (int32_t) a[i] * (int32_t) b[i];
	return sum;
}

/* Differences of int8 fit int16 (|a-b| <= 255); vpmaddwd squares and pairs them. */
ENGRAM_TARGET_AVX2
static int32_t
avx2_int8_l2_squared(const int8_t *a, const int8_t *b, int n)
{
	__m256i		acc0 = _mm256_setzero_si256();
	__m256i		acc1 = _mm256_setzero_si256();
	int32_t		sum;
	int			i = 0;

	for (; i + 32 <= n; i += 32)
	{
		__m256i		d0 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i))),
										  _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i))));
		__m256i		d1 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i + 16))),
										  _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i + 16))));

		acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
		acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(d1, d1));
	}
	if (i + 16 <= n)
	{
		__m256i		d0 = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (a + i))),
										  _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (b + i))));

		acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(d0, d0));
		i += 16;
	}
	sum = avx2_sum_int32(_mm256_add_epi32(acc0, acc1));
	for (; i < n; i++)
	{
		int32_t		diff = (int32_t) a[i] - (int32_t) b[i];

		sum += diff * diff;
	}
	return sum;
}

const EngramSimdKernels engram_simd_avx2_kernels = {
	.level = ENGRAM_SIMD_AVX2,
	.name = "avx2",
	.variant = "avx2",
	.description = "AVX2 + FMA, 8 floats per instruction; int8: AVX2 vpmaddwd",
	.l2_squared = avx2_l2_squared,
	.inner_product = avx2_inner_product,
	.cosine_distance = avx2_cosine_distance,
	.int8_inner_product = avx2_int8_inner_product,
	.int8_l2_squared = avx2_int8_l2_squared,
	.l2_squared_bounded = avx2_l2_squared_bounded,
	.unit_cosine_bounded = avx2_unit_cosine_bounded,
};

#endif							/* ENGRAM_SIMD_X86 */
