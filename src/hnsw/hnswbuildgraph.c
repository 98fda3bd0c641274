/*-------------------------------------------------------------------------
 *
 * hnswbuildgraph.c
 *	  The in-memory graph of an engram_hnsw build: arena allocation,
 *	  concurrent insertion, reconnection of unreachable elements, and the
 *	  writer that lays the graph out on pages.
 *
 * The same code serves the serial build (arena in backend memory, no
 * locks) and the parallel build (arena in dynamic shared memory, every
 * participant inserting concurrently).  Layout and locking: hnswbuild.h;
 * the search with 8-bit codes and exact re-ranking (engram.hnsw_build_search
 * = 'int8'): COMPACT SEARCH there.
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

#include <math.h>

#include "access/heapam.h"
#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/xloginsert.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "utils/backend_progress.h"
#include "utils/memutils.h"

#include "hnsw/hnswbuild.h"

#define ARENA_FIRST_ELEMENT		MAXALIGN(sizeof(EngramHnswBuildArena))

/*
 * Fewest dimensions at which the neighbour selection of a compact search
 * first tries the codes' bounds on a pair's distance (build_pair_closer).
 */
#define PAIR_BOUND_MIN_DIMS		256

static inline EngramHnswBuildElement *
arena_element(EngramHnswBuildArena *arena, EngramHnswRef ref)
{
	return (EngramHnswBuildElement *) ((char *) arena + ref);
}

/* Bytes of an element's code under a compact search (COMPACT SEARCH). */
static inline Size
code_size(int dims, bool compact_search)
{
	return compact_search ?
		MAXALIGN(ENGRAM_HNSW_VECTOR_SIZE(dims, ENGRAM_HNSW_QUANT_INT8)) : 0;
}

/* Offset of the first slot of an element (layout in hnswbuild.h). */
static inline Size
slots_offset(int dims, bool compact_search)
{
	return MAXALIGN(sizeof(EngramHnswBuildElement)) + code_size(dims, compact_search) +
		MAXALIGN(sizeof(float) * dims);
}

static inline Size
element_size(int dims, int m, int level, bool compact_search)
{
	return slots_offset(dims, compact_search) +
		MAXALIGN((sizeof(EngramHnswRef) + sizeof(float) + sizeof(uint8)) *
				 ENGRAM_HNSW_TOTAL_SLOTS(m, level));
}

/* An element's parts; the vector and slots at the handle's offsets (dimensions set). */
static inline EngramHnswInt8Vector *
element_code(EngramHnswBuildElement *element)
{
	return (EngramHnswInt8Vector *) ((char *) element +
									 MAXALIGN(sizeof(EngramHnswBuildElement)));
}

static inline float *
element_vector(const EngramHnswBuildGraph *graph, EngramHnswBuildElement *element)
{
	return (float *) ((char *) element + graph->vector_offset);
}

static inline EngramHnswRef *
element_layer_slots(const EngramHnswBuildGraph *graph, EngramHnswBuildElement *element,
					int layer)
{
	return (EngramHnswRef *) ((char *) element + graph->slots_offset) +
		ENGRAM_HNSW_LAYER_FIRST_SLOT(graph->graph.m, layer);
}

/* The distances and heuristic states of a layer's links (LINK STATES). */
static inline float *
element_layer_distances(const EngramHnswBuildGraph *graph, EngramHnswBuildElement *element,
						int layer)
{
	int			total = ENGRAM_HNSW_TOTAL_SLOTS(graph->graph.m, element->level);

	return (float *) ((char *) element + graph->slots_offset +
					  sizeof(EngramHnswRef) * total) +
		ENGRAM_HNSW_LAYER_FIRST_SLOT(graph->graph.m, layer);
}

static inline uint8 *
element_layer_states(const EngramHnswBuildGraph *graph, EngramHnswBuildElement *element,
					 int layer)
{
	int			total = ENGRAM_HNSW_TOTAL_SLOTS(graph->graph.m, element->level);

	return (uint8 *) ((char *) element + graph->slots_offset +
					  (sizeof(EngramHnswRef) + sizeof(float)) * total) +
		ENGRAM_HNSW_LAYER_FIRST_SLOT(graph->graph.m, layer);
}

/* ---------------------------------------------------------------------
 * Arena
 * ---------------------------------------------------------------------
 */

Size
engram_hnsw_build_arena_size(Relation heap, AttrNumber heap_attno, int dims, int m,
							 bool compact_search, Size limit)
{
	BlockNumber blocks = RelationGetNumberOfBlocks(heap);
	int			bound_dims = dims > 0 ? dims : ENGRAM_HNSW_COST_DEFAULT_DIMS;
	double		rows_per_page = MaxHeapTuplesPerPage;
	double		rows;
	double		row_bytes;
	double		needed;
	Size		inline_row = MAXALIGN(SizeofHeapTupleHeader + sizeof(float) * dims + 8);
	bool		kept_in_row = false;

	/*
	 * A heap page holds at most this many rows carrying an inline vector of
	 * this size.  A vector under half the TOAST threshold is never touched
	 * by the toaster; a larger one stays whole in its row when its column's
	 * storage is main or plain (evector's default is main) and the row fits
	 * a page, unless the toaster compressed it (float data does not
	 * compress; a vector of zeros does: then the table's row count, when
	 * known, still bounds the arena, and otherwise the arena may fill and
	 * the build go on on disk).  A vector that may be in TOAST (storage
	 * external or extended), or a column without dimensions, gives no
	 * useful bound.  (With the vectors in the row and no such bound, a
	 * 768-dimension table's arena was maintenance_work_mem, which a
	 * parallel build's shared memory reserves up front.)
	 */
	if (dims > 0 && heap_attno > 0)
	{
		char		storage = TupleDescAttr(RelationGetDescr(heap), heap_attno - 1)->attstorage;

		kept_in_row = (storage == TYPSTORAGE_MAIN || storage == TYPSTORAGE_PLAIN) &&
			inline_row <= TOAST_TUPLE_TARGET_MAIN;
	}
	if (dims > 0 && (sizeof(float) * dims + 8 < TOAST_TUPLE_THRESHOLD / 2 || kept_in_row))
		rows_per_page = Min(rows_per_page,
							(double) BLCKSZ / (inline_row + sizeof(ItemIdData)));
	rows = (double) (blocks + 1) * rows_per_page;
	if (kept_in_row && heap->rd_rel->reltuples > rows)
		rows = heap->rd_rel->reltuples * 1.1;
	/* an element has 2m + m / (m - 1) slots on average: count 2m + 2 */
	row_bytes = element_size(bound_dims, m, 0, compact_search) +
		2 * (sizeof(EngramHnswRef) + sizeof(float) + sizeof(uint8));
	needed = rows * row_bytes +
		ARENA_FIRST_ELEMENT +
		element_size(bound_dims, m, ENGRAM_HNSW_MAX_LEVEL, compact_search) + 64 * 1024;
	return (Size) Max(Min(needed, (double) limit),
					  ARENA_FIRST_ELEMENT +
					  element_size(bound_dims, m, ENGRAM_HNSW_MAX_LEVEL, compact_search));
}

bool
engram_hnsw_build_compact_search(int dims)
{
	if (dims > ENGRAM_SIMD_INT8_MAX_DIM)
		return false;
	switch (engram_hnsw_build_search)
	{
		case ENGRAM_HNSW_BUILD_SEARCH_INT8:
			return true;
		case ENGRAM_HNSW_BUILD_SEARCH_AUTO:
			/* a column without dimensions: not known, exact */
			return dims >= ENGRAM_HNSW_BUILD_INT8_MIN_DIMS;
		default:
			return false;
	}
}

void
engram_hnsw_build_arena_init(EngramHnswBuildArena *arena, Size size,
							 int metric, int dims, int m, int ef_construction,
							 int quantization, uint32 version, bool compact_search)
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
	arena->quantization = quantization;
	arena->version = version;
	arena->lock_tranche = lock_tranche;
	arena->compact_search = compact_search;
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
	float	   *vector = element_vector(build, element);

	out->ref = ref;
	if (build->arena->compact_search)
		out->distance = engram_hnsw_int8_distance(graph->metric, &build->query,
												  element_code(element), graph->dimensions,
												  NULL);
	else
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
		EngramHnswRef *slots = element_layer_slots(build, element, layer);

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
 * prepare_query() of the build graph under a compact search.  Every query
 * of a build is an element of the arena, whose code graph->query_code
 * points to: the query's codes are that code, as coding the vector again
 * would give them.  No residual codes (one kernel call per visit instead
 * of two): without them every estimate of this search is off by the same
 * constant under L2 (the decoded query's norm stands for the query's) and
 * by the error of the query's code, which the exact re-ranking absorbs;
 * the search only compares estimates of one query with each other.
 */
static void
build_prepare_query(EngramHnswGraph *graph, const float *query)
{
	EngramHnswBuildGraph *build = (EngramHnswBuildGraph *) graph;
	const EngramHnswInt8Vector *code = build->query_code;
	double		scale = code->scale;

	memcpy(build->query.codes, code->codes, graph->dimensions);
	build->query.scale = code->scale;
	build->query.residual_scale = 0;
	build->query.norm2 = scale * scale * (double) code->code_sumsq;
	build->query.norm = sqrt(build->query.norm2);
	build->query.error = code->error;
}

/*
 * prefetch() of the build graph: the first lines of the element (header,
 * start of the code or the vector, whichever a visit reads: the whole
 * code of a short one); the hardware prefetcher follows the rest once the
 * distance computation streams through it.  Prefetching every line of
 * every neighbour saturates the line fill buffers (perf: the prefetch
 * loop itself stalled).
 */
static void
build_prefetch(EngramHnswGraph *graph, EngramHnswRef ref)
{
#ifdef __GNUC__
	EngramHnswBuildGraph *build = (EngramHnswBuildGraph *) graph;
	const char *start = (const char *) arena_element(build->arena, ref);
	Size		span = build->arena->compact_search ?
		Min(build->vector_offset, 3 * PG_CACHE_LINE_SIZE) : PG_CACHE_LINE_SIZE;

	for (Size offset = 0; offset <= span; offset += PG_CACHE_LINE_SIZE)
		__builtin_prefetch(start + offset);
#endif
}

/*
 * pair_closer() of the build graph under a compact search, L2 and cosine
 * (COMPACT SEARCH in hnswbuild.h): the codes bound the distance between
 * two elements, since each code's reconstruction error is at most the
 * error it stores, | ||a - b|| - ||a' - b'|| | <= error(a) + error(b) for
 * the decoded a', b'; ||a' - b'||^2 comes from the exact integer sums of
 * one int8 kernel call.  When the whole interval lies on one side of the
 * bound, by more than the float rounding of the exact comparison
 * (closer_than() in hnswutils.c, which sums squared differences; cosine
 * vectors are unit vectors, 1 - a.b = ||a - b||^2 / 2), that side is the
 * answer; otherwise the float vectors decide.
 */
static int
build_pair_closer(const EngramHnswGraph *graph, EngramHnswRef a_ref, EngramHnswRef b_ref,
				  float bound)
{
	const EngramHnswBuildGraph *build = (const EngramHnswBuildGraph *) graph;
	const EngramHnswInt8Vector *a = element_code(arena_element(build->arena, a_ref));
	const EngramHnswInt8Vector *b = element_code(arena_element(build->arena, b_ref));
	double		limit = graph->metric == ENGRAM_HNSW_METRIC_COSINE ? 2.0 * bound : bound;
	double		margin = (graph->dimensions + 16) * ldexp(1.0, -20);
	double		scale_a = a->scale;
	double		scale_b = b->scale;
	double		decoded2;
	double		decoded;
	double		slack = (double) a->error + (double) b->error;

	decoded2 = scale_a * scale_a * a->code_sumsq + scale_b * scale_b * b->code_sumsq -
		2.0 * scale_a * scale_b *
		(double) engram_int8_inner_product(a->codes, b->codes, graph->dimensions);
	decoded = sqrt(Max(decoded2, 0.0));
	if (decoded > slack &&
		(decoded - slack) * (decoded - slack) > limit * (1.0 + margin))
		return 0;
	if ((decoded + slack) * (decoded + slack) < limit * (1.0 - margin))
		return 1;
	return -1;
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
	graph->context = CurrentMemoryContext;
	graph->prune_candidates = palloc0(sizeof(EngramHnswCandidate) *
									  (ENGRAM_HNSW_LAYER_SLOTS(arena->m, 0) + 1));
	graph->prune_states = palloc(ENGRAM_HNSW_LAYER_SLOTS(arena->m, 0) + 1);
	graph->prune_order = palloc(sizeof(int) * (ENGRAM_HNSW_LAYER_SLOTS(arena->m, 0) + 1));
	graph->prune_chosen = palloc(sizeof(int) * (ENGRAM_HNSW_LAYER_SLOTS(arena->m, 0) + 1));
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
												 graph->arena->m,
												 engram_hnsw_keeps_link_states(graph->arena->version,
																			   current,
																			   graph->arena->quantization,
																			   graph->arena->m));
		graph->vector_offset = MAXALIGN(sizeof(EngramHnswBuildElement)) +
			code_size(current, graph->arena->compact_search);
		graph->slots_offset = slots_offset(current, graph->arena->compact_search);
		if (graph->arena->compact_search)
		{
			graph->query.codes = MemoryContextAlloc(graph->context, current);
			graph->graph.prepare_query = build_prepare_query;
			if (graph->graph.metric != ENGRAM_HNSW_METRIC_INNER_PRODUCT &&
				current >= PAIR_BOUND_MIN_DIMS)
				graph->graph.pair_closer = build_pair_closer;
		}
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
 * With engram.hnsw_build_check_selection, every pruning of add_backlink()
 * is checked: the distances kept with the links must be those
 * engram_hnsw_distance() gives, and the selection from known outcomes
 * must have chosen what a selection from scratch chooses from the same
 * "count" sorted candidates.  An error otherwise (a bug).
 */
static void
check_known_selection(EngramHnswBuildGraph *graph, EngramHnswBuildElement *base,
					  int layer, int count, const int *chosen, int chosen_count)
{
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(graph->graph.m, layer);
	int		   *again = palloc(sizeof(int) * count);
	int			again_count;

	for (int i = 0; i < count; i++)
	{
		float		recomputed = engram_hnsw_distance(graph->graph.metric,
													  element_vector(graph, base),
													  graph->prune_candidates[i].vector,
													  graph->graph.dimensions);

		if (graph->prune_candidates[i].distance != recomputed)
			elog(ERROR, "engram_hnsw build: link distance %.9g kept, %.9g recomputed",
				 graph->prune_candidates[i].distance, recomputed);
	}
	again_count = engram_hnsw_select_neighbours(&graph->graph, graph->prune_candidates,
												count, capacity,
												ENGRAM_HNSW_BACKLINK_KEEP(capacity), again);
	for (int i = 0; i < Max(again_count, chosen_count); i++)
		if (again_count != chosen_count || again[i] != chosen[i])
			elog(ERROR, "engram_hnsw build: pruning from known outcomes kept %d links, from scratch %d, first difference at %d",
				 chosen_count, again_count, i);
	pfree(again);
	graph->checked_prunings++;
}

/*
 * Add "new_ref", at exact internal distance "distance" from "base_ref", to
 * the layer-"layer" list of "base_ref", pruning with the selection
 * heuristic when the list is full.  The newcomer keeps its in-link
 * whenever the pruned list has room.  With "force", a list with no room
 * for it gives up its last link instead (reconnection).  The pruning
 * computes no distance to the base (each link keeps its own) and checks
 * again only the pairs whose outcome can have changed since the list's
 * last pruning (LINK STATES in hnswbuild.h).
 */
static void
add_backlink(EngramHnswBuildGraph *graph, EngramHnswRef base_ref, EngramHnswRef new_ref,
			 float distance, int layer, bool force)
{
	EngramHnswBuildArena *arena = graph->arena;
	int			m = graph->graph.m;
	EngramHnswBuildElement *base = arena_element(arena, base_ref);
	EngramHnswRef *slots = element_layer_slots(graph, base, layer);
	float	   *distances = element_layer_distances(graph, base, layer);
	uint8	   *states = element_layer_states(graph, base, layer);
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);
	EngramHnswCandidate *candidates = graph->prune_candidates;
	uint8	   *candidate_states = graph->prune_states;
	int		   *order = graph->prune_order;
	int		   *chosen = graph->prune_chosen;
	int			count;
	int			chosen_count;
	int			new_index = -1;
	bool		kept_new = false;

	if (graph->concurrent)
		LWLockAcquire(&base->lock, LW_EXCLUSIVE);
	count = base->counts[layer];
	if (count < capacity)
	{
		slots[count] = new_ref;
		distances[count] = distance;
		states[count] = ENGRAM_HNSW_LINK_UNKNOWN;
		pg_write_barrier();
		base->counts[layer]++;
	}
	else
	{
		/*
		 * The list and the newcomer in ascending distance, ties in list
		 * order (as engram_hnsw_sort_candidates would leave them).
		 */
		for (int i = 0; i <= count; i++)
		{
			float		d = i < count ? distances[i] : distance;
			int			j = i;

			while (j > 0 && (order[j - 1] < count ? distances[order[j - 1]] : distance) > d)
			{
				order[j] = order[j - 1];
				j--;
			}
			order[j] = i;
		}
		for (int k = 0; k <= count; k++)
		{
			int			i = order[k];
			EngramHnswRef ref = i < count ? slots[i] : new_ref;

			candidates[k].ref = ref;
			candidates[k].vector = element_vector(graph, arena_element(arena, ref));
			candidates[k].distance = i < count ? distances[i] : distance;
			candidate_states[k] = i < count ? states[i] : ENGRAM_HNSW_LINK_UNKNOWN;
			if (i == count)
				new_index = k;
		}
		chosen_count = engram_hnsw_select_neighbours_known(&graph->graph, candidates,
														   count + 1, capacity,
														   ENGRAM_HNSW_BACKLINK_KEEP(capacity),
														   candidate_states, chosen);
		if (engram_hnsw_build_check_selection)
			check_known_selection(graph, base, layer, count + 1, chosen, chosen_count);
		for (int i = 0; i < chosen_count; i++)
		{
			slots[i] = candidates[chosen[i]].ref;
			distances[i] = candidates[chosen[i]].distance;
			states[i] = candidate_states[chosen[i]];
			if (slots[i] == new_ref)
				kept_new = true;
		}
		if (!kept_new && chosen_count < capacity)
		{
			slots[chosen_count] = new_ref;
			distances[chosen_count] = distance;
			states[chosen_count] = candidate_states[new_index];
			chosen_count++;
			kept_new = true;
		}
		if (!kept_new && force)
		{
			slots[chosen_count - 1] = new_ref;
			distances[chosen_count - 1] = distance;
			/* a kept link may have gone: no outcome holds any more */
			memset(states, ENGRAM_HNSW_LINK_UNKNOWN, chosen_count);
		}
		pg_write_barrier();
		base->counts[layer] = chosen_count;
	}
	if (graph->concurrent)
		LWLockRelease(&base->lock);
}

/*
 * Under a compact search, give the results of layers 0..top exact
 * distances to "vector" and re-sort them (COMPACT SEARCH in hnswbuild.h):
 * the neighbour selection then sees exact distances only.  The results
 * carry pointers to the elements' float vectors.
 */
static void
rerank_exact(EngramHnswBuildGraph *graph, const float *vector,
			 EngramHnswCandidate **layer_results, const int *layer_counts, int top)
{
	if (!graph->arena->compact_search)
		return;
	for (int lc = top; lc >= 0; lc--)
	{
		for (int i = 0; i < layer_counts[lc]; i++)
		{
			EngramHnswCandidate *candidate = &layer_results[lc][i];

			candidate->distance = engram_hnsw_distance(graph->graph.metric, vector,
													   candidate->vector,
													   graph->graph.dimensions);
		}
		engram_hnsw_sort_candidates(layer_results[lc], layer_counts[lc]);
	}
}

bool
engram_hnsw_build_graph_insert(EngramHnswBuildGraph *graph, const float *vector,
							   ItemPointer heaptid)
{
	EngramHnswBuildArena *arena = graph->arena;
	int			dims = graph->graph.dimensions;
	int			m = graph->graph.m;
	int			level = engram_hnsw_random_level(m, graph->max_level);
	Size		size = element_size(dims, m, level, arena->compact_search);
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
	memcpy(element_vector(graph, element), vector, sizeof(float) * dims);
	if (arena->compact_search)
		engram_hnsw_int8_encode(vector, dims, element_code(element));
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

	graph->query_code = element_code(element);
	engram_hnsw_search(&graph->graph, vector, entry, entry_level,
					   arena->ef_construction, level, true, layer_results, layer_counts);
	top = Min(level, entry_level);
	rerank_exact(graph, vector, layer_results, layer_counts, top);

	/* Its own lists first, all layers: back-links make it reachable. */
	if (graph->concurrent)
		LWLockAcquire(&element->lock, LW_EXCLUSIVE);
	for (int lc = top; lc >= 0; lc--)
	{
		int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, lc);
		EngramHnswRef *slots = element_layer_slots(graph, element, lc);
		float	   *distances = element_layer_distances(graph, element, lc);
		uint8	   *states = element_layer_states(graph, element, lc);
		uint8	   *outcomes = palloc0(Max(layer_counts[lc], 1));

		chosen[lc] = palloc(sizeof(int) * capacity);
		chosen_counts[lc] = engram_hnsw_select_neighbours_known(&graph->graph,
																layer_results[lc],
																layer_counts[lc], capacity,
																capacity, outcomes,
																chosen[lc]);
		for (int i = 0; i < chosen_counts[lc]; i++)
		{
			slots[i] = layer_results[lc][chosen[lc][i]].ref;
			distances[i] = layer_results[lc][chosen[lc][i]].distance;
			states[i] = outcomes[chosen[lc][i]];
		}
		pfree(outcomes);
		pg_write_barrier();
		element->counts[lc] = chosen_counts[lc];
	}
	if (graph->concurrent)
		LWLockRelease(&element->lock);

	for (int lc = top; lc >= 0; lc--)
		for (int i = 0; i < chosen_counts[lc]; i++)
			add_backlink(graph, layer_results[lc][chosen[lc][i]].ref, ref,
						 layer_results[lc][chosen[lc][i]].distance, lc, false);

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
			EngramHnswRef *slots = element_layer_slots(graph, element, layer);

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
static int64
reconnect(EngramHnswBuildGraph *graph, MemoryContext scratch)
{
	EngramHnswBuildArena *arena = graph->arena;
	uint64		used = pg_atomic_read_u64(&arena->used);
	EngramHnswRef *queue;
	MemoryContext old;
	int64		reconnected = 0;

	if (arena->entry == ENGRAM_HNSW_INVALID_REF)
		return 0;
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
		graph->query_code = element_code(element);
		engram_hnsw_search(&graph->graph, element_vector(graph, element), arena->entry,
						   arena->entry_level, arena->ef_construction, 0, true,
						   layer_results, layer_counts);
		rerank_exact(graph, element_vector(graph, element), layer_results, layer_counts, 0);
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
				add_backlink(graph, base_ref, ref, layer_results[0][j].distance, 0,
							 pass == 1);
				slots = element_layer_slots(graph, base, 0);
				for (int k = 0; k < base->counts[0]; k++)
					if (slots[k] == ref)
						linked++;
			}
		}
		mark_reachable(graph, ref, queue);
		reconnected++;
		MemoryContextReset(scratch);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);
	pfree(queue);
	return reconnected;
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
		EngramHnswRef *slots = element_layer_slots(graph, element, 0);

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
	/* in an index of version 4 links keep their states where they fit */
	bool		link_states = engram_hnsw_keeps_link_states(arena->version, dims,
															arena->quantization, m);
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
	int64		reconnected;
	instr_time	start;
	instr_time	reconnected_at;
	instr_time	pages_at;
	instr_time	logged_at;

	graph->concurrent = false;
	engram_hnsw_build_set_phase(ENGRAM_HNSW_PHASE_WRITE);
	INSTR_TIME_SET_CURRENT(start);
	scratch = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw build reconnect",
									ALLOCSET_DEFAULT_SIZES);
	reconnected = reconnect(graph, scratch);
	MemoryContextDelete(scratch);
	INSTR_TIME_SET_CURRENT(reconnected_at);

	/* Positions first: neighbour references must be final when written. */
	order = page_order(graph);
	count = engram_hnsw_build_graph_count(graph);
	for (int64 i = 0; i < count; i++)
	{
		EngramHnswBuildElement *element = arena_element(arena, order[i]);
		Size		size = ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(dims, arena->quantization, m,
																element->level, link_states) +
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
											 element->level, element->level, link_states,
											 &element->heaptid, element_vector(graph, element),
											 &size);
			for (int lc = 0; lc <= element->level; lc++)
			{
				EngramHnswRef *slots = element_layer_slots(graph, element, lc);

				for (int i = 0; i < element->counts[lc]; i++)
				{
					EngramHnswBuildElement *neighbour = arena_element(arena, slots[i]);

					refs[i] = EngramHnswRefFromTid(neighbour->blkno, neighbour->offno);
				}
				engram_hnsw_element_set_layer(tuple, dims, m, lc, refs, element->counts[lc]);
				if (link_states)
					engram_hnsw_element_set_layer_states(tuple, dims, m, lc,
														 element->counts[lc],
														 element_layer_distances(graph, element, lc),
														 element_layer_states(graph, element, lc));
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
	INSTR_TIME_SET_CURRENT(pages_at);
	if (RelationNeedsWAL(index))
		log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);
	INSTR_TIME_SET_CURRENT(logged_at);

	/* where the writing phase's time goes, for the build benchmarks */
	INSTR_TIME_SUBTRACT(logged_at, pages_at);
	INSTR_TIME_SUBTRACT(pages_at, reconnected_at);
	INSTR_TIME_SUBTRACT(reconnected_at, start);
	elog(DEBUG1, "engram_hnsw build: %lld elements reconnected in %.3f s, pages written in %.3f s, WAL-logged in %.3f s",
		 (long long) reconnected, INSTR_TIME_GET_DOUBLE(reconnected_at),
		 INSTR_TIME_GET_DOUBLE(pages_at), INSTR_TIME_GET_DOUBLE(logged_at));
	if (engram_hnsw_build_check_selection)
		elog(DEBUG1, "engram_hnsw build: %lld prunings of this process checked against a selection from scratch",
			 (long long) graph->checked_prunings);
	return written;
}
