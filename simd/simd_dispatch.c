/*-------------------------------------------------------------------------
 *
 * simd_dispatch.c
 *	  The single dispatch point: CPU detection and the active kernel table.
 *
 * Compiled without any -m flag, like the rest of the tree: it only asks
 * the CPU what it can do and hands out a table whose instructions the CPU
 * (and the operating system) supports.  Nothing else in Engram chooses a
 * kernel; callers go through the engram_simd pointer.
 *
 * On x86-64 a level needs two things: the CPU's feature bits, and the
 * operating system saving the wider registers across context switches
 * (XCR0, read with xgetbv).  __builtin_cpu_supports already folds the
 * second into the first in gcc's libgcc and clang's compiler-rt, but that
 * is an implementation detail of the runtime we happen to link, and a
 * kernel booted without AVX-512 state (or a hypervisor masking it) must
 * never see a zmm instruction, so we check XCR0 ourselves as well.
 *
 * engram_simd is a plain per-process pointer: each backend selects at
 * library load (auto) and again whenever engram.simd changes.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

#include "engram_simd.h"
#include "simd_internal.h"

#ifdef ENGRAM_SIMD_X86
#include <cpuid.h>
#endif

const EngramSimdKernels *engram_simd = &engram_simd_scalar_kernels;

#ifdef ENGRAM_SIMD_X86

/* XCR0 bits: SSE and AVX (ymm) state; AVX-512 opmask, zmm0-15 high, zmm16-31. */
#define XCR0_AVX_STATE		0x06
#define XCR0_AVX512_STATE	0xe6

/* XCR0 when the OS has enabled XSAVE (CPUID.1:ECX.OSXSAVE), else 0. */
static unsigned int
x86_enabled_register_state(void)
{
	unsigned int eax,
				ebx,
				ecx,
				edx;
	unsigned int xcr0_low,
				xcr0_high;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_OSXSAVE))
		return 0;
	__asm__ __volatile__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
	(void) xcr0_high;
	return xcr0_low;
}

static bool
cpu_runs_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		(x86_enabled_register_state() & XCR0_AVX_STATE) == XCR0_AVX_STATE;
}

static bool
cpu_runs_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		(x86_enabled_register_state() & XCR0_AVX512_STATE) == XCR0_AVX512_STATE;
}

static bool
cpu_runs_avx512_vnni(void)
{
	return cpu_runs_avx512() && __builtin_cpu_supports("avx512vnni");
}

#endif							/* ENGRAM_SIMD_X86 */

static bool
cpu_runs_always(void)
{
	return true;
}

typedef struct EngramSimdVariant
{
	const EngramSimdKernels *kernels;
	bool		(*cpu_runs) (void);
} EngramSimdVariant;

/* Best first: AUTO and engram_simd_kernels_for take the first that runs. */
static const EngramSimdVariant engram_simd_variants[] = {
#ifdef ENGRAM_SIMD_X86
	{&engram_simd_avx512_vnni_kernels, cpu_runs_avx512_vnni},
	{&engram_simd_avx512_kernels, cpu_runs_avx512},
	{&engram_simd_avx2_kernels, cpu_runs_avx2},
#endif
#ifdef ENGRAM_SIMD_AARCH64
	{&engram_simd_neon_kernels, cpu_runs_always},
#endif
	{&engram_simd_scalar_kernels, cpu_runs_always},
};

#define ENGRAM_SIMD_VARIANT_COUNT \
	((int) (sizeof(engram_simd_variants) / sizeof(engram_simd_variants[0])))

int
engram_simd_variant_count(void)
{
	return ENGRAM_SIMD_VARIANT_COUNT;
}

const EngramSimdKernels *
engram_simd_variant(int i, bool *supported)
{
	if (i < 0 || i >= ENGRAM_SIMD_VARIANT_COUNT)
		return NULL;
	if (supported != NULL)
		*supported = engram_simd_variants[i].cpu_runs();
	return engram_simd_variants[i].kernels;
}

const char *
engram_simd_level_name(EngramSimdLevel level)
{
	switch (level)
	{
		case ENGRAM_SIMD_AUTO:
			return "auto";
		case ENGRAM_SIMD_SCALAR:
			return "scalar";
		case ENGRAM_SIMD_AVX2:
			return "avx2";
		case ENGRAM_SIMD_AVX512:
			return "avx512";
		case ENGRAM_SIMD_NEON:
			return "neon";
	}
	return "unknown";
}

bool
engram_simd_compiled(EngramSimdLevel level)
{
	if (level == ENGRAM_SIMD_AUTO)
		return true;
	for (int i = 0; i < ENGRAM_SIMD_VARIANT_COUNT; i++)
		if (engram_simd_variants[i].kernels->level == level)
			return true;
	return false;
}

const EngramSimdKernels *
engram_simd_kernels_for(EngramSimdLevel level)
{
	for (int i = 0; i < ENGRAM_SIMD_VARIANT_COUNT; i++)
	{
		const EngramSimdVariant *variant = &engram_simd_variants[i];

		if ((level == ENGRAM_SIMD_AUTO || variant->kernels->level == level) &&
			variant->cpu_runs())
			return variant->kernels;
	}
	return NULL;
}

bool
engram_simd_supported(EngramSimdLevel level)
{
	return engram_simd_kernels_for(level) != NULL;
}

bool
engram_simd_select(EngramSimdLevel level)
{
	const EngramSimdKernels *kernels = engram_simd_kernels_for(level);

	if (kernels == NULL)
		return false;
	engram_simd = kernels;
	return true;
}
