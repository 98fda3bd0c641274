/*-------------------------------------------------------------------------
 *
 * hnswscan.c
 *	  Ordered index scans of engram_hnsw: ambeginscan, amrescan,
 *	  amgettuple, amendscan.
 *
 * The first amgettuple call runs the search: greedy descent from the entry
 * point through the upper layers, then a search of layer 0 keeping the
 * engram.ef_search nearest live elements.  Rows are then returned in
 * ascending distance.  When the executor wants more rows than that (a
 * WHERE clause rejected some), and engram.hnsw_iterative_scan is on, the
 * scan searches again with twice the candidate list and returns the
 * elements it has not returned yet, round after round, until a round finds
 * nothing new or the list would exceed engram.hnsw_max_scan_tuples.  Rows
 * of a later round are in ascending distance among themselves but may be
 * nearer than the last rows of the round before (relaxed order).
 *
 * Locking: share buffer locks, one at a time, each held while one element
 * is read (hnswutils.c); no heavyweight lock.  A reference to an element
 * freed by a concurrent vacuum is skipped.
 *
 * In an index with quantization = 'int8' the search runs on estimated
 * distances; each round's rows are then returned sorted by a lower bound
 * of their exact ORDER BY value with xs_recheckorderby set, and the
 * executor recomputes every row's distance from the heap tuple and
 * re-ranks them exactly in its reorder queue (hnsw.h, COMPACT
 * REPRESENTATION).  With quantization = 'int8_rerank' the scan does that
 * re-ranking itself from the float4 copies the elements carry (hnsw.h,
 * IN-INDEX RE-RANKING): the round's rows sorted by lower bound feed a
 * min-heap of exact distances, a row's copy is read only once every row
 * with a smaller bound is in the heap and its own bound is below the
 * heap's smallest exact distance, and rows leave the heap in exact order
 * with exact distances (xs_recheckorderby off).  A LIMIT k query thus
 * reads the copies of the k rows it returns and of the few whose bounds
 * do not exclude them.
 *
 * Pending list (index with deferred_insert = on, hnsw.h PENDING LIST): the
 * first call also reads every pending entry, before the graph search, with
 * its exact distance (int8 index: a lower bound of its ORDER BY value, so
 * that the executor re-ranks it like the graph's rows), and merges them
 * into the stream: each call returns the nearer of the next graph row and
 * the next pending row, so pending rows take their place at every
 * position, also across the rounds of an iterative scan.  A heap TID is
 * returned once even when it is both in the graph and on the list (during
 * or after a merge).
 *
 * A query the metric cannot order by (a NULL, or a zero vector under
 * cosine, whose distance to anything is NaN) still returns rows: the
 * search runs from the entry point's own vector and every row carries the
 * NULL / NaN distance, so any order is as correct as the operator allows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relscan.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "hnsw/hnsw.h"
#include "metrics/engram_metrics.h"

typedef struct EngramHnswScanState
{
	MemoryContext context;		/* reset by every rescan */
	MemoryContext round_context;	/* reset by every search round */
	bool		searched;
	EngramHnswCandidate *results;
	int			result_count;
	int			next;
	int			metric;
	int			round_ef;		/* candidate list of the current round */
	bool		exhausted;		/* no further round can find more */
	bool		orderby_null;	/* the query is NULL */
	bool		orderby_nan;	/* the query has no direction (cosine) */
	bool		rerank;			/* int8 index: return lower bounds, recheck */
	bool		rerank_in_index;	/* int8_rerank index: exact distances
									 * from the elements' float4 copies */
	int		   *exact_heap;		/* in_index: min-heap of results[] indexes
								 * on exact distance (round_context) */
	int			exact_count;
	EngramHnswDiskGraph *exact_graph;	/* in_index: reads the copies */
	float	   *query;			/* prepared query vector */
	EngramHnswMetaPageData meta;
	EngramHnswRefSet returned;	/* elements returned so far */
	EngramHnswRefSet returned_tids; /* heap TIDs returned so far */
	EngramHnswPendingRows pending;	/* pending entries not returned yet */
	EngramHnswCandidate pending_result; /* the pending row just returned */
	EngramHnswCandidate *alias_next;	/* returned with its first TID; its
										 * second TID comes next (hnsw.h,
										 * MOVED ROWS) */
} EngramHnswScanState;

IndexScanDesc
engram_hnsw_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	EngramHnswScanState *state = palloc0(sizeof(EngramHnswScanState));

	state->context = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw scan",
										   ALLOCSET_DEFAULT_SIZES);
	state->round_context = AllocSetContextCreate(state->context, "engram_hnsw scan round",
												 ALLOCSET_DEFAULT_SIZES);
	scan->opaque = state;
	scan->xs_orderbyvals = palloc0(sizeof(Datum) * Max(norderbys, 1));
	scan->xs_orderbynulls = palloc(sizeof(bool) * Max(norderbys, 1));
	for (int i = 0; i < Max(norderbys, 1); i++)
		scan->xs_orderbynulls[i] = true;
	return scan;
}

void
engram_hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
				   ScanKey orderbys, int norderbys)
{
	EngramHnswScanState *state = (EngramHnswScanState *) scan->opaque;

	MemoryContextReset(state->context);	/* deletes round_context too */
	state->round_context = AllocSetContextCreate(state->context, "engram_hnsw scan round",
												 ALLOCSET_DEFAULT_SIZES);
	state->searched = false;
	state->exhausted = false;
	state->orderby_null = false;
	state->orderby_nan = false;
	state->rerank = false;
	state->rerank_in_index = false;
	state->exact_heap = NULL;
	state->exact_count = 0;
	state->exact_graph = NULL;
	state->results = NULL;
	state->result_count = 0;
	state->next = 0;
	state->pending.rows = NULL;
	state->pending.count = 0;
	state->alias_next = NULL;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

static int
compare_orderby_bounds(const void *a, const void *b)
{
	double		da = ((const EngramHnswCandidate *) a)->orderby_bound;
	double		db = ((const EngramHnswCandidate *) b)->orderby_bound;

	if (da < db)
		return -1;
	if (da > db)
		return 1;
	return 0;
}

/*
 * One search round with candidate list state->round_ef: the nearest live
 * elements not returned yet, in ascending distance, into state->results.
 * Each round counts as one index_search operation in the Engram metrics.
 */
static void
search_round(IndexScanDesc scan)
{
	EngramHnswScanState *state = (EngramHnswScanState *) scan->opaque;
	EngramHnswDiskGraph graph;
	EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	MemoryContext old;
	int			fresh = 0;
	EngramSlowDetails details;

	engram_metrics_begin(ENGRAM_OP_INDEX_SEARCH);
	MemoryContextReset(state->round_context);
	old = MemoryContextSwitchTo(state->round_context);
	engram_hnsw_disk_graph_init(&graph, scan->indexRelation, &state->meta);
	engram_hnsw_search(&graph.graph, state->query,
					   EngramHnswRefFromTid(state->meta.entry_blkno, state->meta.entry_offno),
					   state->meta.entry_level, state->round_ef, 0, false,
					   layer_results, layer_counts);
	for (int i = 0; i < layer_counts[0]; i++)
	{
		if (engram_hnsw_refset_contains(&state->returned, layer_results[0][i].ref))
			continue;
		layer_results[0][fresh++] = layer_results[0][i];
	}
	if (state->rerank || state->rerank_in_index)
		qsort(layer_results[0], fresh, sizeof(EngramHnswCandidate), compare_orderby_bounds);
	state->results = layer_results[0];
	state->result_count = fresh;
	state->next = 0;
	state->exact_heap = state->rerank_in_index ? palloc(sizeof(int) * Max(fresh, 1)) : NULL;
	state->exact_count = 0;
	/* A round that did not fill its list has seen everything it can reach. */
	if (fresh == 0 || layer_counts[0] < state->round_ef)
		state->exhausted = true;
	MemoryContextSwitchTo(old);

	engram_slow_details_init(&details);
	details.space = scan->heapRelation ? RelationGetRelid(scan->heapRelation) : InvalidOid;
	details.ef_search = state->round_ef;
	details.rows = fresh;
	engram_metrics_end(ENGRAM_OP_INDEX_SEARCH, &details);
}

/* Prepare the query of the current ORDER BY argument and run round one. */
static void
start_search(IndexScanDesc scan)
{
	EngramHnswScanState *state = (EngramHnswScanState *) scan->opaque;
	Relation	index = scan->indexRelation;
	MemoryContext old;

	state->searched = true;
	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an engram_hnsw index can only be scanned in distance order"),
				 errhint("Use ORDER BY column <operator> value LIMIT k.")));

	old = MemoryContextSwitchTo(state->context);
	engram_hnsw_read_meta(index, &state->meta);
	state->metric = state->meta.metric;
	state->exhausted = true;
	engram_hnsw_refset_init(&state->returned, engram_hnsw_ef_search);
	engram_hnsw_refset_init(&state->returned_tids, engram_hnsw_ef_search);
	if (state->meta.entry_level < 0 && !BlockNumberIsValid(state->meta.pending_head))
	{
		MemoryContextSwitchTo(old);
		return;
	}

	state->query = NULL;
	if (scan->orderByData[0].sk_flags & SK_ISNULL)
		state->orderby_null = true;
	else
	{
		EngramVector *vec = DatumGetEngramVector(scan->orderByData[0].sk_argument);

		if (vec->dim != state->meta.dimensions)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("different vector dimensions %d and %d",
							state->meta.dimensions, vec->dim),
					 errdetail("Index \"%s\" holds vectors of %d dimensions.",
							   RelationGetRelationName(index), state->meta.dimensions)));
		state->query = palloc(sizeof(float) * state->meta.dimensions);
		if (!engram_hnsw_prepare_vector(index, state->metric, state->meta.dimensions, vec,
										state->query))
			state->orderby_nan = true;
	}
	if ((state->orderby_null || state->orderby_nan) && state->meta.entry_level >= 0)
	{
		EngramHnswDiskGraph graph;
		EngramHnswCandidate entry_element;

		engram_hnsw_disk_graph_init(&graph, index, &state->meta);
		if (!engram_hnsw_read_element(&graph,
									  EngramHnswRefFromTid(state->meta.entry_blkno,
														   state->meta.entry_offno),
									  0, &entry_element))
		{
			MemoryContextSwitchTo(old);
			return;
		}
		state->query = entry_element.vector;
	}
	else if (state->orderby_null || state->orderby_nan)
		state->query = NULL;	/* empty graph: pending rows only */

	state->round_ef = engram_hnsw_ef_search;
	state->rerank = state->meta.quantization == ENGRAM_HNSW_QUANT_INT8 &&
		!state->orderby_null && !state->orderby_nan;
	state->rerank_in_index = state->meta.quantization == ENGRAM_HNSW_QUANT_INT8_RERANK &&
		!state->orderby_null && !state->orderby_nan;
	if (state->rerank_in_index)
	{
		state->exact_graph = palloc(sizeof(EngramHnswDiskGraph));
		engram_hnsw_disk_graph_init(state->exact_graph, index, &state->meta);
	}
	/*
	 * The list before the graph: a merge moves entries the other way.
	 * Pending rows carry exact distances unless the executor re-ranks.
	 */
	if (BlockNumberIsValid(state->meta.pending_head))
		engram_hnsw_pending_collect(index, &state->meta, state->query, state->rerank,
									&state->pending);
	MemoryContextSwitchTo(old);
	if (state->meta.entry_level >= 0)
	{
		state->exhausted = false;
		search_round(scan);
	}
}

/* True when heap TID "tid" was returned by this scan already. */
static bool
tid_returned(EngramHnswScanState *state, ItemPointer tid)
{
	return engram_hnsw_refset_contains(&state->returned_tids,
									   EngramHnswRefFromTid(ItemPointerGetBlockNumber(tid),
															ItemPointerGetOffsetNumber(tid)));
}

/* ---- in-index re-ranking: a min-heap of results[] on exact distance ---- */

static inline float
exact_distance_of(const EngramHnswScanState *state, int item)
{
	return state->results[state->exact_heap[item]].distance;
}

static void
exact_heap_push(EngramHnswScanState *state, int result)
{
	int			i = state->exact_count++;
	float		distance = state->results[result].distance;

	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!(distance < exact_distance_of(state, parent)))
			break;
		state->exact_heap[i] = state->exact_heap[parent];
		i = parent;
	}
	state->exact_heap[i] = result;
}

static void
exact_heap_pop(EngramHnswScanState *state)
{
	int			last = state->exact_heap[--state->exact_count];
	float		distance = state->results[last].distance;
	int			i = 0;

	for (;;)
	{
		int			child = 2 * i + 1;

		if (child >= state->exact_count)
			break;
		if (child + 1 < state->exact_count &&
			exact_distance_of(state, child + 1) < exact_distance_of(state, child))
			child++;
		if (!(exact_distance_of(state, child) < distance))
			break;
		state->exact_heap[i] = state->exact_heap[child];
		i = child;
	}
	if (state->exact_count > 0)
		state->exact_heap[i] = last;
}

/*
 * In-index re-ranking: the graph row of this round with the smallest exact
 * distance among those not returned yet, or NULL.  Reads the float4 copies
 * of candidates in ascending order of their lower bounds for as long as
 * the next bound is below the smallest exact distance read so far (in the
 * ORDER BY's units: lower bounds are of the operator's value), so that no
 * candidate left unread can be nearer than the row returned.  The returned
 * row's distance is exact; results[] entries read here have their
 * estimated distance replaced by the exact one.  A candidate whose element
 * a concurrent vacuum freed meanwhile is dropped, as a search drops it.
 */
static EngramHnswCandidate *
peek_exact_row(EngramHnswScanState *state)
{
	for (;;)
	{
		while (state->exact_count > 0 &&
			   tid_returned(state, &state->results[state->exact_heap[0]].heaptid))
			exact_heap_pop(state);
		if (state->next >= state->result_count)
			break;
		if (state->exact_count > 0 &&
			state->results[state->next].orderby_bound >=
			engram_hnsw_distance_to_orderby(state->metric, exact_distance_of(state, 0)))
			break;
		if (!tid_returned(state, &state->results[state->next].heaptid) &&
			engram_hnsw_exact_distance(state->exact_graph, &state->results[state->next],
									   state->query, &state->results[state->next].distance))
			exact_heap_push(state, state->next);
		state->next++;
	}
	return state->exact_count > 0 ? &state->results[state->exact_heap[0]] : NULL;
}

/*
 * The next graph row of this round not returned yet (in distance order),
 * or NULL when the round is used up; consume_graph_row() takes it.
 */
static EngramHnswCandidate *
peek_graph_row(EngramHnswScanState *state)
{
	if (state->rerank_in_index)
		return peek_exact_row(state);
	while (state->next < state->result_count &&
		   tid_returned(state, &state->results[state->next].heaptid))
		state->next++;
	return state->next < state->result_count ? &state->results[state->next] : NULL;
}

static void
consume_graph_row(EngramHnswScanState *state)
{
	if (state->rerank_in_index)
		exact_heap_pop(state);
	else
		state->next++;
}

/*
 * The next row in distance order, graph or pending list, that this scan
 * has not returned yet, or NULL when there is none.  Runs a wider search
 * round when the current one is used up and the iterative scan allows it.
 */
static EngramHnswCandidate *
next_result(IndexScanDesc scan)
{
	EngramHnswScanState *state = (EngramHnswScanState *) scan->opaque;
	EngramHnswCandidate *graph_row;
	EngramHnswPendingRow *pending_row;

	for (;;)
	{
		graph_row = peek_graph_row(state);
		if (graph_row != NULL ||
			state->exhausted || !engram_hnsw_iterative_scan ||
			state->round_ef >= engram_hnsw_max_scan_tuples)
			break;
		/* More rows wanted than this round found: search wider. */
		state->round_ef = Min(state->round_ef * 2, engram_hnsw_max_scan_tuples);
		search_round(scan);
	}
	while (state->pending.count > 0 && tid_returned(state, &state->pending.rows[0].heaptid))
		engram_hnsw_pending_pop(&state->pending);

	pending_row = state->pending.count > 0 ? &state->pending.rows[0] : NULL;
	if (graph_row != NULL &&
		(pending_row == NULL ||
		 (state->rerank ? graph_row->orderby_bound : graph_row->distance) <= pending_row->key))
	{
		consume_graph_row(state);
		return graph_row;
	}
	if (pending_row == NULL)
		return NULL;
	memset(&state->pending_result, 0, sizeof(EngramHnswCandidate));
	state->pending_result.ref = ENGRAM_HNSW_INVALID_REF;
	state->pending_result.heaptid = pending_row->heaptid;
	state->pending_result.distance = pending_row->distance;
	state->pending_result.orderby_bound = pending_row->key;
	engram_hnsw_pending_pop(&state->pending);
	return &state->pending_result;
}

bool
engram_hnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	EngramHnswScanState *state = (EngramHnswScanState *) scan->opaque;
	EngramHnswCandidate *result;

	if (!state->searched)
		start_search(scan);
	if (state->alias_next != NULL)
	{
		/* The second TID of the element just returned, at the same distance. */
		MemoryContext old = MemoryContextSwitchTo(state->context);

		scan->xs_heaptid = state->alias_next->alias_tid;
		state->alias_next = NULL;
		engram_hnsw_refset_add(&state->returned_tids,
							   EngramHnswRefFromTid(ItemPointerGetBlockNumber(&scan->xs_heaptid),
													ItemPointerGetOffsetNumber(&scan->xs_heaptid)));
		MemoryContextSwitchTo(old);
		return true;
	}
	result = next_result(scan);
	if (result == NULL)
		return false;
	{
		MemoryContext old = MemoryContextSwitchTo(state->context);

		if (result->ref != ENGRAM_HNSW_INVALID_REF)
			engram_hnsw_refset_add(&state->returned, result->ref);
		engram_hnsw_refset_add(&state->returned_tids,
							   EngramHnswRefFromTid(ItemPointerGetBlockNumber(&result->heaptid),
													ItemPointerGetOffsetNumber(&result->heaptid)));
		MemoryContextSwitchTo(old);
	}
	scan->xs_heaptid = result->heaptid;
	if (ItemPointerIsValid(&result->alias_tid))
		state->alias_next = result;
	scan->xs_recheck = false;
	scan->xs_recheckorderby = state->rerank;
	if (state->orderby_null)
	{
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
	}
	else
	{
		double		value;

		if (state->orderby_nan)
			value = NAN;
		else if (state->rerank)
			value = result->orderby_bound;
		else
			value = engram_hnsw_distance_to_orderby(state->metric, result->distance);

		scan->xs_orderbyvals[0] = Float8GetDatum(value);
		scan->xs_orderbynulls[0] = false;
	}
	return true;
}

void
engram_hnsw_endscan(IndexScanDesc scan)
{
	EngramHnswScanState *state = (EngramHnswScanState *) scan->opaque;

	MemoryContextDelete(state->context);
	pfree(state);
	scan->opaque = NULL;
}
