/*-------------------------------------------------------------------------
 *
 * simd_neon.c
 *	  AArch64 Advanced SIMD (NEON) kernels: 4 floats per instruction.
 *
 * NEON is part of the AArch64 base architecture, so no CPU check and no
 * target attribute are needed; on other architectures this file compiles
 * to nothing.  Float kernels keep four independent accumulators (16
 * floats a step), then 4-float steps, then a scalar loop for the last
 * 1..3 elements.  Int8 kernels multiply 8 codes at a time into int16
 * (vmull_s8: |a*b| <= 16384 fits) or subtract them into int16 (vsubl_s8)
 * and square-accumulate into int32 lanes; sums are exact.
 *
 *-------------------------------------------------------------------------
 */
#include "engram_simd.h"
#include "simd_internal.h"

#ifdef ENGRAM_SIMD_AARCH64

#include <arm_neon.h>

static float
neon_l2_squared(const float *a, const float *b, int n)
{
	float32x4_t acc0 = vdupq_n_f32(0.0f);
	float32x4_t acc1 = vdupq_n_f32(0.0f);
	float32x4_t acc2 = vdupq_n_f32(0.0f);
	float32x4_t acc3 = vdupq_n_f32(0.0f);
	float		sum;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
		float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));

		acc0 = vfmaq_f32(acc0, d0, d0);
		acc1 = vfmaq_f32(acc1, d1, d1);
		acc2 = vfmaq_f32(acc2, d2, d2);
		acc3 = vfmaq_f32(acc3, d3, d3);
	}
	for (; i + 4 <= n; i += 4)
	{
		float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));

		acc0 = vfmaq_f32(acc0, d, d);
	}
	sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
	for (; i < n; i++)
	{
		float		diff = a[i] - b[i];

		sum += diff * diff;
	}
	return sum;
}

static float
neon_inner_product(const float *a, const float *b, int n)
{
	float32x4_t acc0 = vdupq_n_f32(0.0f);
	float32x4_t acc1 = vdupq_n_f32(0.0f);
	float32x4_t acc2 = vdupq_n_f32(0.0f);
	float32x4_t acc3 = vdupq_n_f32(0.0f);
	float		sum;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
		acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
		acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
		acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
	}
	for (; i + 4 <= n; i += 4)
		acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
	sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
	for (; i < n; i++)
		sum += a[i] * b[i];
	return sum;
}

/* Three sums (a.b, a.a, b.b), two accumulators each, 8 floats a step. */
static float
neon_cosine_distance(const float *a, const float *b, int n)
{
	float32x4_t dot0 = vdupq_n_f32(0.0f);
	float32x4_t dot1 = vdupq_n_f32(0.0f);
	float32x4_t norm_a0 = vdupq_n_f32(0.0f);
	float32x4_t norm_a1 = vdupq_n_f32(0.0f);
	float32x4_t norm_b0 = vdupq_n_f32(0.0f);
	float32x4_t norm_b1 = vdupq_n_f32(0.0f);
	float		dot;
	float		norm_a;
	float		norm_b;
	int			i = 0;

	for (; i + 8 <= n; i += 8)
	{
		float32x4_t va0 = vld1q_f32(a + i);
		float32x4_t vb0 = vld1q_f32(b + i);
		float32x4_t va1 = vld1q_f32(a + i + 4);
		float32x4_t vb1 = vld1q_f32(b + i + 4);

		dot0 = vfmaq_f32(dot0, va0, vb0);
		norm_a0 = vfmaq_f32(norm_a0, va0, va0);
		norm_b0 = vfmaq_f32(norm_b0, vb0, vb0);
		dot1 = vfmaq_f32(dot1, va1, vb1);
		norm_a1 = vfmaq_f32(norm_a1, va1, va1);
		norm_b1 = vfmaq_f32(norm_b1, vb1, vb1);
	}
	if (i + 4 <= n)
	{
		float32x4_t va = vld1q_f32(a + i);
		float32x4_t vb = vld1q_f32(b + i);

		dot0 = vfmaq_f32(dot0, va, vb);
		norm_a0 = vfmaq_f32(norm_a0, va, va);
		norm_b0 = vfmaq_f32(norm_b0, vb, vb);
		i += 4;
	}
	dot = vaddvq_f32(vaddq_f32(dot0, dot1));
	norm_a = vaddvq_f32(vaddq_f32(norm_a0, norm_a1));
	norm_b = vaddvq_f32(vaddq_f32(norm_b0, norm_b1));
	for (; i < n; i++)
	{
		dot += a[i] * b[i];
		norm_a += a[i] * a[i];
		norm_b += b[i] * b[i];
	}
	return engram_cosine_from_sums(dot, norm_a, norm_b);
}

/* 16 codes a step: widening multiplies into int16, pairwise add into int32. */
static int32_t
neon_int8_inner_product(const int8_t *a, const int8_t *b, int n)
{
	int32x4_t	acc0 = vdupq_n_s32(0);
	int32x4_t	acc1 = vdupq_n_s32(0);
	int32_t		sum;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		int8x16_t	va = vld1q_s8(a + i);
		int8x16_t	vb = vld1q_s8(b + i);

		acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(va), vget_low_s8(vb)));
		acc1 = vpadalq_s16(acc1, vmull_high_s8(va, vb));
	}
	sum = vaddvq_s32(vaddq_s32(acc0, acc1));
	for (; i < n; i++)
		sum += (int32_t) a[i] * (int32_t) b[i];
	return sum;
}

/* Differences widen to int16 (|a-b| <= 255); squares accumulate in int32. */
static int32_t
neon_int8_l2_squared(const int8_t *a, const int8_t *b, int n)
{
	int32x4_t	acc0 = vdupq_n_s32(0);
	int32x4_t	acc1 = vdupq_n_s32(0);
	int32_t		sum;
	int			i = 0;

	for (; i + 16 <= n; i += 16)
	{
		int8x16_t	va = vld1q_s8(a + i);
		int8x16_t	vb = vld1q_s8(b + i);
		int16x8_t	d0 = vsubl_s8(vget_low_s8(va), vget_low_s8(vb));
		int16x8_t	d1 = vsubl_high_s8(va, vb);

		acc0 = vmlal_s16(acc0, vget_low_s16(d0), vget_low_s16(d0));
		acc1 = vmlal_high_s16(acc1, d0, d0);
		acc0 = vmlal_s16(acc0, vget_low_s16(d1), vget_low_s16(d1));
		acc1 = vmlal_high_s16(acc1, d1, d1);
	}
	sum = vaddvq_s32(vaddq_s32(acc0, acc1));
	for (; i < n; i++)
	{
		int32_t		diff = (int32_t) a[i] - (int32_t) b[i];

		sum += diff * diff;
	}
	return sum;
}

/*
 * The bounded kernels (engram_simd.h) without an early exit yet: the full
 * sums, which meet the contract for any bound.  Not measured on an AArch64
 * machine, so not worth the risk of an untested copy of the loops.
 */
static float
neon_l2_squared_bounded(const float *a, const float *b, int n, float bound)
{
	return neon_l2_squared(a, b, n);
}

static float
neon_unit_cosine_bounded(const float *a, const float *b, int n, float bound)
{
	return 1.0f - neon_inner_product(a, b, n);
}

const EngramSimdKernels engram_simd_neon_kernels = {
	.level = ENGRAM_SIMD_NEON,
	.name = "neon",
	.variant = "neon",
	.description = "AArch64 Advanced SIMD, 4 floats per instruction; int8: vmull/vmlal",
	.l2_squared = neon_l2_squared,
	.inner_product = neon_inner_product,
	.cosine_distance = neon_cosine_distance,
	.int8_inner_product = neon_int8_inner_product,
	.int8_l2_squared = neon_int8_l2_squared,
	.l2_squared_bounded = neon_l2_squared_bounded,
	.unit_cosine_bounded = neon_unit_cosine_bounded,
};

#endif							/* ENGRAM_SIMD_AARCH64 */
