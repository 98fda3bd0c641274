/*-------------------------------------------------------------------------
 *
 * hnswinsert.c
 *	  aminsert for engram_hnsw and the on-disk insertion algorithm, also
 *	  used by a build that outgrew maintenance_work_mem.
 *
 * Locking contract (see hnsw.h): the insert holds the update lock in
 * ShareLock (ExclusiveLock when it changes the entry point) from before
 * it reads the entry point until it has linked the new element.  Buffer
 * locks are taken one at a time: share locks while searching, an
 * exclusive lock on the page receiving the new element (chosen near its
 * nearest neighbours, PLACEMENT below; pages it looks at in vain are
 * locked and released in turn), then on each neighbour's page for the
 * back-link, then on the metapage.  Each of those page changes is one
 * generic WAL record.
 *
 * Crash safety: the element is written with its outgoing links before any
 * back-link, so a crash part-way leaves an element that is only less
 * reachable (its heap tuple is uncommitted and vacuum removes it), never
 * a reference to a missing element.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "engram_kept_context.h"
#include "hnsw/hnsw.h"
#include "metrics/engram_metrics.h"

void
engram_hnsw_meta_update_init(EngramHnswMetaUpdate *update)
{
	memset(update, 0, sizeof(*update));
	update->entry = ENGRAM_HNSW_INVALID_REF;
	update->entry_level = -1;
	update->insert_blkno = InvalidBlockNumber;
}

void
engram_hnsw_update_meta(Relation index, const EngramHnswMetaUpdate *update)
{
	Buffer		buf;
	GenericXLogState *state;
	Page		page;
	EngramHnswMetaPage meta;

	buf = ReadBuffer(index, ENGRAM_HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, 0);
	meta = EngramHnswPageGetMeta(page);

	if (update->dimensions > 0 && meta->dimensions == 0)
		meta->dimensions = update->dimensions;
	if (update->set_entry &&
		(!update->entry_only_if_higher || update->entry_level > meta->entry_level))
	{
		if (update->entry == ENGRAM_HNSW_INVALID_REF)
		{
			meta->entry_blkno = InvalidBlockNumber;
			meta->entry_offno = InvalidOffsetNumber;
			meta->entry_level = -1;
		}
		else
		{
			meta->entry_blkno = EngramHnswRefBlock(update->entry);
			meta->entry_offno = EngramHnswRefOffset(update->entry);
			meta->entry_level = update->entry_level;
		}
	}
	if (update->insert_blkno != InvalidBlockNumber &&
		(update->insert_only_if_higher ? update->insert_blkno > meta->insert_blkno :
		 update->insert_blkno < meta->insert_blkno))
		meta->insert_blkno = update->insert_blkno;

	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}

/* ---------------------------------------------------------------------
 * Placement of a new element
 * ---------------------------------------------------------------------
 *
 * PLACEMENT
 *
 * A build writes its pages breadth first over layer 0 (hnswbuildgraph.c),
 * so that a page holds one neighbourhood and a search meets few distinct
 * pages.  An insert keeps that locality where it can: its search has
 * already found the new element's nearest elements (layer_results[0],
 * nearest first) before the element is written, and the element goes
 *
 *	  1. on the page of the nearest of them whose page has room, trying the
 *	     pages of the nearest results in order, at most
 *	     ENGRAM_HNSW_PLACEMENT_PAGES distinct pages ("neighbour pages");
 *	  2. else on a "seed page": the first page from the metapage's
 *	     insert_blkno on that has room for the element AND keeps room for
 *	     the neighbours that will follow it (the reserve below), extending
 *	     the index when none has; insert_blkno is raised to that page.
 *
 * Without the reserve, every page but the last would be full and step 1
 * would almost never find room: an index grown row by row would be laid
 * out in arrival order, which has nothing to do with the graph (what
 * inserts did before).  With it, a page takes at most
 * ENGRAM_HNSW_PLACEMENT_SEEDS elements through step 2, and its other
 * slots are filled through step 1 by elements whose search found one of
 * its elements among their nearest: a page grows one neighbourhood.
 * The cost is space on pages whose neighbourhood stops growing.  Measured
 * on 30,000 x 128 clustered rows inserted one by one (docs/reference/
 * performance-baselines.md): a query pinned 402 pages with a placement
 * blind to the graph, 155 with this one (as after a REINDEX, 159), for
 * 15 % more pages; two seeds per page gave 188 pins for 6 % more pages,
 * three 218 for 4 %; trying 8 neighbour pages instead of 32
 * left pages emptier (1.9 x as many pages with one seed).  Vacuum's
 * freed space is reused by either step (step 1 finds a freed slot on a
 * neighbour page, step 2 starts from the lowered insert_blkno; since it
 * wants a nearly empty page, the first seed after a VACUUM may look at
 * every page from there to the end once, raising insert_blkno past
 * them).  Where fewer than
 * ENGRAM_HNSW_PLACEMENT_MIN_PER_PAGE elements fit a page (768 float4
 * dimensions: two), there is no reserve: a page is one or two
 * neighbourhoods at best, and a reserve would only leave pages half
 * empty.
 *
 * Step 1 reads each candidate page's free space without a buffer lock
 * (the page is pinned, mostly through the insert's kept pins: its search
 * has just visited it): a stale or torn value only makes it try a page
 * in vain or skip one.  The page that looks roomy is then locked
 * exclusively and checked again, so the one-lock-at-a-time contract and
 * the WAL (one generic record for the page that takes the element) are
 * those of any insert.
 */
#define ENGRAM_HNSW_PLACEMENT_PAGES			32
#define ENGRAM_HNSW_PLACEMENT_SEEDS			1
#define ENGRAM_HNSW_PLACEMENT_MIN_PER_PAGE	4

/*
 * Free bytes a seed page must keep after taking an element (step 2 above),
 * for an index whose level-0 elements take "element_size" bytes.
 */
static Size
placement_reserve(Size element_size)
{
	Size		per_element = element_size + sizeof(ItemIdData);
	int			per_page = (BLCKSZ - SizeOfPageHeaderData -
							MAXALIGN(sizeof(EngramHnswPageOpaqueData))) / per_element;

	if (per_page < ENGRAM_HNSW_PLACEMENT_MIN_PER_PAGE)
		return 0;
	return (Size) (per_page - ENGRAM_HNSW_PLACEMENT_SEEDS) * per_element;
}

/* Is "page", not new, an element page with "needed" bytes free? */
static inline bool
element_page_has_room(Page page, Size needed)
{
	return EngramHnswPageGetOpaque(page)->page_type == ENGRAM_HNSW_PAGE_ELEMENT &&
		PageGetFreeSpace(page) >= needed;
}

/*
 * True when the exclusively locked page of "buf" can take an element with
 * "needed" bytes free: a new (all-zero) page, or an element page with that
 * much room.
 */
static bool
page_has_room(Relation index, Buffer buf, Size needed)
{
	Page		page = BufferGetPage(buf);

	engram_hnsw_check_page(index, page, BufferGetBlockNumber(buf));
	return PageIsNew(page) || element_page_has_room(page, needed);
}

/*
 * Add "element" to the exclusively locked page of "buf", which has room
 * for it (initialising a new page), as one generic WAL record.  Returns its
 * offset; the buffer stays locked.
 */
static OffsetNumber
add_element_to_page(Relation index, Buffer buf, EngramHnswElementTuple element, Size size)
{
	GenericXLogState *state = GenericXLogStart(index);
	Page		page;
	OffsetNumber offno;

	if (PageIsNew(BufferGetPage(buf)))
	{
		page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
		engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_ELEMENT);
	}
	else
		page = GenericXLogRegisterBuffer(state, buf, 0);
	offno = PageAddItem(page, (Item) element, size, InvalidOffsetNumber, false, false);
	if (offno == InvalidOffsetNumber)
		elog(ERROR, "failed to add element to engram_hnsw index \"%s\"",
			 RelationGetRelationName(index));
	GenericXLogFinish(state);
	return offno;
}

/*
 * Step 1 of the placement: store "element" on the page of one of
 * "nearest" (the insert's layer-0 results, nearest first), the first of
 * their pages with room.  Returns its ref, or ENGRAM_HNSW_INVALID_REF when
 * none of those pages has room.  No buffer lock held on entry or exit.
 */
static EngramHnswRef
write_near_neighbours(EngramHnswDiskGraph *graph, EngramHnswElementTuple element,
					  Size size, const EngramHnswCandidate *nearest, int nearest_count)
{
	BlockNumber tried[ENGRAM_HNSW_PLACEMENT_PAGES];
	int			tried_count = 0;

	for (int i = 0; i < nearest_count && tried_count < ENGRAM_HNSW_PLACEMENT_PAGES; i++)
	{
		BlockNumber blkno = EngramHnswRefBlock(nearest[i].ref);
		bool		seen = false;
		Buffer		buf;
		Page		page;
		OffsetNumber offno;

		for (int j = 0; j < tried_count && !seen; j++)
			seen = tried[j] == blkno;
		if (seen)
			continue;
		tried[tried_count++] = blkno;

		/* a look without the lock first (see above), then under it */
		buf = engram_hnsw_disk_graph_pin_own(graph, blkno);
		page = BufferGetPage(buf);
		if (PageIsNew(page) || !element_page_has_room(page, size))
		{
			ReleaseBuffer(buf);
			continue;
		}
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		if (PageIsNew(page) || !page_has_room(graph->index, buf, size))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		offno = add_element_to_page(graph->index, buf, element, size);
		UnlockReleaseBuffer(buf);
		return EngramHnswRefFromTid(blkno, offno);
	}
	return ENGRAM_HNSW_INVALID_REF;
}

/*
 * Step 2 of the placement: store "element" on the first page from
 * "start_blkno" with "needed" bytes free (its size plus the reserve),
 * extending the index when none has, and raise insert_blkno to that page.
 * Returns its ref.  No buffer lock held on entry or exit.
 */
static EngramHnswRef
write_on_seed_page(Relation index, EngramHnswElementTuple element, Size size,
				   Size needed, BlockNumber start_blkno)
{
	BlockNumber blkno = Max(start_blkno, ENGRAM_HNSW_METAPAGE_BLKNO + 1);
	Buffer		buf = InvalidBuffer;
	OffsetNumber offno;
	EngramHnswMetaUpdate update;

	/*
	 * Find a page with room, extending the index when none has.  A page
	 * this backend just added can still be taken by a concurrent insert:
	 * the new block is visible to others between its extension and our
	 * buffer lock, and they may fill it.  So every candidate, new or old,
	 * is checked under its lock, and the search goes on past it if full.
	 * A new page always has room (needed is at most an element's largest
	 * size), so this ends.
	 */
	while (!BufferIsValid(buf))
	{
		BlockNumber nblocks = RelationGetNumberOfBlocks(index);

		for (; blkno < nblocks; blkno++)
		{
			buf = ReadBuffer(index, blkno);
			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			if (page_has_room(index, buf, needed))
				break;
			UnlockReleaseBuffer(buf);
			buf = InvalidBuffer;
		}
		if (!BufferIsValid(buf))
		{
			buf = engram_hnsw_new_buffer(index);
			blkno = BufferGetBlockNumber(buf);
			if (!page_has_room(index, buf, needed))
			{
				UnlockReleaseBuffer(buf);
				buf = InvalidBuffer;
				blkno++;
			}
		}
	}

	offno = add_element_to_page(index, buf, element, size);
	UnlockReleaseBuffer(buf);

	if (blkno != start_blkno)
	{
		engram_hnsw_meta_update_init(&update);
		update.insert_blkno = blkno;
		update.insert_only_if_higher = true;
		engram_hnsw_update_meta(index, &update);
	}
	return EngramHnswRefFromTid(blkno, offno);
}

/*
 * Store a new element tuple of "size" bytes (PLACEMENT above): on a
 * neighbour page of "nearest" when one has room, else on a seed page.
 * Returns its ref.  No buffer lock held on entry or exit.
 */
static EngramHnswRef
write_new_element(EngramHnswDiskGraph *graph, const EngramHnswMetaPageData *meta,
				  EngramHnswElementTuple element, Size size,
				  const EngramHnswCandidate *nearest, int nearest_count)
{
	EngramHnswRef ref;
	Size		needed;

	ref = write_near_neighbours(graph, element, size, nearest, nearest_count);
	if (ref != ENGRAM_HNSW_INVALID_REF)
		return ref;
	needed = size + placement_reserve(ENGRAM_HNSW_ELEMENT_TUPLE_SIZE(meta->dimensions,
																	 meta->quantization,
																	 meta->m, 0));
	needed = Max(size, Min(needed, ENGRAM_HNSW_MAX_ELEMENT_SIZE));
	return write_on_seed_page(graph->index, element, size, needed, meta->insert_blkno);
}

static bool
same_refs(const EngramHnswRef *a, int a_count, const EngramHnswRef *b, int b_count)
{
	if (a_count != b_count)
		return false;
	for (int i = 0; i < a_count; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/*
 * Fill in the vectors of candidates[from, to) that the insert's cache
 * holds, and start loading the pages of the others (read next, in order).
 * The caller reads them with engram_hnsw_read_element and then calls
 * engram_hnsw_disk_graph_prefetch_end.
 */
static void
prefetch_candidate_vectors(EngramHnswDiskGraph *graph, EngramHnswCandidate *candidates,
						   int from, int to)
{
	for (int i = from; i < to; i++)
	{
		if (candidates[i].vector == NULL && graph->vectors != NULL)
			candidates[i].vector = engram_hnsw_vector_cache_get(graph->vectors, candidates[i].ref);
		if (candidates[i].vector == NULL)
			engram_hnsw_disk_graph_prefetch(graph, candidates[i].ref);
	}
}

/*
 * Give candidates[from, to) their vectors (from the insert's cache, else
 * read from their pages, all prefetched first) and their distances to
 * "base"; a candidate that is deleted or gone is dropped.  The live ones
 * are packed from "from" on; returns where they end.
 */
static int
measure_candidates(EngramHnswDiskGraph *graph, const float *base,
				   EngramHnswCandidate *candidates, int from, int to)
{
	int			live = from;

	prefetch_candidate_vectors(graph, candidates, from, to);
	for (int i = from; i < to; i++)
	{
		EngramHnswCandidate read;

		if (candidates[i].vector == NULL)
		{
			if (!engram_hnsw_read_element(graph, candidates[i].ref, 0, &read) ||
				read.deleted)
				continue;
			candidates[i].vector = read.vector;
		}
		candidates[i].distance = engram_hnsw_distance(graph->graph.metric, base,
													  candidates[i].vector,
													  graph->graph.dimensions);
		candidates[live++] = candidates[i];
	}
	engram_hnsw_disk_graph_prefetch_end(graph);
	return live;
}

#define NEIGHBOUR_UPDATE_ATTEMPTS 3

/*
 * The common case of an insert's back-link: append "extra" to the list of
 * "base" on "layer" when the list has room, under one exclusive lock of
 * the base's page, reading no vector (the list needs no pruning).
 * Returns APPEND_DONE when it appended, APPEND_NOTHING when there is
 * nothing to do (the base is gone, below "layer", or already links to
 * "extra"), APPEND_FULL when the list is full and must be pruned: the
 * caller then takes the general path of engram_hnsw_update_neighbour_list.
 * No buffer lock held on entry or exit.
 */
typedef enum AppendResult
{
	APPEND_DONE,
	APPEND_NOTHING,
	APPEND_FULL
} AppendResult;

static AppendResult
append_backlink(EngramHnswDiskGraph *graph, EngramHnswRef base, int layer,
				EngramHnswRef extra, float distance)
{
	int			m = graph->graph.m;
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);
	Buffer		buf;
	EngramHnswElementTuple element;
	ItemPointer slots;
	ItemPointerData link;
	int			count;

	if (extra == base)
		return APPEND_NOTHING;
	buf = engram_hnsw_disk_graph_pin_own(graph, EngramHnswRefBlock(base));
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	engram_hnsw_check_page(graph->index, BufferGetPage(buf), EngramHnswRefBlock(base));
	element = engram_hnsw_page_element(BufferGetPage(buf), EngramHnswRefOffset(base));
	if (element == NULL || element->level < layer)
	{
		UnlockReleaseBuffer(buf);
		return APPEND_NOTHING;
	}
	ItemPointerSet(&link, EngramHnswRefBlock(extra), EngramHnswRefOffset(extra));
	slots = EngramHnswElementSlots(element, graph->graph.dimensions) +
		ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);
	for (count = 0; count < capacity && ItemPointerIsValid(&slots[count]); count++)
	{
		if (ItemPointerEquals(&slots[count], &link))
		{
			UnlockReleaseBuffer(buf);
			return APPEND_NOTHING;
		}
	}
	if (count == capacity)
	{
		UnlockReleaseBuffer(buf);
		return APPEND_FULL;
	}
	if (element->flags & ENGRAM_HNSW_ELEMENT_LINK_STATES)
	{
		/* the link's distance (exact: the insert's search) and UNKNOWN state */
		int			slot = ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer) + count;
		uint8		state = ENGRAM_HNSW_LINK_UNKNOWN;
		EngramHnswPageFragment fragments[3];

		fragments[0].offset = (char *) &slots[count] - (char *) BufferGetPage(buf);
		fragments[0].source = &link;
		fragments[0].length = sizeof(ItemPointerData);
		fragments[1].offset = (char *) &EngramHnswElementLinkDistances(element, graph->graph.dimensions, m)[slot] -
			(char *) BufferGetPage(buf);
		fragments[1].source = &distance;
		fragments[1].length = sizeof(float);
		fragments[2].offset = (char *) &EngramHnswElementLinkStates(element, graph->graph.dimensions, m)[slot] -
			(char *) BufferGetPage(buf);
		fragments[2].source = &state;
		fragments[2].length = sizeof(uint8);
		engram_hnsw_log_page_fragments(graph->index, buf, fragments, 3);
	}
	else
		engram_hnsw_log_page_bytes(graph->index, buf,
								   (char *) &slots[count] - (char *) BufferGetPage(buf),
								   &link, sizeof(ItemPointerData));
	UnlockReleaseBuffer(buf);
	return APPEND_DONE;
}

/* ---------------------------------------------------------------------
 * Lists with link states
 * ---------------------------------------------------------------------
 *
 * PRUNING FROM KEPT OUTCOMES
 *
 * In an index whose elements keep link states (hnsw.h, LINK STATES ON
 * DISK), a list is rewritten from what its element keeps: the distance of
 * every link to the element, and the outcome of the selection heuristic
 * that last examined it.  Pruning a full list for an insert's back-link
 * then computes one distance (the newcomer's) instead of one per link,
 * and runs the heuristic from the kept outcomes (KNOWN OUTCOMES in
 * hnswutils.c): a link the last pruning kept is tested only against the
 * links kept now that were not kept then, a pruned one stays pruned while
 * every link kept then is kept again, and only the newcomer and links
 * appended since (UNKNOWN) are tested against every kept one.  The
 * vectors those pair tests need are read when first needed
 * (load_vector: the insert's cache of its search, else the element's
 * page): a pruning reads a few neighbours' vectors, most of them cached,
 * where it read all of them.  The links chosen are those of a selection
 * from scratch over the same candidates with the same distances; with
 * engram.hnsw_build_check_selection on, every such pruning is repeated
 * from scratch, every kept distance recomputed, and a difference is an
 * error (tests/t/031_hnsw_link_states.pl).
 *
 * Unlike the path without link states, a pruning reads no neighbour's
 * element, so a neighbour that vacuum marked deleted stays a candidate
 * until vacuum's repair removes it from the list (a link that exists
 * already; no link to a deleted element is ever added).  Vacuum's repairs
 * (FILL, FORCE) keep the distances of the links they keep, measure the
 * extras, and reset every state to UNKNOWN.
 */

/* Prunings checked by this backend's current insert (DEBUG1 message). */
static int	checked_prunings = 0;

/* What update_list_with_states() reads of the list's element. */
typedef struct BaseLinks
{
	float	   *vector;			/* copy */
	int			count;
	EngramHnswRef refs[2 * ENGRAM_HNSW_MAX_M];
	float		distances[2 * ENGRAM_HNSW_MAX_M];
	uint8		states[2 * ENGRAM_HNSW_MAX_M];
} BaseLinks;

/*
 * Read the vector and the "layer" list (refs, distances, states) of the
 * element "base" from "buf", the pinned buffer of its page, under a share
 * lock.  False when the element is gone or below "layer".
 */
static bool
read_base_links(EngramHnswDiskGraph *graph, Buffer buf, EngramHnswRef base, int layer,
				BaseLinks *links)
{
	int			dims = graph->graph.dimensions;
	int			m = graph->graph.m;
	EngramHnswElementTuple element;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	engram_hnsw_check_page(graph->index, BufferGetPage(buf), EngramHnswRefBlock(base));
	element = engram_hnsw_page_element(BufferGetPage(buf), EngramHnswRefOffset(base));
	if (element == NULL || element->level < layer)
	{
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		return false;
	}
	if (!(element->flags & ENGRAM_HNSW_ELEMENT_LINK_STATES) ||
		(element->flags & ENGRAM_HNSW_ELEMENT_INT8))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_internal("engram_hnsw index \"%s\" has an element without link states at (%u,%u)",
								 RelationGetRelationName(graph->index),
								 EngramHnswRefBlock(base), EngramHnswRefOffset(base)),
				 errhint("Run engram_hnsw_verify() on the index, then REINDEX it.")));
	links->vector = palloc(sizeof(float) * dims);
	memcpy(links->vector, element->vector, sizeof(float) * dims);
	links->count = engram_hnsw_element_get_layer(element, dims, m, layer, links->refs);
	engram_hnsw_element_get_layer_states(element, dims, m, layer, links->count,
										 links->distances, links->states);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	return true;
}

/*
 * engram.hnsw_build_check_selection for a pruning from kept outcomes: the
 * "count" sorted candidates' distances must be those engram_hnsw_distance()
 * gives from "base_vector", and a selection from scratch must choose
 * "chosen".  An error otherwise.  Skipped when a candidate's element is
 * gone (a concurrent vacuum: the write that follows will not match).
 */
static void
check_pruning_from_states(EngramHnswDiskGraph *graph, const float *base_vector,
						  EngramHnswCandidate *candidates, int count, int capacity,
						  const int *chosen, int chosen_count)
{
	int		   *again = palloc(sizeof(int) * count);
	int			again_count;

	for (int i = 0; i < count; i++)
	{
		float		recomputed;

		if (candidates[i].vector == NULL &&
			graph->graph.load_vector(&graph->graph, &candidates[i]) == NULL)
			return;
		recomputed = engram_hnsw_distance(graph->graph.metric, base_vector,
										  candidates[i].vector, graph->graph.dimensions);
		if (recomputed != candidates[i].distance)
			elog(ERROR, "engram_hnsw insert: link distance %.9g kept, %.9g recomputed",
				 candidates[i].distance, recomputed);
	}
	again_count = engram_hnsw_select_neighbours(&graph->graph, candidates, count, capacity,
												ENGRAM_HNSW_BACKLINK_KEEP(capacity), again);
	for (int i = 0; i < Max(again_count, chosen_count); i++)
		if (again_count != chosen_count || again[i] != chosen[i])
			elog(ERROR, "engram_hnsw insert: pruning from kept outcomes kept %d links, from scratch %d, first difference at %d",
				 chosen_count, again_count, i);
	pfree(again);
	checked_prunings++;
}

/*
 * Add to "fragments" the range from the first to the last of "count"
 * items of "size" bytes that differ between "old" (on the page, at
 * "page_offset") and "new"; returns the new fragment count.
 */
static int
add_changed_range(EngramHnswPageFragment *fragments, int fragment_count, Size page_offset,
				  const char *old, const char *new, int count, Size size)
{
	int			first = 0;
	int			last = count - 1;

	while (first < count && memcmp(old + first * size, new + first * size, size) == 0)
		first++;
	if (first == count)
		return fragment_count;
	while (memcmp(old + last * size, new + last * size, size) == 0)
		last--;
	fragments[fragment_count].offset = page_offset + first * size;
	fragments[fragment_count].source = new + first * size;
	fragments[fragment_count].length = (last - first + 1) * size;
	return fragment_count + 1;
}

/*
 * Append to candidates[0 .. count) every extra that is not the base element,
 * not excluded and not already among them (its neighbour list not carried
 * over); returns the new count.  "candidates" has room for count +
 * extra_count entries.
 */
static int
append_new_extras(EngramHnswCandidate *candidates, int count,
				  const EngramHnswCandidate *extras, int extra_count,
				  EngramHnswRef base, const EngramHnswRefSet *exclude)
{
	for (int i = 0; i < extra_count; i++)
	{
		bool		present = extras[i].ref == base;

		if (exclude && engram_hnsw_refset_contains(exclude, extras[i].ref))
			continue;
		for (int j = 0; j < count && !present; j++)
			present = candidates[j].ref == extras[i].ref;
		if (present)
			continue;
		candidates[count] = extras[i];
		candidates[count].neighbours = NULL;
		candidates[count].neighbour_count = 0;
		count++;
	}
	return count;
}

/*
 * engram_hnsw_update_neighbour_list for an index whose elements keep link
 * states (PRUNING FROM KEPT OUTCOMES above); same contract.
 */
static bool
update_list_with_states(EngramHnswDiskGraph *graph, EngramHnswRef base, int layer,
						const EngramHnswCandidate *extras, int extra_count,
						EngramHnswLinkMode mode, const EngramHnswRefSet *exclude)
{
	int			m = graph->graph.m;
	int			dims = graph->graph.dimensions;
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);
	int			first_slot = ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);

	for (int attempt = 0; attempt < NEIGHBOUR_UPDATE_ATTEMPTS; attempt++)
	{
		BaseLinks	links;
		EngramHnswCandidate *candidates;
		uint8	   *states;
		int			count = 0;
		int			kept_current;
		bool		dropped = false;
		EngramHnswRef new_refs[2 * ENGRAM_HNSW_MAX_M];
		float		new_distances[2 * ENGRAM_HNSW_MAX_M];
		uint8		new_states[2 * ENGRAM_HNSW_MAX_M];
		int			new_count = 0;
		Buffer		buf;
		Page		page;
		EngramHnswElementTuple element;
		ItemPointerData new_slots[2 * ENGRAM_HNSW_MAX_M];
		EngramHnswRef current[2 * ENGRAM_HNSW_MAX_M];
		EngramHnswPageFragment fragments[ENGRAM_HNSW_MAX_FRAGMENTS];
		int			fragment_count;
		ItemPointer slots;
		float	   *distances;
		uint8	   *page_states;

		buf = engram_hnsw_disk_graph_pin_own(graph, EngramHnswRefBlock(base));
		if (!read_base_links(graph, buf, base, layer, &links))
		{
			ReleaseBuffer(buf);
			return false;
		}

		/* Candidates: the current list minus exclusions, then the extras. */
		candidates = palloc0(sizeof(EngramHnswCandidate) * (links.count + extra_count));
		states = palloc(links.count + extra_count);
		for (int i = 0; i < links.count; i++)
		{
			if (exclude && engram_hnsw_refset_contains(exclude, links.refs[i]))
			{
				dropped = true;
				continue;
			}
			candidates[count].ref = links.refs[i];
			candidates[count].distance = links.distances[i];
			if (graph->vectors != NULL)
				candidates[count].vector = engram_hnsw_vector_cache_get(graph->vectors,
																		links.refs[i]);
			states[count++] = links.states[i];
		}
		kept_current = count;
		count = append_new_extras(candidates, count, extras, extra_count, base, exclude);
		for (int i = kept_current; i < count; i++)
			states[i] = ENGRAM_HNSW_LINK_UNKNOWN;
		/* the extras' exact distances (read when not given; gone ones dropped) */
		count = measure_candidates(graph, links.vector, candidates, kept_current, count);
		if (!dropped && count == kept_current)
		{
			ReleaseBuffer(buf);
			return false;		/* nothing to add */
		}
		/* a kept link may be gone: no outcome holds any more */
		if (dropped)
			memset(states, ENGRAM_HNSW_LINK_UNKNOWN, count);

		if (mode == ENGRAM_HNSW_LINK_FILL || mode == ENGRAM_HNSW_LINK_FORCE)
		{
			/* Keep every current neighbour; nearest extras fill the room. */
			for (int i = 0; i < kept_current; i++)
			{
				new_refs[new_count] = candidates[i].ref;
				new_distances[new_count++] = candidates[i].distance;
			}
			engram_hnsw_sort_candidates(candidates + kept_current, count - kept_current);
			for (int i = kept_current; i < count && new_count < capacity; i++)
			{
				new_refs[new_count] = candidates[i].ref;
				new_distances[new_count++] = candidates[i].distance;
			}
			if (mode == ENGRAM_HNSW_LINK_FORCE && new_count == kept_current &&
				count > kept_current)
			{
				/* no room: the last link makes way for the nearest extra */
				if (new_count == 0)
					new_count++;
				new_refs[new_count - 1] = candidates[kept_current].ref;
				new_distances[new_count - 1] = candidates[kept_current].distance;
			}
			else if (!dropped && new_count == kept_current)
			{
				ReleaseBuffer(buf);
				return false;	/* no room */
			}
			memset(new_states, ENGRAM_HNSW_LINK_UNKNOWN, new_count);
		}
		else if (!dropped && count <= capacity)
		{
			/* Room left: append, every outcome unchanged. */
			for (int i = 0; i < count; i++)
			{
				new_refs[new_count] = candidates[i].ref;
				new_distances[new_count] = candidates[i].distance;
				new_states[new_count++] = states[i];
			}
		}
		else
		{
			EngramHnswCandidate *sorted = palloc(sizeof(EngramHnswCandidate) * count);
			uint8	   *sorted_states = palloc(count);
			int		   *order = palloc(sizeof(int) * count);
			int		   *chosen = palloc(sizeof(int) * Max(capacity, 1));
			bool		keeps_extra = false;

			/* ascending distance, ties in list order (a stable sort) */
			for (int i = 0; i < count; i++)
			{
				int			j = i;

				while (j > 0 && candidates[order[j - 1]].distance > candidates[i].distance)
				{
					order[j] = order[j - 1];
					j--;
				}
				order[j] = i;
			}
			for (int k = 0; k < count; k++)
			{
				sorted[k] = candidates[order[k]];
				sorted_states[k] = states[order[k]];
			}
			new_count = engram_hnsw_select_neighbours_known(&graph->graph, sorted, count,
															capacity,
															ENGRAM_HNSW_BACKLINK_KEEP(capacity),
															sorted_states, chosen);
			if (engram_hnsw_build_check_selection)
				check_pruning_from_states(graph, links.vector, sorted, count, capacity,
										  chosen, new_count);
			for (int i = 0; i < new_count; i++)
			{
				new_refs[i] = sorted[chosen[i]].ref;
				new_distances[i] = sorted[chosen[i]].distance;
				new_states[i] = sorted_states[chosen[i]];
				if (order[chosen[i]] >= kept_current)
					keeps_extra = true;
			}
			/* A forced newcomer keeps its in-link whenever there is room. */
			if (mode == ENGRAM_HNSW_LINK_PRUNE && !keeps_extra)
			{
				for (int k = 0; k < count && new_count < capacity; k++)
				{
					if (order[k] < kept_current)
						continue;
					new_refs[new_count] = sorted[k].ref;
					new_distances[new_count] = sorted[k].distance;
					new_states[new_count++] = sorted_states[k];
					keeps_extra = true;
				}
			}
			if (!dropped && !keeps_extra)
			{
				ReleaseBuffer(buf);
				return false;	/* the extras were not good enough */
			}
		}

		/* Apply, if nobody changed the list since we read it. */
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		element = engram_hnsw_page_element(page, EngramHnswRefOffset(base));
		if (element == NULL || element->level < layer ||
			!(element->flags & ENGRAM_HNSW_ELEMENT_LINK_STATES))
		{
			UnlockReleaseBuffer(buf);
			return false;
		}
		slots = EngramHnswElementSlots(element, dims) + first_slot;
		distances = EngramHnswElementLinkDistances(element, dims, m) + first_slot;
		page_states = EngramHnswElementLinkStates(element, dims, m) + first_slot;
		if (engram_hnsw_element_get_layer(element, dims, m, layer, current) != links.count ||
			memcmp(current, links.refs, sizeof(EngramHnswRef) * links.count) != 0 ||
			memcmp(distances, links.distances, sizeof(float) * links.count) != 0 ||
			memcmp(page_states, links.states, links.count) != 0)
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		for (int i = 0; i < capacity; i++)
		{
			if (i < new_count)
				ItemPointerSet(&new_slots[i], EngramHnswRefBlock(new_refs[i]),
							   EngramHnswRefOffset(new_refs[i]));
			else
			{
				ItemPointerSetInvalid(&new_slots[i]);
				new_distances[i] = 0;
				new_states[i] = ENGRAM_HNSW_LINK_UNKNOWN;
			}
		}
		/* Write (and log) the changed range of each array, in one record. */
		fragment_count = add_changed_range(fragments, 0, (char *) slots - (char *) page,
										   (const char *) slots, (const char *) new_slots,
										   capacity, sizeof(ItemPointerData));
		fragment_count = add_changed_range(fragments, fragment_count,
										   (char *) distances - (char *) page,
										   (const char *) distances, (const char *) new_distances,
										   capacity, sizeof(float));
		fragment_count = add_changed_range(fragments, fragment_count,
										   (char *) page_states - (char *) page,
										   (const char *) page_states, (const char *) new_states,
										   capacity, sizeof(uint8));
		if (fragment_count == 0)
		{
			UnlockReleaseBuffer(buf);
			return false;		/* same list */
		}
		engram_hnsw_log_page_fragments(graph->index, buf, fragments, fragment_count);
		UnlockReleaseBuffer(buf);
		return true;
	}
	return false;
}

bool
engram_hnsw_update_neighbour_list(EngramHnswDiskGraph *graph, EngramHnswRef base,
								  int layer, const EngramHnswCandidate *extras,
								  int extra_count, EngramHnswLinkMode mode,
								  const EngramHnswRefSet *exclude)
{
	int			m = graph->graph.m;
	int			dims = graph->graph.dimensions;
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);

	/* An insert's back-link into a list with room: one locked append. */
	if (mode == ENGRAM_HNSW_LINK_PRUNE && extra_count == 1 && exclude == NULL)
	{
		switch (append_backlink(graph, base, layer, extras[0].ref, extras[0].distance))
		{
			case APPEND_DONE:
				return true;
			case APPEND_NOTHING:
				return false;
			case APPEND_FULL:
				break;			/* prune below */
		}
	}
	if (graph->link_states)
		return update_list_with_states(graph, base, layer, extras, extra_count, mode, exclude);

	for (int attempt = 0; attempt < NEIGHBOUR_UPDATE_ATTEMPTS; attempt++)
	{
		EngramHnswCandidate base_element;
		EngramHnswCandidate *candidates;
		int			candidate_count = 0;
		int			kept_current;
		bool		dropped = false;
		bool		added = false;
		EngramHnswRef *new_list;
		int			new_count = 0;
		Buffer		buf;
		Page		page;
		EngramHnswElementTuple element;
		EngramHnswRef *current;
		int			current_count;
		ItemPointer slots;
		ItemPointer new_slots;
		int			first_changed;
		int			last_changed;

		/* one pin of the base's page for the read and the write */
		buf = engram_hnsw_disk_graph_pin_own(graph, EngramHnswRefBlock(base));
		if (!engram_hnsw_read_element_pinned(graph, buf, base, layer, &base_element) ||
			layer > base_element.level)
		{
			ReleaseBuffer(buf);
			return false;
		}

		/* Candidates: the current list minus exclusions, plus extras. */
		candidates = palloc(sizeof(EngramHnswCandidate) *
							(base_element.neighbour_count + extra_count));
		for (int i = 0; i < base_element.neighbour_count; i++)
		{
			EngramHnswRef ref = base_element.neighbours[i];

			if (exclude && engram_hnsw_refset_contains(exclude, ref))
			{
				dropped = true;
				continue;
			}
			memset(&candidates[candidate_count], 0, sizeof(EngramHnswCandidate));
			candidates[candidate_count++].ref = ref;
		}
		kept_current = candidate_count;
		candidate_count = append_new_extras(candidates, candidate_count, extras, extra_count,
											base, exclude);
		added = candidate_count > kept_current;
		if (!dropped && !added)
		{
			ReleaseBuffer(buf);
			return false;
		}

		new_list = palloc(sizeof(EngramHnswRef) * Max(candidate_count, 1));
		if (mode == ENGRAM_HNSW_LINK_FILL || mode == ENGRAM_HNSW_LINK_FORCE)
		{
			/* Keep every current neighbour; nearest extras fill the room. */
			int			first_extra = kept_current;
			int			live = first_extra;

			for (int i = 0; i < kept_current; i++)
				new_list[new_count++] = candidates[i].ref;
			if (new_count < capacity)
				live = measure_candidates(graph, base_element.vector, candidates,
										  first_extra, candidate_count);
			engram_hnsw_sort_candidates(candidates + first_extra, live - first_extra);
			for (int i = first_extra; i < live && new_count < capacity; i++)
				new_list[new_count++] = candidates[i].ref;
			if (mode == ENGRAM_HNSW_LINK_FORCE && new_count == kept_current && live > first_extra)
			{
				/* no room: the last link makes way for the nearest extra */
				if (new_count == 0)
					new_count++;
				new_list[new_count - 1] = candidates[first_extra].ref;
			}
			else if (!dropped && new_count == kept_current)
			{
				ReleaseBuffer(buf);
				return false;	/* no room */
			}
		}
		else if (!dropped && candidate_count <= capacity)
		{
			/* Room left: append without looking at any vector. */
			for (int i = 0; i < candidate_count; i++)
				new_list[new_count++] = candidates[i].ref;
		}
		else
		{
			int		   *chosen;
			int			live;
			bool		keeps_extra = false;

			live = measure_candidates(graph, base_element.vector, candidates, 0, candidate_count);
			engram_hnsw_sort_candidates(candidates, live);
			chosen = palloc(sizeof(int) * Max(capacity, 1));
			new_count = engram_hnsw_select_neighbours(&graph->graph, candidates, live,
													  capacity,
													  ENGRAM_HNSW_BACKLINK_KEEP(capacity),
													  chosen);
			for (int i = 0; i < new_count; i++)
			{
				new_list[i] = candidates[chosen[i]].ref;
				for (int j = 0; j < extra_count; j++)
					if (extras[j].ref == new_list[i])
						keeps_extra = true;
			}
			/* A forced newcomer keeps its in-link whenever there is room. */
			if (mode == ENGRAM_HNSW_LINK_PRUNE && !keeps_extra)
			{
				for (int j = 0; j < extra_count && new_count < capacity; j++)
				{
					bool		present = extras[j].ref == base;

					for (int i = 0; i < new_count && !present; i++)
						present = new_list[i] == extras[j].ref;
					if (!present &&
						!(exclude && engram_hnsw_refset_contains(exclude, extras[j].ref)))
					{
						new_list[new_count++] = extras[j].ref;
						keeps_extra = true;
					}
				}
			}
			if (!dropped && !keeps_extra)
			{
				ReleaseBuffer(buf);
				return false;	/* the extras were not good enough */
			}
		}

		/* Apply, if nobody changed the list since we read it. */
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		element = engram_hnsw_page_element(page, EngramHnswRefOffset(base));
		if (element == NULL || element->level < layer)
		{
			/* gone, or its slot now holds a lower element: nothing to link */
			UnlockReleaseBuffer(buf);
			return false;
		}
		current = palloc(sizeof(EngramHnswRef) * capacity);
		current_count = engram_hnsw_element_get_layer(element, dims, m, layer, current);
		if (!same_refs(current, current_count, base_element.neighbours,
					   base_element.neighbour_count))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		/* Only the layer's slots change: log just those (hnsw.h, WAL). */
		slots = EngramHnswElementSlots(element, dims) + ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);
		new_slots = palloc(sizeof(ItemPointerData) * capacity);
		for (int i = 0; i < capacity; i++)
		{
			if (i < new_count)
				ItemPointerSet(&new_slots[i], EngramHnswRefBlock(new_list[i]),
							   EngramHnswRefOffset(new_list[i]));
			else
				ItemPointerSetInvalid(&new_slots[i]);
		}
		/* Write (and log) from the first to the last slot that differs. */
		first_changed = 0;
		while (first_changed < capacity &&
			   memcmp(&slots[first_changed], &new_slots[first_changed], sizeof(ItemPointerData)) == 0)
			first_changed++;
		if (first_changed == capacity)
		{
			UnlockReleaseBuffer(buf);
			return false;		/* same list */
		}
		last_changed = capacity - 1;
		while (memcmp(&slots[last_changed], &new_slots[last_changed], sizeof(ItemPointerData)) == 0)
			last_changed--;
		engram_hnsw_log_page_bytes(graph->index, buf,
								   (char *) &slots[first_changed] - (char *) page,
								   &new_slots[first_changed],
								   sizeof(ItemPointerData) * (last_changed - first_changed + 1));
		UnlockReleaseBuffer(buf);
		return true;
	}
	return false;
}

static bool insert_vector(Relation index, const float *vector, ItemPointer heaptid,
						  bool unless_present);

/*
 * Take the update lock in "mode" and read the metapage under it.
 */
static void
lock_and_read_meta(Relation index, LOCKMODE mode, EngramHnswMetaPageData *meta)
{
	LockPage(index, ENGRAM_HNSW_UPDATE_LOCK, mode);
	engram_hnsw_read_meta(index, meta);
}

void
engram_hnsw_insert_vector(Relation index, const float *vector, ItemPointer heaptid)
{
	insert_vector(index, vector, heaptid, false);
}

bool
engram_hnsw_insert_vector_unless_present(Relation index, const float *vector,
										 ItemPointer heaptid)
{
	return insert_vector(index, vector, heaptid, true);
}

/*
 * The insertion algorithm behind both entry points above.  With
 * unless_present, returns false without writing when the search met a live
 * element of the same heap TID; true when it inserted.
 */
static bool
insert_vector(Relation index, const float *vector, ItemPointer heaptid, bool unless_present)
{
	EngramHnswMetaPageData meta;
	EngramHnswDiskGraph graph;
	EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	int		   *chosen[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			chosen_count[ENGRAM_HNSW_MAX_LEVEL + 1];
	EngramHnswElementTuple element;
	Size		size;
	int			level;
	int			dims;
	int			m;
	int			top;
	LOCKMODE	mode = ShareLock;
	EngramHnswRef ref;
	EngramHnswCandidate self;
	EngramHnswVectorCache vectors;
	bool		link_states;

	/* dimensions, m and quantization do not change once the first vector is in */
	lock_and_read_meta(index, mode, &meta);
	dims = meta.dimensions;
	m = meta.m;
	link_states = engram_hnsw_meta_link_states(&meta);
	level = engram_hnsw_random_level(m, engram_hnsw_max_level(dims, meta.quantization, m,
															   link_states));
	if (meta.entry_level < 0 || level > meta.entry_level)
	{
		UnlockPage(index, ENGRAM_HNSW_UPDATE_LOCK, mode);
		mode = ExclusiveLock;
		lock_and_read_meta(index, mode, &meta);
	}

	engram_hnsw_disk_graph_init(&graph, index, &meta);
	/*
	 * The back-links lock pages the search has just visited: keep their
	 * pins until the back-links are written (every return below releases).
	 */
	engram_hnsw_disk_graph_keep_pins(&graph);
	/*
	 * Every vector the search copies (each element that came near enough to
	 * be a candidate) serves the pruning of full lists below: most of the
	 * neighbours of a pruned list were candidates of this search.  With
	 * link states a pruning needs few vectors, and the search copies none
	 * (several hundred vectors of which the selections below use a few
	 * dozen): the selection of the new element's links reads the vectors
	 * of the results it tests when it first needs them (load_vector), and
	 * those go to the cache for the prunings.
	 */
	engram_hnsw_vector_cache_init(&vectors, meta.ef_construction * 4);
	graph.vectors = &vectors;
	if (meta.entry_level >= 0)
		engram_hnsw_search(&graph.graph, vector,
						   EngramHnswRefFromTid(meta.entry_blkno, meta.entry_offno),
						   meta.entry_level, meta.ef_construction, level, !link_states,
						   layer_results, layer_counts);
	else
	{
		for (int lc = 0; lc <= ENGRAM_HNSW_MAX_LEVEL; lc++)
			layer_counts[lc] = 0;
	}

	/* A merge of the pending list that a crash interrupted left it there. */
	if (unless_present && meta.entry_level >= 0)
	{
		for (int i = 0; i < layer_counts[0]; i++)
		{
			if (ItemPointerEquals(&layer_results[0][i].heaptid, heaptid))
			{
				engram_hnsw_disk_graph_release_pins(&graph);
				UnlockPage(index, ENGRAM_HNSW_UPDATE_LOCK, mode);
				return false;
			}
		}
	}


	/* Choose the new element's neighbours and write it with them. */
	element = engram_hnsw_form_element(dims, meta.quantization, m, level, level, link_states,
									   heaptid, vector, &size);
	top = Min(level, meta.entry_level);
	for (int lc = 0; lc <= top; lc++)
	{
		int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, lc);
		EngramHnswRef *refs = palloc(sizeof(EngramHnswRef) * capacity);
		/* this selection's outcomes, kept with the links (LINK STATES ON DISK) */
		uint8	   *outcomes = link_states ? palloc0(Max(layer_counts[lc], 1)) : NULL;

		chosen[lc] = palloc(sizeof(int) * capacity);
		chosen_count[lc] = engram_hnsw_select_neighbours_known(&graph.graph, layer_results[lc],
															   layer_counts[lc], capacity,
															   capacity, outcomes, chosen[lc]);
		for (int i = 0; i < chosen_count[lc]; i++)
			refs[i] = layer_results[lc][chosen[lc][i]].ref;
		engram_hnsw_element_set_layer(element, dims, m, lc, refs, chosen_count[lc]);
		if (link_states)
		{
			float	   *distances = palloc(sizeof(float) * capacity);
			uint8	   *states = palloc(capacity);

			/* the search's distances are exact in a float index */
			for (int i = 0; i < chosen_count[lc]; i++)
			{
				distances[i] = layer_results[lc][chosen[lc][i]].distance;
				states[i] = outcomes[chosen[lc][i]];
			}
			engram_hnsw_element_set_layer_states(element, dims, m, lc, chosen_count[lc],
												 distances, states);
		}
	}
	ref = write_new_element(&graph, &meta, element, size, layer_results[0], layer_counts[0]);

	/* Link the neighbours back to it. */
	memset(&self, 0, sizeof(self));
	self.ref = ref;
	self.level = level;
	self.heaptid = *heaptid;
	self.vector = (float *) vector;
	for (int lc = top; lc >= 0; lc--)
	{
		for (int i = 0; i < chosen_count[lc]; i++)
		{
			CHECK_FOR_INTERRUPTS();
			/* the link's exact distance, kept by an append into a list with room */
			self.distance = layer_results[lc][chosen[lc][i]].distance;
			engram_hnsw_update_neighbour_list(&graph, layer_results[lc][chosen[lc][i]].ref,
											  lc, &self, 1, ENGRAM_HNSW_LINK_PRUNE, NULL);
		}
	}
	engram_hnsw_disk_graph_release_pins(&graph);
	if (checked_prunings > 0)
	{
		elog(DEBUG1, "engram_hnsw insert: %d prunings from kept outcomes checked against a selection from scratch",
			 checked_prunings);
		checked_prunings = 0;
	}

	if (level > meta.entry_level)
	{
		EngramHnswMetaUpdate update;

		engram_hnsw_meta_update_init(&update);
		update.set_entry = true;
		update.entry_only_if_higher = true;
		update.entry = ref;
		update.entry_level = level;
		engram_hnsw_update_meta(index, &update);
	}
	UnlockPage(index, ENGRAM_HNSW_UPDATE_LOCK, mode);
	return true;
}

void
engram_hnsw_insert_value(Relation index, Datum value, ItemPointer heaptid)
{
	int			dims;
	float	   *vector = engram_hnsw_vector_for_insert(index, value, &dims);

	if (vector != NULL)
		engram_hnsw_insert_vector(index, vector, heaptid);
}

float *
engram_hnsw_vector_for_insert(Relation index, Datum value, int *dims)
{
	EngramVector *vec = DatumGetEngramVector(value);
	EngramHnswMetaPageData meta;
	float	   *vector;

	engram_hnsw_read_meta(index, &meta);
	if (meta.dimensions == 0)
	{
		EngramHnswMetaUpdate update;

		engram_hnsw_check_element_fits(vec->dim, meta.quantization, meta.m);
		engram_hnsw_meta_update_init(&update);
		update.dimensions = vec->dim;
		LockPage(index, ENGRAM_HNSW_UPDATE_LOCK, ExclusiveLock);
		engram_hnsw_update_meta(index, &update);
		UnlockPage(index, ENGRAM_HNSW_UPDATE_LOCK, ExclusiveLock);
		engram_hnsw_read_meta(index, &meta);
	}
	vector = palloc(sizeof(float) * meta.dimensions);
	*dims = meta.dimensions;
	if (!engram_hnsw_prepare_vector(index, meta.metric, meta.dimensions, vec, vector))
		return NULL;			/* zero vector under cosine: not indexed */
	return vector;
}

/*
 * The memory of aminsert calls: a context kept for the backend
 * (engram_kept_context.h).  An insert at 768 dimensions allocates a few
 * hundred kilobytes (the vectors its selections read, the search's
 * candidates and visited set); in a context of its own per call most of
 * that went back to the C library and came back as fresh pages, each a
 * page fault, in the next call (3 % of an insert's time under perf).
 */
static EngramKeptContext insert_memory =
	ENGRAM_KEPT_CONTEXT_INIT("engram_hnsw insert", 1024 * 1024);

/*
 * aminsert: index one heap tuple, or attach it to the element of the row
 * version it replaces in a tier move (hnswretarget.c), or append it to the
 * pending list when the index defers inserts (reloption deferred_insert).
 * NULLs are not indexed.  All memory is released before returning;
 * returns false (no uniqueness check).  Timed as one index_insert
 * operation in the Engram metrics.
 */
bool
engram_hnsw_insert(Relation index, Datum *values, bool *isnull,
				   ItemPointer heap_tid, Relation heap,
				   IndexUniqueCheck checkUnique, bool indexUnchanged,
				   IndexInfo *indexInfo)
{
	MemoryContext context;
	MemoryContext old;

	if (isnull[0])
		return false;

	engram_metrics_begin(ENGRAM_OP_INDEX_INSERT);
	context = engram_kept_context_begin(&insert_memory);
	old = MemoryContextSwitchTo(context);
	{
		int			dims;
		float	   *vector = engram_hnsw_vector_for_insert(index, values[0], &dims);

		if (vector == NULL)
			;					/* zero vector under cosine: not indexed */
		else if (engram_hnsw_retarget_moved_row(index, vector, heap_tid))
			;					/* a tier move: attached to the old element */
		else if (engram_hnsw_get_deferred_insert(index))
			engram_hnsw_pending_insert(index, heap, values[0], vector, dims, heap_tid);
		else
			engram_hnsw_insert_vector(index, vector, heap_tid);
	}
	MemoryContextSwitchTo(old);
	engram_kept_context_end(&insert_memory, context);
	engram_metrics_end(ENGRAM_OP_INDEX_INSERT, NULL);
	return false;
}
