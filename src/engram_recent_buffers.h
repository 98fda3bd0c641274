/*-------------------------------------------------------------------------
 *
 * engram_recent_buffers.h
 *	  Pins without the shared buffer mapping table: a per-backend array
 *	  remembering, for each block of one relation, the buffer it was last
 *	  found in.  Used by the engram_hnsw search (src/hnsw/hnswutils.c, in
 *	  the index's rd_amcache) and by spreading's reads
 *	  (src/recall/recent_buffers.c, per relation OID).  The scheme and its
 *	  contract: src/engram_recent_buffers.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_RECENT_BUFFERS_H
#define ENGRAM_RECENT_BUFFERS_H

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "utils/rel.h"

/*
 * This backend's fair share of shared buffers: shared_buffers over every
 * process that may pin them (as PostgreSQL 16's LimitAdditionalPins), the
 * budget from which a reader sizes the pins it takes ahead.
 */
static inline int
engram_backend_buffer_share(void)
{
	return NBuffers / (MaxBackends + NUM_AUXILIARY_PROCS);
}

/* One pin in this many raises the buffer's usage count (the clock sweep's). */
#define ENGRAM_RECENT_BUFFERS_REFRESH	32

typedef struct EngramRecentBuffers
{
	uint32		mask;			/* entries - 1 */
	uint32		refresh_countdown;
	Buffer		buffers[FLEXIBLE_ARRAY_MEMBER];	/* by block number & mask;
												 * InvalidBuffer: none */
} EngramRecentBuffers;

/*
 * An empty array for "rel" in "context", with room for every block the
 * relation has now (a power of two from min_entries, a power of two, up to
 * max_entries).
 */
extern EngramRecentBuffers *engram_recent_buffers_create(MemoryContext context, Relation rel,
														 uint32 min_entries, uint32 max_entries);

/* The slot of "block": the buffer remembered for it, InvalidBuffer if none. */
static inline Buffer *
engram_recent_buffers_slot(EngramRecentBuffers *recent, BlockNumber block)
{
	return &recent->buffers[block & recent->mask];
}

/*
 * Raise the usage count of shared buffer "buffer", which the caller has
 * pinned, as ReadBuffer() does for a buffer it finds.
 */
extern void engram_recent_buffers_mark_used(Buffer buffer);

/*
 * Pin block "block" of "rel" (main fork) through the buffer remembered for
 * it, when that buffer still holds the block: true, the pin taken (no lock)
 * and counted in the relation's statistics as ReadBuffer() would count it;
 * one such pin in ENGRAM_RECENT_BUFFERS_REFRESH raises the buffer's usage
 * count.  False when there is none or it was reused: the caller then reads
 * the block through ReadBuffer() and remembers the buffer in its slot.
 */
static inline bool
engram_recent_buffers_pin(EngramRecentBuffers *recent, Relation rel, BlockNumber block)
{
	Buffer		remembered = *engram_recent_buffers_slot(recent, block);

	if (remembered == InvalidBuffer ||
		!ReadRecentBuffer(rel->rd_node, MAIN_FORKNUM, block, remembered))
		return false;
	if (--recent->refresh_countdown == 0)
	{
		recent->refresh_countdown = ENGRAM_RECENT_BUFFERS_REFRESH;
		engram_recent_buffers_mark_used(remembered);
	}
	pgstat_count_buffer_read(rel);
	pgstat_count_buffer_hit(rel);
	return true;
}

/*
 * Start loading, without pinning anything, the buffer header and the page
 * header of the buffer remembered for "block", and the line at "offset" of
 * its page (0: none): a hint before pinning a batch of pages, so that
 * their first-touch misses overlap.  A buffer since reused for another
 * page costs a useless prefetch.
 */
static inline void
engram_recent_buffers_prefetch(EngramRecentBuffers *recent, BlockNumber block, Size offset)
{
#ifdef __GNUC__
	Buffer		buffer = *engram_recent_buffers_slot(recent, block);
	const char *page;

	if (buffer <= 0)
		return;					/* none, or a local buffer */
	page = (const char *) BufferGetBlock(buffer);
	__builtin_prefetch(GetBufferDescriptor(buffer - 1), 1);
	__builtin_prefetch(page);
	if (offset > 0 && offset < BLCKSZ)
		__builtin_prefetch(page + offset);

	/*
	 * GCC 12 at -O2 drops prefetches with no other effect behind the early
	 * return above (dead code elimination through the condition): this
	 * function compiled to nothing until the barrier made them stay
	 * (tests/t/039_hnsw_prefetch_code.pl checks the machine code).
	 */
	pg_compiler_barrier();
#endif
}

#endif							/* ENGRAM_RECENT_BUFFERS_H */
