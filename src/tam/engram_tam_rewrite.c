/*-------------------------------------------------------------------------
 *
 * engram_tam_rewrite.c
 *	  VACUUM FULL and CLUSTER for the engram table AM.
 *
 * Heap's relation_copy_for_cluster re-forms every tuple from its
 * attributes, which would turn a cold stub into an all-NULL row.  This
 * copy decides what survives exactly as heap does (HeapTupleSatisfiesVacuum
 * against OldestXmin, heap's rewrite module for update chains and
 * freezing) but copies stubs byte for byte, so cold rows stay cold.  With
 * an index and a sort (CLUSTER, or VACUUM FULL of a clustered table, when
 * the planner prefers sorting to an index scan) rows are sorted on the
 * index keys: a stub goes into the sort as its decoded row (the segment is
 * read), remembered by its old TID, and is written back as the stub when
 * the sort returns that row, so cold rows take their place in the
 * clustered order and stay cold.  After the
 * copy, segments no surviving stub names are deleted (we hold
 * AccessExclusiveLock), and the hot tier and access statistics of the old
 * file are forgotten (TIDs change).
 *
 * Locking: AccessExclusiveLock on the table (by the caller); one old-heap
 * buffer share-locked at a time while its tuples are examined and copied;
 * segments are read (to sort stubs) with no buffer lock held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/rewriteheap.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplesort.h"

#include "shmem/engram_access_stats.h"
#include "shmem/engram_hot_tier.h"
#include "tam/engram_tam.h"

/*
 * The tuple to write for "tuple": a byte copy for a stub, otherwise heap's
 * treatment (re-formed, dropped columns set to NULL).
 */
static void
rewrite_one(RewriteState rwstate, HeapTuple tuple, TupleDesc tupdesc,
			Datum *values, bool *isnull)
{
	HeapTuple	copy;

	if (engram_tuple_is_stub(tuple->t_data, tuple->t_len))
		copy = heap_copytuple(tuple);
	else
	{
		heap_deform_tuple(tuple, tupdesc, values, isnull);
		for (int i = 0; i < tupdesc->natts; i++)
			if (TupleDescAttr(tupdesc, i)->attisdropped)
				isnull[i] = true;
		copy = heap_form_tuple(tupdesc, values, isnull);
	}
	rewrite_heap_tuple(rwstate, tuple, copy);
	heap_freetuple(copy);
}

/* A stub waiting in the sort as its decoded row, by its old TID. */
typedef struct EngramSortedStub
{
	ItemPointerData old_tid;	/* hash key */
	HeapTuple	stub;			/* copy of the stub as found */
} EngramSortedStub;

static HTAB *
sorted_stubs_create(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(EngramSortedStub);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("engram stubs in cluster sort", 1024, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * Put one kept tuple into the cluster sort: a stub as its decoded row
 * (so that it sorts on its real keys), remembered in "stubs" with a copy
 * made in "stub_context".
 */
static void
sort_put(Relation rel, Tuplesortstate *tuplesort, HTAB *stubs, MemoryContext stub_context,
		 HeapTuple tuple)
{
	EngramSortedStub *entry;
	bool		found;
	MemoryContext oldcontext;

	if (!engram_tuple_is_stub(tuple->t_data, tuple->t_len))
	{
		tuplesort_putheaptuple(tuplesort, tuple);
		return;
	}
	entry = hash_search(stubs, &tuple->t_self, HASH_ENTER, &found);
	if (found)
		elog(ERROR, "stub at (%u,%u) seen twice in a cluster scan",
			 ItemPointerGetBlockNumber(&tuple->t_self),
			 ItemPointerGetOffsetNumber(&tuple->t_self));
	oldcontext = MemoryContextSwitchTo(stub_context);
	entry->stub = heap_copytuple(tuple);
	MemoryContextSwitchTo(oldcontext);
	/* t_self (the old TID) travels through the sort with the row. */
	tuplesort_putheaptuple(tuplesort, engram_tam_decode_stub(rel, tuple));
}

void
engram_relation_copy_for_cluster(Relation OldTable, Relation NewTable, Relation OldIndex,
								 bool use_sort, TransactionId OldestXmin,
								 TransactionId *xid_cutoff, MultiXactId *multi_cutoff,
								 double *num_tuples, double *tups_vacuumed,
								 double *tups_recently_dead)
{
	TupleDesc	tupdesc = RelationGetDescr(OldTable);
	Datum	   *values = palloc(sizeof(Datum) * Max(tupdesc->natts, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(tupdesc->natts, 1));
	RewriteState rwstate;
	Tuplesortstate *tuplesort = NULL;
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	BlockNumber nblocks = RelationGetNumberOfBlocks(OldTable);
	MemoryContext page_context = AllocSetContextCreate(CurrentMemoryContext,
													   "engram rewrite page",
													   ALLOCSET_DEFAULT_SIZES);
	HeapTuple  *kept = palloc(sizeof(HeapTuple) * MaxHeapTuplesPerPage);
	HTAB	   *stubs = NULL;
	MemoryContext stub_context = NULL;

	*num_tuples = *tups_vacuumed = *tups_recently_dead = 0;
	rwstate = begin_heap_rewrite(OldTable, NewTable, OldestXmin, *xid_cutoff, *multi_cutoff);
	if (OldIndex != NULL)
	{
		tuplesort = tuplesort_begin_cluster(tupdesc, OldIndex, maintenance_work_mem,
											NULL, TUPLESORT_NONE);
		stub_context = AllocSetContextCreate(CurrentMemoryContext, "engram stubs in cluster sort",
											 ALLOCSET_DEFAULT_SIZES);
		stubs = sorted_stubs_create();
	}

	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		int			nkept = 0;
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(OldTable, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		oldcontext = MemoryContextSwitchTo(page_context);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;
			bool		isdead;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = RelationGetRelid(OldTable);
			ItemPointerSet(&tuple.t_self, blkno, off);

			switch (HeapTupleSatisfiesVacuum(&tuple, OldestXmin, buf))
			{
				case HEAPTUPLE_DEAD:
					isdead = true;
					break;
				case HEAPTUPLE_RECENTLY_DEAD:
				case HEAPTUPLE_DELETE_IN_PROGRESS:
					*tups_recently_dead += 1;
					isdead = false;
					break;
				case HEAPTUPLE_LIVE:
				case HEAPTUPLE_INSERT_IN_PROGRESS:
					isdead = false;
					break;
				default:
					elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
					isdead = false; /* keep compiler quiet */
					break;
			}
			if (isdead)
			{
				*tups_vacuumed += 1;
				/* The rewrite module may have been waiting for this one. */
				if (rewrite_heap_dead_tuple(rwstate, &tuple))
				{
					*tups_vacuumed += 1;
					*tups_recently_dead -= 1;
				}
				continue;
			}
			kept[nkept++] = heap_copytuple(&tuple);
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buf);
		MemoryContextSwitchTo(oldcontext);

		for (int i = 0; i < nkept; i++)
		{
			*num_tuples += 1;
			if (tuplesort != NULL)
			{
				/* Decoding allocates in page_context, reset below. */
				oldcontext = MemoryContextSwitchTo(page_context);
				sort_put(OldTable, tuplesort, stubs, stub_context, kept[i]);
				MemoryContextSwitchTo(oldcontext);
			}
			else
				rewrite_one(rwstate, kept[i], tupdesc, values, isnull);
		}
		MemoryContextReset(page_context);
	}

	if (tuplesort != NULL)
	{
		HeapTuple	tuple;

		tuplesort_performsort(tuplesort);
		while ((tuple = tuplesort_getheaptuple(tuplesort, true)) != NULL)
		{
			EngramSortedStub *entry;

			CHECK_FOR_INTERRUPTS();
			entry = hash_search(stubs, &tuple->t_self, HASH_FIND, NULL);
			/* A decoded stub is written back as the stub, by its old TID. */
			rewrite_one(rwstate, entry != NULL ? entry->stub : tuple, tupdesc, values, isnull);
		}
		tuplesort_end(tuplesort);
		hash_destroy(stubs);
		MemoryContextDelete(stub_context);
	}
	end_heap_rewrite(rwstate);
	engram_tam_cold_collect_garbage(NewTable, RelationGetRelid(OldTable), false);

	engram_hot_tier_invalidate_relfilenode(MyDatabaseId, OldTable->rd_node.relNode);
	engram_access_forget_relation(RelationGetRelid(OldTable));

	FreeAccessStrategy(strategy);
	MemoryContextDelete(page_context);
	pfree(kept);
	pfree(values);
	pfree(isnull);
}
