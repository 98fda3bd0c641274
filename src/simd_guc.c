/*-------------------------------------------------------------------------
 *
 * simd_guc.c
 *	  The engram.simd setting and the SQL view of the active kernels.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "engram.h"
#include "engram_simd.h"

void
engram_simd_init(void)
{
	engram_simd_select(ENGRAM_SIMD_AUTO);
}
