/*-------------------------------------------------------------------------
 *
 * simd_avx512.c
 *	  AVX-512 kernels (x86-64): 16 floats or 32 int16 lanes per
 *	  instruction.
 *
 * Float kernels (AVX-512F) keep four independent accumulators (64 floats
 * a step), then 16-float steps, then one zero-masked load for the last
 * 1..15 elements: masked-off lanes are neither read (no fault past the
 * end of the array) nor counted.  Loads are unaligned on purpose: which
 * lane and accumulator an element is added to depends only on its index,
 * so a distance is bit-identical wherever its vectors sit in memory (a
 * primary and its replica rank ties the same way).  Peeling elements up
 * to a 64-byte boundary was about a third faster at 768 dimensions but
 * made the summation order depend on the address.
 *
 * Int8 kernels need AVX-512BW (byte and word instructions), which every
 * AVX-512 CPU but the Xeon Phi has; the "avx512" level therefore requires
 * F and BW.  Two tables share the float kernels:
 *	- engram_simd_avx512_kernels: int8 by sign-extension to int16 and
 *	  vpmaddwd, like the AVX2 kernels but twice as wide;
 *	- engram_simd_avx512_vnni_kernels: int8 inner product with VNNI's
 *	  vpdpbusd, which multiplies unsigned by signed bytes and adds groups
 *	  of four into int32 lanes in one instruction.  Signed codes are made
 *	  unsigned by adding 128 (a xor 0x80), and the excess 128 * sum(b) is
 *	  subtracted at the end, the sum of b coming from a second vpdpbusd
 *	  against bytes of 1.  No step saturates: vpdpbusd (unlike vpdpbusds)
 *	  wraps, and every partial sum stays far inside int32 for
 *	  n <= ENGRAM_SIMD_INT8_MAX_DIM.  The int8 L2 kernel stays vpmaddwd
 *	  (differences of codes need 9 bits, more than vpdpbusd takes).
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

#define ENGRAM_TARGET_AVX512F __attribute__((target("avx512f")))
#define ENGRAM_TARGET_AVX512BW __attribute__((target("avx512f,avx512bw")))
#define ENGRAM_TARGET_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Lane mask for the first "remaining" (0..16) floats. */
#define AVX512_FLOAT_TAIL_MASK(remaining) ((__mmask16) ((1u << (remaining)) - 1))

/* Byte mask for the first "remaining" (0..63) codes. */
#define AVX512_BYTE_TAIL_MASK(remaining) ((__mmask64) ((1ull << (remaining)) - 1))

_Static_assert(ENGRAM_SIMD_BOUND_STEP == 64, "the bounded kernels check once per 64-float step");

/* The one reduction of four accumulators, for partial and final sums alike. */
ENGRAM_TARGET_AVX512F
static inline float
avx512_sum4(__m512 acc0, __m512 acc1, __m512 acc2, __m512 acc3)
{
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1),
											  _mm512_add_ps(acc2, acc3)));
}

/*
 * Sum of squared differences; with "check" (a constant: each caller gets
 * its own copy of the loop) the partial sum is compared with "bound" after
 * every 64-float step but the last, and returned once it reaches it.
 */
ENGRAM_TARGET_AVX512F
static inline __attribute__((always_inline)) float
avx512_l2_squared_sum(const float *a, const float *b, int n, float bound, bool check)
{
	__m512		acc0 = _mm512_setzero_ps();
	__m512		acc1 = _mm512_setzero_ps();
	__m512		acc2 = _mm512_setzero_ps();
	__m512		acc3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m512		d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512		d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		__m512		d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		__m512		d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));

		acc0 = _mm512_fmadd_ps(d0, d0, acc0);
		acc1 = _mm512_fmadd_ps(d1, d1, acc1);
		acc2 = _mm512_fmadd_ps(d2, d2, acc2);
		acc3 = _mm512_fmadd_ps(d3, d3, acc3);
		if (check && i + 64 < n)
		{
			float		partial = avx512_sum4(acc0, acc1, acc2, acc3);

			if (partial >= bound)
				return partial;
		}
	}
	for (; i + 16 <= n; i += 16)
	{
		__m512		d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));

		acc0 = _mm512_fmadd_ps(d, d, acc0);
	}
	if (i < n)
	{
		__mmask16	mask = AVX512_FLOAT_TAIL_MASK(n - i);
		__m512		d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i),
									  _mm512_maskz_loadu_ps(mask, b + i));

		acc1 = _mm512_fmadd_ps(d, d, acc1);
	}
	return avx512_sum4(acc0, acc1, acc2, acc3);
}

ENGRAM_TARGET_AVX512F
static float
avx512_l2_squared(const float *a, const float *b, int n)
{
	return avx512_l2_squared_sum(a, b, n, 0.0f, false);
}

ENGRAM_TARGET_AVX512F
static float
avx512_l2_squared_bounded(const float *a, const float *b, int n, float bound)
{
	return avx512_l2_squared_sum(a, b, n, bound, true);
}

/*
 * Inner product; with "check", the unit-vector cosine bound: squared
 * differences summed beside the product and checked after every 64-float
 * step but the last (engram_unit_cosine_reaches), setting *reached and
 * returning early once they prove 1 - a.b >= bound.  The product's own
 * accumulators and order do not depend on "check".
 */
ENGRAM_TARGET_AVX512F
static inline __attribute__((always_inline)) float
avx512_inner_product_sum(const float *a, const float *b, int n, float bound, bool check,
						 bool *reached)
{
	__m512		acc0 = _mm512_setzero_ps();
	__m512		acc1 = _mm512_setzero_ps();
	__m512		acc2 = _mm512_setzero_ps();
	__m512		acc3 = _mm512_setzero_ps();
	__m512		squares0 = _mm512_setzero_ps();
	__m512		squares1 = _mm512_setzero_ps();
	__m512		squares2 = _mm512_setzero_ps();
	__m512		squares3 = _mm512_setzero_ps();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m512		va0 = _mm512_loadu_ps(a + i);
		__m512		vb0 = _mm512_loadu_ps(b + i);
		__m512		va1 = _mm512_loadu_ps(a + i + 16);
		__m512		vb1 = _mm512_loadu_ps(b + i + 16);
		__m512		va2 = _mm512_loadu_ps(a + i + 32);
		__m512		vb2 = _mm512_loadu_ps(b + i + 32);
		__m512		va3 = _mm512_loadu_ps(a + i + 48);
		__m512		vb3 = _mm512_loadu_ps(b + i + 48);

		acc0 = _mm512_fmadd_ps(va0, vb0, acc0);
		acc1 = _mm512_fmadd_ps(va1, vb1, acc1);
		acc2 = _mm512_fmadd_ps(va2, vb2, acc2);
		acc3 = _mm512_fmadd_ps(va3, vb3, acc3);
		if (check)
		{
			__m512		d0 = _mm512_sub_ps(va0, vb0);
			__m512		d1 = _mm512_sub_ps(va1, vb1);
			__m512		d2 = _mm512_sub_ps(va2, vb2);
			__m512		d3 = _mm512_sub_ps(va3, vb3);

			squares0 = _mm512_fmadd_ps(d0, d0, squares0);
			squares1 = _mm512_fmadd_ps(d1, d1, squares1);
			squares2 = _mm512_fmadd_ps(d2, d2, squares2);
			squares3 = _mm512_fmadd_ps(d3, d3, squares3);
			if (i + 64 < n &&
				engram_unit_cosine_reaches(avx512_sum4(squares0, squares1, squares2, squares3),
										   n, bound))
			{
				*reached = true;
				return 0.0f;
			}
		}
	}
	for (; i + 16 <= n; i += 16)
		acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
	if (i < n)
	{
		__mmask16	mask = AVX512_FLOAT_TAIL_MASK(n - i);

		acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i),
							   _mm512_maskz_loadu_ps(mask, b + i), acc1);
	}
	return avx512_sum4(acc0, acc1, acc2, acc3);
}

ENGRAM_TARGET_AVX512F
static float
avx512_inner_product(const float *a, const float *b, int n)
{
	bool		reached = false;

	return avx512_inner_product_sum(a, b, n, 0.0f, false, &reached);
}

ENGRAM_TARGET_AVX512F
static float
avx512_unit_cosine_bounded(const float *a, const float *b, int n, float bound)
{
	bool		reached = false;
	float		product = avx512_inner_product_sum(a, b, n, bound, true, &reached);

	return reached ? bound : 1.0f - product;
}

/* Three sums (a.b, a.a, b.b), two accumulators each, 32 floats a step. */
ENGRAM_TARGET_AVX512F
static float
avx512_cosine_distance(const float *a, const float *b, int n)
{
	__m512		dot0 = _mm512_setzero_ps();
	__m512		dot1 = _mm512_setzero_ps();
	__m512		norm_a0 = _mm512_setzero_ps();
	__m512		norm_a1 = _mm512_setzero_ps();
	__m512		norm_b0 = _mm512_setzero_ps();
	__m512		norm_b1 = _mm512_setzero_ps();
	int			i = 0;
	for (; i + 32 <= n; i += 32)
	{
		__m512		va0 = _mm512_loadu_ps(a + i);
		__m512		vb0 = _mm512_loadu_ps(b + i);
		__m512		va1 = _mm512_loadu_ps(a + i + 16);
		__m512		vb1 = _mm512_loadu_ps(b + i + 16);

		dot0 = _mm512_fmadd_ps(va0, vb0, dot0);
		norm_a0 = _mm512_fmadd_ps(va0, va0, norm_a0);
		norm_b0 = _mm512_fmadd_ps(vb0, vb0, norm_b0);
		dot1 = _mm512_fmadd_ps(va1, vb1, dot1);
		norm_a1 = _mm512_fmadd_ps(va1, va1, norm_a1);
		norm_b1 = _mm512_fmadd_ps(vb1, vb1, norm_b1);
	}
	if (i + 16 <= n)
	{
		__m512		va = _mm512_loadu_ps(a + i);
		__m512		vb = _mm512_loadu_ps(b + i);

		dot0 = _mm512_fmadd_ps(va, vb, dot0);
		norm_a0 = _mm512_fmadd_ps(va, va, norm_a0);
		norm_b0 = _mm512_fmadd_ps(vb, vb, norm_b0);
		i += 16;
	}
	if (i < n)
	{
		__mmask16	mask = AVX512_FLOAT_TAIL_MASK(n - i);
		__m512		va = _mm512_maskz_loadu_ps(mask, a + i);
		__m512		vb = _mm512_maskz_loadu_ps(mask, b + i);

		dot1 = _mm512_fmadd_ps(va, vb, dot1);
		norm_a1 = _mm512_fmadd_ps(va, va, norm_a1);
		norm_b1 = _mm512_fmadd_ps(vb, vb, norm_b1);
	}
	return engram_cosine_from_sums(_mm512_reduce_add_ps(_mm512_add_ps(dot0, dot1)),
								   _mm512_reduce_add_ps(_mm512_add_ps(norm_a0, norm_a1)),
								   _mm512_reduce_add_ps(_mm512_add_ps(norm_b0, norm_b1)));
}

/* Sign-extend the low or high 32 codes of a 64-byte register to int16. */
#define AVX512_LOW_CODES(v)  _mm512_cvtepi8_epi16(_mm512_castsi512_si256(v))
#define AVX512_HIGH_CODES(v) _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64((v), 1))

/*
 * 64 codes a step; the last 1..63 come from one zero-masked load, and zero
 * codes add nothing to either sum.
 */
ENGRAM_TARGET_AVX512BW
static int32_t
avx512_int8_inner_product(const int8_t *a, const int8_t *b, int n)
{
	__m512i		acc0 = _mm512_setzero_si512();
	__m512i		acc1 = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m512i		va = _mm512_loadu_si512((const void *) (a + i));
		__m512i		vb = _mm512_loadu_si512((const void *) (b + i));

		acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(AVX512_LOW_CODES(va), AVX512_LOW_CODES(vb)));
		acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(AVX512_HIGH_CODES(va), AVX512_HIGH_CODES(vb)));
	}
	if (i < n)
	{
		__mmask64	mask = AVX512_BYTE_TAIL_MASK(n - i);
		__m512i		va = _mm512_maskz_loadu_epi8(mask, a + i);
		__m512i		vb = _mm512_maskz_loadu_epi8(mask, b + i);

		acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(AVX512_LOW_CODES(va), AVX512_LOW_CODES(vb)));
		acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(AVX512_HIGH_CODES(va), AVX512_HIGH_CODES(vb)));
	}
	return _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
}

ENGRAM_TARGET_AVX512BW
static int32_t
avx512_int8_l2_squared(const int8_t *a, const int8_t *b, int n)
{
	__m512i		acc0 = _mm512_setzero_si512();
	__m512i		acc1 = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 64 <= n; i += 64)
	{
		__m512i		va = _mm512_loadu_si512((const void *) (a + i));
		__m512i		vb = _mm512_loadu_si512((const void *) (b + i));
		__m512i		d0 = _mm512_sub_epi16(AVX512_LOW_CODES(va), AVX512_LOW_CODES(vb));
		__m512i		d1 = _mm512_sub_epi16(AVX512_HIGH_CODES(va), AVX512_HIGH_CODES(vb));

		acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
		acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(d1, d1));
	}
	if (i < n)
	{
		__mmask64	mask = AVX512_BYTE_TAIL_MASK(n - i);
		__m512i		va = _mm512_maskz_loadu_epi8(mask, a + i);
		__m512i		vb = _mm512_maskz_loadu_epi8(mask, b + i);
		__m512i		d0 = _mm512_sub_epi16(AVX512_LOW_CODES(va), AVX512_LOW_CODES(vb));
		__m512i		d1 = _mm512_sub_epi16(AVX512_HIGH_CODES(va), AVX512_HIGH_CODES(vb));

		acc0 = _mm512_add_epi32(acc0, _mm512_madd_epi16(d0, d0));
		acc1 = _mm512_add_epi32(acc1, _mm512_madd_epi16(d1, d1));
	}
	return _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1));
}

/*
 * VNNI: sum a*b = sum (a+128)*b - 128 * sum b, 128 codes a step with two
 * accumulators per sum.  Masked-off tail lanes load a = b = 0: (0+128)*0
 * and the 0 added to sum b are both nothing.
 */
ENGRAM_TARGET_AVX512VNNI
static int32_t
avx512_vnni_int8_inner_product(const int8_t *a, const int8_t *b, int n)
{
	const __m512i sign_flip = _mm512_set1_epi8((char) 0x80);
	const __m512i ones = _mm512_set1_epi8(1);
	__m512i		acc0 = _mm512_setzero_si512();
	__m512i		acc1 = _mm512_setzero_si512();
	__m512i		sum_b0 = _mm512_setzero_si512();
	__m512i		sum_b1 = _mm512_setzero_si512();
	int			i = 0;

	for (; i + 128 <= n; i += 128)
	{
		__m512i		vb0 = _mm512_loadu_si512((const void *) (b + i));
		__m512i		vb1 = _mm512_loadu_si512((const void *) (b + i + 64));
		__m512i		ua0 = _mm512_xor_si512(_mm512_loadu_si512((const void *) (a + i)), sign_flip);
		__m512i		ua1 = _mm512_xor_si512(_mm512_loadu_si512((const void *) (a + i + 64)), sign_flip);

		acc0 = _mm512_dpbusd_epi32(acc0, ua0, vb0);
		acc1 = _mm512_dpbusd_epi32(acc1, ua1, vb1);
		sum_b0 = _mm512_dpbusd_epi32(sum_b0, ones, vb0);
		sum_b1 = _mm512_dpbusd_epi32(sum_b1, ones, vb1);
	}
	for (; i < n; i += 64)
	{
		__mmask64	mask = (n - i >= 64) ? ~(__mmask64) 0 : AVX512_BYTE_TAIL_MASK(n - i);
		__m512i		vb = _mm512_maskz_loadu_epi8(mask, b + i);
		__m512i		ua = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, a + i), sign_flip);

		acc0 = _mm512_dpbusd_epi32(acc0, ua, vb);
		sum_b0 = _mm512_dpbusd_epi32(sum_b0, ones, vb);
	}
	return _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
		- 128 * _mm512_reduce_add_epi32(_mm512_add_epi32(sum_b0, sum_b1));
}

const EngramSimdKernels engram_simd_avx512_kernels = {
	.level = ENGRAM_SIMD_AVX512,
	.name = "avx512",
	.variant = "avx512",
	.description = "AVX-512F, 16 floats per instruction; int8: AVX-512BW vpmaddwd",
	.l2_squared = avx512_l2_squared,
	.inner_product = avx512_inner_product,
	.cosine_distance = avx512_cosine_distance,
	.int8_inner_product = avx512_int8_inner_product,
	.int8_l2_squared = avx512_int8_l2_squared,
	.l2_squared_bounded = avx512_l2_squared_bounded,
	.unit_cosine_bounded = avx512_unit_cosine_bounded,
};

const EngramSimdKernels engram_simd_avx512_vnni_kernels = {
	.level = ENGRAM_SIMD_AVX512,
	.name = "avx512",
	.variant = "avx512-vnni",
	.description = "AVX-512F, 16 floats per instruction; int8: AVX-512 VNNI vpdpbusd",
	.l2_squared = avx512_l2_squared,
	.inner_product = avx512_inner_product,
	.cosine_distance = avx512_cosine_distance,
	.int8_inner_product = avx512_vnni_int8_inner_product,
	.int8_l2_squared = avx512_int8_l2_squared,
	.l2_squared_bounded = avx512_l2_squared_bounded,
	.unit_cosine_bounded = avx512_unit_cosine_bounded,
};

#endif							/* ENGRAM_SIMD_X86 */
