/*-------------------------------------------------------------------------
 *
 * engram_tam_scan.c
 *	  Read paths of the engram table AM: every callback that puts a tuple
 *	  into a slot runs heap's and then replaces a cold stub by its row; the
 *	  index fetch also goes through the hot tier and records accesses.
 *
 * Contract of every wrapper here: on return the slot holds what heap's
 * callback would return for a heap table with the same rows -- the
 * archived row for a stub, with the stub's transaction header, TID and
 * table OID.  A replaced stub no longer pins the buffer from the slot; the
 * scan descriptor still does, as heap keeps its own pin on the current
 * page.  Locks: a heap buffer share lock only for hot-tier fills and in
 * tuple_satisfies_snapshot, never held across a segment decode.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "shmem/engram_access_stats.h"
#include "shmem/engram_hot_tier.h"
#include "tam/engram_tam.h"
#include "worker/engram_worker.h"

/*
 * How a walk or a TID visit holds its snapshot: the caller's, or (NULL
 * given) a fresh one per slice, registered when a page is about to be read
 * and unregistered, with the catalog snapshot, before each nap.
 */
typedef struct WalkSlices
{
	Snapshot	snapshot;		/* NULL between slices of a per-slice walk */
	bool		per_slice;
	BufferAccessStrategy strategy;
	EngramWalkCounts *counts;	/* may be NULL */
} WalkSlices;

static void
slices_begin(WalkSlices *slices, Snapshot snapshot, EngramWalkCounts *counts)
{
	slices->snapshot = snapshot;
	slices->per_slice = (snapshot == NULL);
	slices->strategy = GetAccessStrategy(BAS_BULKREAD);
	slices->counts = counts;
}

/* The snapshot to read the next page with. */
static Snapshot
slices_snapshot(WalkSlices *slices)
{
	if (slices->snapshot == NULL)
		slices->snapshot = RegisterSnapshot(GetTransactionSnapshot());
	return slices->snapshot;
}

/* After a page, no buffer held: count and charge its rows (may nap). */
static void
slices_page_done(WalkSlices *slices, int64 rows_read)
{
	if (slices->counts != NULL)
	{
		slices->counts->pages_read++;
		slices->counts->rows_read += rows_read;
	}
	if (slices->per_slice && engram_worker_charge_naps(rows_read * ENGRAM_WORKER_COST_ROW_SCANNED))
	{
		UnregisterSnapshot(slices->snapshot);
		slices->snapshot = NULL;
		InvalidateCatalogSnapshot();
	}
	engram_worker_charge(rows_read * ENGRAM_WORKER_COST_ROW_SCANNED);
}

static void
slices_end(WalkSlices *slices)
{
	if (slices->per_slice && slices->snapshot != NULL)
		UnregisterSnapshot(slices->snapshot);
	FreeAccessStrategy(slices->strategy);
}

/*
 * Visit the tuple at line pointer "off" of the share-locked page "buf" if
 * it is a normal one (counted in *rows_read), a stub when "stubs_only",
 * and visible to "snapshot".  Returns what "visit" returned (true when not
 * visited).
 */
static bool
visit_item(Relation rel, Buffer buf, BlockNumber blkno, OffsetNumber off, Snapshot snapshot,
		   bool stubs_only, EngramTupleVisitor visit, void *arg, int64 *rows_read)
{
	Page		page = BufferGetPage(buf);
	ItemId		lp = PageGetItemId(page, off);
	HeapTupleData tuple;

	if (!ItemIdIsNormal(lp))
		return true;
	(*rows_read)++;
	tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tuple.t_len = ItemIdGetLength(lp);
	tuple.t_tableOid = RelationGetRelid(rel);
	ItemPointerSet(&tuple.t_self, blkno, off);
	if (stubs_only && !engram_tuple_is_stub(tuple.t_data, tuple.t_len))
		return true;
	if (!HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
		return true;
	return visit(&tuple, arg);
}

/* The page's highest line pointer, 0 for a new page. */
static OffsetNumber
page_max_offset(Buffer buf)
{
	Page		page = BufferGetPage(buf);

	return PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
}

/*
 * Every tuple of "rel" visible to "snapshot" (only cold stubs when
 * "stubs_only"), block by block in TID order, each page share-locked while
 * its tuples are visited; "visit" returning false stops the walk.  For
 * maintenance paths that read the raw tuples (stubs as stubs), not for
 * queries.
 *
 * The pages go through a bulk-read ring (BAS_BULKREAD, as a sequential
 * scan of a large table), so that walking a space larger than
 * shared_buffers does not evict the index and heap pages queries use.
 * After each page, with no buffer held, the page's rows are charged to
 * the background worker's throttle (ENGRAM_WORKER_COST_ROW_SCANNED each):
 * inside a worker job the walk may nap there, so a large space is walked
 * in slices instead of one burst; elsewhere the charge does nothing.
 *
 * A NULL "snapshot" asks for a fresh snapshot per slice: the walk
 * registers one (of the current transaction, after its last command) and
 * unregisters it, with the catalog snapshot, before each nap.  So the walk
 * holds no snapshot while it naps and, when its caller holds none either
 * and the transaction has no xid, does not hold back the xmin horizon
 * (VACUUM of other tables, for one, can mark their new rows all-visible).
 * The rows then come from several snapshots: a row updated during the walk
 * may be visited twice (both versions) or not at all.
 */
void
engram_tam_walk_visible(Relation rel, Snapshot snapshot, bool stubs_only,
						EngramTupleVisitor visit, void *arg)
{
	engram_tam_walk_visible_range(rel, snapshot, stubs_only, 0, RelationGetNumberOfBlocks(rel),
								  visit, arg, NULL);
}

/*
 * engram_tam_walk_visible over blocks first_block .. first_block + nblocks
 * - 1 only (those that exist); pages and rows read added to *counts (if
 * not NULL).
 */
void
engram_tam_walk_visible_range(Relation rel, Snapshot snapshot, bool stubs_only,
							  BlockNumber first_block, BlockNumber nblocks,
							  EngramTupleVisitor visit, void *arg, EngramWalkCounts *counts)
{
	BlockNumber end = Min((uint64) first_block + nblocks, (uint64) RelationGetNumberOfBlocks(rel));
	WalkSlices	slices;
	bool		go_on = true;

	slices_begin(&slices, snapshot, counts);
	for (BlockNumber blkno = first_block; blkno < end && go_on; blkno++)
	{
		Snapshot	page_snapshot;
		Buffer		buf;
		OffsetNumber maxoff;
		int64		rows_read = 0;

		CHECK_FOR_INTERRUPTS();
		page_snapshot = slices_snapshot(&slices);
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, slices.strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		maxoff = page_max_offset(buf);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff && go_on; off++)
			go_on = visit_item(rel, buf, blkno, off, page_snapshot, stubs_only, visit, arg,
							   &rows_read);
		UnlockReleaseBuffer(buf);
		slices_page_done(&slices, rows_read);
	}
	slices_end(&slices);
}

/*
 * The tuples at "tids" (ascending, no duplicates) that exist and are
 * visible, like engram_tam_walk_visible (same snapshots, ring, charges and
 * naps: one page's TIDs make a slice), reading only their pages.  A TID
 * past the table's end or past its page's line pointers is skipped.
 */
void
engram_tam_visit_tids(Relation rel, const ItemPointerData *tids, int ntids,
					  EngramTupleVisitor visit, void *arg, EngramWalkCounts *counts)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	WalkSlices	slices;
	bool		go_on = true;
	int			i = 0;

	slices_begin(&slices, NULL, counts);
	while (i < ntids && go_on)
	{
		BlockNumber blkno = ItemPointerGetBlockNumber(&tids[i]);
		Snapshot	page_snapshot;
		Buffer		buf;
		OffsetNumber maxoff;
		int64		rows_read = 0;

		CHECK_FOR_INTERRUPTS();
		if (blkno >= nblocks)
			break;
		page_snapshot = slices_snapshot(&slices);
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, slices.strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		maxoff = page_max_offset(buf);
		for (; i < ntids && go_on && ItemPointerGetBlockNumber(&tids[i]) == blkno; i++)
		{
			OffsetNumber off = ItemPointerGetOffsetNumber(&tids[i]);

			if (off >= FirstOffsetNumber && off <= maxoff)
				go_on = visit_item(rel, buf, blkno, off, page_snapshot, false, visit, arg,
								   &rows_read);
		}
		UnlockReleaseBuffer(buf);
		slices_page_done(&slices, rows_read);
	}
	slices_end(&slices);
}

static inline const TableAmRoutine *
heap_routine(void)
{
	return GetHeapamTableAmRoutine();
}

/*
 * The archived row a stub stands for, as a palloc'd tuple carrying the
 * stub's transaction header, t_self and the table's OID.  ERROR
 * (ERRCODE_DATA_CORRUPTED) on a malformed stub or a damaged segment.
 */
HeapTuple
engram_tam_decode_stub(Relation rel, HeapTuple stub)
{
	EngramColdStub payload;
	HeapTuple	row;
	HeapTupleHeader hdr;
	HeapTupleHeader src = stub->t_data;

	if (!engram_stub_payload(src, stub->t_len, &payload))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_internal("malformed engram cold stub at (%u,%u) in relation \"%s\"",
								 ItemPointerGetBlockNumber(&stub->t_self),
								 ItemPointerGetOffsetNumber(&stub->t_self),
								 RelationGetRelationName(rel))));
	row = engram_segment_fetch_row(payload.segment_id, payload.slot);
	hdr = row->t_data;
	hdr->t_choice = src->t_choice;
	hdr->t_ctid = src->t_ctid;
	hdr->t_infomask = (src->t_infomask & HEAP_XACT_MASK) | (hdr->t_infomask & ~HEAP_XACT_MASK);
	hdr->t_infomask2 = (src->t_infomask2 & HEAP2_XACT_MASK) |
		(hdr->t_infomask2 & ~(HEAP2_XACT_MASK | ENGRAM_STUB_INFOMASK2));
	row->t_self = stub->t_self;
	row->t_tableOid = RelationGetRelid(rel);
	return row;
}

/*
 * The row as the hot tier stores it: TOASTed values fetched inline, so
 * that a hit needs no other relation.  Returns "row" itself when it has no
 * external values, else a palloc'd copy.  Called without buffer locks.
 */
HeapTuple
engram_hot_tier_flatten(Relation rel, HeapTuple row)
{
	if (!HeapTupleHasExternal(row))
		return row;
	return toast_flatten_tuple(row, RelationGetDescr(rel));
}

/* The heap tuple in a buffer slot, or NULL when it holds none. */
static HeapTuple
slot_heap_tuple(TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;

	if (TTS_EMPTY(slot) || !TTS_IS_BUFFERTUPLE(slot))
		return NULL;
	return bslot->base.tuple;
}

/*
 * Store a palloc'd row (decoded or from the hot tier) into a buffer slot,
 * which takes it over; TID and table OID are set from the row.
 */
void
engram_tam_store_row(Relation rel, TupleTableSlot *slot, HeapTuple row)
{
	ItemPointerData tid = row->t_self;

	ExecForceStoreHeapTuple(row, slot, true);
	slot->tts_tid = tid;
	slot->tts_tableOid = RelationGetRelid(rel);
}

/*
 * If the slot holds a stub, store the archived row instead (keeping TID and
 * table OID).  No-op otherwise.
 */
void
engram_tam_slot_unstub(Relation rel, TupleTableSlot *slot)
{
	HeapTuple	tuple = slot_heap_tuple(slot);
	HeapTuple	row;

	if (tuple == NULL || !engram_tuple_is_stub(tuple->t_data, tuple->t_len))
		return;
	row = engram_tam_decode_stub(rel, tuple);
	engram_tam_store_row(rel, slot, row);
}

/*
 * The TID index entries carry for the tuple at "tid": its HOT chain's root
 * when it is a heap-only tuple, else "tid" itself.  Caller holds a pin and
 * at least a share lock on "buffer", the tuple's page.
 */
void
engram_tam_chain_root(Buffer buffer, ItemPointer tid, ItemPointer root)
{
	Page		page = BufferGetPage(buffer);
	OffsetNumber off = ItemPointerGetOffsetNumber(tid);
	ItemId		lp;
	OffsetNumber root_offsets[MaxHeapTuplesPerPage];

	*root = *tid;
	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		return;
	lp = PageGetItemId(page, off);
	if (!ItemIdIsNormal(lp) ||
		!HeapTupleHeaderIsHeapOnly((HeapTupleHeader) PageGetItem(page, lp)))
		return;
	heap_get_root_tuples(page, root_offsets);
	if (OffsetNumberIsValid(root_offsets[off - 1]))
		ItemPointerSetOffsetNumber(root, root_offsets[off - 1]);
}

/*
 * Drop from the hot tier every entry that may hold the row version at
 * "tid": the one under its own TID and the one under its HOT chain's root.
 * Called by writers after heap set xmax (see engram_hot_tier.h); takes a
 * share lock on the tuple's page.  True when a resident entry was dropped
 * (cached copies are dropped too, but the row was not in the hot tier).
 */
bool
engram_tam_invalidate_row(Relation rel, ItemPointer tid)
{
	bool		dropped = engram_hot_tier_invalidate(rel, tid);
	Buffer		buffer;
	ItemPointerData root;

	if (!engram_hot_tier_available() ||
		ItemPointerGetBlockNumber(tid) >= RelationGetNumberOfBlocks(rel))
		return dropped;
	buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	engram_tam_chain_root(buffer, tid, &root);
	UnlockReleaseBuffer(buffer);
	if (!ItemPointerEquals(&root, tid))
		dropped |= engram_hot_tier_invalidate(rel, &root);
	return dropped;
}

/* ------------------------------------------------------------------------
 * Sequential and TID range scans
 * ------------------------------------------------------------------------
 */

static bool
engram_scan_getnextslot(TableScanDesc scan, ScanDirection direction, TupleTableSlot *slot)
{
	if (!heap_routine()->scan_getnextslot(scan, direction, slot))
		return false;
	engram_tam_slot_unstub(scan->rs_rd, slot);
	return true;
}

static bool
engram_scan_getnextslot_tidrange(TableScanDesc scan, ScanDirection direction,
								 TupleTableSlot *slot)
{
	if (!heap_routine()->scan_getnextslot_tidrange(scan, direction, slot))
		return false;
	engram_tam_slot_unstub(scan->rs_rd, slot);
	return true;
}

/* ------------------------------------------------------------------------
 * Index fetch: hot tier first, then heap; accesses recorded
 * ------------------------------------------------------------------------
 */

/*
 * Keep in the hot tier the row version "tuple" (on the page pinned, not
 * locked, in "buffer"; "decoded" its row when it is a cold stub, else
 * NULL), found through an index entry carrying "index_tid": stored under
 * that TID (the tuple's own or its HOT chain's root, see engram_hot_tier.h)
 * when its header allows it.  What an index fetch that missed the hot tier
 * does with the row it read from the heap; "as_copy": only as a cached copy
 * (engram_hot_tier_store_copy, the row keeps its tier), for rows read in
 * passing.
 */
void
engram_tam_admit_hot(Relation rel, ItemPointer index_tid, HeapTuple tuple, HeapTuple decoded,
					 Buffer buffer, bool as_copy)
{
	HeapTuple	flat;

	/* a full hot tier refuses a copy: no flattening (detoasting) for it */
	if (as_copy && !engram_hot_tier_may_copy(rel, index_tid))
		return;
	flat = engram_hot_tier_flatten(rel, decoded ? decoded : tuple);
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	if (engram_hot_tier_cacheable(tuple->t_data))
	{
		if (as_copy)
			engram_hot_tier_store_copy(rel, index_tid, flat, tuple->t_data, decoded != NULL);
		else
			engram_hot_tier_store(rel, index_tid, flat, tuple->t_data);
	}
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	if (flat != decoded && flat != tuple)
		heap_freetuple(flat);
}

static bool
engram_index_fetch_tuple(struct IndexFetchTableData *scan, ItemPointer tid,
						 Snapshot snapshot, TupleTableSlot *slot,
						 bool *call_again, bool *all_dead)
{
	Relation	rel = scan->rel;
	IndexFetchHeapData *hscan = (IndexFetchHeapData *) scan;
	bool		plain_mvcc = snapshot->snapshot_type == SNAPSHOT_MVCC;
	bool		count_access = plain_mvcc && engram_access_fetch_tracking();
	bool		use_hot = plain_mvcc && engram_hot_tier_lookups && engram_hot_tier_available();
	ItemPointerData index_tid = *tid;
	HeapTuple	tuple;
	HeapTuple	row = NULL;

	if (use_hot && !*call_again)
	{
		HeapTuple	hit = engram_hot_tier_lookup_admit(rel, tid, snapshot);

		engram_metrics_cache_lookup(ENGRAM_CACHE_ACTIVATION, hit != NULL);
		if (hit != NULL)
		{
			*tid = hit->t_self; /* heap reports the chain member it found */
			engram_tam_store_row(rel, slot, hit);
			*call_again = false;
			if (all_dead)
				*all_dead = false;
			if (count_access)
				engram_access_record(RelationGetRelid(rel), tid);
			return true;
		}
	}

	if (!heap_routine()->index_fetch_tuple(scan, tid, snapshot, slot, call_again, all_dead))
		return false;

	tuple = slot_heap_tuple(slot);
	if (engram_tuple_is_stub(tuple->t_data, tuple->t_len))
		row = engram_tam_decode_stub(rel, tuple);

	if (plain_mvcc)
	{
		if (count_access)
			engram_access_record(RelationGetRelid(rel), &slot->tts_tid);
		if (use_hot)
		{
			engram_hot_tier_count_miss(rel);
			engram_tam_admit_hot(rel, &index_tid, tuple, row, hscan->xs_cbuf, false);
		}
	}

	if (row != NULL)
		engram_tam_store_row(rel, slot, row);
	return true;
}

/* ------------------------------------------------------------------------
 * Single-row fetches
 * ------------------------------------------------------------------------
 */

static bool
engram_fetch_row_version(Relation rel, ItemPointer tid, Snapshot snapshot,
						 TupleTableSlot *slot)
{
	if (!heap_routine()->tuple_fetch_row_version(rel, tid, snapshot, slot))
		return false;
	engram_tam_slot_unstub(rel, slot);
	return true;
}

/*
 * Heap's version needs the slot's buffer, which a replaced stub no longer
 * has: re-read the header at the slot's TID in that case.
 */
static bool
engram_tuple_satisfies_snapshot(Relation rel, TupleTableSlot *slot, Snapshot snapshot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	Buffer		buffer;
	Page		page;
	ItemId		lp;
	HeapTupleData tuple;
	bool		result;

	if (BufferIsValid(bslot->buffer))
		return heap_routine()->tuple_satisfies_snapshot(rel, slot, snapshot);

	buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(&slot->tts_tid));
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	lp = PageGetItemId(page, ItemPointerGetOffsetNumber(&slot->tts_tid));
	if (!ItemIdIsNormal(lp))
		result = false;
	else
	{
		tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
		tuple.t_len = ItemIdGetLength(lp);
		tuple.t_self = slot->tts_tid;
		tuple.t_tableOid = RelationGetRelid(rel);
		result = HeapTupleSatisfiesVisibility(&tuple, snapshot, buffer);
	}
	UnlockReleaseBuffer(buffer);
	return result;
}

/* ------------------------------------------------------------------------
 * Bitmap, sample and analyze scans
 * ------------------------------------------------------------------------
 */

static bool
engram_scan_bitmap_next_tuple(TableScanDesc scan, struct TBMIterateResult *tbmres,
							  TupleTableSlot *slot)
{
	if (!heap_routine()->scan_bitmap_next_tuple(scan, tbmres, slot))
		return false;
	engram_tam_slot_unstub(scan->rs_rd, slot);
	return true;
}

static bool
engram_scan_sample_next_tuple(TableScanDesc scan, struct SampleScanState *scanstate,
							  TupleTableSlot *slot)
{
	if (!heap_routine()->scan_sample_next_tuple(scan, scanstate, slot))
		return false;
	engram_tam_slot_unstub(scan->rs_rd, slot);
	return true;
}

static bool
engram_scan_analyze_next_tuple(TableScanDesc scan, TransactionId OldestXmin,
							   double *liverows, double *deadrows, TupleTableSlot *slot)
{
	if (!heap_routine()->scan_analyze_next_tuple(scan, OldestXmin, liverows, deadrows, slot))
		return false;
	engram_tam_slot_unstub(scan->rs_rd, slot);
	return true;
}

/* Install the read-path callbacks of this file into "routine". */
void
engram_tam_setup_scan_callbacks(TableAmRoutine *routine)
{
	routine->scan_getnextslot = engram_scan_getnextslot;
	routine->scan_getnextslot_tidrange = engram_scan_getnextslot_tidrange;
	routine->index_fetch_tuple = engram_index_fetch_tuple;
	routine->tuple_fetch_row_version = engram_fetch_row_version;
	routine->tuple_satisfies_snapshot = engram_tuple_satisfies_snapshot;
	routine->scan_bitmap_next_tuple = engram_scan_bitmap_next_tuple;
	routine->scan_sample_next_tuple = engram_scan_sample_next_tuple;
	routine->scan_analyze_next_tuple = engram_scan_analyze_next_tuple;
}
