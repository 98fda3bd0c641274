/*-------------------------------------------------------------------------
 *
 * recent_buffers.c
 *	  Spreading's pins of the pages it reads again and again (the leaves of
 *	  the id and association keys, the heap pages of memories), through
 *	  the buffers that held them last (src/engram_recent_buffers.c: the
 *	  scheme and its contract).
 *
 * The engram_hnsw search keeps its array in the index's rd_amcache; btree
 * keeps its metapage there, so spreading's arrays live in a backend-local
 * hash table keyed by relation OID instead, each emptied when the
 * relation's file changes (TRUNCATE, CLUSTER, VACUUM FULL: a new file has
 * other tags anyway).
 *
 * The memory reader reads the heap pages of a large space through a ring
 * of buffers (engram_recall_heap_strategy, recall_internal.h says why);
 * index pages take their buffers from the whole pool.
 *
 * Memory: entries and arrays in a child of TopMemoryContext; an array has
 * one entry per block the relation had when first seen (a power of two,
 * RECENT_MIN_ENTRIES to RECENT_MAX_ENTRIES: 4 MB at most per relation and
 * backend).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "engram_recent_buffers.h"
#include "recall_internal.h"

#define RECENT_MIN_ENTRIES	64		/* a power of two */
#define RECENT_MAX_ENTRIES	(1 << 20)

typedef struct RelationRecentBuffers
{
	Oid			relid;			/* hash key */
	RelFileNode node;			/* the relation file the buffers held */
	EngramRecentBuffers *recent;	/* NULL until first used */
} RelationRecentBuffers;

static HTAB *recent_by_relation = NULL;
static MemoryContext recent_context = NULL;

/*
 * The entry found last: a walk or a batch of heap reads asks for the same
 * relation many times in a row.  Entries are never removed, so it stays
 * valid.
 */
static RelationRecentBuffers *last_entry = NULL;

/* The array of "rel", made (empty) on first use or when its file changed. */
static EngramRecentBuffers *
recent_buffers(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	RelationRecentBuffers *entry;
	bool		found;

	if (recent_by_relation == NULL)
	{
		HASHCTL		ctl;

		recent_context = AllocSetContextCreate(TopMemoryContext, "engram recall recent buffers",
											   ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RelationRecentBuffers);
		ctl.hcxt = recent_context;
		recent_by_relation = hash_create("engram recall recent buffers", 16, &ctl,
										 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (last_entry != NULL && last_entry->relid == relid)
		entry = last_entry;
	else
	{
		entry = hash_search(recent_by_relation, &relid, HASH_ENTER, &found);
		if (!found)
			entry->recent = NULL;
		last_entry = entry;
	}
	if (entry->recent != NULL && !RelFileNodeEquals(entry->node, rel->rd_node))
	{
		pfree(entry->recent);
		entry->recent = NULL;
	}
	if (entry->recent == NULL)
	{
		entry->recent = engram_recent_buffers_create(recent_context, rel, RECENT_MIN_ENTRIES,
													 RECENT_MAX_ENTRIES);
		entry->node = rel->rd_node;
	}
	return entry->recent;
}

Buffer
engram_recall_read_buffer_with(Relation rel, BlockNumber block, BufferAccessStrategy strategy)
{
	EngramRecentBuffers *recent = recent_buffers(rel);
	Buffer	   *slot = engram_recent_buffers_slot(recent, block);

	if (!engram_recent_buffers_pin(recent, rel, block))
		*slot = ReadBufferExtended(rel, MAIN_FORKNUM, block, RBM_NORMAL, strategy);
	return *slot;
}

Buffer
engram_recall_read_buffer(Relation rel, BlockNumber block)
{
	return engram_recall_read_buffer_with(rel, block, NULL);
}

BufferAccessStrategy
engram_recall_heap_strategy(Relation table)
{
	static BufferAccessStrategy ring = NULL;	/* made once, kept */

	if (RelationUsesLocalBuffers(table) || RelationGetNumberOfBlocks(table) <= NBuffers / 4)
		return NULL;
	if (ring == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		ring = GetAccessStrategy(BAS_BULKREAD);
		MemoryContextSwitchTo(old);
	}
	return ring;
}

void
engram_recall_prefetch_page(Relation rel, BlockNumber block, Size offset)
{
	engram_recent_buffers_prefetch(recent_buffers(rel), block, offset);
}

const char *
engram_recall_remembered_page(Relation rel, BlockNumber block)
{
	Buffer		buffer = *engram_recent_buffers_slot(recent_buffers(rel), block);

	if (buffer <= 0)
		return NULL;			/* none, or a local buffer */
	return (const char *) BufferGetBlock(buffer);
}
