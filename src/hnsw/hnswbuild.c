/*-------------------------------------------------------------------------
 *
 * hnswbuild.c
 *	  ambuild and ambuildempty for engram_hnsw.
 *
 * The build scans the heap and inserts every vector into a graph kept in
 * memory (BuildGraph), charged against maintenance_work_mem.  At the end
 * elements no link leads to are linked in, then the graph is laid out on pages in insertion order (positions are known
 * before any page is written, so neighbour references are final), the
 * pages are written without WAL and then logged with log_newpage_range()
 * when the index needs WAL.  When the graph outgrows maintenance_work_mem
 * the part built so far is written the same way, a NOTICE says so, and
 * the remaining tuples go through the on-disk insertion path
 * (hnswinsert.c, generic WAL): correct, only slower.
 *
 * Locking: the index is new and invisible to other backends while it is
 * built, so the in-memory phase takes no lock; the on-disk phase follows
 * hnswinsert.c's contract.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/generic_xlog.h"
#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/backend_progress.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw/hnsw.h"

/* One element of the in-memory graph; refs are indexes in BuildGraph. */
typedef struct BuildElement
{
	ItemPointerData heaptid;
	uint8		level;
	uint8	   *counts;			/* neighbours per layer, level + 1 entries */
	EngramHnswRef *slots;		/* ENGRAM_HNSW_TOTAL_SLOTS(m, level) */
	float	   *vector;
	BlockNumber blkno;			/* position, assigned when written */
	OffsetNumber offno;
} BuildElement;

typedef struct BuildGraph
{
	EngramHnswGraph graph;		/* visit() over the elements below */
	BuildElement **elements;
	int64		count;
	int64		capacity;
	int64		entry;			/* -1: empty */
	int			entry_level;
} BuildGraph;

typedef struct BuildState
{
	Relation	heap;
	Relation	index;
	int			metric;
	int			dimensions;		/* 0 until known */
	int			m;
	int			ef_construction;
	int			quantization;	/* of the pages written (hnsw.h) */
	int			max_level;
	BuildGraph	memory;
	MemoryContext build_context;	/* lives as long as the build */
	MemoryContext graph_context;	/* elements of the in-memory graph */
	MemoryContext tuple_context;	/* reset after every tuple */
	Size		memory_used;
	Size		memory_limit;
	bool		on_disk;		/* graph outgrew memory: insert on disk */
	double		indexed;		/* elements written */
	float	   *vector;			/* scratch, dimensions floats */
} BuildState;

/* ---------------------------------------------------------------------
 * In-memory graph
 * ---------------------------------------------------------------------
 */

static bool
memory_visit(EngramHnswGraph *graph, EngramHnswRef ref, const float *query,
			 int layer, float threshold, bool want_vector, EngramHnswCandidate *out)
{
	BuildGraph *memory = (BuildGraph *) graph;
	BuildElement *element = memory->elements[ref];

	out->ref = ref;
	out->distance = engram_hnsw_distance(graph->metric, query, element->vector,
										 graph->dimensions);
	out->deleted = false;
	out->heaptid = element->heaptid;
	out->level = element->level;
	out->vector = element->vector;
	out->neighbour_count = 0;
	out->neighbours = NULL;
	if (out->distance < threshold && layer <= element->level)
	{
		/* read-only view of the list: searches never write through it */
		out->neighbours = element->slots + ENGRAM_HNSW_LAYER_FIRST_SLOT(graph->m, layer);
		out->neighbour_count = element->counts[layer];
	}
	return true;
}

/*
 * Add "new_ref" to the layer-"layer" list of "base", pruning with the
 * selection heuristic when the list is full.
 */
static void
memory_add_backlink(BuildState *state, int64 base_ref, int64 new_ref, int layer)
{
	BuildGraph *memory = &state->memory;
	BuildElement *base = memory->elements[base_ref];
	EngramHnswRef *slots = base->slots + ENGRAM_HNSW_LAYER_FIRST_SLOT(state->m, layer);
	int			count = base->counts[layer];
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(state->m, layer);
	EngramHnswCandidate *candidates;
	int		   *chosen;
	int			chosen_count;
	bool		kept_new = false;

	if (count < capacity)
	{
		slots[count] = (EngramHnswRef) new_ref;
		base->counts[layer]++;
		return;
	}

	candidates = palloc(sizeof(EngramHnswCandidate) * (count + 1));
	for (int i = 0; i <= count; i++)
	{
		int64		ref = i < count ? slots[i] : new_ref;

		candidates[i].ref = ref;
		candidates[i].vector = memory->elements[ref]->vector;
		candidates[i].distance = engram_hnsw_distance(state->metric, base->vector,
													  candidates[i].vector,
													  state->dimensions);
	}
	engram_hnsw_sort_candidates(candidates, count + 1);
	chosen = palloc(sizeof(int) * capacity);
	chosen_count = engram_hnsw_select_neighbours(&memory->graph, candidates, count + 1,
												 capacity, ENGRAM_HNSW_BACKLINK_KEEP(capacity), chosen);
	for (int i = 0; i < chosen_count; i++)
	{
		slots[i] = candidates[chosen[i]].ref;
		if (slots[i] == new_ref)
			kept_new = true;
	}
	/* The newcomer keeps its in-link whenever the pruned list has room. */
	if (!kept_new && chosen_count < capacity)
		slots[chosen_count++] = (EngramHnswRef) new_ref;
	base->counts[layer] = chosen_count;
}

/* Memory charged for one element of the given level. */
static Size
element_memory(const BuildState *state, int level)
{
	return MAXALIGN(sizeof(BuildElement)) + MAXALIGN(level + 1) +
		MAXALIGN(sizeof(EngramHnswRef) * ENGRAM_HNSW_TOTAL_SLOTS(state->m, level)) +
		MAXALIGN(sizeof(float) * state->dimensions) + sizeof(BuildElement *);
}

/* Insert one prepared vector into the in-memory graph. */
static void
memory_insert(BuildState *state, const float *vector, ItemPointer heaptid, int level)
{
	BuildGraph *memory = &state->memory;
	BuildElement *element;
	int64		ref;
	EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	MemoryContext old;

	old = MemoryContextSwitchTo(state->graph_context);
	if (memory->count == memory->capacity)
	{
		memory->capacity = Max(memory->capacity * 2, 1024);
		if (memory->elements == NULL)
			memory->elements = palloc(sizeof(BuildElement *) * memory->capacity);
		else
			memory->elements = repalloc_huge(memory->elements,
											 sizeof(BuildElement *) * memory->capacity);
	}
	element = palloc(sizeof(BuildElement));
	element->heaptid = *heaptid;
	element->level = level;
	element->counts = palloc0(level + 1);
	element->slots = palloc(sizeof(EngramHnswRef) * ENGRAM_HNSW_TOTAL_SLOTS(state->m, level));
	element->vector = palloc(sizeof(float) * state->dimensions);
	memcpy(element->vector, vector, sizeof(float) * state->dimensions);
	ref = memory->count++;
	memory->elements[ref] = element;
	state->memory_used += element_memory(state, level);
	MemoryContextSwitchTo(old);

	if (memory->entry < 0)
	{
		memory->entry = ref;
		memory->entry_level = level;
		return;
	}

	engram_hnsw_search(&memory->graph, vector, memory->entry, memory->entry_level,
					   state->ef_construction, level, true, layer_results, layer_counts);
	for (int lc = Min(level, memory->entry_level); lc >= 0; lc--)
	{
		int			capacity = ENGRAM_HNSW_LAYER_SLOTS(state->m, lc);
		int		   *chosen = palloc(sizeof(int) * capacity);
		int			count;
		EngramHnswRef *slots = element->slots + ENGRAM_HNSW_LAYER_FIRST_SLOT(state->m, lc);

		count = engram_hnsw_select_neighbours(&memory->graph, layer_results[lc],
											  layer_counts[lc], capacity,
											  capacity, chosen);
		for (int i = 0; i < count; i++)
			slots[i] = layer_results[lc][chosen[i]].ref;
		element->counts[lc] = count;
		for (int i = 0; i < count; i++)
			memory_add_backlink(state, layer_results[lc][chosen[i]].ref, ref, lc);
	}
	if (level > memory->entry_level)
	{
		memory->entry = ref;
		memory->entry_level = level;
	}
}

/* Mark everything the links of any layer reach from "start". */
static void
memory_mark_reachable(BuildGraph *memory, int64 start, bool *reached, int64 *queue)
{
	int64		head = 0;
	int64		tail = 0;

	if (reached[start])
		return;
	reached[start] = true;
	queue[tail++] = start;
	while (head < tail)
	{
		BuildElement *element = memory->elements[queue[head++]];

		for (int layer = 0; layer <= element->level; layer++)
		{
			EngramHnswRef *slots = element->slots + ENGRAM_HNSW_LAYER_FIRST_SLOT(memory->graph.m, layer);

			for (int i = 0; i < element->counts[layer]; i++)
			{
				EngramHnswRef next = slots[i];

				if (!reached[next])
				{
					reached[next] = true;
					queue[tail++] = next;
				}
			}
		}
	}
}

/*
 * Before writing: link every element that no link path reaches from the
 * entry point (pruning can take away all of an element's in-links) from
 * its nearest reachable elements, so that every row can be found.
 */
static void
reconnect_memory_graph(BuildState *state)
{
	BuildGraph *memory = &state->memory;
	bool	   *reached;
	int64	   *queue;
	MemoryContext old;

	if (memory->entry < 0)
		return;
	reached = palloc0(sizeof(bool) * memory->count);
	queue = palloc(sizeof(int64) * memory->count);
	memory_mark_reachable(memory, memory->entry, reached, queue);

	old = MemoryContextSwitchTo(state->tuple_context);
	for (int64 i = 0; i < memory->count; i++)
	{
		EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			linked = 0;

		if (reached[i])
			continue;
		engram_hnsw_search(&memory->graph, memory->elements[i]->vector, memory->entry,
						   memory->entry_level, state->ef_construction, 0, false,
						   layer_results, layer_counts);
		for (int j = 0; j < layer_counts[0] && linked < 2; j++)
		{
			BuildElement *base = memory->elements[layer_results[0][j].ref];

			if (layer_results[0][j].ref == (EngramHnswRef) i)
				continue;
			memory_add_backlink(state, layer_results[0][j].ref, i, 0);
			for (int k = 0; k < base->counts[0]; k++)
				if (base->slots[k] == (EngramHnswRef) i)
					linked++;
		}
		/* No list took it: the nearest one gives up its last link. */
		for (int j = 0; j < layer_counts[0] && linked == 0; j++)
		{
			BuildElement *base = memory->elements[layer_results[0][j].ref];

			if (layer_results[0][j].ref == (EngramHnswRef) i)
				continue;
			if (base->counts[0] < ENGRAM_HNSW_LAYER_SLOTS(state->m, 0))
				base->counts[0]++;
			base->slots[base->counts[0] - 1] = (EngramHnswRef) i;
			linked++;
		}
		memory_mark_reachable(memory, i, reached, queue);
		MemoryContextReset(state->tuple_context);
	}
	MemoryContextSwitchTo(old);
	pfree(reached);
	pfree(queue);
}

/* ---------------------------------------------------------------------
 * Writing pages
 * ---------------------------------------------------------------------
 */

/* Write the metapage as block 0 of a new index (no WAL: logged later). */
static void
write_initial_metapage(BuildState *state)
{
	Buffer		buf = ReadBuffer(state->index, P_NEW);
	Page		page;
	EngramHnswMetaPage meta;

	Assert(BufferGetBlockNumber(buf) == ENGRAM_HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buf);
	engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_META);
	meta = EngramHnswPageGetMeta(page);
	meta->magic = ENGRAM_HNSW_MAGIC;
	meta->version = ENGRAM_HNSW_VERSION;
	meta->dimensions = state->dimensions;
	meta->m = state->m;
	meta->ef_construction = state->ef_construction;
	meta->metric = state->metric;
	meta->quantization = state->quantization;
	meta->entry_blkno = InvalidBlockNumber;
	meta->entry_offno = InvalidOffsetNumber;
	meta->entry_level = -1;
	meta->insert_blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(EngramHnswMetaPageData)) - (char *) page;
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/* Set the metapage fields a build decides, without WAL. */
static void
set_build_meta(BuildState *state, BlockNumber insert_blkno)
{
	Buffer		buf = ReadBuffer(state->index, ENGRAM_HNSW_METAPAGE_BLKNO);
	EngramHnswMetaPage meta;
	BuildGraph *memory = &state->memory;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	meta = EngramHnswPageGetMeta(BufferGetPage(buf));
	meta->dimensions = state->dimensions;
	if (memory->entry >= 0)
	{
		meta->entry_blkno = memory->elements[memory->entry]->blkno;
		meta->entry_offno = memory->elements[memory->entry]->offno;
		meta->entry_level = memory->entry_level;
	}
	meta->insert_blkno = insert_blkno;
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/*
 * Lay the in-memory graph out on new pages after block 0, write them and
 * the metapage, and WAL-log every page of the index.  Then free the graph.
 */
static void
write_memory_graph(BuildState *state)
{
	BuildGraph *memory = &state->memory;
	Size		page_space = BLCKSZ - SizeOfPageHeaderData -
		MAXALIGN(sizeof(EngramHnswPageOpaqueData));
	Size		free_space = 0;
	BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO;
	OffsetNumber offno = InvalidOffsetNumber;
	BlockNumber last_blkno;
	int64		next = 0;
	EngramHnswRef *refs;

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, ENGRAM_HNSW_PHASE_WRITE);
	reconnect_memory_graph(state);

	/* Positions first: neighbour references must be final when written. */
	for (int64 i = 0; i < memory->count; i++)
	{
		BuildElement *element = memory->elements[i];
		Size		size = ENGRAM_HNSW_ELEMENT_TUPLE_SIZE(state->dimensions, state->quantization,
														  state->m, element->level) +
			sizeof(ItemIdData);

		if (offno == InvalidOffsetNumber || size > free_space)
		{
			blkno++;
			offno = FirstOffsetNumber;
			free_space = page_space;
		}
		element->blkno = blkno;
		element->offno = offno++;
		free_space -= size;
	}
	last_blkno = Max(blkno, ENGRAM_HNSW_METAPAGE_BLKNO + 1);

	refs = palloc(sizeof(EngramHnswRef) * ENGRAM_HNSW_LAYER_SLOTS(state->m, 0));
	while (next < memory->count)
	{
		Buffer		buf = ReadBuffer(state->index, P_NEW);
		BlockNumber page_blkno = BufferGetBlockNumber(buf);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_ELEMENT);
		for (; next < memory->count && memory->elements[next]->blkno == page_blkno; next++)
		{
			BuildElement *element = memory->elements[next];
			EngramHnswElementTuple tuple;
			Size		size;

			tuple = engram_hnsw_form_element(state->dimensions, state->quantization, state->m,
											 element->level, element->level, &element->heaptid,
											 element->vector, &size);
			for (int lc = 0; lc <= element->level; lc++)
			{
				EngramHnswRef *slots = element->slots + ENGRAM_HNSW_LAYER_FIRST_SLOT(state->m, lc);

				for (int i = 0; i < element->counts[lc]; i++)
				{
					BuildElement *neighbour = memory->elements[slots[i]];

					refs[i] = EngramHnswRefFromTid(neighbour->blkno, neighbour->offno);
				}
				engram_hnsw_element_set_layer(tuple, state->dimensions, state->m, lc,
											  refs, element->counts[lc]);
			}
			if (PageAddItem(page, (Item) tuple, size, element->offno, false, false) !=
				element->offno)
				elog(ERROR, "engram_hnsw build: element does not fit its planned position");
			pfree(tuple);
			state->indexed++;
		}
		if (next < memory->count && memory->elements[next]->blkno <= page_blkno)
			elog(ERROR, "engram_hnsw build: page layout out of step");
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	set_build_meta(state, last_blkno);
	if (RelationNeedsWAL(state->index))
		log_newpage_range(state->index, MAIN_FORKNUM, 0,
						  RelationGetNumberOfBlocks(state->index), true);

	MemoryContextReset(state->graph_context);
	memory->elements = NULL;
	memory->count = memory->capacity = 0;
	memory->entry = -1;
	memory->entry_level = -1;
	state->memory_used = 0;
}

/* ---------------------------------------------------------------------
 * Heap scan callback and the build entry points
 * ---------------------------------------------------------------------
 */

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *opaque)
{
	BuildState *state = (BuildState *) opaque;
	MemoryContext old;
	EngramVector *vec;
	int			level;

	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(state->tuple_context);
	vec = DatumGetEngramVector(values[0]);
	if (state->dimensions == 0)
	{
		engram_hnsw_check_element_fits(vec->dim, state->quantization, state->m);
		state->dimensions = vec->dim;
		state->max_level = engram_hnsw_max_level(state->dimensions, state->quantization,
												  state->m);
		state->memory.graph.dimensions = state->dimensions;
		state->vector = MemoryContextAlloc(state->build_context,
										   sizeof(float) * state->dimensions);
	}

	if (state->on_disk)
	{
		engram_hnsw_insert_value(index, values[0], tid);
		state->indexed++;
	}
	else if (engram_hnsw_prepare_vector(index, state->metric, state->dimensions, vec,
										state->vector))
	{
		level = engram_hnsw_random_level(state->m, state->max_level);
		if (state->memory_used + element_memory(state, level) > state->memory_limit &&
			state->memory.count > 0)
		{
			ereport(NOTICE,
					(errmsg("engram_hnsw graph no longer fits into maintenance_work_mem"),
					 errdetail("The rest of the build inserts into the on-disk graph, which takes significantly more time."),
					 errhint("Increase maintenance_work_mem to speed up the build.")));
			elog(DEBUG1, "engram_hnsw build: %lld elements in memory when it filled up",
				 (long long) state->memory.count);
			MemoryContextSwitchTo(old);
			write_memory_graph(state);
			pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, ENGRAM_HNSW_PHASE_LOAD);
			state->on_disk = true;
			MemoryContextSwitchTo(state->tuple_context);
			engram_hnsw_insert_vector(index, state->vector, tid);
			state->indexed++;
		}
		else
			memory_insert(state, state->vector, tid, level);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->tuple_context);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
								 (int64) (state->indexed + state->memory.count));
}

IndexBuildResult *
engram_hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	BuildState	state;
	double		reltuples;
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));

	memset(&state, 0, sizeof(state));
	state.heap = heap;
	state.index = index;
	state.metric = engram_hnsw_get_metric_from_opclass(index);
	state.m = engram_hnsw_get_m(index);
	state.ef_construction = engram_hnsw_get_ef_construction(index);
	state.quantization = engram_hnsw_get_quantization(index);
	state.dimensions = typmod > 0 ? typmod : 0;
	if (state.dimensions > 0)
	{
		engram_hnsw_check_element_fits(state.dimensions, state.quantization, state.m);
		state.max_level = engram_hnsw_max_level(state.dimensions, state.quantization, state.m);
	}
	state.memory_limit = (Size) maintenance_work_mem * 1024;
	state.graph_context = AllocSetContextCreate(CurrentMemoryContext,
												"engram_hnsw build graph",
												ALLOCSET_DEFAULT_SIZES);
	state.tuple_context = AllocSetContextCreate(CurrentMemoryContext,
												"engram_hnsw build tuple",
												ALLOCSET_DEFAULT_SIZES);
	state.memory.graph.visit = memory_visit;
	state.memory.graph.metric = state.metric;
	state.memory.graph.dimensions = state.dimensions;
	state.memory.graph.m = state.m;
	state.memory.entry = -1;
	state.memory.entry_level = -1;
	state.build_context = CurrentMemoryContext;
	if (state.dimensions > 0)
		state.vector = palloc(sizeof(float) * state.dimensions);

	write_initial_metapage(&state);

	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, ENGRAM_HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));
	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, &state, NULL);

	if (!state.on_disk)
		write_memory_graph(&state);

	MemoryContextDelete(state.graph_context);
	MemoryContextDelete(state.tuple_context);

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = state.indexed;
	return result;
}

/*
 * ambuildempty: the init fork of an unlogged index is a lone metapage
 * (an empty graph whose dimensions come from the first vector).
 */
void
engram_hnsw_buildempty(Relation index)
{
	Buffer		buf;
	GenericXLogState *state;
	Page		page;
	EngramHnswMetaPage meta;
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	buf = ReadBufferExtended(index, INIT_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	page = GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE);
	engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_META);
	meta = EngramHnswPageGetMeta(page);
	meta->magic = ENGRAM_HNSW_MAGIC;
	meta->version = ENGRAM_HNSW_VERSION;
	meta->dimensions = typmod > 0 ? typmod : 0;
	meta->m = engram_hnsw_get_m(index);
	meta->ef_construction = engram_hnsw_get_ef_construction(index);
	meta->metric = engram_hnsw_get_metric_from_opclass(index);
	meta->quantization = engram_hnsw_get_quantization(index);
	meta->entry_blkno = InvalidBlockNumber;
	meta->entry_offno = InvalidOffsetNumber;
	meta->entry_level = -1;
	meta->insert_blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1;
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(EngramHnswMetaPageData)) - (char *) page;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}
