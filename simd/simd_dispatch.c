/*-------------------------------------------------------------------------
 *
 * simd_dispatch.c
 *	  The single dispatch point: CPU detection and the active kernel table.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

#include "engram_simd.h"
#include "simd_internal.h"

const EngramSimdKernels *engram_simd = &engram_simd_scalar_kernels;

const EngramSimdKernels *
engram_simd_kernels_for(EngramSimdLevel level)
{
	switch (level)
	{
		case ENGRAM_SIMD_SCALAR:
			return &engram_simd_scalar_kernels;
		default:
			return NULL;
	}
}

bool
engram_simd_supported(EngramSimdLevel level)
{
	return engram_simd_kernels_for(level) != NULL;
}

bool
engram_simd_select(EngramSimdLevel level)
{
	const EngramSimdKernels *kernels;

	if (level == ENGRAM_SIMD_AUTO)
		kernels = &engram_simd_scalar_kernels;
	else
		kernels = engram_simd_kernels_for(level);
	if (kernels == NULL)
		return false;
	engram_simd = kernels;
	return true;
}
