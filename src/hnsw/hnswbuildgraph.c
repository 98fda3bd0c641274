/*-------------------------------------------------------------------------
 *
 * hnswbuildgraph.c
 *	  The in-memory graph of an engram_hnsw build: arena allocation,
 *	  concurrent insertion, reconnection of unreachable elements, and the
 *	  writer that lays the graph out on pages.
 *
 * The same code serves the serial build (arena in backend memory, no
 * locks) and the parallel build (arena in dynamic shared memory, every
 * participant inserting concurrently).  Layout and locking: hnswbuild.h.
 *
 * The pages are written by one process once every insert has finished:
 * positions are assigned first (breadth first over layer 0, so that a page
 * holds one neighbourhood: page_order), so neighbour references are final
 * when an element tuple is formed.  The pages are written
 * without WAL and then logged with log_newpage_range() when the index
 * needs WAL; the index is invisible to other transactions until the
 * build commits, and a crash before that discards it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/xloginsert.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/backend_progress.h"
#include "utils/memutils.h"

#include "hnsw/hnswbuild.h"

#define ARENA_FIRST_ELEMENT		MAXALIGN(sizeof(EngramHnswBuildArena))

static inline EngramHnswBuildElement *
arena_element(EngramHnswBuildArena *arena, EngramHnswRef ref)
{
	return (EngramHnswBuildElement *) ((char *) arena + ref);
}

static inline float *
element_vector(EngramHnswBuildElement *element)
{
	return (float *) ((char *) element + MAXALIGN(sizeof(EngramHnswBuildElement)));
}

static inline EngramHnswRef *
element_layer_slots(EngramHnswBuildElement *element, int dims, int m, int layer)
{
	return (EngramHnswRef *) ((char *) element_vector(element) +
							  MAXALIGN(sizeof(float) * dims)) +
		ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);
}

static inline Size
element_size(int dims, int m, int level)
{
	return MAXALIGN(sizeof(EngramHnswBuildElement)) + MAXALIGN(sizeof(float) * dims) +
		MAXALIGN(sizeof(EngramHnswRef) * ENGRAM_HNSW_TOTAL_SLOTS(m, level));
}

/* ---------------------------------------------------------------------
 * Arena
 * ---------------------------------------------------------------------
 */

Size
engram_hnsw_build_arena_size(Relation heap, int dims, int m, Size limit)
{
	BlockNumber blocks = RelationGetNumberOfBlocks(heap);
	int			bound_dims = dims > 0 ? dims : ENGRAM_HNSW_COST_DEFAULT_DIMS;
	double		rows_per_page = MaxHeapTuplesPerPage;
	double		row_bytes;
	double		needed;

	/*
	 * A heap page holds at most this many rows carrying an inline vector of
	 * this size; a vector long enough to be compressed or moved to TOAST
	 * gives no useful bound, and neither does a column without dimensions.
	 */
	if (dims > 0 && sizeof(float) * dims + 8 < TOAST_TUPLE_THRESHOLD / 2)
		rows_per_page = Min(rows_per_page,
							(double) BLCKSZ /
							(MAXALIGN(SizeofHeapTupleHeader + sizeof(float) * dims + 8) +
							 sizeof(ItemIdData)));
	/* an element has 2m + m / (m - 1) slots on average: count 2m + 2 */
	row_bytes = element_size(bound_dims, m, 0) + 2 * sizeof(EngramHnswRef);
	needed = (double) (blocks + 1) * rows_per_page * row_bytes +
		ARENA_FIRST_ELEMENT + element_size(bound_dims, m, ENGRAM_HNSW_MAX_LEVEL) +
		64 * 1024;
	return (Size) Max(Min(needed, (double) limit),
					  ARENA_FIRST_ELEMENT + element_size(bound_dims, m, ENGRAM_HNSW_MAX_LEVEL));
}

void
engram_hnsw_build_arena_init(EngramHnswBuildArena *arena, Size size,
							 int metric, int dims, int m, int ef_construction)
{
	static int	lock_tranche = 0;

	if (lock_tranche == 0)
		lock_tranche = LWLockNewTrancheId();
	LWLockRegisterTranche(lock_tranche, "engram_hnsw_build");

	memset(arena, 0, sizeof(EngramHnswBuildArena));
	arena->size = size;
	arena->metric = metric;
	arena->m = m;
	arena->ef_construction = ef_construction;
	arena->lock_tranche = lock_tranche;
	pg_atomic_init_u32(&arena->dimensions, dims);
	pg_atomic_init_u32(&arena->full, 0);
	pg_atomic_init_u64(&arena->used, ARENA_FIRST_ELEMENT);
	pg_atomic_init_u64(&arena->element_count, 0);
	LWLockInitialize(&arena->entry_lock, lock_tranche);
	arena->entry = ENGRAM_HNSW_INVALID_REF;
	arena->entry_level = -1;
}

/*
 * Reserve "size" bytes; returns their offset, or ENGRAM_HNSW_INVALID_REF
 * when they do not fit (and marks the arena full for everyone).
 */
static EngramHnswRef
arena_allocate(EngramHnswBuildArena *arena, Size size)
{
	uint64		used = pg_atomic_read_u64(&arena->used);

	for (;;)
	{
		if (pg_atomic_read_u32(&arena->full) != 0)
			return ENGRAM_HNSW_INVALID_REF;
		if (used + size > arena->size)
		{
			pg_atomic_write_u32(&arena->full, 1);
			return ENGRAM_HNSW_INVALID_REF;
		}
		if (pg_atomic_compare_exchange_u64(&arena->used, &used, used + size))
			return used;
	}
}

/* ---------------------------------------------------------------------
 * Graph access for the search code
 * ---------------------------------------------------------------------
 */

/*
 * visit() of the build graph.  The neighbours are a read-only view of the
 * live slots (READING LISTS in hnswbuild.h); on a platform without 8-byte
 * single-copy atomicity a concurrent graph copies them under the
 * element's shared lock instead (in the current memory context).
 */
static bool
build_visit(EngramHnswGraph *graph, EngramHnswRef ref, const float *query,
			int layer, float threshold, bool want_vector, EngramHnswCandidate *out)
{
	EngramHnswBuildGraph *build = (EngramHnswBuildGraph *) graph;
	EngramHnswBuildElement *element = arena_element(build->arena, ref);
	float	   *vector = element_vector(element);

	out->ref = ref;
	out->distance = engram_hnsw_distance_below(graph->metric, query, vector,
											   graph->dimensions, threshold);
	out->deleted = false;
	out->heaptid = element->heaptid;
	ItemPointerSetInvalid(&out->alias_tid);
	out->level = element->level;
	out->vector = vector;
	out->neighbour_count = 0;
	out->neighbours = NULL;
	if (out->distance < threshold && layer <= element->level)
	{
		EngramHnswRef *slots = element_layer_slots(element, graph->dimensions, graph->m,
												   layer);

#ifdef PG_HAVE_8BYTE_SINGLE_COPY_ATOMICITY
		/* lock-free view of a live list: see READING LISTS in hnswbuild.h */
		out->neighbour_count = ((volatile uint8 *) element->counts)[layer];
		pg_read_barrier();
		out->neighbours = slots;
#else
		if (build->concurrent)
		{
			out->neighbours = palloc(sizeof(EngramHnswRef) *
									 ENGRAM_HNSW_LAYER_SLOTS(graph->m, layer));
			LWLockAcquire(&element->lock, LW_SHARED);
			out->neighbour_count = element->counts[layer];
			memcpy(out->neighbours, slots, sizeof(EngramHnswRef) * out->neighbour_count);
			LWLockRelease(&element->lock);
		}
		else
		{
			out->neighbours = slots;
			out->neighbour_count = element->counts[layer];
		}
#endif
	}
	return true;
}

/*
 * prefetch() of the build graph: the first lines of the element (header,
 * start of the vector); the hardware prefetcher follows the rest once the
 * distance computation streams through it.  Prefetching every line of
 * every neighbour saturates the line fill buffers (perf: the prefetch
 * loop itself stalled).
 */
static void
build_prefetch(EngramHnswGraph *graph, EngramHnswRef ref)
{
#ifdef __GNUC__
	const char *start = (const char *) arena_element(((EngramHnswBuildGraph *) graph)->arena, ref);

	__builtin_prefetch(start);
	__builtin_prefetch(start + PG_CACHE_LINE_SIZE);
#endif
}

void
engram_hnsw_build_graph_attach(EngramHnswBuildGraph *graph, EngramHnswBuildArena *arena,
							   bool concurrent)
{
	memset(graph, 0, sizeof(EngramHnswBuildGraph));
	LWLockRegisterTranche(arena->lock_tranche, "engram_hnsw_build");
	graph->graph.visit = build_visit;
	graph->graph.prefetch = build_prefetch;
	graph->graph.metric = arena->metric;
	graph->graph.m = arena->m;
	graph->arena = arena;
	graph->concurrent = concurrent;
	graph->max_level = -1;
	engram_hnsw_build_graph_set_dimensions(graph, 0);
}

int
engram_hnsw_build_graph_set_dimensions(EngramHnswBuildGraph *graph, int dims)
{
	uint32		current = pg_atomic_read_u32(&graph->arena->dimensions);

	if (current == 0 && dims > 0)
	{
		engram_hnsw_check_element_fits(dims, graph->arena->quantization, graph->arena->m);
		/* on a lost race "current" becomes the winner's dimensions */
		if (pg_atomic_compare_exchange_u32(&graph->arena->dimensions, &current, dims))
			current = dims;
	}
	if (current > 0 && graph->graph.dimensions == 0)
	{
		graph->graph.dimensions = current;
		graph->max_level = engram_hnsw_max_level(current, graph->arena->quantization,
												 graph->arena->m);
	}
	return current;
}

int64
engram_hnsw_build_graph_count(EngramHnswBuildGraph *graph)
{
	return (int64) pg_atomic_read_u64(&graph->arena->element_count);
}

/* ---------------------------------------------------------------------
 * Insertion
 * ---------------------------------------------------------------------
 */

/*
 * Add "new_ref" to the layer-"layer" list of "base_ref", pruning with the
 * selection heuristic when the list is full.  The newcomer keeps its
 * in-link whenever the pruned list has room.  With "force", a list with
 * no room for it gives up its last link instead (reconnection).
 */
static void
add_backlink(EngramHnswBuildGraph *graph, EngramHnswRef base_ref, EngramHnswRef new_ref,
			 int layer, bool force)
{
	EngramHnswBuildArena *arena = graph->arena;
	int			dims = graph->graph.dimensions;
	int			m = graph->graph.m;
	EngramHnswBuildElement *base = arena_element(arena, base_ref);
	EngramHnswRef *slots = element_layer_slots(base, dims, m, layer);
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);
	EngramHnswCandidate *candidates = palloc(sizeof(EngramHnswCandidate) * (capacity + 1));
	int		   *chosen = palloc(sizeof(int) * capacity);
	int			count;
	int			chosen_count;
	bool		kept_new = false;

	if (graph->concurrent)
		LWLockAcquire(&base->lock, LW_EXCLUSIVE);
	count = base->counts[layer];
	if (count < capacity)
	{
		slots[count] = new_ref;
		pg_write_barrier();
		base->counts[layer]++;
	}
	else
	{
		for (int i = 0; i <= count; i++)
		{
			EngramHnswRef ref = i < count ? slots[i] : new_ref;

			candidates[i].ref = ref;
			candidates[i].vector = element_vector(arena_element(arena, ref));
			candidates[i].distance = engram_hnsw_distance(arena->metric,
														  element_vector(base),
														  candidates[i].vector, dims);
		}
		engram_hnsw_sort_candidates(candidates, count + 1);
		chosen_count = engram_hnsw_select_neighbours(&graph->graph, candidates, count + 1,
													 capacity,
													 ENGRAM_HNSW_BACKLINK_KEEP(capacity),
													 chosen);
		for (int i = 0; i < chosen_count; i++)
		{
			slots[i] = candidates[chosen[i]].ref;
			if (slots[i] == new_ref)
				kept_new = true;
		}
		if (!kept_new && chosen_count < capacity)
		{
			slots[chosen_count++] = new_ref;
			kept_new = true;
		}
		if (!kept_new && force)
			slots[chosen_count - 1] = new_ref;
		pg_write_barrier();
		base->counts[layer] = chosen_count;
	}
	if (graph->concurrent)
		LWLockRelease(&base->lock);
	pfree(candidates);
	pfree(chosen);
}

bool
engram_hnsw_build_graph_insert(EngramHnswBuildGraph *graph, const float *vector,
							   ItemPointer heaptid)
{
	EngramHnswBuildArena *arena = graph->arena;
	int			dims = graph->graph.dimensions;
	int			m = graph->graph.m;
	int			level = engram_hnsw_random_level(m, graph->max_level);
	Size		size = element_size(dims, m, level);
	EngramHnswRef ref;
	EngramHnswBuildElement *element;
	EngramHnswRef entry;
	int			entry_level;
	bool		holds_entry_lock = false;
	EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	int		   *chosen[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			chosen_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			top;

	Assert(dims > 0);
	ref = arena_allocate(arena, size);
	if (ref == ENGRAM_HNSW_INVALID_REF)
		return false;
	element = arena_element(arena, ref);
	LWLockInitialize(&element->lock, arena->lock_tranche);
	element->heaptid = *heaptid;
	element->level = level;
	element->reached = false;
	memset(element->counts, 0, sizeof(element->counts));
	element->size = size;
	element->blkno = InvalidBlockNumber;
	element->offno = InvalidOffsetNumber;
	memcpy(element_vector(element), vector, sizeof(float) * dims);
	pg_atomic_fetch_add_u64(&arena->element_count, 1);

	/* The entry point; hold its lock throughout when this one replaces it. */
	if (graph->concurrent)
		LWLockAcquire(&arena->entry_lock, LW_SHARED);
	entry = arena->entry;
	entry_level = arena->entry_level;
	if (graph->concurrent)
	{
		LWLockRelease(&arena->entry_lock);
		if (entry == ENGRAM_HNSW_INVALID_REF || level > entry_level)
		{
			LWLockAcquire(&arena->entry_lock, LW_EXCLUSIVE);
			entry = arena->entry;
			entry_level = arena->entry_level;
			if (entry == ENGRAM_HNSW_INVALID_REF || level > entry_level)
				holds_entry_lock = true;
			else
				LWLockRelease(&arena->entry_lock);
		}
	}
	if (entry == ENGRAM_HNSW_INVALID_REF)
	{
		arena->entry = ref;
		arena->entry_level = level;
		if (holds_entry_lock)
			LWLockRelease(&arena->entry_lock);
		return true;
	}

	engram_hnsw_search(&graph->graph, vector, entry, entry_level,
					   arena->ef_construction, level, true, layer_results, layer_counts);

	/* Its own lists first, all layers: back-links make it reachable. */
	top = Min(level, entry_level);
	if (graph->concurrent)
		LWLockAcquire(&element->lock, LW_EXCLUSIVE);
	for (int lc = top; lc >= 0; lc--)
	{
		int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, lc);
		EngramHnswRef *slots = element_layer_slots(element, dims, m, lc);

		chosen[lc] = palloc(sizeof(int) * capacity);
		chosen_counts[lc] = engram_hnsw_select_neighbours(&graph->graph, layer_results[lc],
														  layer_counts[lc], capacity,
														  capacity, chosen[lc]);
		for (int i = 0; i < chosen_counts[lc]; i++)
			slots[i] = layer_results[lc][chosen[lc][i]].ref;
		pg_write_barrier();
		element->counts[lc] = chosen_counts[lc];
	}
	if (graph->concurrent)
		LWLockRelease(&element->lock);

	for (int lc = top; lc >= 0; lc--)
		for (int i = 0; i < chosen_counts[lc]; i++)
			add_backlink(graph, layer_results[lc][chosen[lc][i]].ref, ref, lc, false);

	if (level > entry_level)
	{
		arena->entry = ref;
		arena->entry_level = level;
	}
	if (holds_entry_lock)
		LWLockRelease(&arena->entry_lock);
	return true;
}

/* ---------------------------------------------------------------------
 * Reconnection (single process, after every insert)
 * ---------------------------------------------------------------------
 */

/* Mark everything the links of any layer reach from "start". */
static void
mark_reachable(EngramHnswBuildGraph *graph, EngramHnswRef start, EngramHnswRef *queue)
{
	EngramHnswBuildArena *arena = graph->arena;
	int64		head = 0;
	int64		tail = 0;

	if (arena_element(arena, start)->reached)
		return;
	arena_element(arena, start)->reached = true;
	queue[tail++] = start;
	while (head < tail)
	{
		EngramHnswBuildElement *element = arena_element(arena, queue[head++]);

		for (int layer = 0; layer <= element->level; layer++)
		{
			EngramHnswRef *slots = element_layer_slots(element, graph->graph.dimensions,
													   graph->graph.m, layer);

			for (int i = 0; i < element->counts[layer]; i++)
			{
				EngramHnswBuildElement *next = arena_element(arena, slots[i]);

				if (!next->reached)
				{
					next->reached = true;
					queue[tail++] = slots[i];
				}
			}
		}
	}
}

/*
 * Link every element that no link path reaches from the entry point
 * (pruning can take away all of an element's in-links) from its nearest
 * reachable elements, so that every row can be found.
 */
static void
reconnect(EngramHnswBuildGraph *graph, MemoryContext scratch)
{
	EngramHnswBuildArena *arena = graph->arena;
	uint64		used = pg_atomic_read_u64(&arena->used);
	EngramHnswRef *queue;
	MemoryContext old;

	if (arena->entry == ENGRAM_HNSW_INVALID_REF)
		return;
	queue = palloc(sizeof(EngramHnswRef) * engram_hnsw_build_graph_count(graph));
	mark_reachable(graph, arena->entry, queue);

	old = MemoryContextSwitchTo(scratch);
	for (EngramHnswRef ref = ARENA_FIRST_ELEMENT; ref < used;
		 ref += arena_element(arena, ref)->size)
	{
		EngramHnswBuildElement *element = arena_element(arena, ref);
		EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
		int			linked = 0;

		if (element->reached)
			continue;
		engram_hnsw_search(&graph->graph, element_vector(element), arena->entry,
						   arena->entry_level, arena->ef_construction, 0, false,
						   layer_results, layer_counts);
		/* two in-links if lists take it; else the nearest gives one up */
		for (int pass = 0; pass < 2 && linked == 0; pass++)
		{
			for (int j = 0; j < layer_counts[0] && linked < 2 - pass; j++)
			{
				EngramHnswRef base_ref = layer_results[0][j].ref;
				EngramHnswBuildElement *base = arena_element(arena, base_ref);
				EngramHnswRef *slots;

				if (base_ref == ref)
					continue;
				add_backlink(graph, base_ref, ref, 0, pass == 1);
				slots = element_layer_slots(base, graph->graph.dimensions, graph->graph.m, 0);
				for (int k = 0; k < base->counts[0]; k++)
					if (slots[k] == ref)
						linked++;
			}
		}
		mark_reachable(graph, ref, queue);
		MemoryContextReset(scratch);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);
	pfree(queue);
}

/* ---------------------------------------------------------------------
 * Writing pages
 * ---------------------------------------------------------------------
 */

/* Set the metapage fields a build decides, without WAL. */
static void
set_build_meta(EngramHnswBuildGraph *graph, Relation index, BlockNumber insert_blkno)
{
	EngramHnswBuildArena *arena = graph->arena;
	Buffer		buf = ReadBuffer(index, ENGRAM_HNSW_METAPAGE_BLKNO);
	EngramHnswMetaPage meta;

	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	meta = EngramHnswPageGetMeta(BufferGetPage(buf));
	meta->dimensions = graph->graph.dimensions;
	if (arena->entry != ENGRAM_HNSW_INVALID_REF)
	{
		EngramHnswBuildElement *entry = arena_element(arena, arena->entry);

		meta->entry_blkno = entry->blkno;
		meta->entry_offno = entry->offno;
		meta->entry_level = arena->entry_level;
	}
	meta->insert_blkno = insert_blkno;
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

/*
 * The order in which the writer lays elements out on pages: breadth first
 * over layer 0 from the entry point, then whatever that does not reach in
 * arena order.  Consecutive elements of a breadth-first order are
 * neighbours of one element, hence near each other, so a page holds
 * elements of one neighbourhood instead of rows in heap order.  A search
 * then meets the same pages again and again: fewer distinct pages per
 * search, and the buffer lookups, page headers and TLB entries of the
 * ones it meets are still cached (see docs/reference/performance-baselines.md,
 * HNSW).  Returns an array of engram_hnsw_build_graph_count() refs
 * (allocated in the current context); uses the elements' "reached" flags.
 */
static EngramHnswRef *
page_order(EngramHnswBuildGraph *graph)
{
	EngramHnswBuildArena *arena = graph->arena;
	uint64		used = pg_atomic_read_u64(&arena->used);
	int64		count = engram_hnsw_build_graph_count(graph);
	EngramHnswRef *order = MemoryContextAllocHuge(CurrentMemoryContext,
												  sizeof(EngramHnswRef) * Max(count, 1));
	int64		head = 0;
	int64		tail = 0;

	for (EngramHnswRef ref = ARENA_FIRST_ELEMENT; ref < used;
		 ref += arena_element(arena, ref)->size)
		arena_element(arena, ref)->reached = false;
	if (arena->entry != ENGRAM_HNSW_INVALID_REF)
	{
		arena_element(arena, arena->entry)->reached = true;
		order[tail++] = arena->entry;
	}
	while (head < tail)
	{
		EngramHnswBuildElement *element = arena_element(arena, order[head++]);
		EngramHnswRef *slots = element_layer_slots(element, graph->graph.dimensions,
												   graph->graph.m, 0);

		for (int i = 0; i < element->counts[0]; i++)
		{
			EngramHnswBuildElement *next = arena_element(arena, slots[i]);

			if (!next->reached)
			{
				next->reached = true;
				order[tail++] = slots[i];
			}
		}
	}
	for (EngramHnswRef ref = ARENA_FIRST_ELEMENT; ref < used;
		 ref += arena_element(arena, ref)->size)
	{
		if (!arena_element(arena, ref)->reached)
		{
			arena_element(arena, ref)->reached = true;
			order[tail++] = ref;
		}
	}
	if (tail != count)
		elog(ERROR, "engram_hnsw build: %lld elements laid out, %lld in the graph",
			 (long long) tail, (long long) count);
	return order;
}

int64
engram_hnsw_build_graph_write(EngramHnswBuildGraph *graph, Relation index)
{
	EngramHnswBuildArena *arena = graph->arena;
	int			dims = graph->graph.dimensions;
	int			m = graph->graph.m;
	Size		page_space = BLCKSZ - SizeOfPageHeaderData -
		MAXALIGN(sizeof(EngramHnswPageOpaqueData));
	Size		free_space = 0;
	BlockNumber blkno = ENGRAM_HNSW_METAPAGE_BLKNO;
	OffsetNumber offno = InvalidOffsetNumber;
	BlockNumber last_blkno;
	EngramHnswRef *order;
	int64		count;
	int64		next = 0;
	EngramHnswRef *refs;
	int64		written = 0;
	MemoryContext scratch;

	graph->concurrent = false;
	engram_hnsw_build_set_phase(ENGRAM_HNSW_PHASE_WRITE);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw build reconnect",
									ALLOCSET_DEFAULT_SIZES);
	reconnect(graph, scratch);
	MemoryContextDelete(scratch);

	/* Positions first: neighbour references must be final when written. */
	order = page_order(graph);
	count = engram_hnsw_build_graph_count(graph);
	for (int64 i = 0; i < count; i++)
	{
		EngramHnswBuildElement *element = arena_element(arena, order[i]);
		Size		size = ENGRAM_HNSW_ELEMENT_TUPLE_SIZE(dims, arena->quantization, m,
														  element->level) +
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

	refs = palloc(sizeof(EngramHnswRef) * ENGRAM_HNSW_LAYER_SLOTS(m, 0));
	while (next < count)
	{
		Buffer		buf = ReadBuffer(index, P_NEW);
		BlockNumber page_blkno = BufferGetBlockNumber(buf);
		Page		page;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_ELEMENT);
		for (; next < count && arena_element(arena, order[next])->blkno == page_blkno; next++)
		{
			EngramHnswBuildElement *element = arena_element(arena, order[next]);
			EngramHnswElementTuple tuple;
			Size		size;

			tuple = engram_hnsw_form_element(dims, arena->quantization, m,
											 element->level, element->level,
											 &element->heaptid, element_vector(element),
											 &size);
			for (int lc = 0; lc <= element->level; lc++)
			{
				EngramHnswRef *slots = element_layer_slots(element, dims, m, lc);

				for (int i = 0; i < element->counts[lc]; i++)
				{
					EngramHnswBuildElement *neighbour = arena_element(arena, slots[i]);

					refs[i] = EngramHnswRefFromTid(neighbour->blkno, neighbour->offno);
				}
				engram_hnsw_element_set_layer(tuple, dims, m, lc, refs, element->counts[lc]);
			}
			if (PageAddItem(page, (Item) tuple, size, element->offno, false, false) !=
				element->offno)
				elog(ERROR, "engram_hnsw build: element does not fit its planned position");
			pfree(tuple);
			written++;
		}
		if (next < count && arena_element(arena, order[next])->blkno <= page_blkno)
			elog(ERROR, "engram_hnsw build: page layout out of step");
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(refs);
	pfree(order);

	set_build_meta(graph, index, last_blkno);
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);
	return written;
}
