/*-------------------------------------------------------------------------
 *
 * hnswretarget.c
 *	  Tier moves in engram_hnsw: the new TID of a moved row is attached to
 *	  the element that indexes its old TID, instead of a new element
 *	  (hnsw.h, MOVED ROWS); and what vacuum does with an element's two heap
 *	  TIDs.
 *
 * The move source.  The table AM (src/tam/engram_tam_move.c) sets a
 * backend-local "move source" (heap relation, old TID, new TID) around the
 * index insertions of each moved row, and clears it in every path.
 * engram_hnsw's aminsert, for exactly that relation and new TID, calls
 * engram_hnsw_retarget_moved_row() before the usual insertion.
 *
 * Finding the element.  A search for the row's own vector from the entry
 * point with a small candidate list (RETARGET_EF_ATTEMPTS, ef = 1 on the
 * upper layers as usual): an element is a match when one of its heap TIDs
 * is the old TID.  Duplicates of the vector are told apart by the TID;
 * several duplicates beyond the candidate list, an element no search
 * reaches, or an old TID indexed in another way (inserted before it was
 * moved the last time, and not vacuumed since) are not found: the row is
 * then inserted as usual.  Cost: one search of layer 0 at ef 8 (a second at
 * ef 32 in the rare miss) instead of a search at ef_construction plus the
 * rewrite of about 2m neighbour lists.
 *
 * Attaching.  The element holds the old TID in one of its two slots; the
 * new TID goes into the other one, which must be free or hold a TID that
 * no snapshot can see any more, checked before the page lock:
 *	  - a tuple inserted by an aborted (or crashed) transaction: visible to
 *	    no snapshot anywhere, on a standby neither (a move retried after an
 *	    aborted one, or after a crash);
 *	  - a dead line pointer: heap pruning removed the tuple, and its WAL
 *	    record carried the recovery-conflict horizon that cancels standby
 *	    queries which could still see it;
 *	  - otherwise (the row moved twice since VACUUM: the other slot holds
 *	    the version before last) the heap page of that TID is pruned here,
 *	    as any heap access does opportunistically (heap_page_prune, under a
 *	    conditional cleanup lock, WAL-logged with its conflict horizon);
 *	    if that left its line pointer dead, the slot is reused.
 * Dropping an index reference to a committed-dead tuple without pruning
 * first would need a conflict horizon of our own in the index's WAL record,
 * which generic WAL cannot carry.  Under the exclusive lock of the
 * element's page: the element still exists, is not deleted, holds the old
 * TID, the other slot still holds what was checked, and its vector bytes
 * are those of the new row's vector.  Then the 6 bytes of that slot are
 * written and logged as a one-fragment generic WAL record
 * (engram_hnsw_log_page_bytes).  The graph does not change, so no update
 * lock is taken: vacuum's barrier orders inserts that create links.  A
 * concurrent vacuum cannot free the element meanwhile: its old TID is live
 * (the mover's snapshot sees it), and the recheck under the page lock
 * catches a slot freed and reused before.
 *
 * Locking: share buffer locks one at a time during the search; a share
 * lock on a heap page (and maybe a conditional cleanup lock to prune it),
 * never while holding an index buffer lock; one exclusive buffer lock to
 * attach.  No heavyweight lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/procarray.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "engram.h"
#include "hnsw/hnsw.h"

/* Candidate lists of the searches for the old element, in order. */
static const int RETARGET_EF_ATTEMPTS[] = {8, 32};

bool		engram_hnsw_move_retarget = true;

/* The move source set by the table AM; heaprelid InvalidOid: none. */
static struct
{
	Oid			heaprelid;
	ItemPointerData old_tid;
	ItemPointerData new_tid;
} move_source = {InvalidOid};

void
engram_index_move_source_set(Oid heaprelid, const ItemPointerData *old_tid,
							 const ItemPointerData *new_tid)
{
	move_source.heaprelid = heaprelid;
	move_source.old_tid = *old_tid;
	move_source.new_tid = *new_tid;
}

void
engram_index_move_source_clear(void)
{
	move_source.heaprelid = InvalidOid;
}

void
engram_hnsw_retarget_init(void)
{
	DefineCustomBoolVariable("engram.hnsw_move_retarget",
							 "Sets whether a tier move re-indexes a row in engram_hnsw by attaching its new TID to the existing element.",
							 "Off: a moved row is inserted into engram_hnsw indexes like a new row "
							 "(a graph search at ef_construction and about 2m neighbour-list rewrites).",
							 &engram_hnsw_move_retarget, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

/* The element's stored vector bytes for "vector" (as form_element writes them). */
static void *
stored_vector_bytes(int dims, int quantization, const float *vector, Size *size)
{
	void	   *bytes;

	*size = ENGRAM_HNSW_VECTOR_SIZE(dims, quantization);
	bytes = palloc0(*size);
	if (quantization == ENGRAM_HNSW_QUANT_INT8)
		engram_hnsw_int8_encode(vector, dims, (EngramHnswInt8Vector *) bytes);
	else
		memcpy(bytes, vector, sizeof(float) * dims);
	return bytes;
}

/*
 * True when the heap tuple at "tid" of the index's table was inserted by a
 * transaction that aborted (or was in progress at a crash), or its line
 * pointer is already dead: no snapshot sees it.  False when in doubt.
 * Takes and releases a share lock on the heap page; no index buffer lock
 * may be held.
 */
static bool
heap_tuple_never_visible(Relation heap, const ItemPointerData *tid)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(tid);
	OffsetNumber offno = ItemPointerGetOffsetNumber(tid);
	bool		never_visible = false;

	if (blkno < RelationGetNumberOfBlocks(heap))
	{
		Buffer		buf = ReadBuffer(heap, blkno);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!PageIsNew(page) && offno >= FirstOffsetNumber &&
			offno <= PageGetMaxOffsetNumber(page))
		{
			ItemId		lp = PageGetItemId(page, offno);

			if (ItemIdIsDead(lp))
				never_visible = true;
			else if (ItemIdIsNormal(lp))
			{
				HeapTupleHeader tuple = (HeapTupleHeader) PageGetItem(page, lp);
				TransactionId xmin = HeapTupleHeaderGetRawXmin(tuple);

				if (HeapTupleHeaderXminInvalid(tuple))
					never_visible = true;
				else if (!HeapTupleHeaderXminCommitted(tuple) &&
						 TransactionIdIsNormal(xmin) &&
						 !TransactionIdIsCurrentTransactionId(xmin) &&
						 !TransactionIdIsInProgress(xmin) &&
						 !TransactionIdDidCommit(xmin))
					never_visible = true;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	return never_visible;
}

/*
 * Prune the heap page of "tid" (heap_page_prune, as opportunistic pruning
 * does) if its cleanup lock is free now; never waits.  No buffer lock held
 * on entry or exit.
 */
static void
prune_heap_page(Relation heap, const ItemPointerData *tid)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(tid);
	Buffer		buf;
	int			deleted;
	int			new_dead_items = 0;

	if (RecoveryInProgress() || blkno >= RelationGetNumberOfBlocks(heap))
		return;
	buf = ReadBuffer(heap, blkno);
	if (ConditionalLockBufferForCleanup(buf))
	{
		deleted = heap_page_prune(heap, buf, InvalidTransactionId, GlobalVisTestFor(heap),
								  InvalidTransactionId, 0, &new_dead_items, NULL);
		if (deleted > new_dead_items)
			pgstat_update_heap_dead_tuples(heap, deleted - new_dead_items);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(buf);
}

/*
 * True when the index reference to heap TID "tid" may be dropped now (see
 * Attaching in the file header), pruning its heap page when needed.
 */
static bool
reference_reusable(Relation index, const ItemPointerData *tid)
{
	Relation	heap = relation_open(index->rd_index->indrelid, NoLock);
	bool		reusable = heap_tuple_never_visible(heap, tid);

	if (!reusable)
	{
		prune_heap_page(heap, tid);
		reusable = heap_tuple_never_visible(heap, tid);
	}
	relation_close(heap, NoLock);
	return reusable;
}

/*
 * Write "new_tid" into the slot of element "ref" that is not "old_tid"'s,
 * if the element still holds "old_tid", that other slot still holds
 * "other" (invalid: free) and the element has that vector.  Returns true
 * when attached.  No buffer lock held on entry or exit.
 */
static bool
attach_tid(Relation index, EngramHnswRef ref, const ItemPointerData *old_tid,
		   const ItemPointerData *other, const ItemPointerData *new_tid,
		   const void *vector_bytes, Size vector_size)
{
	Buffer		buf = ReadBuffer(index, EngramHnswRefBlock(ref));
	Page		page;
	EngramHnswElementTuple element;
	bool		attached = false;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	engram_hnsw_check_page(index, page, EngramHnswRefBlock(ref));
	element = engram_hnsw_page_element(page, EngramHnswRefOffset(ref));
	if (element != NULL &&
		!(element->flags & ENGRAM_HNSW_ELEMENT_DELETED) &&
		memcmp(element->vector, vector_bytes, vector_size) == 0)
	{
		ItemPointer target = NULL;

		if (ItemPointerEquals(&element->heaptid, (ItemPointer) old_tid))
			target = &element->alias_tid;
		else if (ItemPointerEquals(&element->alias_tid, (ItemPointer) old_tid))
			target = &element->heaptid;
		if (target != NULL &&
			(ItemPointerIsValid(other) ? ItemPointerEquals(target, (ItemPointer) other) :
			 !ItemPointerIsValid(target)))
		{
			engram_hnsw_log_page_bytes(index, buf, (char *) target - (char *) page,
									   new_tid, sizeof(ItemPointerData));
			attached = true;
		}
	}
	UnlockReleaseBuffer(buf);
	return attached;
}

bool
engram_hnsw_retarget_moved_row(Relation index, const float *vector, ItemPointer heaptid)
{
	EngramHnswMetaPageData meta;
	EngramHnswDiskGraph graph;
	void	   *vector_bytes;
	Size		vector_size;

	if (!engram_hnsw_move_retarget ||
		move_source.heaprelid == InvalidOid ||
		move_source.heaprelid != index->rd_index->indrelid ||
		!ItemPointerEquals(&move_source.new_tid, heaptid))
		return false;

	engram_hnsw_read_meta(index, &meta);
	if (meta.entry_level < 0)
		return false;
	engram_hnsw_disk_graph_init(&graph, index, &meta);
	vector_bytes = stored_vector_bytes(meta.dimensions, meta.quantization, vector,
									   &vector_size);

	for (int attempt = 0; attempt < lengthof(RETARGET_EF_ATTEMPTS); attempt++)
	{
		EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];

		engram_hnsw_search(&graph.graph, vector,
						   EngramHnswRefFromTid(meta.entry_blkno, meta.entry_offno),
						   meta.entry_level, RETARGET_EF_ATTEMPTS[attempt], 0, false,
						   layer_results, layer_counts);
		for (int i = 0; i < layer_counts[0]; i++)
		{
			EngramHnswCandidate *candidate = &layer_results[0][i];
			ItemPointerData other;

			if (ItemPointerEquals(&candidate->heaptid, &move_source.old_tid))
				other = candidate->alias_tid;
			else if (ItemPointerEquals(&candidate->alias_tid, &move_source.old_tid))
				other = candidate->heaptid;
			else
				continue;
			/* The element of the old TID; one attempt, then the usual insert. */
			if (ItemPointerIsValid(&other) && !reference_reusable(index, &other))
				return false;
			return attach_tid(index, candidate->ref, &move_source.old_tid, &other, heaptid,
							  vector_bytes, vector_size);
		}
	}
	return false;
}

int
engram_hnsw_vacuum_element_tids(EngramHnswElementTuple element,
								IndexBulkDeleteCallback callback, void *callback_state,
								double *removed, bool *change, ItemPointer new_heaptid,
								ItemPointer new_alias_tid)
{
	bool		first_dead = callback(&element->heaptid, callback_state);
	bool		second_dead;

	*change = false;
	if (!ItemPointerIsValid(&element->alias_tid))
	{
		if (first_dead)
			*removed += 1;
		return first_dead ? 0 : 1;
	}

	second_dead = callback(&element->alias_tid, callback_state);
	*removed += (first_dead ? 1 : 0) + (second_dead ? 1 : 0);
	if (first_dead && second_dead)
		return 0;
	if (!first_dead && !second_dead)
		return 2;
	*change = true;
	*new_heaptid = first_dead ? element->alias_tid : element->heaptid;
	ItemPointerSetInvalid(new_alias_tid);
	return 1;
}
