/*-------------------------------------------------------------------------
 *
 * recent_buffers.c
 *	  Pins of the pages spreading reads again and again (the leaves of the
 *	  id and association keys, the heap pages of memories), taken without
 *	  the shared buffer mapping table when the buffer that held a page last
 *	  time still holds it.
 *
 * Every ReadBuffer() looks its block up in the buffer mapping table: the
 * tag's hash, a partition LWLock taken and released (two atomic operations
 * on a line every backend writes), a bucket and an entry read -- cache
 * misses on a table as large as shared_buffers.  Spreading pins a few
 * hundred pages per recall, most of them pinned by earlier recalls of the
 * same backend, and those lookups were about 7.5 % of a recall's CPU.  So
 * each backend remembers, per relation, the buffer in which it last found
 * each block (a direct-mapped array of buffer numbers, indexed by block
 * number & mask) and pins that buffer with ReadRecentBuffer(), which checks
 * under the buffer header's spinlock that it still holds this block of
 * this relation file and pins it; a buffer since reused for another page
 * fails that check (its tag differs) and the block is read through
 * ReadBuffer() as before.  A remembered buffer is only ever a guess: it is
 * never used without that check, so nothing needs invalidating (a new
 * relation file, after TRUNCATE, CLUSTER or VACUUM FULL, has another tag;
 * the array is emptied when the relation's file changes anyway).
 *
 * ReadRecentBuffer() does not raise the buffer's usage count, which the
 * clock sweep uses to keep pages that are used; so that pages found this
 * way do not look cold to it, one pin in RECENT_REFRESH still goes through
 * ReadBuffer().  The relation's statistics count every pin as ReadBuffer()
 * would (blocks fetched and hit).  The same scheme serves the engram_hnsw
 * search (src/hnsw/hnswutils.c, RECENT BUFFERS), whose array lives in the
 * index's rd_amcache; btree keeps its metapage there, so these arrays live
 * in a backend-local hash table keyed by relation OID instead.
 *
 * Memory: entries and arrays in a child of TopMemoryContext; an array has
 * one entry per block the relation had when first seen (a power of two,
 * RECENT_MIN_ENTRIES to RECENT_MAX_ENTRIES: 4 MB at most per relation and
 * backend).  No locks of its own; pins are the caller's to release.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "recall_internal.h"

#define RECENT_MIN_ENTRIES	64		/* a power of two */
#define RECENT_MAX_ENTRIES	(1 << 20)
#define RECENT_REFRESH		32

typedef struct RecentBuffers
{
	Oid			relid;			/* hash key */
	RelFileNode node;			/* the relation file the buffers held */
	uint32		mask;			/* entries - 1 */
	uint32		refresh_countdown;
	Buffer	   *buffers;		/* by block number & mask; 0: none */
} RecentBuffers;

static HTAB *recent_by_relation = NULL;
static MemoryContext recent_context = NULL;

/* The array of "rel", made (empty) on first use or when its file changed. */
static RecentBuffers *
recent_buffers(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	RecentBuffers *recent;
	bool		found;

	if (recent_by_relation == NULL)
	{
		HASHCTL		ctl;

		recent_context = AllocSetContextCreate(TopMemoryContext, "engram recall recent buffers",
											   ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RecentBuffers);
		ctl.hcxt = recent_context;
		recent_by_relation = hash_create("engram recall recent buffers", 16, &ctl,
										 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	recent = hash_search(recent_by_relation, &relid, HASH_ENTER, &found);
	if (!found)
		recent->buffers = NULL;
	if (recent->buffers != NULL && !RelFileNodeEquals(recent->node, rel->rd_node))
	{
		pfree(recent->buffers);
		recent->buffers = NULL;
	}
	if (recent->buffers == NULL)
	{
		BlockNumber blocks = RelationGetNumberOfBlocks(rel);
		uint32		entries = RECENT_MIN_ENTRIES;

		while (entries < blocks && entries < RECENT_MAX_ENTRIES)
			entries <<= 1;
		recent->buffers = MemoryContextAllocZero(recent_context, sizeof(Buffer) * entries);
		recent->mask = entries - 1;
		recent->refresh_countdown = RECENT_REFRESH;
		recent->node = rel->rd_node;
	}
	return recent;
}

Buffer
engram_recall_read_buffer(Relation rel, BlockNumber block)
{
	RecentBuffers *recent = recent_buffers(rel);
	Buffer	   *slot = &recent->buffers[block & recent->mask];
	Buffer		buffer;

	if (*slot != InvalidBuffer && --recent->refresh_countdown > 0 &&
		ReadRecentBuffer(rel->rd_node, MAIN_FORKNUM, block, *slot))
	{
		pgstat_count_buffer_read(rel);
		pgstat_count_buffer_hit(rel);
		return *slot;
	}
	if (recent->refresh_countdown == 0)
		recent->refresh_countdown = RECENT_REFRESH;
	buffer = ReadBuffer(rel, block);
	*slot = buffer;
	return buffer;
}

void
engram_recall_prefetch_page(Relation rel, BlockNumber block, Size offset)
{
#ifdef __GNUC__
	RecentBuffers *recent = recent_buffers(rel);
	Buffer		buffer = recent->buffers[block & recent->mask];
	const char *page;

	if (buffer <= 0)
		return;					/* none, or a local buffer */
	page = (const char *) BufferGetBlock(buffer);
	__builtin_prefetch(GetBufferDescriptor(buffer - 1), 1);
	__builtin_prefetch(page);
	if (offset > 0 && offset < BLCKSZ)
		__builtin_prefetch(page + offset);
#endif
}
