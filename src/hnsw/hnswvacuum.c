/*-------------------------------------------------------------------------
 *
 * hnswvacuum.c
 *	  ambulkdelete and amvacuumcleanup for engram_hnsw, in three phases:
 *
 *	  1. mark_deleted_elements: every element whose heap tuples are all
 *	     dead gets ENGRAM_HNSW_ELEMENT_DELETED (still navigable, never
 *	     returned); an element that also indexes a moved row's other
 *	     version loses the dead one of its two TIDs (hnswretarget.c).
 *	  2. repair_graph: after a barrier on the update lock (no insert that
 *	     saw those elements live is still running), move the entry point
 *	     off a deleted element and rewrite every neighbour list that refers
 *	     to a deleted element, offering the deleted element's own live
 *	     neighbours as replacements (selection heuristic).
 *	  3. free_deleted_elements: free the line pointers of the deleted
 *	     elements so inserts reuse the space; lower the metapage's
 *	     insert_blkno to the first page that gained room.
 *
 * and amvacuumcleanup, run by every VACUUM, adds:
 *
 *	  4. reconnect_unreachable: a breadth-first walk over every layer's
 *	     links from the entry point finds live elements no search can reach (HNSW pruning can leave
 *	     an element without in-links); each is linked from its nearest
 *	     reachable elements, keeping their existing links.  The walk holds
 *	     every element's links in memory and is skipped (DEBUG1 message)
 *	     when they would not fit in maintenance_work_mem.
 *
 * Locking: one buffer lock at a time (exclusive in phases 1 and 3, share
 * then optimistic exclusive in phase 2), the update lock only for the
 * barrier.  Each page change is one generic WAL record.  A crash between
 * phases leaves marked elements (harmless; the next vacuum sees their
 * heap tuples dead again and finishes the job).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw/hnsw.h"

typedef struct VacuumState
{
	IndexVacuumInfo *info;
	IndexBulkDeleteResult *stats;
	IndexBulkDeleteCallback callback;
	void	   *callback_state;
	Relation	index;
	EngramHnswMetaPageData meta;
	EngramHnswDiskGraph graph;
	EngramHnswRefSet deleted;	/* elements marked in phase 1 */
	EngramHnswRef best_live;	/* highest-level live element */
	int			best_live_level;
	MemoryContext work_context; /* reset per page */
} VacuumState;

/*
 * Phase 0: merge the pending list into the graph, dropping the entries of
 * dead rows (hnswpending.c).  Waits for a merge already running: no entry
 * of a dead row may survive this bulk delete.
 */
static void
merge_pending_list(VacuumState *vs)
{
	int64		removed;

	if (!BlockNumberIsValid(vs->meta.pending_head))
		return;
	engram_hnsw_pending_merge(vs->index, PG_INT64_MAX, true, vs->callback,
							  vs->callback_state, &removed);
	vs->stats->tuples_removed += removed;
	engram_hnsw_read_meta(vs->index, &vs->meta);
}

/* Phase 1: flag the elements whose heap tuples the callback reports dead. */
static void
mark_deleted_elements(VacuumState *vs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);

	for (BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		GenericXLogState *state = NULL;

		vacuum_delay_point();
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 vs->info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		engram_hnsw_check_page(vs->index, page, blkno);
		maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber offno = FirstOffsetNumber; offno <= maxoff; offno++)
		{
			EngramHnswElementTuple element = engram_hnsw_page_element(page, offno);
			EngramHnswRef ref = EngramHnswRefFromTid(blkno, offno);
			int			live;
			bool		change;
			ItemPointerData new_heaptid;
			ItemPointerData new_alias_tid;

			if (element == NULL)
				continue;
			if (element->flags & ENGRAM_HNSW_ELEMENT_DELETED)
			{
				/* left by an interrupted vacuum: finish it */
				engram_hnsw_refset_add(&vs->deleted, ref);
				continue;
			}
			live = engram_hnsw_vacuum_element_tids(element, vs->callback, vs->callback_state,
												   &vs->stats->tuples_removed, &change,
												   &new_heaptid, &new_alias_tid);
			if (live == 0 || change)
			{
				if (state == NULL)
				{
					state = GenericXLogStart(vs->index);
					page = GenericXLogRegisterBuffer(state, buf, 0);
				}
				element = engram_hnsw_page_element(page, offno);
			}
			if (live == 0)
			{
				element->flags |= ENGRAM_HNSW_ELEMENT_DELETED;
				engram_hnsw_refset_add(&vs->deleted, ref);
			}
			else
			{
				if (change)
				{
					element->heaptid = new_heaptid;
					element->alias_tid = new_alias_tid;
				}
				vs->stats->num_index_tuples += live;
				if (element->level > vs->best_live_level)
				{
					vs->best_live = ref;
					vs->best_live_level = element->level;
				}
			}
		}
		if (state != NULL)
			GenericXLogFinish(state);
		UnlockReleaseBuffer(buf);
	}
}

/* Rewrite the lists of one element that refer to deleted elements. */
static void
repair_element(VacuumState *vs, EngramHnswRef ref, int level)
{
	for (int layer = 0; layer <= level; layer++)
	{
		EngramHnswCandidate element;
		EngramHnswCandidate *extras;
		int			extra_count = 0;
		bool		damaged = false;

		if (!engram_hnsw_read_element(&vs->graph, ref, layer, &element))
			return;
		for (int i = 0; i < element.neighbour_count && !damaged; i++)
			damaged = engram_hnsw_refset_contains(&vs->deleted, element.neighbours[i]);
		if (!damaged)
			continue;

		/* Replacement candidates: live neighbours of the deleted ones. */
		extras = palloc(sizeof(EngramHnswCandidate) * element.neighbour_count *
						ENGRAM_HNSW_LAYER_SLOTS(vs->meta.m, layer));
		for (int i = 0; i < element.neighbour_count; i++)
		{
			EngramHnswCandidate gone;

			if (!engram_hnsw_refset_contains(&vs->deleted, element.neighbours[i]) ||
				!engram_hnsw_read_element(&vs->graph, element.neighbours[i], layer, &gone))
				continue;
			for (int j = 0; j < gone.neighbour_count; j++)
			{
				EngramHnswRef candidate = gone.neighbours[j];

				if (candidate == ref || engram_hnsw_refset_contains(&vs->deleted, candidate))
					continue;
				memset(&extras[extra_count], 0, sizeof(EngramHnswCandidate));
				extras[extra_count++].ref = candidate;
			}
		}
		engram_hnsw_update_neighbour_list(&vs->graph, ref, layer, extras, extra_count,
										  ENGRAM_HNSW_LINK_FILL, &vs->deleted);
	}
}

/* Phase 2: entry point and neighbour lists no longer lead to deleted elements. */
static void
repair_graph(VacuumState *vs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	EngramHnswMetaPageData meta;
	MemoryContext old;

	engram_hnsw_read_meta(vs->index, &meta);
	if (meta.entry_level >= 0 &&
		engram_hnsw_refset_contains(&vs->deleted,
									EngramHnswRefFromTid(meta.entry_blkno, meta.entry_offno)))
	{
		EngramHnswMetaUpdate update;

		engram_hnsw_meta_update_init(&update);
		update.set_entry = true;
		update.entry = vs->best_live;
		update.entry_level = vs->best_live_level;
		engram_hnsw_update_meta(vs->index, &update);
	}

	for (BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		int			count = 0;
		EngramHnswRef *refs;
		int		   *levels;

		vacuum_delay_point();
		old = MemoryContextSwitchTo(vs->work_context);
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 vs->info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		engram_hnsw_check_page(vs->index, page, blkno);
		maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		refs = palloc(sizeof(EngramHnswRef) * (maxoff + 1));
		levels = palloc(sizeof(int) * (maxoff + 1));
		for (OffsetNumber offno = FirstOffsetNumber; offno <= maxoff; offno++)
		{
			EngramHnswElementTuple element = engram_hnsw_page_element(page, offno);

			if (element == NULL || (element->flags & ENGRAM_HNSW_ELEMENT_DELETED))
				continue;
			refs[count] = EngramHnswRefFromTid(blkno, offno);
			levels[count++] = element->level;
		}
		UnlockReleaseBuffer(buf);

		for (int i = 0; i < count; i++)
			repair_element(vs, refs[i], levels[i]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(vs->work_context);
	}
}

/* Phase 3: free the deleted elements' space. */
static void
free_deleted_elements(VacuumState *vs)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(vs->index);
	BlockNumber first_freed = InvalidBlockNumber;

	for (BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;
		GenericXLogState *state = NULL;

		vacuum_delay_point();
		buf = ReadBufferExtended(vs->index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 vs->info->strategy);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		/* Highest offset first: deleting the last item shortens the array. */
		for (OffsetNumber offno = maxoff; offno >= FirstOffsetNumber; offno--)
		{
			EngramHnswElementTuple element = engram_hnsw_page_element(page, offno);

			if (element == NULL || !(element->flags & ENGRAM_HNSW_ELEMENT_DELETED) ||
				!engram_hnsw_refset_contains(&vs->deleted, EngramHnswRefFromTid(blkno, offno)))
				continue;
			if (state == NULL)
			{
				state = GenericXLogStart(vs->index);
				page = GenericXLogRegisterBuffer(state, buf, 0);
			}
			PageIndexTupleDeleteNoCompact(page, offno);
		}
		if (state != NULL)
		{
			PageSetHasFreeLinePointers(page);
			GenericXLogFinish(state);
			if (first_freed == InvalidBlockNumber)
				first_freed = blkno;
		}
		UnlockReleaseBuffer(buf);
	}

	if (first_freed != InvalidBlockNumber)
	{
		EngramHnswMetaUpdate update;

		engram_hnsw_meta_update_init(&update);
		update.insert_blkno = first_freed;
		update.insert_only_if_higher = false;
		engram_hnsw_update_meta(vs->index, &update);
	}
}

IndexBulkDeleteResult *
engram_hnsw_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
					   IndexBulkDeleteCallback callback, void *callback_state)
{
	VacuumState vs;
	MemoryContext context;
	MemoryContext old;

	if (stats == NULL)
		stats = palloc0(sizeof(IndexBulkDeleteResult));

	context = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw vacuum",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	memset(&vs, 0, sizeof(vs));
	vs.info = info;
	vs.stats = stats;
	vs.callback = callback;
	vs.callback_state = callback_state;
	vs.index = info->index;
	vs.best_live = ENGRAM_HNSW_INVALID_REF;
	vs.best_live_level = -1;
	vs.work_context = AllocSetContextCreate(context, "engram_hnsw vacuum page",
											ALLOCSET_DEFAULT_SIZES);
	engram_hnsw_read_meta(vs.index, &vs.meta);
	engram_hnsw_disk_graph_init(&vs.graph, vs.index, &vs.meta);
	vs.graph.context = vs.work_context;
	engram_hnsw_refset_init(&vs.deleted, 1024);

	stats->num_index_tuples = 0;
	merge_pending_list(&vs);
	mark_deleted_elements(&vs);
	if (vs.deleted.count > 0)
	{
		/* Barrier: wait out every insert that may have seen them live. */
		LockPage(vs.index, ENGRAM_HNSW_UPDATE_LOCK, ExclusiveLock);
		UnlockPage(vs.index, ENGRAM_HNSW_UPDATE_LOCK, ExclusiveLock);

		repair_graph(&vs);
		free_deleted_elements(&vs);
	}
	stats->num_pages = RelationGetNumberOfBlocks(vs.index);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(context);
	return stats;
}

/* Links of every element, for the reachability walk. */
typedef struct ElementLinks
{
	EngramHnswRef *refs;		/* sorted: pages are read in order */
	bool	   *deleted;
	int		   *first;			/* into links; first[count] ends the last */
	int			count;
	int			capacity;
	EngramHnswRef *links;
	int			link_count;
	int			link_capacity;
	double		live;
} ElementLinks;

static int
find_ref(const ElementLinks *graph, EngramHnswRef ref)
{
	int			low = 0;
	int			high = graph->count - 1;

	while (low <= high)
	{
		int			mid = (low + high) / 2;

		if (graph->refs[mid] == ref)
			return mid;
		if (graph->refs[mid] < ref)
			low = mid + 1;
		else
			high = mid - 1;
	}
	return -1;
}

/*
 * Read every element's links (all layers) into "graph".  Returns false,
 * leaving only graph->live valid, once the links would outgrow "budget"
 * bytes.
 */
static bool
collect_links(Relation index, IndexVacuumInfo *info, const EngramHnswMetaPageData *meta,
			  ElementLinks *graph, Size budget)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	EngramHnswRef layer_refs[2 * ENGRAM_HNSW_MAX_M];
	bool		fits = true;

	memset(graph, 0, sizeof(*graph));
	graph->capacity = 1024;
	graph->refs = palloc(sizeof(EngramHnswRef) * graph->capacity);
	graph->deleted = palloc(sizeof(bool) * graph->capacity);
	graph->first = palloc(sizeof(int) * (graph->capacity + 1));
	graph->link_capacity = 16384;
	graph->links = palloc(sizeof(EngramHnswRef) * graph->link_capacity);

	for (BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;

		vacuum_delay_point();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL, info->strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		engram_hnsw_check_page(index, page, blkno);
		maxoff = PageIsNew(page) ? InvalidOffsetNumber : PageGetMaxOffsetNumber(page);
		for (OffsetNumber offno = FirstOffsetNumber; offno <= maxoff; offno++)
		{
			EngramHnswElementTuple element = engram_hnsw_page_element(page, offno);
			bool		deleted;

			if (element == NULL)
				continue;
			deleted = (element->flags & ENGRAM_HNSW_ELEMENT_DELETED) != 0;
			if (!deleted)
				graph->live++;
			if (!fits)
				continue;
			if (graph->count == graph->capacity)
			{
				graph->capacity *= 2;
				graph->refs = repalloc_huge(graph->refs, sizeof(EngramHnswRef) * graph->capacity);
				graph->deleted = repalloc_huge(graph->deleted, sizeof(bool) * graph->capacity);
				graph->first = repalloc_huge(graph->first, sizeof(int) * (graph->capacity + 1));
			}
			graph->refs[graph->count] = EngramHnswRefFromTid(blkno, offno);
			graph->deleted[graph->count] = deleted;
			graph->first[graph->count] = graph->link_count;
			for (int layer = 0; layer <= element->level; layer++)
			{
				int			count = engram_hnsw_element_get_layer(element, meta->dimensions,
																  meta->m, layer, layer_refs);

				if (graph->link_count + count > graph->link_capacity)
				{
					graph->link_capacity *= 2;
					graph->links = repalloc_huge(graph->links,
												 sizeof(EngramHnswRef) * graph->link_capacity);
				}
				memcpy(graph->links + graph->link_count, layer_refs, sizeof(EngramHnswRef) * count);
				graph->link_count += count;
			}
			graph->count++;
			if ((Size) graph->capacity * (sizeof(EngramHnswRef) + sizeof(bool) + sizeof(int)) +
				(Size) graph->link_capacity * sizeof(EngramHnswRef) > budget)
				fits = false;
		}
		UnlockReleaseBuffer(buf);
	}
	graph->first[graph->count] = graph->link_count;
	return fits;
}

/* Mark everything the links of any layer reach from "start". */
static void
mark_reachable(const ElementLinks *graph, int start, bool *reached, int *queue)
{
	int			head = 0;
	int			tail = 0;

	if (reached[start])
		return;
	reached[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		int			current = queue[head++];

		for (int i = graph->first[current]; i < graph->first[current + 1]; i++)
		{
			int			next = find_ref(graph, graph->links[i]);

			if (next >= 0 && !reached[next])
			{
				reached[next] = true;
				queue[tail++] = next;
			}
		}
	}
}

/* Phase 4 (see the file header). */
static void
reconnect_unreachable(Relation index, IndexVacuumInfo *info, ElementLinks *graph,
					  const EngramHnswMetaPageData *meta)
{
	int			entry;
	bool	   *reached;
	int		   *queue;
	EngramHnswDiskGraph disk;
	int			reconnected = 0;

	if (meta->entry_level < 0)
		return;
	entry = find_ref(graph, EngramHnswRefFromTid(meta->entry_blkno, meta->entry_offno));
	if (entry < 0)
		return;

	reached = palloc0(sizeof(bool) * Max(graph->count, 1));
	queue = palloc(sizeof(int) * Max(graph->count, 1));
	mark_reachable(graph, entry, reached, queue);

	engram_hnsw_disk_graph_init(&disk, index, meta);
	for (int i = 0; i < graph->count; i++)
	{
		EngramHnswCandidate element;
		EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			linked = 0;
		int			tried = 0;

		if (reached[i] || graph->deleted[i])
			continue;
		vacuum_delay_point();
		if (!engram_hnsw_read_element(&disk, graph->refs[i], 0, &element) || element.deleted)
			continue;
		engram_hnsw_search(&disk.graph, element.vector,
						   EngramHnswRefFromTid(meta->entry_blkno, meta->entry_offno),
						   meta->entry_level, meta->ef_construction, 0, false,
						   layer_results, layer_counts);
		/* Nearest reachable elements with room take a link to it ... */
		for (int j = 0; j < layer_counts[0] && tried < meta->m; j++)
		{
			if (layer_results[0][j].ref == element.ref)
				continue;
			tried++;
			if (engram_hnsw_update_neighbour_list(&disk, layer_results[0][j].ref, 0,
												  &element, 1, ENGRAM_HNSW_LINK_FILL, NULL))
				linked++;
		}
		/* ... or, when none has, the nearest one gives up its last link. */
		for (int j = 0; j < layer_counts[0] && linked == 0; j++)
		{
			if (layer_results[0][j].ref == element.ref)
				continue;
			engram_hnsw_update_neighbour_list(&disk, layer_results[0][j].ref, 0,
											  &element, 1, ENGRAM_HNSW_LINK_FORCE, NULL);
			break;
		}
		reconnected++;
		/* what it leads to is reachable now too */
		mark_reachable(graph, i, reached, queue);
	}
	if (reconnected > 0)
		ereport(DEBUG1,
				(errmsg_internal("engram_hnsw index \"%s\": reconnected %d unreachable elements",
								 RelationGetRelationName(index), reconnected)));
}

/*
 * amvacuumcleanup: reconnect unreachable elements (phase 4) and, when no
 * bulk delete ran, count the live elements so that pg_class.reltuples
 * stays right.
 */
IndexBulkDeleteResult *
engram_hnsw_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	EngramHnswMetaPageData meta;
	ElementLinks graph;
	MemoryContext context;
	MemoryContext old;

	if (info->analyze_only)
		return stats;

	context = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw vacuum cleanup",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(context);
	engram_hnsw_read_meta(index, &meta);
	if (stats == NULL && BlockNumberIsValid(meta.pending_head))
	{
		/* no bulk delete ran (an insert-only table): merge, unless one runs */
		engram_hnsw_pending_merge(index, PG_INT64_MAX, false, NULL, NULL, NULL);
		engram_hnsw_read_meta(index, &meta);
	}
	if (collect_links(index, info, &meta, &graph, (Size) maintenance_work_mem * 1024))
		reconnect_unreachable(index, info, &graph, &meta);
	else
		ereport(DEBUG1,
				(errmsg_internal("engram_hnsw index \"%s\": reachability check skipped, links do not fit in maintenance_work_mem",
								 RelationGetRelationName(index))));
	MemoryContextSwitchTo(old);

	if (stats == NULL)
	{
		stats = palloc0(sizeof(IndexBulkDeleteResult));
		stats->num_index_tuples = graph.live + meta.pending_count;
	}
	stats->num_pages = RelationGetNumberOfBlocks(index);
	MemoryContextDelete(context);
	return stats;
}
