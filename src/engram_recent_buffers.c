/*-------------------------------------------------------------------------
 *
 * engram_recent_buffers.c
 *	  Pins of pages read again and again, taken without the shared buffer
 *	  mapping table when the buffer that held a page last time still
 *	  holds it.
 *
 * Every ReadBuffer() looks its block up in the buffer mapping table: the
 * tag's hash, a partition LWLock taken and released (two atomic operations
 * on a line every backend writes), a bucket and an entry read -- cache and
 * TLB misses on a table as large as shared_buffers.  An engram_hnsw search
 * visits over a thousand pages at 768 dimensions (the lookups were a
 * quarter of its CPU), spreading a few hundred per recall (7.5 %), most of
 * them pinned by the same backend's earlier calls.  So a backend remembers,
 * per relation, the buffer in which it last found each block (a
 * direct-mapped array of buffer numbers, indexed by block number & mask)
 * and pins that buffer with ReadRecentBuffer(), which checks under the
 * buffer header's spinlock that it still holds this block of this
 * relation file and pins it.  A buffer since reused for another page fails
 * that check and the block is read through ReadBuffer().  A remembered
 * buffer is only ever a guess, never used without that check, so nothing
 * needs invalidating for correctness.
 *
 * ReadRecentBuffer() does not raise the buffer's usage count, which the
 * clock sweep uses to keep pages that are used; so that pages found this
 * way do not look cold to it, one pin in ENGRAM_RECENT_BUFFERS_REFRESH
 * raises it as ReadBuffer() would, under the buffer header's spinlock
 * (the header line is in cache: the pin just wrote it).  That pin went
 * through ReadBuffer() before, a mapping lookup that was 1.4 % of a
 * 768-dimension query's samples.  The relation's statistics count every
 * pin as ReadBuffer() would (blocks fetched and hit).
 *
 * Where an array lives is its user's choice (engram_recent_buffers.h);
 * no locks of its own; pins are the caller's to release.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "engram_recent_buffers.h"

EngramRecentBuffers *
engram_recent_buffers_create(MemoryContext context, Relation rel, uint32 min_entries,
							 uint32 max_entries)
{
	BlockNumber blocks = RelationGetNumberOfBlocks(rel);
	uint32		entries = min_entries;
	EngramRecentBuffers *recent;

	while (entries < blocks && entries < max_entries)
		entries <<= 1;
	recent = MemoryContextAllocZero(context, offsetof(EngramRecentBuffers, buffers) +
									sizeof(Buffer) * entries);
	recent->mask = entries - 1;
	recent->refresh_countdown = ENGRAM_RECENT_BUFFERS_REFRESH;
	return recent;
}

void
engram_recent_buffers_mark_used(Buffer buffer)
{
	BufferDesc *desc;
	uint32		state;

	if (BufferIsLocal(buffer))
		return;					/* temporary relations: no clock sweep to feed */
	desc = GetBufferDescriptor(buffer - 1);
	state = LockBufHdr(desc);
	if (BUF_STATE_GET_USAGECOUNT(state) < BM_MAX_USAGE_COUNT)
		state += BUF_USAGECOUNT_ONE;
	UnlockBufHdr(desc, state);
}
