/*-------------------------------------------------------------------------
 *
 * engram_kept_context.c
 *	  A memory context kept for the backend and reset after each call (the
 *	  contract is in engram_kept_context.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/proc.h"

#include "engram_kept_context.h"

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
		kept->context = AllocSetContextCreateInternal(TopMemoryContext, kept->name, 0,
													  kept->first_block,
													  ALLOCSET_DEFAULT_MAXSIZE);
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
