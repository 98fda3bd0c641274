/*-------------------------------------------------------------------------
 *
 * engram_tam_build.c
 *	  Index build and validate scans of the engram table AM.
 *
 * Heap's versions read raw tuples with heap_getnext (which refuses any
 * relation whose AM is not heap) and form index keys from them, which for
 * a cold stub would index NULLs.  These walk the pages themselves, decide
 * per tuple exactly as heap does whether and how to index it (SnapshotAny
 * with HeapTupleSatisfiesVacuum for ordinary builds, the MVCC snapshot for
 * concurrent builds), index heap-only tuples under their HOT chain root,
 * and form the keys from the archived row when the tuple is a stub.
 *
 * Locking: one heap buffer share-locked at a time, only while tuples are
 * examined and copied; waits for in-progress transactions happen with the
 * lock released; keys are formed and index callbacks run without it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "tam/engram_tam.h"

/* Block order of a build scan: serial range, or a parallel scan's share. */
typedef struct EngramBlockIterator
{
	Relation	rel;
	ParallelBlockTableScanDesc pbscan;	/* NULL when serial */
	ParallelBlockTableScanWorker pbwork;
	bool		started;
	BlockNumber next;
	BlockNumber end;
} EngramBlockIterator;

static void
block_iterator_init(EngramBlockIterator *it, Relation rel, TableScanDesc scan,
					BlockNumber start_blockno, BlockNumber numblocks)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);

	memset(it, 0, sizeof(*it));
	it->rel = rel;
	if (scan != NULL && scan->rs_parallel != NULL)
	{
		it->pbscan = (ParallelBlockTableScanDesc) scan->rs_parallel;
		it->pbwork = ((HeapScanDesc) scan)->rs_parallelworkerdata;
		return;
	}
	it->next = Min(start_blockno, nblocks);
	if (numblocks == InvalidBlockNumber || (uint64) it->next + numblocks > nblocks)
		it->end = nblocks;
	else
		it->end = it->next + numblocks;
}

static BlockNumber
block_iterator_next(EngramBlockIterator *it)
{
	if (it->pbscan != NULL)
	{
		if (!it->started)
		{
			table_block_parallelscan_startblock_init(it->rel, it->pbwork, it->pbscan);
			it->started = true;
		}
		return table_block_parallelscan_nextpage(it->rel, it->pbwork, it->pbscan);
	}
	if (it->next >= it->end)
		return InvalidBlockNumber;
	return it->next++;
}

/* A tuple chosen for indexing, copied out of its page. */
typedef struct EngramIndexCandidate
{
	HeapTuple	tuple;
	ItemPointerData root_tid;
	bool		alive;
} EngramIndexCandidate;

/* Expression state for forming index keys from a slot. */
typedef struct EngramKeyFormer
{
	EState	   *estate;
	ExprContext *econtext;
	TupleTableSlot *slot;
	ExprState  *predicate;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
} EngramKeyFormer;

static void
key_former_init(EngramKeyFormer *former, Relation table_rel, IndexInfo *index_info)
{
	former->estate = CreateExecutorState();
	former->econtext = GetPerTupleExprContext(former->estate);
	former->slot = table_slot_create(table_rel, NULL);
	former->econtext->ecxt_scantuple = former->slot;
	former->predicate = ExecPrepareQual(index_info->ii_Predicate, former->estate);
}

static void
key_former_end(EngramKeyFormer *former, IndexInfo *index_info)
{
	ExecDropSingleTupleTableSlot(former->slot);
	FreeExecutorState(former->estate);
	/* These point into the executor state just freed. */
	index_info->ii_ExpressionsState = NIL;
	index_info->ii_PredicateState = NULL;
}

/*
 * Form the index keys of a candidate (decoding a stub) into former->values
 * and isnull; false when the index predicate rejects the row.
 */
static bool
key_former_form(EngramKeyFormer *former, Relation table_rel, IndexInfo *index_info,
				HeapTuple tuple)
{
	HeapTuple	row;

	MemoryContextReset(former->econtext->ecxt_per_tuple_memory);
	if (engram_tuple_is_stub(tuple->t_data, tuple->t_len))
		row = engram_tam_decode_stub(table_rel, tuple);
	else
		row = heap_copytuple(tuple);
	engram_tam_store_row(table_rel, former->slot, row);
	if (former->predicate != NULL && !ExecQual(former->predicate, former->econtext))
		return false;
	FormIndexDatum(index_info, former->slot, former->estate, former->values, former->isnull);
	return true;
}

/* The TID an index entry for this on-page tuple must carry. */
static void
index_root_tid(Relation rel, HeapTuple tuple, OffsetNumber *root_offsets,
			   ItemPointer root_tid)
{
	OffsetNumber off = ItemPointerGetOffsetNumber(&tuple->t_self);

	*root_tid = tuple->t_self;
	if (HeapTupleIsHeapOnly(tuple))
	{
		OffsetNumber root = root_offsets[off - 1];

		if (!OffsetNumberIsValid(root))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg_internal("failed to find parent tuple for heap-only tuple at (%u,%u) in table \"%s\"",
									 ItemPointerGetBlockNumber(&tuple->t_self), off,
									 RelationGetRelationName(rel))));
		ItemPointerSetOffsetNumber(root_tid, root);
	}
}

/*
 * Scan [start_blockno, start_blockno + numblocks) (or a parallel scan's
 * share) and call "callback" for every tuple heap would index, with keys
 * formed from the decoded row.  Returns the number of live tuples seen.
 * Same contract as heap's index_build_range_scan.
 */
double
engram_index_build_range_scan(Relation table_rel, Relation index_rel,
							  IndexInfo *index_info, bool allow_sync, bool anyvisible,
							  bool progress, BlockNumber start_blockno,
							  BlockNumber numblocks, IndexBuildCallback callback,
							  void *callback_state, TableScanDesc scan)
{
	EngramKeyFormer former;
	EngramBlockIterator it;
	Snapshot	snapshot;
	bool		registered_snapshot = false;
	TransactionId oldest_xmin = InvalidTransactionId;
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	OffsetNumber root_offsets[MaxHeapTuplesPerPage];
	EngramIndexCandidate *candidates = palloc(sizeof(EngramIndexCandidate) * MaxHeapTuplesPerPage);
	MemoryContext page_context = AllocSetContextCreate(CurrentMemoryContext,
													   "engram index build page",
													   ALLOCSET_DEFAULT_SIZES);
	double		reltuples = 0;
	BlockNumber blocks_done = 0;
	BlockNumber blkno;

	if (scan != NULL)
		snapshot = scan->rs_snapshot;
	else if (IsBootstrapProcessingMode() || index_info->ii_Concurrent)
	{
		snapshot = RegisterSnapshot(GetTransactionSnapshot());
		registered_snapshot = true;
	}
	else
		snapshot = SnapshotAny;
	if (!IsMVCCSnapshot(snapshot))
		oldest_xmin = GetOldestNonRemovableTransactionId(table_rel);

	key_former_init(&former, table_rel, index_info);
	block_iterator_init(&it, table_rel, scan, start_blockno, numblocks);
	if (progress)
		pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_TOTAL,
									 it.pbscan ? it.pbscan->phs_nblocks : it.end - it.next);

	while ((blkno = block_iterator_next(&it)) != InvalidBlockNumber)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		int			ncandidates = 0;
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(table_rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		heap_page_prune_opt(table_rel, buf);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		oldcontext = MemoryContextSwitchTo(page_context);

relock:
		ncandidates = 0;
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		if (maxoff > 0)
			heap_get_root_tuples(page, root_offsets);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;
			bool		index_it;
			bool		alive;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = RelationGetRelid(table_rel);
			ItemPointerSet(&tuple.t_self, blkno, off);

			if (IsMVCCSnapshot(snapshot))
			{
				if (!HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
					continue;
				index_it = alive = true;
			}
			else
			{
				TransactionId xwait;

				switch (HeapTupleSatisfiesVacuum(&tuple, oldest_xmin, buf))
				{
					case HEAPTUPLE_DEAD:
						index_it = alive = false;
						break;
					case HEAPTUPLE_LIVE:
						index_it = alive = true;
						break;
					case HEAPTUPLE_RECENTLY_DEAD:
						alive = false;
						index_it = !HeapTupleIsHotUpdated(&tuple);
						if (!index_it)
							index_info->ii_BrokenHotChain = true;
						break;
					case HEAPTUPLE_INSERT_IN_PROGRESS:
						xwait = HeapTupleHeaderGetXmin(tuple.t_data);
						if (!anyvisible && !TransactionIdIsCurrentTransactionId(xwait))
						{
							LockBuffer(buf, BUFFER_LOCK_UNLOCK);
							XactLockTableWait(xwait, table_rel, &tuple.t_self,
											  XLTW_InsertIndexUnique);
							LockBuffer(buf, BUFFER_LOCK_SHARE);
							MemoryContextReset(page_context);
							goto relock;
						}
						index_it = alive = true;
						break;
					case HEAPTUPLE_DELETE_IN_PROGRESS:
						if (anyvisible)
						{
							index_it = alive = true;
							break;
						}
						xwait = HeapTupleHeaderGetUpdateXid(tuple.t_data);
						if (!TransactionIdIsCurrentTransactionId(xwait))
						{
							LockBuffer(buf, BUFFER_LOCK_UNLOCK);
							XactLockTableWait(xwait, table_rel, &tuple.t_self,
											  XLTW_InsertIndexUnique);
							LockBuffer(buf, BUFFER_LOCK_SHARE);
							MemoryContextReset(page_context);
							goto relock;
						}
						alive = false;
						index_it = !HeapTupleIsHotUpdated(&tuple);
						if (!index_it)
							index_info->ii_BrokenHotChain = true;
						break;
					default:
						elog(ERROR, "unexpected HeapTupleSatisfiesVacuum result");
						index_it = alive = false;	/* keep compiler quiet */
						break;
				}
			}
			if (!index_it)
				continue;
			candidates[ncandidates].tuple = heap_copytuple(&tuple);
			candidates[ncandidates].alive = alive;
			index_root_tid(table_rel, &tuple, root_offsets, &candidates[ncandidates].root_tid);
			ncandidates++;
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		MemoryContextSwitchTo(oldcontext);

		for (int i = 0; i < ncandidates; i++)
		{
			EngramIndexCandidate *candidate = &candidates[i];

			if (candidate->alive)
				reltuples += 1;
			if (!key_former_form(&former, table_rel, index_info, candidate->tuple))
				continue;
			callback(index_rel, &candidate->root_tid, former.values, former.isnull,
					 candidate->alive, callback_state);
		}
		ReleaseBuffer(buf);
		MemoryContextReset(page_context);
		if (progress)
			pgstat_progress_update_param(PROGRESS_SCAN_BLOCKS_DONE, ++blocks_done);
	}

	key_former_end(&former, index_info);
	if (registered_snapshot)
		UnregisterSnapshot(snapshot);
	FreeAccessStrategy(strategy);
	MemoryContextDelete(page_context);
	pfree(candidates);
	if (scan != NULL)
		table_endscan(scan);
	return reltuples;
}

/*
 * Second scan of CREATE INDEX CONCURRENTLY: insert into the index every
 * tuple visible to "snapshot" whose root TID the index does not hold yet.
 * The index's TIDs (state->tuplesort, sorted) are loaded into a hash set.
 */
void
engram_index_validate_scan(Relation table_rel, Relation index_rel,
						   IndexInfo *index_info, Snapshot snapshot,
						   ValidateIndexState *state)
{
	EngramKeyFormer former;
	EngramBlockIterator it;
	HASHCTL		hashctl;
	HTAB	   *indexed;
	Datum		value;
	bool		isnull;
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	OffsetNumber root_offsets[MaxHeapTuplesPerPage];
	EngramIndexCandidate *candidates = palloc(sizeof(EngramIndexCandidate) * MaxHeapTuplesPerPage);
	MemoryContext page_context = AllocSetContextCreate(CurrentMemoryContext,
													   "engram index validate page",
													   ALLOCSET_DEFAULT_SIZES);
	BlockNumber blkno;

	memset(&hashctl, 0, sizeof(hashctl));
	hashctl.keysize = sizeof(ItemPointerData);
	hashctl.entrysize = sizeof(ItemPointerData);
	hashctl.hcxt = CurrentMemoryContext;
	indexed = hash_create("engram indexed TIDs", 1024, &hashctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	while (tuplesort_getdatum(state->tuplesort, true, &value, &isnull, NULL))
	{
		ItemPointerData tid;

		if (isnull)
			continue;
		itemptr_decode(&tid, DatumGetInt64(value));
		hash_search(indexed, &tid, HASH_ENTER, NULL);
		state->itups += 1;
	}

	key_former_init(&former, table_rel, index_info);
	block_iterator_init(&it, table_rel, NULL, 0, InvalidBlockNumber);
	while ((blkno = block_iterator_next(&it)) != InvalidBlockNumber)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		int			ncandidates = 0;
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(table_rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		oldcontext = MemoryContextSwitchTo(page_context);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		if (maxoff > 0)
			heap_get_root_tuples(page, root_offsets);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;
			ItemPointerData root_tid;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = RelationGetRelid(table_rel);
			ItemPointerSet(&tuple.t_self, blkno, off);
			if (!HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
				continue;
			state->htups += 1;
			index_root_tid(table_rel, &tuple, root_offsets, &root_tid);
			if (hash_search(indexed, &root_tid, HASH_FIND, NULL) != NULL)
				continue;
			candidates[ncandidates].tuple = heap_copytuple(&tuple);
			candidates[ncandidates].root_tid = root_tid;
			candidates[ncandidates].alive = true;
			ncandidates++;
		}
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		MemoryContextSwitchTo(oldcontext);

		for (int i = 0; i < ncandidates; i++)
		{
			if (!key_former_form(&former, table_rel, index_info, candidates[i].tuple))
				continue;
			index_insert(index_rel, former.values, former.isnull, &candidates[i].root_tid,
						 table_rel,
						 index_info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, index_info);
			state->tups_inserted += 1;
		}
		ReleaseBuffer(buf);
		MemoryContextReset(page_context);
	}

	key_former_end(&former, index_info);
	FreeAccessStrategy(strategy);
	MemoryContextDelete(page_context);
	hash_destroy(indexed);
	pfree(candidates);
}
