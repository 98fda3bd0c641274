/*-------------------------------------------------------------------------
 *
 * hnswpending.c
 *	  The pending list of engram_hnsw: rows whose graph insertion is
 *	  deferred (reloption deferred_insert = on), read by every scan and
 *	  merged into the graph later.
 *
 * Responsibilities:
 *	  - append a deferred row (aminsert), one generic WAL record each
 *	    (built from the changed bytes, see append_entry());
 *	  - read the list for a scan: every entry with its exact distance
 *	    (and, in an int8 index, a lower bound of its ORDER BY value);
 *	  - merge entries into the graph (engram_hnsw_flush_pending(), VACUUM,
 *	    an inserter that finds the list over its limit, the background
 *	    worker's bounded engram_hnsw_merge_pending_batch()), removing the
 *	    dead ones VACUUM names;
 *	  - check the list for engram_hnsw_verify().
 *
 * Layout (hnsw.h, PENDING LIST): pending pages form a singly linked list
 * from the metapage's pending_head to its pending_tail through the "next"
 * field of their special space.  Entries are line-pointer items
 * (EngramHnswPendingEntryData: heap TID and the prepared float4 vector,
 * or, in a compact entry, the heap TID alone: the vector is read from the
 * heap row, see hnsw.h, COMPACT ENTRIES), appended at the tail, removed
 * from the head.  The metapage counts the
 * entries and pages.
 *
 * Locking:
 *	  - append: metapage exclusive, then the tail page exclusive (and a new
 *	    page, from relation extension, when the tail is full); one generic
 *	    WAL record covers all of them, so the list is never seen half
 *	    linked, not even after a crash;
 *	  - merge: the heavyweight merge lock (a tuple lock on a pseudo item
 *	    pointer of the index, see hnsw.h; ExclusiveLock; taken
 *	    conditionally by inserters and autovacuum's cleanup, waited for by
 *	    VACUUM's bulk delete, engram_hnsw_flush_pending() and inserters
 *	    over twice the limit), held from the copy of a page's entries to
 *	    their deletion, released and taken again between pages so that a
 *	    waiting inserter gets its turn.  It copies the head page's entries under a share lock,
 *	    inserts them into the graph (the update lock and single buffer
 *	    locks of hnswinsert.c), then locks metapage and head page
 *	    exclusively and deletes the copied entries in one record;
 *	  - scan: share lock on one pending page at a time, no heavyweight
 *	    lock.
 * Only a merge deletes entries or unlinks pages, and only at the head; an
 * unlinked page becomes an empty element page in the same record and never
 * becomes a pending page again.  A scan that reaches a page that is not a
 * pending page any more starts again from the metapage's current head:
 * every entry before it has been merged into the graph, which the scan
 * searches after reading the list.
 *
 * Crash safety: an entry is inserted into the graph (its own WAL records)
 * before the record that deletes it from the list, so a crash in between
 * leaves it in both places, never in neither.  The next merge skips an
 * entry whose graph search meets an element of the same heap TID; if the
 * crash came before the new element was linked to, the search cannot meet
 * it and the row gets a second element: scans return each heap TID once,
 * and VACUUM removes both elements when the row dies.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "access/generic_xlog.h"
#include "access/heapam.h"
#include "access/itup.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "access/relation.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "engram.h"
#include "hnsw/hnsw.h"
#include "recall/engram_recall.h"
#include "tam/engram_tam.h"

PG_FUNCTION_INFO_V1(engram_hnsw_flush_pending);
PG_FUNCTION_INFO_V1(engram_hnsw_pending_stats);

void
engram_hnsw_pending_init_meta(EngramHnswMetaPageData *meta)
{
	meta->pending_head = InvalidBlockNumber;
	meta->pending_tail = InvalidBlockNumber;
	meta->pending_count = 0;
	meta->pending_pages = 0;
}

/* True when "page" is a pending page of this access method. */
static bool
is_pending_page(Page page)
{
	return !PageIsNew(page) &&
		PageGetSpecialSize(page) == MAXALIGN(sizeof(EngramHnswPageOpaqueData)) &&
		EngramHnswPageGetOpaque(page)->page_id == ENGRAM_HNSW_PAGE_ID &&
		EngramHnswPageGetOpaque(page)->page_type == ENGRAM_HNSW_PAGE_PENDING;
}

static void
init_pending_page(Page page)
{
	EngramHnswPendingPageOpaqueData *opaque;

	PageInit(page, BLCKSZ, sizeof(EngramHnswPendingPageOpaqueData));
	opaque = EngramHnswPendingPageGetOpaque(page);
	opaque->page_type = ENGRAM_HNSW_PAGE_PENDING;
	opaque->page_id = ENGRAM_HNSW_PAGE_ID;
	opaque->next = InvalidBlockNumber;
}

static void
pending_page_corrupted(Relation index, BlockNumber blkno, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg_internal("engram_hnsw index \"%s\": block %u %s",
							 RelationGetRelationName(index), blkno, what),
			 errhint("Run engram_hnsw_verify() on the index, then REINDEX it.")));
}

EngramHnswPendingEntry
engram_hnsw_pending_page_entry(Page page, OffsetNumber offno)
{
	ItemId		itemid;

	if (!is_pending_page(page) ||
		offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
		return NULL;
	itemid = PageGetItemId(page, offno);
	if (!ItemIdIsUsed(itemid) || !ItemIdHasStorage(itemid))
		return NULL;
	return (EngramHnswPendingEntry) PageGetItem(page, itemid);
}

/* ---------------------------------------------------------------------
 * Compact entries: the vector read from the heap row (hnsw.h, COMPACT
 * ENTRIES)
 * ---------------------------------------------------------------------
 */

/*
 * Reads indexed vectors from the heap rows of compact entries, keeping the
 * pin of the last heap page read (entries are appended in insert order, so
 * consecutive ones mostly name the same page) and, for a scan, its share
 * lock between entries of one page ("locked"; heap_vector_reader_unlock()
 * ends it, before the caller locks any page of the index).  The heap is
 * opened on first use with AccessShareLock (every caller's transaction
 * holds a lock on it already, or gets one here, in the usual
 * heap-then-index order for all but engram_hnsw_flush_pending());
 * heap_vector_reader_end() releases the pin and keeps the lock until the
 * end of the transaction.
 */
typedef struct HeapVectorReader
{
	Relation	index;
	Relation	heap;			/* the caller's, or NULL until first used */
	bool		own_heap;		/* opened here: close at the end */
	AttrNumber	attnum;			/* the indexed column of the heap */
	BlockNumber nblocks;		/* heap size as last read */
	Buffer		buf;			/* pinned heap page, or InvalidBuffer */
	bool		locked;			/* buf is share-locked */
} HeapVectorReader;

/* What heap_row_vector() found at an entry's TID. */
typedef enum HeapRowVector
{
	HEAP_ROW_VECTOR,			/* the vector, prepared, in "out" */
	HEAP_ROW_GONE,				/* no tuple there: the row is dead */
	HEAP_ROW_OTHER				/* a tuple without the entry's vector */
} HeapRowVector;

static void
heap_vector_reader_init(HeapVectorReader *reader, Relation index)
{
	reader->index = index;
	reader->heap = NULL;
	reader->own_heap = false;
	reader->attnum = index->rd_index->indkey.values[0];
	reader->nblocks = 0;
	reader->buf = InvalidBuffer;
	reader->locked = false;
}

/* The heap, opened on first use. */
static Relation
heap_vector_reader_heap(HeapVectorReader *reader)
{
	if (reader->heap == NULL)
	{
		reader->heap = relation_open(reader->index->rd_index->indrelid, AccessShareLock);
		reader->own_heap = true;
		reader->nblocks = RelationGetNumberOfBlocks(reader->heap);
	}
	return reader->heap;
}

static void
heap_vector_reader_unlock(HeapVectorReader *reader)
{
	if (reader->locked)
		LockBuffer(reader->buf, BUFFER_LOCK_UNLOCK);
	reader->locked = false;
}

static void
heap_vector_reader_end(HeapVectorReader *reader)
{
	heap_vector_reader_unlock(reader);
	if (BufferIsValid(reader->buf))
		ReleaseBuffer(reader->buf);
	reader->buf = InvalidBuffer;
	if (reader->own_heap)
		relation_close(reader->heap, NoLock);
	reader->heap = NULL;
	reader->own_heap = false;
}

/*
 * Share-lock the heap page of "tid" (unless the reader holds its lock
 * already) and find the tuple the TID names: the tuple itself, or, unless
 * "fresh_only", the one its HOT redirect names.  With "fresh_only"
 * (aminsert's check) the tuple must be the TID's own, a normal tuple not
 * HOT-updated.  Returns the tuple in *tuple, or HEAP_ROW_GONE /
 * HEAP_ROW_OTHER; either way the page may stay locked
 * (heap_vector_reader_unlock()).
 */
static HeapRowVector
lock_heap_row(HeapVectorReader *reader, ItemPointer tid, bool fresh_only,
			  HeapTupleData *tuple)
{
	BlockNumber blkno = ItemPointerGetBlockNumber(tid);
	OffsetNumber offno = ItemPointerGetOffsetNumber(tid);
	Page		page;
	ItemId		itemid;

	if (reader->locked && BufferGetBlockNumber(reader->buf) != blkno)
		heap_vector_reader_unlock(reader);
	if (!reader->locked)
	{
		Relation	heap = heap_vector_reader_heap(reader);

		if (blkno >= reader->nblocks &&
			blkno >= (reader->nblocks = RelationGetNumberOfBlocks(heap)))
			return HEAP_ROW_GONE;
		if (!BufferIsValid(reader->buf) || BufferGetBlockNumber(reader->buf) != blkno)
		{
			if (BufferIsValid(reader->buf))
				ReleaseBuffer(reader->buf);
			/* without the buffer mapping table when it can (recent_buffers.c) */
			reader->buf = engram_recall_read_buffer(heap, blkno);
		}
		LockBuffer(reader->buf, BUFFER_LOCK_SHARE);
		reader->locked = true;
	}
	page = BufferGetPage(reader->buf);
	if (offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
		return HEAP_ROW_GONE;
	itemid = PageGetItemId(page, offno);
	if (ItemIdIsRedirected(itemid) && !fresh_only)
	{
		offno = ItemIdGetRedirect(itemid);
		itemid = PageGetItemId(page, offno);
	}
	else if (ItemIdIsNormal(itemid) &&
			 HeapTupleHeaderIsHeapOnly((HeapTupleHeader) PageGetItem(page, itemid)))
		return HEAP_ROW_OTHER;	/* a root TID never holds a heap-only tuple */
	if (!ItemIdIsNormal(itemid))
		return fresh_only && ItemIdIsRedirected(itemid) ? HEAP_ROW_OTHER : HEAP_ROW_GONE;
	tuple->t_data = (HeapTupleHeader) PageGetItem(page, itemid);
	tuple->t_len = ItemIdGetLength(itemid);
	tuple->t_tableOid = RelationGetRelid(reader->heap);
	ItemPointerSet(&tuple->t_self, blkno, offno);
	if (fresh_only && HeapTupleHeaderIsHotUpdated(tuple->t_data))
		return HEAP_ROW_OTHER;
	return HEAP_ROW_VECTOR;
}

/*
 * The stored vector (*vec) of the row a compact entry names by "tid", or
 * why there is none (HEAP_ROW_GONE: skip the entry, the row is dead;
 * HEAP_ROW_OTHER: skip it too, the tuple there is not one the entry can
 * have been made for).  A value stored inline, uncompressed, with a 4-byte
 * header is returned in place, on the page the reader keeps locked; any
 * other (a later HOT chain member's compressed or TOASTed value) is copied
 * out and detoasted after the page lock is released.
 */
static HeapRowVector
heap_row_stored_vector(HeapVectorReader *reader, const EngramHnswMetaPageData *meta,
					   ItemPointer tid, const EngramVector **vec)
{
	HeapTupleData tuple;
	HeapRowVector found = lock_heap_row(reader, tid, false, &tuple);
	Datum		value;
	bool		isnull;
	struct varlena *stored;

	if (found != HEAP_ROW_VECTOR)
		return found;
	value = heap_getattr(&tuple, reader->attnum, RelationGetDescr(reader->heap), &isnull);
	if (isnull)
		return HEAP_ROW_OTHER;
	stored = (struct varlena *) DatumGetPointer(value);
	if (VARATT_IS_EXTENDED(stored))
	{
		/* copy out what the page holds, detoast without the page lock */
		struct varlena *copy = palloc(VARSIZE_ANY(stored));
		bool		pushed = false;

		memcpy(copy, stored, VARSIZE_ANY(stored));
		heap_vector_reader_unlock(reader);
		if (VARATT_IS_EXTERNAL(copy) && !ActiveSnapshotSet())
		{
			/* reading TOAST needs a snapshot; a merge's caller may have none */
			PushActiveSnapshot(GetTransactionSnapshot());
			pushed = true;
		}
		stored = detoast_attr(copy);
		if (pushed)
			PopActiveSnapshot();
	}
	*vec = (const EngramVector *) stored;
	return (*vec)->dim == meta->dimensions ? HEAP_ROW_VECTOR : HEAP_ROW_OTHER;
}

/*
 * The prepared vector (dims floats, into "out") of the row a compact
 * entry names by "tid", or why there is none (heap_row_stored_vector()).
 * Nothing is left locked.
 */
static HeapRowVector
heap_row_vector(HeapVectorReader *reader, const EngramHnswMetaPageData *meta,
				ItemPointer tid, float *out)
{
	const EngramVector *vec;
	HeapRowVector found = heap_row_stored_vector(reader, meta, tid, &vec);

	/* a zero vector under cosine is never indexed: not the entry's row */
	if (found == HEAP_ROW_VECTOR &&
		!engram_hnsw_prepare_vector(reader->index, meta->metric, meta->dimensions, vec, out))
		found = HEAP_ROW_OTHER;
	heap_vector_reader_unlock(reader);
	return found;
}

/* A value stored in the tuple itself, uncompressed (either header size). */
static bool
varlena_is_inline_plain(const struct varlena *value)
{
	return !VARATT_IS_EXTERNAL(value) && !VARATT_IS_COMPRESSED(value);
}

/*
 * May the row aminsert indexes at "heaptid" of "heap", with index value
 * "value", get a compact entry?  The conditions of hnsw.h, COMPACT
 * ENTRIES, checked on the heap page itself (the row was just written; no
 * lock of the index is held).
 */
static bool
compact_entry_allowed(Relation index, Relation heap, Datum value, ItemPointer heaptid)
{
	HeapVectorReader reader;
	HeapTupleData tuple;
	struct varlena *indexed = (struct varlena *) DatumGetPointer(value);
	bool		allowed = false;

	if (heap == NULL || index->rd_index->indnatts != 1 ||
		index->rd_index->indkey.values[0] == 0 ||	/* an expression */
		RelationGetRelid(heap) != index->rd_index->indrelid ||
		(heap->rd_tableam != GetHeapamTableAmRoutine() && !engram_relation_is_engram(heap)) ||
		!varlena_is_inline_plain(indexed))
		return false;
	heap_vector_reader_init(&reader, index);
	reader.heap = heap;
	reader.nblocks = MaxBlockNumber;	/* the row was just written: no size check */
	if (lock_heap_row(&reader, heaptid, true, &tuple) == HEAP_ROW_VECTOR)
	{
		bool		isnull;
		struct varlena *stored = (struct varlena *)
			DatumGetPointer(heap_getattr(&tuple, reader.attnum, RelationGetDescr(heap), &isnull));

		allowed = !isnull && varlena_is_inline_plain(stored) &&
			VARSIZE_ANY_EXHDR(stored) == VARSIZE_ANY_EXHDR(indexed) &&
			memcmp(VARDATA_ANY(stored), VARDATA_ANY(indexed), VARSIZE_ANY_EXHDR(indexed)) == 0;
	}
	heap_vector_reader_end(&reader);
	return allowed;
}

/* ---------------------------------------------------------------------
 * Append (aminsert of an index that defers)
 * ---------------------------------------------------------------------
 */

/*
 * Add one fragment of generic WAL's page-delta format (OffsetNumber
 * offset, OffsetNumber length, the bytes) for block "block_id" of the
 * record being built: the bytes at "offset" of "page" as they are now.
 * "header" is the caller's storage for the two OffsetNumbers, which must
 * live until XLogInsert.
 */
static void
register_page_fragment(uint8 block_id, Page page, Size offset, Size length,
					   OffsetNumber header[2])
{
	header[0] = (OffsetNumber) offset;
	header[1] = (OffsetNumber) length;
	XLogRegisterBufData(block_id, (char *) header, 2 * sizeof(OffsetNumber));
	XLogRegisterBufData(block_id, (char *) page + offset, length);
}

/*
 * Append "entry" (size bytes) at the tail of the list, adding a page when
 * the tail has no room.  Sets *pages and *count to the pages and entries
 * on the list afterwards.  No buffer lock held on entry or exit.
 *
 * WAL: one generic WAL record (RM_GENERIC_ID, replayed by PostgreSQL's own
 * generic_redo, so a standby needs no engram code) for the metapage, the
 * tail and the new page, built here from the bytes the append changes
 * rather than by GenericXLogFinish, which copies every page twice and
 * compares it byte by byte (a third of an append's CPU on 768-dimension
 * entries).  The delta fragments are: the metapage's EngramHnswMetaPageData;
 * on the tail page the header fields that change (pd_flags, pd_lower,
 * pd_upper), the new item's line pointer and the new item (not every line
 * pointer: a page of compact entries has hundreds); on a former tail that
 * gets a successor, the "next" field of its special space.  A new page is logged whole
 * (as GenericXLogFinish does with GENERIC_XLOG_FULL_IMAGE).  generic_redo
 * zeroes the hole between pd_lower and pd_upper after applying the
 * fragments; the hole of a pending page is zero here too, since pages
 * start zeroed (PageInit) and items are only ever added below pd_upper.
 */
static void
append_entry(Relation index, EngramHnswPendingEntry entry, Size size, uint32 *pages,
			 uint32 *count)
{
	Buffer		meta_buf;
	Buffer		tail_buf = InvalidBuffer;
	Buffer		new_buf = InvalidBuffer;
	EngramHnswMetaPage meta;
	Page		meta_page;
	Page		tail_page = NULL;
	Page		target;
	BlockNumber tail;
	LocationIndex old_upper;
	OffsetNumber offno;
	OffsetNumber meta_header[2];
	OffsetNumber tail_headers[3][2];
	OffsetNumber link_header[2];

	meta_buf = ReadBuffer(index, ENGRAM_HNSW_METAPAGE_BLKNO);
	LockBuffer(meta_buf, BUFFER_LOCK_EXCLUSIVE);
	meta_page = BufferGetPage(meta_buf);
	meta = EngramHnswPageGetMeta(meta_page);
	tail = meta->pending_tail;
	if (BlockNumberIsValid(tail))
	{
		tail_buf = ReadBuffer(index, tail);
		LockBuffer(tail_buf, BUFFER_LOCK_EXCLUSIVE);
		tail_page = BufferGetPage(tail_buf);
		if (!is_pending_page(tail_page))
			pending_page_corrupted(index, tail, "is the pending list's tail but not a pending page");
	}
	if (tail_page == NULL || PageGetFreeSpace(tail_page) < MAXALIGN(size) ||
		PageGetMaxOffsetNumber(tail_page) >= ENGRAM_HNSW_PENDING_MAX_ENTRIES)
		new_buf = engram_hnsw_new_buffer(index);
	target = BufferIsValid(new_buf) ? BufferGetPage(new_buf) : tail_page;

	START_CRIT_SECTION();
	if (BufferIsValid(new_buf))
	{
		BlockNumber new_blkno = BufferGetBlockNumber(new_buf);

		init_pending_page(target);
		if (tail_page != NULL)
			EngramHnswPendingPageGetOpaque(tail_page)->next = new_blkno;
		else
			meta->pending_head = new_blkno;
		meta->pending_tail = new_blkno;
		meta->pending_pages++;
	}
	old_upper = ((PageHeader) target)->pd_upper;
	/* Room was checked above: a fresh page holds any entry (pending_insert). */
	offno = PageAddItem(target, (Item) entry, size, InvalidOffsetNumber, false, false);
	if (offno == InvalidOffsetNumber)
		elog(PANIC, "failed to add a pending entry to engram_hnsw index \"%s\"",
			 RelationGetRelationName(index));
	meta->pending_count++;
	*pages = meta->pending_pages;
	*count = meta->pending_count;

	MarkBufferDirty(meta_buf);
	if (tail_page != NULL)
		MarkBufferDirty(tail_buf);
	if (BufferIsValid(new_buf))
		MarkBufferDirty(new_buf);

	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	lsn;
		uint8		block_id = 0;

		XLogBeginInsert();
		XLogRegisterBuffer(block_id, meta_buf, REGBUF_STANDARD);
		register_page_fragment(block_id, meta_page, (char *) meta - (char *) meta_page,
							   sizeof(EngramHnswMetaPageData), meta_header);
		block_id++;
		if (BufferIsValid(new_buf))
		{
			XLogRegisterBuffer(block_id++, new_buf, REGBUF_FORCE_IMAGE | REGBUF_STANDARD);
			if (tail_page != NULL)
			{
				EngramHnswPendingPageOpaqueData *opaque = EngramHnswPendingPageGetOpaque(tail_page);

				XLogRegisterBuffer(block_id, tail_buf, REGBUF_STANDARD);
				register_page_fragment(block_id, tail_page, (char *) &opaque->next - (char *) tail_page,
									   sizeof(BlockNumber), link_header);
			}
		}
		else
		{
			PageHeader	header = (PageHeader) tail_page;

			XLogRegisterBuffer(block_id, tail_buf, REGBUF_STANDARD);
			register_page_fragment(block_id, tail_page, offsetof(PageHeaderData, pd_flags),
								   offsetof(PageHeaderData, pd_special) -
								   offsetof(PageHeaderData, pd_flags),
								   tail_headers[0]);
			register_page_fragment(block_id, tail_page,
								   (char *) PageGetItemId(tail_page, offno) - (char *) tail_page,
								   sizeof(ItemIdData), tail_headers[1]);
			register_page_fragment(block_id, tail_page, header->pd_upper,
								   old_upper - header->pd_upper, tail_headers[2]);
		}
		lsn = XLogInsert(RM_GENERIC_ID, 0);
		PageSetLSN(meta_page, lsn);
		if (tail_page != NULL)
			PageSetLSN(tail_page, lsn);
		if (BufferIsValid(new_buf))
			PageSetLSN(target, lsn);
	}
	END_CRIT_SECTION();

	if (BufferIsValid(new_buf))
		UnlockReleaseBuffer(new_buf);
	if (BufferIsValid(tail_buf))
		UnlockReleaseBuffer(tail_buf);
	UnlockReleaseBuffer(meta_buf);
}

/* Room for items on an empty pending page. */
#define PENDING_PAGE_ROOM \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(EngramHnswPendingPageOpaqueData)))

/*
 * The size, in kB, that pending_list_limit is compared with: the larger of
 * the list's pages and the pages its "count" entries would take as full
 * entries of "dims" dimensions (hnsw.h, COMPACT ENTRIES), so that the limit
 * bounds a scan's work (one vector per entry) as it did before compact
 * entries.
 */
static uint64
pending_list_kb(uint32 pages, uint32 count, int dims)
{
	uint64		full_per_page = PENDING_PAGE_ROOM /
		(MAXALIGN(ENGRAM_HNSW_PENDING_ENTRY_SIZE(dims)) + sizeof(ItemIdData));
	uint64		full_pages = (count + full_per_page - 1) / Max(full_per_page, 1);

	return Max((uint64) pages, full_pages) * (BLCKSZ / 1024);
}

void
engram_hnsw_pending_insert(Relation index, Relation heap, Datum value,
						   const float *vector, int dims, ItemPointer heaptid)
{
	Size		size = ENGRAM_HNSW_PENDING_ENTRY_SIZE(dims);
	EngramHnswPendingEntry entry;
	uint32		pages;
	uint32		count;
	uint64		size_kb;
	uint64		limit_kb;

	if (MAXALIGN(size) > PENDING_PAGE_ROOM - sizeof(ItemIdData))
		elog(ERROR, "engram_hnsw pending entry of %d dimensions does not fit a page", dims);
	if (compact_entry_allowed(index, heap, value, heaptid))
	{
		size = ENGRAM_HNSW_PENDING_COMPACT_SIZE;
		entry = palloc0(size);
		entry->flags = ENGRAM_HNSW_PENDING_COMPACT;
	}
	else
	{
		entry = palloc0(size);
		memcpy(entry->vector, vector, sizeof(float) * dims);
	}
	entry->heaptid = *heaptid;
	append_entry(index, entry, size, &pages, &count);
	pfree(entry);

	/*
	 * Over the limit: this inserter merges a bounded batch if no one is
	 * merging; over twice the limit it waits for its turn (back-pressure:
	 * concurrent inserters then go at the graph's pace, and the list
	 * stops growing).
	 */
	size_kb = pending_list_kb(pages, count, dims);
	limit_kb = (uint64) engram_hnsw_get_pending_list_limit(index);
	if (size_kb > limit_kb)
		engram_hnsw_pending_merge(index, ENGRAM_HNSW_PENDING_INSERT_MERGE,
								  size_kb > 2 * limit_kb, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Scan: read every entry with its distance
 * ---------------------------------------------------------------------
 */

/*
 * A value no larger than the ORDER BY operator's result for a row whose
 * prepared vector is "vector", for an int8 index whose scan re-ranks
 * (hnsw.h, COMPACT REPRESENTATION).  The distance itself is exact up to
 * float rounding; the margin is hnswquant.c's, (dims + 16) * 2^-22
 * relative to the magnitudes involved.
 */
static double
orderby_lower_bound(int metric, const float *query, const float *vector, int dims,
					float distance)
{
	double		margin = (dims + 16) * ldexp(1.0, -22);
	double		query_norm2 = engram_inner_product(query, query, dims);
	double		vector_norm2 = engram_inner_product(vector, vector, dims);

	switch (metric)
	{
		case ENGRAM_HNSW_METRIC_L2:
			{
				double		squared = distance - margin * (query_norm2 + vector_norm2);

				return squared > 0 ? sqrt(squared) * (1.0 - margin) : 0.0;
			}
		case ENGRAM_HNSW_METRIC_INNER_PRODUCT:
			return distance - margin * (sqrt(query_norm2 * vector_norm2) + 1.0);
		default:
			return distance - margin * (sqrt(query_norm2 * vector_norm2) + 2.0);
	}
}

/* Restore the min-heap order of "rows" below position "i". */
static void
sift_down(EngramHnswPendingRows *rows, int i)
{
	EngramHnswPendingRow *heap = rows->rows;
	EngramHnswPendingRow item = heap[i];

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= rows->count)
			break;
		if (child + 1 < rows->count && heap[child + 1].key < heap[child].key)
			child++;
		if (!(heap[child].key < item.key))
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = item;
}

/* Append to "rows" (growing it) the row of "heaptid" whose prepared vector is "vector". */
static void
add_pending_row(EngramHnswPendingRows *rows, int *capacity, const EngramHnswMetaPageData *meta,
				const float *query, bool want_bounds, ItemPointer heaptid, const float *vector)
{
	EngramHnswPendingRow *row;

	if (rows->count == *capacity)
	{
		*capacity *= 2;
		rows->rows = repalloc_huge(rows->rows, sizeof(EngramHnswPendingRow) * *capacity);
	}
	row = &rows->rows[rows->count++];
	row->heaptid = *heaptid;
	row->distance = query == NULL ? 0 :
		engram_hnsw_distance(meta->metric, query, vector, meta->dimensions);
	row->key = want_bounds && query != NULL ?
		orderby_lower_bound(meta->metric, query, vector, meta->dimensions, row->distance) :
		row->distance;
}

/*
 * Compact entries' rows are read in list order, a heap page (two rows at
 * 768 dimensions) after another, each page's first touches cache misses:
 * the buffer header, the page header and line pointer, the tuple header.
 * So the scan starts loading them ahead (prefetch_heap_row): the page of
 * the row HEAP_PREFETCH_PAGES entries on, and the tuple of the row
 * HEAP_PREFETCH_TUPLES on, whose line pointer was requested two entries
 * before.  (The vector itself the hardware prefetcher streams once the
 * distance reads it.)
 */
#define HEAP_PREFETCH_PAGES		4
#define HEAP_PREFETCH_TUPLES	2

/*
 * Start loading, without pin or lock, what reading the row of "tid" of
 * "heap" first touches in the buffer that last held its page
 * (engram_recall_prefetch_page): with "tuple" false its buffer and page
 * headers and line pointer; with "tuple" true the first two lines of the
 * tuple that line pointer names, read from the unpinned page for this
 * hint only (a stale value prefetches other lines of the page).  Not under
 * Valgrind, which marks unpinned buffers inaccessible.
 */
static void
prefetch_heap_row(Relation heap, ItemPointer tid, bool tuple)
{
#if defined(__GNUC__) && !defined(USE_VALGRIND)
	BlockNumber blkno = ItemPointerGetBlockNumber(tid);
	Size		line_pointer = offsetof(PageHeaderData, pd_linp) +
		(ItemPointerGetOffsetNumber(tid) - 1) * sizeof(ItemIdData);
	const char *page;
	uint32		raw;
	ItemIdData	item;

	if (ItemPointerGetOffsetNumber(tid) < FirstOffsetNumber ||
		line_pointer + sizeof(ItemIdData) > BLCKSZ)
		return;
	if (!tuple)
	{
		engram_recall_prefetch_page(heap, blkno, line_pointer);
		return;
	}
	page = engram_recall_remembered_page(heap, blkno);
	if (page == NULL)
		return;
	raw = *(const volatile uint32 *) (page + line_pointer);
	memcpy(&item, &raw, sizeof(item));
	if (ItemIdGetOffset(&item) < SizeOfPageHeaderData ||
		ItemIdGetOffset(&item) + 2 * PG_CACHE_LINE_SIZE > BLCKSZ)
		return;
	__builtin_prefetch(page + ItemIdGetOffset(&item));
	__builtin_prefetch(page + ItemIdGetOffset(&item) + PG_CACHE_LINE_SIZE);
	/* keep the prefetches (see engram_recent_buffers_prefetch) */
	pg_compiler_barrier();
#endif
}

/*
 * Append to "rows" the row of compact entry "heaptid" unless it is gone,
 * its distance computed on the heap page itself: preparing copies the
 * stored vector unchanged but under cosine, where it is normalised into
 * "buffer" (dims floats) straight from the page.  Distances are those of
 * the prepared copy bit for bit (the kernels' sums do not depend on where
 * the vectors sit).  The heap page stays locked for the next entry.
 */
static void
add_compact_pending_row(EngramHnswPendingRows *rows, int *capacity, HeapVectorReader *reader,
						const EngramHnswMetaPageData *meta, const float *query,
						bool want_bounds, ItemPointer heaptid, float *buffer)
{
	const EngramVector *vec;

	if (heap_row_stored_vector(reader, meta, heaptid, &vec) != HEAP_ROW_VECTOR)
		return;
	if (meta->metric != ENGRAM_HNSW_METRIC_COSINE)
		add_pending_row(rows, capacity, meta, query, want_bounds, heaptid, vec->x);
	else if (engram_hnsw_prepare_vector(reader->index, meta->metric, meta->dimensions, vec,
										buffer))
		add_pending_row(rows, capacity, meta, query, want_bounds, heaptid, buffer);
}

/*
 * Full entries are read under the pending page's share lock; the TIDs of
 * compact ones are copied, and their rows read from the heap once that
 * lock is released (never a heap page lock while holding an index lock),
 * their pages loaded ahead (HEAP_PREFETCH_PAGES).
 * A compact entry whose row is gone is skipped (hnsw.h, COMPACT ENTRIES);
 * a NULL query (distance 0 for every row) reads no heap page.
 */
void
engram_hnsw_pending_collect(Relation index, const EngramHnswMetaPageData *meta,
							const float *query, bool want_bounds,
							EngramHnswPendingRows *out)
{
	BlockNumber blkno = meta->pending_head;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber pages_read = 0;
	int			capacity = Max(meta->pending_count, 16);
	HeapVectorReader reader;
	ItemPointerData *compact_tids = palloc(sizeof(ItemPointerData) * MaxOffsetNumber);
	float	   *vector = palloc(sizeof(float) * Max(meta->dimensions, 1));

	out->rows = palloc_extended(sizeof(EngramHnswPendingRow) * capacity, MCXT_ALLOC_HUGE);
	out->count = 0;
	heap_vector_reader_init(&reader, index);
	while (BlockNumberIsValid(blkno))
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;
		OffsetNumber maxoff;
		int			compact_count = 0;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!is_pending_page(page))
		{
			/* unlinked by a merge after its entries went into the graph */
			EngramHnswMetaPageData current;

			UnlockReleaseBuffer(buf);
			engram_hnsw_read_meta(index, &current);
			blkno = current.pending_head;
			nblocks = RelationGetNumberOfBlocks(index);
			pages_read = 0;
			continue;
		}
		maxoff = PageGetMaxOffsetNumber(page);
		for (OffsetNumber offno = FirstOffsetNumber; offno <= maxoff; offno++)
		{
			EngramHnswPendingEntry entry = engram_hnsw_pending_page_entry(page, offno);

			if (entry == NULL)
				continue;
			if (!(entry->flags & ENGRAM_HNSW_PENDING_COMPACT))
				add_pending_row(out, &capacity, meta, query, want_bounds, &entry->heaptid,
								entry->vector);
			else if (query == NULL)
				add_pending_row(out, &capacity, meta, NULL, false, &entry->heaptid, NULL);
			else
				compact_tids[compact_count++] = entry->heaptid;
		}
		blkno = EngramHnswPendingPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
		for (int i = -HEAP_PREFETCH_PAGES; i < compact_count; i++)
		{
			if (i + HEAP_PREFETCH_PAGES < compact_count)
				prefetch_heap_row(heap_vector_reader_heap(&reader),
								  &compact_tids[i + HEAP_PREFETCH_PAGES], false);
			if (i + HEAP_PREFETCH_TUPLES >= 0 && i + HEAP_PREFETCH_TUPLES < compact_count)
				prefetch_heap_row(heap_vector_reader_heap(&reader),
								  &compact_tids[i + HEAP_PREFETCH_TUPLES], true);
			if (i >= 0)
				add_compact_pending_row(out, &capacity, &reader, meta, query, want_bounds,
										&compact_tids[i], vector);
		}
		heap_vector_reader_unlock(&reader);
		/* more pages than blocks: a cycle, unless appends added blocks meanwhile */
		if (++pages_read > nblocks &&
			pages_read > (nblocks = RelationGetNumberOfBlocks(index)))
			pending_page_corrupted(index, blkno, "is on a cycle of the pending list");
	}
	heap_vector_reader_end(&reader);
	pfree(compact_tids);
	pfree(vector);

	/* A heap, not a sort: a LIMIT k scan pops a few rows of many. */
	for (int i = out->count / 2 - 1; i >= 0; i--)
		sift_down(out, i);
}

void
engram_hnsw_pending_pop(EngramHnswPendingRows *rows)
{
	Assert(rows->count > 0);
	rows->rows[0] = rows->rows[--rows->count];
	if (rows->count > 0)
		sift_down(rows, 0);
}

/* ---------------------------------------------------------------------
 * Merge
 * ---------------------------------------------------------------------
 */

/*
 * Delete the first "count" entries of head page "blkno" (those a merge
 * copied: appends only add after them, and only the merge lock's holder
 * deletes), and unlink the page when that empties it: it becomes an empty
 * element page, and insert_blkno is lowered to it so that graph inserts
 * fill it.  One generic WAL record.
 */
static void
delete_merged_entries(Relation index, BlockNumber blkno, int count)
{
	Buffer		meta_buf = ReadBuffer(index, ENGRAM_HNSW_METAPAGE_BLKNO);
	Buffer		buf = ReadBuffer(index, blkno);
	GenericXLogState *state;
	EngramHnswMetaPage meta;
	Page		page;
	OffsetNumber *offsets = palloc(sizeof(OffsetNumber) * Max(count, 1));

	LockBuffer(meta_buf, BUFFER_LOCK_EXCLUSIVE);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	meta = EngramHnswPageGetMeta(GenericXLogRegisterBuffer(state, meta_buf, 0));
	page = GenericXLogRegisterBuffer(state, buf, 0);
	if (meta->pending_head != blkno || !is_pending_page(page) ||
		PageGetMaxOffsetNumber(page) < count)
		pending_page_corrupted(index, blkno, "changed under the pending list's merge lock");

	for (int i = 0; i < count; i++)
		offsets[i] = FirstOffsetNumber + i;
	if (count > 0)
		PageIndexMultiDelete(page, offsets, count);
	meta->pending_count -= Min(meta->pending_count, (uint32) count);
	if (PageGetMaxOffsetNumber(page) == 0)
	{
		if (meta->pending_tail == blkno)
		{
			meta->pending_head = InvalidBlockNumber;
			meta->pending_tail = InvalidBlockNumber;
			meta->pending_count = 0;
		}
		else
			meta->pending_head = EngramHnswPendingPageGetOpaque(page)->next;
		if (meta->pending_pages > 0)
			meta->pending_pages--;
		engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_ELEMENT);
		if (blkno < meta->insert_blkno)
			meta->insert_blkno = blkno;
	}
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
	UnlockReleaseBuffer(meta_buf);
	pfree(offsets);
}

int64
engram_hnsw_pending_merge(Relation index, int64 max_entries, bool wait,
						  IndexBulkDeleteCallback dead, void *dead_state,
						  int64 *removed)
{
	EngramHnswMetaPageData meta;
	BlockNumber stop_blkno;
	int64		merged = 0;
	int64		dropped = 0;
	ItemPointerData merge_lock;
	bool		locked = true;
	MemoryContext context;
	MemoryContext insert_context;
	MemoryContext old;
	HeapVectorReader reader;

	if (removed)
		*removed = 0;
	ItemPointerSet(&merge_lock, ENGRAM_HNSW_PENDING_MERGE_LOCK_BLOCK,
				   ENGRAM_HNSW_PENDING_MERGE_LOCK_OFFSET);
	if (wait)
		LockTuple(index, &merge_lock, ExclusiveLock);
	else if (!ConditionalLockTuple(index, &merge_lock, ExclusiveLock))
		return 0;

	context = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw pending merge",
									ALLOCSET_DEFAULT_SIZES);
	insert_context = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw pending merge insert",
										   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	heap_vector_reader_init(&reader, index);
	engram_hnsw_read_meta(index, &meta);
	/* Merge what the list holds now: a busy list must not keep us forever. */
	stop_blkno = meta.pending_tail;
	while (BlockNumberIsValid(stop_blkno) && merged + dropped < max_entries)
	{
		BlockNumber blkno;
		Buffer		buf;
		Page		page;
		int			present;
		int			count;
		ItemPointerData *tids;
		bool	   *compact;
		float	   *vectors;
		int			dims;

		MemoryContextReset(context);
		engram_hnsw_read_meta(index, &meta);
		blkno = meta.pending_head;
		/* pages join the list by relation extension: block numbers ascend */
		if (!BlockNumberIsValid(blkno) || blkno > stop_blkno)
			break;
		dims = meta.dimensions;

		/* Copy the entries to merge from the head page. */
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!is_pending_page(page))
			pending_page_corrupted(index, blkno, "is the pending list's head but not a pending page");
		present = PageGetMaxOffsetNumber(page);
		count = (int) Min((int64) present, max_entries - merged - dropped);
		tids = palloc(sizeof(ItemPointerData) * Max(count, 1));
		compact = palloc(sizeof(bool) * Max(count, 1));
		vectors = palloc(sizeof(float) * dims * Max(count, 1));
		for (int i = 0; i < count; i++)
		{
			EngramHnswPendingEntry entry = engram_hnsw_pending_page_entry(page, FirstOffsetNumber + i);

			if (entry == NULL)
				pending_page_corrupted(index, blkno, "has an unused line pointer on the pending list");
			tids[i] = entry->heaptid;
			compact[i] = (entry->flags & ENGRAM_HNSW_PENDING_COMPACT) != 0;
			if (!compact[i])
				memcpy(vectors + (Size) i * dims, entry->vector, sizeof(float) * dims);
		}
		UnlockReleaseBuffer(buf);

		/*
		 * Into the graph, unless dead, gone from the heap (a compact entry,
		 * read now: the merge lock keeps VACUUM from removing the entries,
		 * hence from reusing their TIDs, until they are deleted below) or
		 * already there.
		 */
		for (int i = 0; i < count; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if ((dead != NULL && dead(&tids[i], dead_state)) ||
				(compact[i] &&
				 heap_row_vector(&reader, &meta, &tids[i], vectors + (Size) i * dims) !=
				 HEAP_ROW_VECTOR))
				dropped++;
			else
			{
				MemoryContextSwitchTo(insert_context);
				engram_hnsw_insert_vector_unless_present(index, vectors + (Size) i * dims,
														 &tids[i]);
				MemoryContextSwitchTo(context);
				MemoryContextReset(insert_context);
				merged++;
			}
		}
		delete_merged_entries(index, blkno, count);
		if (blkno == stop_blkno && count == present)
			break;

		/* Between pages, let a waiting merger (an inserter) take its turn. */
		UnlockTuple(index, &merge_lock, ExclusiveLock);
		if (wait)
			LockTuple(index, &merge_lock, ExclusiveLock);
		else if (!ConditionalLockTuple(index, &merge_lock, ExclusiveLock))
		{
			locked = false;
			break;
		}
	}
	heap_vector_reader_end(&reader);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	MemoryContextDelete(insert_context);
	if (locked)
		UnlockTuple(index, &merge_lock, ExclusiveLock);
	if (removed)
		*removed = dropped;
	return merged;
}

/*
 * engram_hnsw_merge_pending_batch: the background worker's bounded flush
 * (src/worker, declared in engram.h).  Returns -1 when "index" is not an
 * engram_hnsw index.  Otherwise merges up to max_entries entries of its
 * pending list into the graph, head first, without waiting for a merge
 * that is already running (nothing is merged then), and returns how many;
 * *left receives the entries the list holds afterwards.  An empty list
 * costs one metapage read and no heavyweight lock.  The caller holds at
 * least RowExclusiveLock on the index, on a primary.
 */
int64
engram_hnsw_merge_pending_batch(Relation index, int64 max_entries, int64 *left)
{
	EngramHnswMetaPageData meta;
	int64		merged = 0;

	if (index->rd_rel->relkind != RELKIND_INDEX ||
		index->rd_indam == NULL || index->rd_indam->ambuild != engram_hnsw_build)
		return -1;
	engram_hnsw_read_meta(index, &meta);
	if (meta.pending_count > 0 && max_entries > 0)
	{
		merged = engram_hnsw_pending_merge(index, max_entries, false, NULL, NULL, NULL);
		engram_hnsw_read_meta(index, &meta);
	}
	*left = meta.pending_count;
	return merged;
}

/* ---------------------------------------------------------------------
 * Verify
 * ---------------------------------------------------------------------
 */

/*
 * How many times the walk below starts again from the metapage's head
 * because merges unlinked the pages ahead of it, before it gives up with a
 * warning (each restart needs a merge to have moved the head, so only an
 * index merged without pause while it is walked gets there).
 */
#define PENDING_VERIFY_MAX_RESTARTS		100

/* What "page" (a copy of block "blkno") is, for a report's detail. */
static char *
describe_page(Page page)
{
	if (PageIsNew(page))
		return pstrdup("an all-zero (new) page");
	if (PageGetSpecialSize(page) != MAXALIGN(sizeof(EngramHnswPageOpaqueData)))
		return psprintf("a page that is not engram_hnsw's (special space of %u bytes)",
						(unsigned) PageGetSpecialSize(page));
	if (EngramHnswPageGetOpaque(page)->page_id != ENGRAM_HNSW_PAGE_ID)
		return psprintf("a page that is not engram_hnsw's (page id 0x%04X)",
						(unsigned) EngramHnswPageGetOpaque(page)->page_id);
	switch (EngramHnswPageGetOpaque(page)->page_type)
	{
		case ENGRAM_HNSW_PAGE_META:
			return pstrdup("the metapage");
		case ENGRAM_HNSW_PAGE_ELEMENT:
			return psprintf("an element page with %u line pointers",
							(unsigned) PageGetMaxOffsetNumber(page));
		case ENGRAM_HNSW_PAGE_PENDING:
			return psprintf("a pending page with %u entries, next block %u",
							(unsigned) PageGetMaxOffsetNumber(page),
							EngramHnswPendingPageGetOpaque(page)->next);
	}
	return psprintf("a page of unknown type %u", (unsigned) EngramHnswPageGetOpaque(page)->page_type);
}

/* Copy block "blkno" of "index" into "copy" (BLCKSZ bytes) under a share lock. */
static void
copy_page(Relation index, BlockNumber blkno, char *copy)
{
	Buffer		buf = ReadBuffer(index, blkno);

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	memcpy(copy, BufferGetPage(buf), BLCKSZ);
	UnlockReleaseBuffer(buf);
}

/* Where a walk found the block it checks, for a report's detail. */
static char *
named_by(BlockNumber from)
{
	return BlockNumberIsValid(from) ? psprintf("the next block of pending page %u", from) :
		pstrdup("the metapage's pending head");
}

static int
compare_blocks(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The walk is safe against concurrent appends and merges (verify takes no
 * lock that stops them, and the background worker merges spaces' lists at
 * any time), so that "error" means damage:
 *	  - a merge unlinks pages at the head only, and an unlinked page never
 *	    becomes a pending page again: a walk that reaches a page that is no
 *	    longer a pending page starts again from the metapage's current head
 *	    when the head moved since the walk started from it (a page unlinked
 *	    meanwhile), and reports damage only when it did not;
 *	  - an append adds at the tail, changing the metapage and the old tail
 *	    page in one record: a walk that ends at a page that is not the
 *	    metapage's tail any more reads that page again and goes on from its
 *	    new next block; appended blocks may lie beyond the index's size
 *	    read earlier, so the size is read again before a block is called
 *	    outside the index, and before a long walk is called a cycle;
 *	  - a pending page seen by the whole-index pass (seen[]) before the
 *	    walk is either walked or unlinked by a merge since: one that is
 *	    still a pending page when read again is off the list.
 * Entry and page counts are compared with the metapage only when the list
 * did not visibly change during the walk, and only as a warning.
 */
void
engram_hnsw_pending_verify(Relation index, const EngramHnswMetaPageData *snapshot,
						   const BlockNumber *seen, int seen_count,
						   EngramHnswVerifyReport report, void *arg)
{
	EngramHnswMetaPageData meta = *snapshot;	/* the metapage as last read */
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber pass_head;		/* the head this pass started from */
	BlockNumber blkno;
	BlockNumber from = InvalidBlockNumber;	/* page whose next named blkno */
	BlockNumber last = InvalidBlockNumber;	/* last pending page walked */
	BlockNumber pass_pages = 0;
	uint64		pass_entries = 0;
	BlockNumber *walked;
	int			walked_count = 0;
	int			walked_capacity = 64;
	int			restarts = 0;
	bool		changed = false;	/* the list changed while walked */
	bool		broken = false;
	char	   *copy = palloc(BLCKSZ);
	Page		page = (Page) copy;
	HeapVectorReader reader;
	float	   *vector = NULL;	/* a compact entry's vector */

	heap_vector_reader_init(&reader, index);
	walked = palloc(sizeof(BlockNumber) * walked_capacity);
	if (BlockNumberIsValid(meta.pending_head) != BlockNumberIsValid(meta.pending_tail))
		report(arg, "error", "bad pending list", ENGRAM_HNSW_METAPAGE_BLKNO, InvalidOffsetNumber,
			   psprintf("the metapage names pending head %u and tail %u (one valid, one not), with %u entries on %u pages",
						meta.pending_head, meta.pending_tail, meta.pending_count, meta.pending_pages));

	blkno = pass_head = meta.pending_head;
	while (!broken)
	{
		EngramHnswMetaPageData current;

		while (BlockNumberIsValid(blkno))
		{
			Size		entry_size;

			CHECK_FOR_INTERRUPTS();
			if (blkno >= nblocks || pass_pages >= nblocks)
				nblocks = RelationGetNumberOfBlocks(index); /* appended since */
			if (blkno == ENGRAM_HNSW_METAPAGE_BLKNO || blkno >= nblocks)
			{
				report(arg, "error", "bad pending list",
					   BlockNumberIsValid(from) ? from : ENGRAM_HNSW_METAPAGE_BLKNO,
					   InvalidOffsetNumber,
					   psprintf("%s is block %u, %s (the index has %u blocks)",
								named_by(from), blkno,
								blkno == ENGRAM_HNSW_METAPAGE_BLKNO ? "the metapage" :
								"outside the index", nblocks));
				broken = true;
				break;
			}
			if (pass_pages >= nblocks)
			{
				report(arg, "error", "bad pending list", blkno, InvalidOffsetNumber,
					   psprintf("the pending list has a cycle: more pages walked from head %u than the index's %u blocks",
								pass_head, nblocks));
				broken = true;
				break;
			}
			copy_page(index, blkno, copy);
			if (!is_pending_page(page))
			{
				/* unlinked by a merge since "from" was read? */
				engram_hnsw_read_meta(index, &current);
				if (current.pending_head != pass_head && restarts < PENDING_VERIFY_MAX_RESTARTS)
				{
					restarts++;
					changed = true;
					meta = current;
					blkno = pass_head = current.pending_head;
					from = last = InvalidBlockNumber;
					pass_pages = 0;
					pass_entries = 0;
					continue;
				}
				if (current.pending_head != pass_head)
					report(arg, "warning", "pending list not checked", blkno, InvalidOffsetNumber,
						   psprintf("merges moved the list's head %d times while it was walked; run engram_hnsw_verify() again on a quieter index",
									restarts));
				else
					report(arg, "error", "bad pending list", blkno, InvalidOffsetNumber,
						   psprintf("%s is block %u, which is %s, not a pending page (the metapage names head %u and tail %u)",
									named_by(from), blkno, describe_page(page),
									current.pending_head, current.pending_tail));
				broken = true;
				break;
			}
			if (BlockNumberIsValid(from) && blkno <= from)
			{
				report(arg, "error", "bad pending list", from, InvalidOffsetNumber,
					   psprintf("pending page %u links back to block %u (%s): pages join the list by relation extension, so block numbers ascend along it",
								from, blkno, describe_page(page)));
				broken = true;
				break;
			}

			if (meta.dimensions == 0)
				engram_hnsw_read_meta(index, &meta);	/* set by the first vector */
			if (vector == NULL)
				vector = palloc(sizeof(float) * Max(meta.dimensions, 1));
			entry_size = ENGRAM_HNSW_PENDING_ENTRY_SIZE(meta.dimensions);
			for (OffsetNumber offno = FirstOffsetNumber; offno <= PageGetMaxOffsetNumber(page); offno++)
			{
				ItemId		itemid = PageGetItemId(page, offno);
				EngramHnswPendingEntry entry;
				bool		compact;

				entry = ItemIdIsNormal(itemid) &&
					ItemIdGetLength(itemid) >= ENGRAM_HNSW_PENDING_COMPACT_SIZE ?
					(EngramHnswPendingEntry) PageGetItem(page, itemid) : NULL;
				compact = entry != NULL && (entry->flags & ENGRAM_HNSW_PENDING_COMPACT) != 0;
				if (entry == NULL || (entry->flags & ~ENGRAM_HNSW_PENDING_COMPACT) != 0 ||
					ItemIdGetLength(itemid) != (compact ? ENGRAM_HNSW_PENDING_COMPACT_SIZE : entry_size))
				{
					report(arg, "error", "bad pending entry", blkno, offno,
						   psprintf("line pointer %u of %u is %s of %u bytes (flags 0x%04X); a pending entry of %d dimensions is a used item of %zu bytes, flags 0, or of %zu bytes, flags 0x%04X (compact)",
									(unsigned) offno, (unsigned) PageGetMaxOffsetNumber(page),
									ItemIdIsNormal(itemid) ? "a used item" :
									ItemIdIsDead(itemid) ? "a dead item" :
									ItemIdIsRedirected(itemid) ? "a redirect" : "unused",
									ItemIdGetLength(itemid), entry ? (unsigned) entry->flags : 0,
									meta.dimensions, entry_size,
									(Size) ENGRAM_HNSW_PENDING_COMPACT_SIZE,
									(unsigned) ENGRAM_HNSW_PENDING_COMPACT));
					continue;
				}
				if (!ItemPointerIsValid(&entry->heaptid))
					report(arg, "error", "bad pending entry", blkno, offno,
						   psprintf("the entry's heap TID (%u,%u) is not valid",
									ItemPointerGetBlockNumberNoCheck(&entry->heaptid),
									ItemPointerGetOffsetNumberNoCheck(&entry->heaptid)));
				else if (compact &&
						 heap_row_vector(&reader, &meta, &entry->heaptid, vector) == HEAP_ROW_OTHER)
					report(arg, "warning", "pending entry without its row", blkno, offno,
						   psprintf("compact entry of heap TID (%u,%u): the tuple there holds no vector of %d dimensions (expected only if VACUUM removed the entry and the TID was reused while this walk ran)",
									ItemPointerGetBlockNumber(&entry->heaptid),
									ItemPointerGetOffsetNumber(&entry->heaptid),
									meta.dimensions));
				pass_entries++;
			}
			if (walked_count == walked_capacity)
			{
				walked_capacity *= 2;
				walked = repalloc_huge(walked, sizeof(BlockNumber) * walked_capacity);
			}
			walked[walked_count++] = blkno;
			pass_pages++;
			last = from = blkno;
			blkno = EngramHnswPendingPageGetOpaque(page)->next;
		}
		if (broken)
			break;

		/* The chain's end must be the metapage's tail, unless appends moved it. */
		engram_hnsw_read_meta(index, &current);
		if (current.pending_tail == last)
		{
			if (!BlockNumberIsValid(last) && BlockNumberIsValid(current.pending_head))
				report(arg, "error", "bad pending list", ENGRAM_HNSW_METAPAGE_BLKNO,
					   InvalidOffsetNumber,
					   psprintf("the metapage names pending head %u but no tail", current.pending_head));
			meta = current;
			break;
		}
		changed = true;
		if (BlockNumberIsValid(last))
		{
			copy_page(index, last, copy);
			if (is_pending_page(page) && BlockNumberIsValid(EngramHnswPendingPageGetOpaque(page)->next))
			{
				/* appended to since the walk read it: go on */
				blkno = EngramHnswPendingPageGetOpaque(page)->next;
				continue;
			}
		}
		if (current.pending_head == pass_head ||
			(!BlockNumberIsValid(current.pending_head) && BlockNumberIsValid(current.pending_tail)) ||
			(BlockNumberIsValid(last) && is_pending_page(page)))
		{
			report(arg, "error", "bad pending list",
				   BlockNumberIsValid(last) ? last : ENGRAM_HNSW_METAPAGE_BLKNO, InvalidOffsetNumber,
				   BlockNumberIsValid(last) ?
				   psprintf("the list walked from head %u ends at block %u (%s) but the metapage names tail %u",
							pass_head, last, describe_page(page), current.pending_tail) :
				   psprintf("the metapage names pending head %u and tail %u, the walk from head %u found no page",
							current.pending_head, current.pending_tail, pass_head));
			break;
		}
		/*
		 * The head moved: the list was empty where this pass started and
		 * pages were appended since, or merges unlinked the page the walk
		 * ended at (and perhaps emptied the list).  Walk again from the
		 * current head.
		 */
		if (restarts >= PENDING_VERIFY_MAX_RESTARTS)
		{
			report(arg, "warning", "pending list not checked", ENGRAM_HNSW_METAPAGE_BLKNO,
				   InvalidOffsetNumber,
				   psprintf("merges and appends moved the list's head %d times while it was walked; run engram_hnsw_verify() again on a quieter index",
							restarts));
			broken = true;
			break;
		}
		restarts++;
		meta = current;
		blkno = pass_head = current.pending_head;
		from = last = InvalidBlockNumber;
		pass_pages = 0;
		pass_entries = 0;
	}

	if (!broken && !changed &&
		(pass_pages != meta.pending_pages || pass_entries != meta.pending_count))
		report(arg, "warning", "pending count mismatch", ENGRAM_HNSW_METAPAGE_BLKNO,
			   InvalidOffsetNumber,
			   psprintf("the metapage counts %u entries on %u pages, the list holds " UINT64_FORMAT " on %u (expected only while inserts or merges run)",
						meta.pending_count, meta.pending_pages, pass_entries, pass_pages));

	/* Pending pages the whole-index pass saw: walked, or merged since. */
	if (!broken)
	{
		qsort(walked, walked_count, sizeof(BlockNumber), compare_blocks);
		for (int i = 0; i < seen_count; i++)
		{
			if (bsearch(&seen[i], walked, walked_count, sizeof(BlockNumber), compare_blocks))
				continue;
			copy_page(index, seen[i], copy);
			if (!is_pending_page(page))
				continue;		/* unlinked by a merge after the pass saw it */
			report(arg, "error", "bad pending list", seen[i], InvalidOffsetNumber,
				   psprintf("%s, is off the pending list (walked from head %u: %d pages; the metapage names head %u and tail %u)",
							describe_page(page), pass_head, walked_count,
							meta.pending_head, meta.pending_tail));
		}
	}
	heap_vector_reader_end(&reader);
	pfree(walked);
	pfree(copy);
	if (vector)
		pfree(vector);
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/* Open an engram_hnsw index for the SQL functions; owner (or superuser) only. */
static Relation
open_index_for_pending(Oid indexoid, LOCKMODE mode)
{
	Relation	index = engram_hnsw_open_index(indexoid, mode);

	if (!pg_class_ownercheck(indexoid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_INDEX, RelationGetRelationName(index));
	return index;
}

/*
 * engram_hnsw_flush_pending(index regclass) RETURNS bigint: merge every
 * entry the pending list holds when it starts into the graph, waiting for
 * a merge already running; returns the entries merged.
 */
Datum
engram_hnsw_flush_pending(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Oid			heapoid = IndexGetRelation(indexoid, true);
	Relation	index;
	int64		merged;

	/* the table first, as everywhere (the merge reads compact entries' rows) */
	if (OidIsValid(heapoid))
		LockRelationOid(heapoid, AccessShareLock);
	index = open_index_for_pending(indexoid, RowExclusiveLock);

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recovery is in progress"),
				 errhint("The pending list can only be flushed on the primary.")));
	merged = engram_hnsw_pending_merge(index, PG_INT64_MAX, true, NULL, NULL, NULL);
	relation_close(index, RowExclusiveLock);
	PG_RETURN_INT64(merged);
}

/*
 * engram_hnsw_pending_stats(index regclass, OUT entries bigint, OUT pages
 * bigint): the metapage's counts of the pending list.
 */
Datum
engram_hnsw_pending_stats(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index = engram_hnsw_open_index(indexoid, AccessShareLock);
	EngramHnswMetaPageData meta;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "engram_hnsw_pending_stats must return a composite type");
	engram_require_row_columns(tupdesc, lengthof(values), "engram_hnsw_pending_stats()");
	engram_hnsw_read_meta(index, &meta);
	relation_close(index, AccessShareLock);
	values[0] = Int64GetDatum((int64) meta.pending_count);
	values[1] = Int64GetDatum((int64) meta.pending_pages);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
