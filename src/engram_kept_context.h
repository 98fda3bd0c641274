/*-------------------------------------------------------------------------
 *
 * engram_kept_context.h
 *	  A memory context kept for the backend and reset after each call,
 *	  for functions called again and again (recall, spread, aminsert).
 *
 * A fresh context per call mallocs its blocks and frees them at the end;
 * glibc then gives the top of its heap back to the kernel and takes it
 * again in the next call: page faults and, for brk, TLB shootdowns on every
 * CPU (3 to 5 % of a 768-dimension insert or recall under perf).  A kept
 * context whose first block is larger than one call needs keeps that block
 * across resets.  What a call still mallocs and frees (chunks over the
 * 8 kB chunk limit, other contexts' blocks) stays in glibc's heap too: the
 * first creation of a kept context raises glibc's trim threshold to four
 * times its first block (engram_kept_context.c).
 *
 * Contract: engram_kept_context_begin() returns the kept context (reset)
 * unless it is in use by a call of the same transaction -- a nested call,
 * or one after an error raised inside a call -- which gets a fresh child
 * of CurrentMemoryContext instead.  engram_kept_context_end() resets the
 * kept context or deletes the fresh one.  A call that raised an error
 * leaves the kept context marked in use; the first call of a later
 * transaction takes it back (its memory is only reset then).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_KEPT_CONTEXT_H
#define ENGRAM_KEPT_CONTEXT_H

#include "postgres.h"

#include "storage/lock.h"
#include "utils/memutils.h"

typedef struct EngramKeptContext
{
	const char *name;			/* the contexts' name: a string literal */
	Size		first_block;	/* its first block, kept across resets */
	MemoryContext context;		/* NULL until first used */
	bool		in_use;
	LocalTransactionId lxid;	/* transaction of the call that uses it */
} EngramKeptContext;

#define ENGRAM_KEPT_CONTEXT_INIT(name, first_block) \
	{ (name), (first_block), NULL, false, InvalidLocalTransactionId }

extern MemoryContext engram_kept_context_begin(EngramKeptContext *kept);
extern void engram_kept_context_end(EngramKeptContext *kept, MemoryContext context);

#endif							/* ENGRAM_KEPT_CONTEXT_H */
