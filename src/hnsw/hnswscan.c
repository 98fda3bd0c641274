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
 * REPRESENTATION).
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
	if (state->rerank)
		qsort(layer_results[0], fresh, sizeof(EngramHnswCandidate), compare_orderby_bounds);
	state->results = layer_results[0];
	state->result_count = fresh;
	state->next = 0;
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
	/* The list before the graph: a merge moves entries the other way. */
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
		while (state->next < state->result_count &&
			   tid_returned(state, &state->results[state->next].heaptid))
			state->next++;
		if (state->next < state->result_count ||
			state->exhausted || !engram_hnsw_iterative_scan ||
			state->round_ef >= engram_hnsw_max_scan_tuples)
			break;
		/* More rows wanted than this round found: search wider. */
		state->round_ef = Min(state->round_ef * 2, engram_hnsw_max_scan_tuples);
		search_round(scan);
	}
	while (state->pending.count > 0 && tid_returned(state, &state->pending.rows[0].heaptid))
		engram_hnsw_pending_pop(&state->pending);

	graph_row = state->next < state->result_count ? &state->results[state->next] : NULL;
	pending_row = state->pending.count > 0 ? &state->pending.rows[0] : NULL;
	if (graph_row != NULL &&
		(pending_row == NULL ||
		 (state->rerank ? graph_row->orderby_bound : graph_row->distance) <= pending_row->key))
	{
		state->next++;
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
