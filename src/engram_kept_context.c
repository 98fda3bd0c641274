/*-------------------------------------------------------------------------
 *
 * engram_kept_context.c
 *	  A memory context kept for the backend and reset after each call (the
 *	  contract is in engram_kept_context.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "storage/proc.h"

#include "engram_kept_context.h"

/*
 * Chunks larger than a context's chunk limit (8 kB), and the blocks of
 * every other context a call uses (the executor's, SPI's), are still
 * malloc'd and freed on every call: about 200 kB for a clustered recall.
 * Until the backend has freed one mmap'd chunk, glibc trims its heap as
 * soon as 128 kB at its top are free, so every call gave those pages back
 * to the kernel (brk, TLB shootdowns) and faulted them in again (5 to 6 %
 * of a recall under perf).  Freeing one mmap'd chunk of "size" raises
 * glibc's mmap threshold to "size" and its trim threshold to twice that,
 * as the first large sort or hash of a backend does anyway; then the heap
 * keeps up to 2 x "size" free at its top across calls.  Other allocators
 * are not affected by this beyond one allocation.
 */
static void
settle_heap_thresholds(Size size)
{
	void	   *volatile probe = malloc(size);	/* volatile: not elided */

	free(probe);
}

/*
 * The contexts are named by kept->name, a string literal of the caller's
 * static EngramKeptContext (AllocSetContextCreate's macro accepts only a
 * literal at the call site; the function underneath needs a string that
 * lives as long as the context).
 */
MemoryContext
engram_kept_context_begin(EngramKeptContext *kept)
{
	if (kept->in_use && kept->lxid == MyProc->lxid)
		return AllocSetContextCreateInternal(CurrentMemoryContext, kept->name,
											 ALLOCSET_DEFAULT_SIZES);
	if (kept->context == NULL)
	{
		settle_heap_thresholds(2 * kept->first_block);
		kept->context = AllocSetContextCreateInternal(TopMemoryContext, kept->name, 0,
													  kept->first_block,
													  ALLOCSET_DEFAULT_MAXSIZE);
	}
	else
		MemoryContextReset(kept->context);
	kept->in_use = true;
	kept->lxid = MyProc->lxid;
	return kept->context;
}

void
engram_kept_context_end(EngramKeptContext *kept, MemoryContext context)
{
	if (context != kept->context)
	{
		MemoryContextDelete(context);
		return;
	}
	MemoryContextReset(kept->context);
	kept->in_use = false;
}
