/*-------------------------------------------------------------------------
 *
 * hnswverify.c
 *	  engram_hnsw_verify(regclass): walk an engram_hnsw index and report
 *	  structural damage, one row per problem (no rows: healthy).
 *
 * Severity "error" is damage: a bad metapage (magic, version, page id),
 * a page without this access method's page id, an element tuple whose
 * size, levels or format (float4 or int8) do not match the metapage, an
 * int8 element whose scale, error bound or code sum is inconsistent
 * (hnsw.h, COMPACT REPRESENTATION), a second heap TID without a first or
 * equal to it (hnsw.h, MOVED ROWS), a pending list that is not a chain
 * of pending pages in ascending block order from the metapage's head to
 * its tail, a pending page off the list, or an entry of the wrong size
 * (hnswpending.c), an entry point that is no element of its recorded
 * level, a live element's neighbour reference to no element (dangling; a
 * deleted element's references are not checked, see below).  Severity
 * "warning" is an element no search can reach from the entry point (the
 * graph works, but that row can only be found by a sequential scan; an
 * insert interrupted by a crash leaves such an element for an uncommitted
 * row, which vacuum then removes), an entry point on a deleted element
 * (between vacuum's phases 1 and 2, or after a crash there), or
 * pending-list counts that differ from the metapage's.  Every row names the block (and
 * offset) concerned and says in its detail what was found there, so that
 * a report can be diagnosed after the fact.
 *
 * engram_hnsw_layout_stats(regclass) describes how the elements lie on
 * the pages: element pages, live elements, their layer-0 links and how
 * many of those lead to an element of the same page, and the free bytes
 * of element pages (hnswinsert.c, PLACEMENT).
 *
 * Locking: AccessShareLock on the index, no other heavyweight lock (it
 * stops no insert, merge or vacuum); each page is copied under a share
 * lock in turn, one buffer lock at a time.  Concurrent changes are
 * therefore expected, and nothing is reported as an error on the strength
 * of the copies alone: a candidate (a reference to no element, a bad entry
 * point, a pending page off the list, a chain that ends or breaks) is
 * checked again on the pages as they are now (RECHECKS below;
 * hnswpending.c for the list), and the pending list is walked the way
 * appends and merges change it.  (Earlier versions trusted the copies:
 * a merge running during a verify, such as the background worker's
 * pending_flush job, made them report a healthy pending list as broken;
 * tests/t/030_hnsw_pending_stress.pl.)  Warnings (unreachable elements,
 * counts) may still come from concurrent work: run it on a quiet index
 * for a definite answer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "engram.h"
#include "hnsw/hnsw.h"

PG_FUNCTION_INFO_V1(engram_hnsw_verify);

typedef struct VerifyElement
{
	EngramHnswRef ref;
	uint8		flags;
	uint8		level;
	int			first_neighbour;	/* into VerifyState.neighbours */
	int			neighbour_count;	/* all layers together */
} VerifyElement;

typedef struct VerifyState
{
	ReturnSetInfo *rsinfo;
	Relation	index;
	VerifyElement *elements;	/* sorted by ref (pages read in order) */
	int			element_count;
	int			element_capacity;
	EngramHnswRef *neighbours;
	int			neighbour_count;
	int			neighbour_capacity;
} VerifyState;

static void
report(VerifyState *vs, const char *severity, const char *problem,
	   BlockNumber blkno, OffsetNumber offno, const char *detail)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	values[0] = CStringGetTextDatum(severity);
	values[1] = CStringGetTextDatum(problem);
	if (blkno == InvalidBlockNumber)
		nulls[2] = true;
	else
		values[2] = Int64GetDatum((int64) blkno);
	if (offno == InvalidOffsetNumber)
		nulls[3] = true;
	else
		values[3] = Int32GetDatum((int32) offno);
	values[4] = CStringGetTextDatum(detail);
	tuplestore_putvalues(vs->rsinfo->setResult, vs->rsinfo->setDesc, values, nulls);
}

/* report() in the shape hnswpending.c's verify calls. */
static void
report_pending(void *arg, const char *severity, const char *problem,
			   BlockNumber blkno, OffsetNumber offno, const char *detail)
{
	report((VerifyState *) arg, severity, problem, blkno, offno, detail);
}

static int
find_element(const VerifyState *vs, EngramHnswRef ref)
{
	int			low = 0;
	int			high = vs->element_count - 1;

	while (low <= high)
	{
		int			mid = (low + high) / 2;

		if (vs->elements[mid].ref == ref)
			return mid;
		if (vs->elements[mid].ref < ref)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return -1;
}

/* Check one element tuple and remember it and its neighbour refs. */
static void
collect_element(VerifyState *vs, const EngramHnswMetaPageData *meta, Page page,
				BlockNumber blkno, OffsetNumber offno)
{
	ItemId		itemid = PageGetItemId(page, offno);
	EngramHnswElementTuple element;
	VerifyElement *entry;
	bool		link_states = engram_hnsw_meta_link_states(meta);
	int			max_level = engram_hnsw_max_level(meta->dimensions, meta->quantization, meta->m,
												  link_states);

	if (!ItemIdIsUsed(itemid) || !ItemIdHasStorage(itemid))
		return;
	element = (EngramHnswElementTuple) PageGetItem(page, itemid);
	if (EngramHnswElementQuantization(element) != meta->quantization)
	{
		report(vs, "error", "bad element tuple", blkno, offno,
			   psprintf("element format %s in an index with quantization %s",
						EngramHnswElementQuantization(element) == ENGRAM_HNSW_QUANT_INT8 ?
						"int8" : "none",
						meta->quantization == ENGRAM_HNSW_QUANT_INT8 ? "int8" : "none"));
		return;
	}
	if (((element->flags & ENGRAM_HNSW_ELEMENT_LINK_STATES) != 0) != link_states)
	{
		report(vs, "error", "bad element tuple", blkno, offno,
			   psprintf("element %s link states in an index whose elements %s them",
						link_states ? "without" : "with", link_states ? "keep" : "do not keep"));
		return;
	}
	if (element->level > element->slot_level || element->slot_level > max_level ||
		ItemIdGetLength(itemid) !=
		ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(meta->dimensions, meta->quantization, meta->m,
											 element->slot_level, link_states))
	{
		report(vs, "error", "bad element tuple", blkno, offno,
			   psprintf("length %u, level %d, slot level %d for %d dimensions and m = %d",
						ItemIdGetLength(itemid), element->level, element->slot_level,
						meta->dimensions, meta->m));
		return;
	}
	if (link_states)
	{
		const uint8 *states = EngramHnswElementLinkStates(element, meta->dimensions, meta->m);

		for (int i = 0; i < ENGRAM_HNSW_TOTAL_SLOTS(meta->m, element->slot_level); i++)
		{
			if (states[i] > ENGRAM_HNSW_LINK_PRUNED)
			{
				report(vs, "error", "bad element tuple", blkno, offno,
					   psprintf("link state %d at slot %d", states[i], i));
				return;
			}
		}
	}

	if (meta->quantization == ENGRAM_HNSW_QUANT_INT8)
	{
		EngramHnswInt8Vector *encoded = (EngramHnswInt8Vector *) element->vector;
		int64		sumsq = 0;

		for (int i = 0; i < meta->dimensions; i++)
			sumsq += (int32) encoded->codes[i] * encoded->codes[i];
		if (!(encoded->scale >= 0) || isinf(encoded->scale) ||
			!(encoded->error >= 0) || isinf(encoded->error) ||
			sumsq != encoded->code_sumsq)
		{
			report(vs, "error", "bad compact vector", blkno, offno,
				   psprintf("scale %g, error %g, sum of squared codes %d (codes give %lld)",
							encoded->scale, encoded->error, encoded->code_sumsq,
							(long long) sumsq));
			return;
		}
	}

	/* A second heap TID (hnsw.h, MOVED ROWS) comes with a first, another one. */
	if (ItemPointerIsValid(&element->alias_tid) &&
		(!ItemPointerIsValid(&element->heaptid) ||
		 ItemPointerEquals(&element->heaptid, &element->alias_tid)))
		report(vs, "error", "bad heap tids", blkno, offno,
			   psprintf("heap TID (%u,%u), second heap TID (%u,%u)",
						ItemPointerGetBlockNumberNoCheck(&element->heaptid),
						ItemPointerGetOffsetNumberNoCheck(&element->heaptid),
						ItemPointerGetBlockNumberNoCheck(&element->alias_tid),
						ItemPointerGetOffsetNumberNoCheck(&element->alias_tid)));

	if (vs->element_count == vs->element_capacity)
	{
		vs->element_capacity *= 2;
		vs->elements = repalloc_huge(vs->elements, sizeof(VerifyElement) * vs->element_capacity);
	}
	entry = &vs->elements[vs->element_count++];
	entry->ref = EngramHnswRefFromTid(blkno, offno);
	entry->flags = element->flags;
	entry->level = element->level;
	entry->first_neighbour = vs->neighbour_count;
	entry->neighbour_count = 0;
	for (int layer = 0; layer <= element->level; layer++)
	{
		EngramHnswRef refs[2 * ENGRAM_HNSW_MAX_M];
		int			count = engram_hnsw_element_get_layer(element, meta->dimensions,
														  meta->m, layer, refs);

		if (vs->neighbour_count + count > vs->neighbour_capacity)
		{
			vs->neighbour_capacity = (vs->neighbour_count + count) * 2;
			vs->neighbours = repalloc_huge(vs->neighbours,
										   sizeof(EngramHnswRef) * vs->neighbour_capacity);
		}
		memcpy(vs->neighbours + vs->neighbour_count, refs, sizeof(EngramHnswRef) * count);
		vs->neighbour_count += count;
		entry->neighbour_count += count;
	}
}

/* Returns false when the metapage is too damaged to go on. */
static bool
verify_metapage(VerifyState *vs, EngramHnswMetaPageData *meta)
{
	Buffer		buf;
	Page		page;
	bool		ok = true;

	if (RelationGetNumberOfBlocks(vs->index) == 0)
	{
		report(vs, "error", "no metapage", InvalidBlockNumber, InvalidOffsetNumber,
			   "the index has no blocks");
		return false;
	}
	buf = ReadBuffer(vs->index, ENGRAM_HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (PageIsNew(page) ||
		PageGetSpecialSize(page) != MAXALIGN(sizeof(EngramHnswPageOpaqueData)) ||
		EngramHnswPageGetOpaque(page)->page_id != ENGRAM_HNSW_PAGE_ID ||
		EngramHnswPageGetOpaque(page)->page_type != ENGRAM_HNSW_PAGE_META)
	{
		report(vs, "error", "bad page id", ENGRAM_HNSW_METAPAGE_BLKNO, InvalidOffsetNumber,
			   "block 0 is not an engram_hnsw metapage");
		ok = false;
	}
	else
	{
		memcpy(meta, EngramHnswPageGetMeta(page), sizeof(EngramHnswMetaPageData));
		if (meta->magic != ENGRAM_HNSW_MAGIC)
		{
			report(vs, "error", "bad magic", ENGRAM_HNSW_METAPAGE_BLKNO, InvalidOffsetNumber,
				   psprintf("magic is 0x%08X, expected 0x%08X", meta->magic, ENGRAM_HNSW_MAGIC));
			ok = false;
		}
		else if (meta->version < ENGRAM_HNSW_MIN_VERSION || meta->version > ENGRAM_HNSW_VERSION)
		{
			report(vs, "error", "bad version", ENGRAM_HNSW_METAPAGE_BLKNO, InvalidOffsetNumber,
				   psprintf("version is %u, expected %d to %d", meta->version,
							ENGRAM_HNSW_MIN_VERSION, ENGRAM_HNSW_VERSION));
			ok = false;
		}
		else if (meta->m < ENGRAM_HNSW_MIN_M || meta->m > ENGRAM_HNSW_MAX_M ||
				 meta->metric < ENGRAM_HNSW_METRIC_L2 || meta->metric > ENGRAM_HNSW_METRIC_COSINE ||
				 meta->quantization > ENGRAM_HNSW_QUANT_INT8)
		{
			report(vs, "error", "bad metapage", ENGRAM_HNSW_METAPAGE_BLKNO, InvalidOffsetNumber,
				   psprintf("m = %d, metric = %d, quantization = %d",
							meta->m, meta->metric, meta->quantization));
			ok = false;
		}
	}
	UnlockReleaseBuffer(buf);
	return ok;
}

/*
 * RECHECKS.  The pass over the pages copies each page under its share lock
 * in turn, while inserts, merges of the pending list (the background
 * worker's among them) and vacuum may change the pages read before or
 * after.  What looks like damage in those copies is therefore checked
 * again on the pages as they are now, and reported only if it is still
 * there: a real damage stays, a passing state does not (an element
 * written after its page was read, a list that vacuum repaired since, an
 * entry point that moved).
 */

/*
 * Read the element at "ref" now (the page under its share lock).  Returns
 * true and fills *flags, *level and, when "refs" is given, every layer's
 * neighbours (refs[layer], counts[layer]) when an element is there;
 * otherwise false with what the location holds in *what (palloc'd).
 */
static bool
read_element_now(VerifyState *vs, const EngramHnswMetaPageData *meta, EngramHnswRef ref,
				 uint8 *flags, uint8 *level,
				 EngramHnswRef (*refs)[2 * ENGRAM_HNSW_MAX_M], int *counts, char **what)
{
	BlockNumber blkno = EngramHnswRefBlock(ref);
	OffsetNumber offno = EngramHnswRefOffset(ref);
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	Buffer		buf;
	Page		page;
	EngramHnswElementTuple element;
	bool		link_states = engram_hnsw_meta_link_states(meta);
	bool		found = false;

	if (blkno == ENGRAM_HNSW_METAPAGE_BLKNO || blkno >= nblocks)
	{
		*what = psprintf("block %u is %s", blkno,
						 blkno == ENGRAM_HNSW_METAPAGE_BLKNO ? "the metapage" :
						 psprintf("beyond the index's %u blocks", nblocks));
		return false;
	}
	buf = ReadBuffer(vs->index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	element = engram_hnsw_page_element(page, offno);
	if (element != NULL && EngramHnswElementQuantization(element) == meta->quantization &&
		element->level <= element->slot_level &&
		element->slot_level <= engram_hnsw_max_level(meta->dimensions, meta->quantization, meta->m,
													 link_states) &&
		ItemIdGetLength(PageGetItemId(page, offno)) ==
		ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(meta->dimensions, meta->quantization, meta->m,
											 element->slot_level, link_states))
	{
		found = true;
		*flags = element->flags;
		*level = element->level;
		if (refs != NULL)
			for (int layer = 0; layer <= element->level; layer++)
				counts[layer] = engram_hnsw_element_get_layer(element, meta->dimensions, meta->m,
															  layer, refs[layer]);
	}
	else if (PageIsNew(page))
		*what = psprintf("block %u is an all-zero (new) page", blkno);
	else if (PageGetSpecialSize(page) != MAXALIGN(sizeof(EngramHnswPageOpaqueData)) ||
			 EngramHnswPageGetOpaque(page)->page_id != ENGRAM_HNSW_PAGE_ID)
		*what = psprintf("block %u is not an engram_hnsw page", blkno);
	else if (EngramHnswPageGetOpaque(page)->page_type != ENGRAM_HNSW_PAGE_ELEMENT)
		*what = psprintf("block %u is %s", blkno,
						 EngramHnswPageGetOpaque(page)->page_type == ENGRAM_HNSW_PAGE_PENDING ?
						 "a pending-list page" : "not an element page");
	else if (offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
		*what = psprintf("offset %u is beyond the %u line pointers of element page %u",
						 (unsigned) offno, (unsigned) PageGetMaxOffsetNumber(page), blkno);
	else if (element == NULL)
		*what = psprintf("line pointer (%u,%u) is %s", blkno, (unsigned) offno,
						 ItemIdIsUsed(PageGetItemId(page, offno)) ? "used but has no storage" :
						 "unused (a freed element)");
	else
		*what = psprintf("(%u,%u) holds an element tuple that does not match the metapage (see its own row)",
						 blkno, (unsigned) offno);
	UnlockReleaseBuffer(buf);
	return found;
}

/*
 * Live element "base" referred, in the pass, to "target", where the pass
 * found no element: report it if base, read now, is still live and still
 * refers to target, and target still holds no element.
 */
static void
check_dangling_now(VerifyState *vs, const EngramHnswMetaPageData *meta,
				   EngramHnswRef base, EngramHnswRef target)
{
	EngramHnswRef refs[ENGRAM_HNSW_MAX_LEVEL + 1][2 * ENGRAM_HNSW_MAX_M];
	int			counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	uint8		flags;
	uint8		level;
	char	   *what = NULL;
	int			found_layer = -1;

	if (read_element_now(vs, meta, target, &flags, &level, NULL, NULL, &what))
		return;					/* written after its page was read */
	if (!read_element_now(vs, meta, base, &flags, &level, refs, counts, &what) ||
		(flags & ENGRAM_HNSW_ELEMENT_DELETED))
		return;					/* deleted or freed since */
	for (int layer = 0; layer <= level && found_layer < 0; layer++)
		for (int i = 0; i < counts[layer]; i++)
			if (refs[layer][i] == target)
				found_layer = layer;
	if (found_layer < 0)
		return;					/* the list changed since */
	(void) read_element_now(vs, meta, target, &flags, &level, NULL, NULL, &what);
	report(vs, "error", "dangling neighbour", EngramHnswRefBlock(base), EngramHnswRefOffset(base),
		   psprintf("the layer %d list of this live element refers to (%u,%u), which holds no element: %s",
					found_layer, EngramHnswRefBlock(target), (unsigned) EngramHnswRefOffset(target),
					what));
}

/* check_entry_point_now()'s work, under the update lock. */
static EngramHnswRef
check_entry_point_locked(VerifyState *vs)
{
	EngramHnswMetaPageData meta;
	EngramHnswRef entry;
	uint8		flags;
	uint8		level;
	char	   *what = NULL;

	engram_hnsw_read_meta(vs->index, &meta);
	if (meta.entry_level < 0)
	{
		/* is an element the pass saw live still live? */
		for (int i = 0; i < vs->element_count; i++)
		{
			EngramHnswRef ref = vs->elements[i].ref;

			if (!(vs->elements[i].flags & ENGRAM_HNSW_ELEMENT_DELETED) &&
				read_element_now(vs, &meta, ref, &flags, &level, NULL, NULL, &what) &&
				!(flags & ENGRAM_HNSW_ELEMENT_DELETED))
			{
				report(vs, "error", "bad entry point", ENGRAM_HNSW_METAPAGE_BLKNO,
					   InvalidOffsetNumber,
					   psprintf("the metapage says the graph is empty but live elements exist, (%u,%u) of level %d among them",
								EngramHnswRefBlock(ref), (unsigned) EngramHnswRefOffset(ref),
								level));
				break;
			}
		}
		return ENGRAM_HNSW_INVALID_REF;
	}
	entry = EngramHnswRefFromTid(meta.entry_blkno, meta.entry_offno);
	if (!read_element_now(vs, &meta, entry, &flags, &level, NULL, NULL, &what))
		report(vs, "error", "bad entry point", meta.entry_blkno, meta.entry_offno,
			   psprintf("the metapage names an entry point of level %d where there is no element: %s",
						meta.entry_level, what));
	else if (level != meta.entry_level)
		report(vs, "error", "bad entry point", meta.entry_blkno, meta.entry_offno,
			   psprintf("the metapage names an entry point of level %d, the element there is of level %d",
						meta.entry_level, level));
	else if (flags & ENGRAM_HNSW_ELEMENT_DELETED)
	{
		/*
		 * Vacuum marks elements deleted (phase 1) before it moves the entry
		 * point off one (phase 2): a vacuum running, or one a crash
		 * interrupted, leaves this state; searches still pass through a
		 * deleted element, and the next vacuum moves the entry point.
		 */
		report(vs, "warning", "deleted entry point", meta.entry_blkno, meta.entry_offno,
			   psprintf("the entry point (level %d) is a deleted element: a VACUUM running now, or interrupted, moves it",
						meta.entry_level));
		return entry;
	}
	else
		return entry;
	return ENGRAM_HNSW_INVALID_REF;
}


/*
 * The pass's copy of the metapage named an entry point that is not a live
 * element of its level, or an empty graph while live elements exist:
 * check the metapage and its entry point as they are now, under the
 * update lock in ShareLock (hnsw.h, LOCKING), which waits for an insert
 * that changes the entry point (it writes its element before it sets the
 * entry point, holding that lock in ExclusiveLock) and for vacuum's
 * barrier.  Returns the entry point when it is sound now, else
 * ENGRAM_HNSW_INVALID_REF.
 */
static EngramHnswRef
check_entry_point_now(VerifyState *vs)
{
	EngramHnswRef result = ENGRAM_HNSW_INVALID_REF;

	LockPage(vs->index, ENGRAM_HNSW_UPDATE_LOCK, ShareLock);
	result = check_entry_point_locked(vs);
	UnlockPage(vs->index, ENGRAM_HNSW_UPDATE_LOCK, ShareLock);
	return result;
}

static void
verify_index(VerifyState *vs)
{
	EngramHnswMetaPageData meta;
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	char	   *page_copy = palloc(BLCKSZ);
	int			entry_index = -1;
	BlockNumber *pending_blocks;
	int			pending_count = 0;
	int			pending_capacity = 64;

	if (!verify_metapage(vs, &meta))
		return;

	vs->element_capacity = 1024;
	vs->elements = palloc(sizeof(VerifyElement) * vs->element_capacity);
	vs->neighbour_capacity = 1024;
	vs->neighbours = palloc(sizeof(EngramHnswRef) * vs->neighbour_capacity);
	pending_blocks = palloc(sizeof(BlockNumber) * pending_capacity);

	for (BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(vs->index, blkno);
		Page		page = (Page) page_copy;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		memcpy(page_copy, BufferGetPage(buf), BLCKSZ);
		UnlockReleaseBuffer(buf);

		if (PageIsNew(page))
			continue;
		if (PageGetSpecialSize(page) == MAXALIGN(sizeof(EngramHnswPageOpaqueData)) &&
			EngramHnswPageGetOpaque(page)->page_id == ENGRAM_HNSW_PAGE_ID &&
			EngramHnswPageGetOpaque(page)->page_type == ENGRAM_HNSW_PAGE_PENDING)
		{
			/* checked by walking the list below */
			if (pending_count == pending_capacity)
			{
				pending_capacity *= 2;
				pending_blocks = repalloc_huge(pending_blocks, sizeof(BlockNumber) * pending_capacity);
			}
			pending_blocks[pending_count++] = blkno;
			continue;
		}
		if (PageGetSpecialSize(page) != MAXALIGN(sizeof(EngramHnswPageOpaqueData)) ||
			EngramHnswPageGetOpaque(page)->page_id != ENGRAM_HNSW_PAGE_ID ||
			EngramHnswPageGetOpaque(page)->page_type != ENGRAM_HNSW_PAGE_ELEMENT)
		{
			report(vs, "error", "bad page id", blkno, InvalidOffsetNumber,
				   PageGetSpecialSize(page) != MAXALIGN(sizeof(EngramHnswPageOpaqueData)) ?
				   psprintf("not an engram_hnsw page: special space of %u bytes",
							(unsigned) PageGetSpecialSize(page)) :
				   psprintf("not an engram_hnsw element or pending page: page id 0x%04X, page type %u",
							(unsigned) EngramHnswPageGetOpaque(page)->page_id,
							(unsigned) EngramHnswPageGetOpaque(page)->page_type));
			continue;
		}
		for (OffsetNumber offno = FirstOffsetNumber; offno <= PageGetMaxOffsetNumber(page); offno++)
			collect_element(vs, &meta, page, blkno, offno);
	}

	/* The pending list, and no pending page off it. */
	engram_hnsw_pending_verify(vs->index, &meta, pending_blocks, pending_count,
							   report_pending, vs);

	/* The entry point. */
	if (meta.entry_level >= 0)
	{
		entry_index = find_element(vs, EngramHnswRefFromTid(meta.entry_blkno, meta.entry_offno));
		if (entry_index < 0 ||
			(vs->elements[entry_index].flags & ENGRAM_HNSW_ELEMENT_DELETED) ||
			vs->elements[entry_index].level != meta.entry_level)
		{
			EngramHnswRef entry = check_entry_point_now(vs);

			/* sound now: reachability from there, if the pass saw it */
			entry_index = entry == ENGRAM_HNSW_INVALID_REF ? -1 : find_element(vs, entry);
		}
	}
	else if (vs->element_count > 0)
	{
		int			live = 0;

		for (int i = 0; i < vs->element_count; i++)
			if (!(vs->elements[i].flags & ENGRAM_HNSW_ELEMENT_DELETED))
				live++;
		if (live > 0)
			(void) check_entry_point_now(vs);
	}

	/*
	 * Dangling neighbour references of live elements.  A deleted element's
	 * references are not checked: vacuum repairs only live elements' lists
	 * and then frees the deleted ones page by page, so after a vacuum
	 * interrupted by a crash a deleted element may still refer to one
	 * already freed.  Searches skip references to no element, and the next
	 * vacuum frees the rest (its heap tuple is still dead).
	 */
	for (int i = 0; i < vs->element_count; i++)
	{
		VerifyElement *element = &vs->elements[i];

		if (element->flags & ENGRAM_HNSW_ELEMENT_DELETED)
			continue;
		for (int j = 0; j < element->neighbour_count; j++)
		{
			EngramHnswRef ref = vs->neighbours[element->first_neighbour + j];

			if (find_element(vs, ref) < 0)
				check_dangling_now(vs, &meta, element->ref, ref);
		}
	}

	/*
	 * Reachability from the entry point over the edges of every layer (a
	 * search descends, so this over-approximates what searches reach; an
	 * element it misses has no way in at all).
	 */
	if (entry_index >= 0)
	{
		bool	   *reached = palloc0(sizeof(bool) * vs->element_count);
		int		   *queue = palloc(sizeof(int) * vs->element_count);
		int			head = 0;
		int			tail = 0;

		reached[entry_index] = true;
		queue[tail++] = entry_index;
		while (head < tail)
		{
			VerifyElement *element = &vs->elements[queue[head++]];

			for (int j = 0; j < element->neighbour_count; j++)
			{
				int			next = find_element(vs, vs->neighbours[element->first_neighbour + j]);

				if (next >= 0 && !reached[next])
				{
					reached[next] = true;
					queue[tail++] = next;
				}
			}
		}
		for (int i = 0; i < vs->element_count; i++)
			if (!reached[i] && !(vs->elements[i].flags & ENGRAM_HNSW_ELEMENT_DELETED))
				report(vs, "warning", "unreachable element",
					   EngramHnswRefBlock(vs->elements[i].ref),
					   EngramHnswRefOffset(vs->elements[i].ref),
					   "no search from the entry point reaches this element");
	}
}

Datum
engram_hnsw_verify(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	VerifyState vs;

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 5, "engram_hnsw_verify()");
	memset(&vs, 0, sizeof(vs));
	vs.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	vs.index = engram_hnsw_open_index(indexoid, AccessShareLock);
	verify_index(&vs);
	relation_close(vs.index, AccessShareLock);
	return (Datum) 0;
}

/*
 * Call "visit" for every page after the metapage, each share-locked in
 * turn (checked as an engram_hnsw page first): a busy index gives an
 * approximate answer.
 */
static void
for_each_page(Relation index, void (*visit) (Page page, BlockNumber blkno, void *arg), void *arg)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);

	for (BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf = ReadBuffer(index, blkno);
		Page		page;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		engram_hnsw_check_page(index, page, blkno);
		visit(page, blkno, arg);
		UnlockReleaseBuffer(buf);
	}
}

/* engram_hnsw_index_tids() on one page: a row per heap TID it holds. */
static void
put_index_tids(Page page, BlockNumber blkno, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	OffsetNumber maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);

	for (OffsetNumber offno = FirstOffsetNumber; offno <= maxoff; offno++)
	{
		EngramHnswElementTuple element = engram_hnsw_page_element(page, offno);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		ItemPointer element_tid;
		EngramHnswPendingEntry pending = engram_hnsw_pending_page_entry(page, offno);

		if (element == NULL && pending == NULL)
			continue;
		element_tid = palloc(sizeof(ItemPointerData));
		ItemPointerSet(element_tid, blkno, offno);
		values[1] = BoolGetDatum(element &&
								 (element->flags & ENGRAM_HNSW_ELEMENT_DELETED) != 0);
		values[2] = PointerGetDatum(element_tid);
		for (int slot = 0; slot < 2; slot++)
		{
			ItemPointer tid = palloc(sizeof(ItemPointerData));

			if (slot == 0)
				*tid = element ? element->heaptid : pending->heaptid;
			else if (element == NULL || !ItemPointerIsValid(&element->alias_tid))
				break;
			else
				*tid = element->alias_tid;
			values[0] = PointerGetDatum(tid);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

PG_FUNCTION_INFO_V1(engram_hnsw_index_tids);

/*
 * engram_hnsw_index_tids(regclass): every heap TID of every element (two
 * for an element holding both versions of a moved row, hnsw.h MOVED ROWS)
 * with the element's deleted flag, and of every pending-list entry (never
 * deleted), each with its own (block, offset).  Lets a test (or an
 * operator) check that the index holds exactly the table's rows,
 * independently of graph reachability.
 */
Datum
engram_hnsw_index_tids(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo;
	Relation	index;

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 3, "engram_hnsw_index_tids()");
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	index = engram_hnsw_open_index(indexoid, AccessShareLock);

	for_each_page(index, put_index_tids, rsinfo);
	relation_close(index, AccessShareLock);
	return (Datum) 0;
}

/* What engram_hnsw_layout_stats() counts over the pages. */
typedef struct LayoutStats
{
	const EngramHnswMetaPageData *meta;
	int64		element_pages;
	int64		elements;
	int64		links;
	int64		same_page_links;
	int64		free_bytes;
} LayoutStats;

static void
count_layout(Page page, BlockNumber blkno, void *arg)
{
	LayoutStats *stats = (LayoutStats *) arg;

	if (PageIsNew(page) || EngramHnswPageGetOpaque(page)->page_type != ENGRAM_HNSW_PAGE_ELEMENT)
		return;
	stats->element_pages++;
	stats->free_bytes += PageGetExactFreeSpace(page);
	for (OffsetNumber offno = FirstOffsetNumber; offno <= PageGetMaxOffsetNumber(page); offno++)
	{
		EngramHnswElementTuple element = engram_hnsw_page_element(page, offno);
		EngramHnswRef refs[2 * ENGRAM_HNSW_MAX_M];
		int			count;

		if (element == NULL || (element->flags & ENGRAM_HNSW_ELEMENT_DELETED))
			continue;
		stats->elements++;
		count = engram_hnsw_element_get_layer(element, stats->meta->dimensions, stats->meta->m,
											  0, refs);
		stats->links += count;
		for (int i = 0; i < count; i++)
			if (EngramHnswRefBlock(refs[i]) == blkno)
				stats->same_page_links++;
	}
}

PG_FUNCTION_INFO_V1(engram_hnsw_layout_stats);

/*
 * engram_hnsw_layout_stats(regclass): element_pages, elements (live),
 * layer0_links (of live elements), same_page_links (those of them that
 * lead to another element of the same page) and free_bytes (of element
 * pages).  A search that follows a link to the same page finds that page
 * pinned and in the CPU caches, so the share of same-page links says how
 * much a layout helps searches: a build's breadth-first order gives a
 * large one, an order unrelated to the graph almost none.  Each page is
 * read under its share lock in turn (a busy index gives an approximate
 * answer).
 */
Datum
engram_hnsw_layout_stats(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	Relation	index;
	TupleDesc	tupdesc;
	EngramHnswMetaPageData meta;
	LayoutStats stats;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	engram_require_row_columns(tupdesc, lengthof(values), "engram_hnsw_layout_stats()");
	index = engram_hnsw_open_index(indexoid, AccessShareLock);
	engram_hnsw_read_meta(index, &meta);

	memset(&stats, 0, sizeof(stats));
	stats.meta = &meta;
	for_each_page(index, count_layout, &stats);
	relation_close(index, AccessShareLock);

	values[0] = Int64GetDatum(stats.element_pages);
	values[1] = Int64GetDatum(stats.elements);
	values[2] = Int64GetDatum(stats.links);
	values[3] = Int64GetDatum(stats.same_page_links);
	values[4] = Int64GetDatum(stats.free_bytes);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
