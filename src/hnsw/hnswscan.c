/*-------------------------------------------------------------------------
 *
 * hnswscan.c
 *	  Ordered index scans of engram_hnsw: ambeginscan, amrescan,
 *	  amgettuple, amendscan.
 *
 * The first amgettuple call runs the search: greedy descent from the entry
 * point through the upper layers, then a search of layer 0 keeping the
 * engram.ef_search nearest live elements.  Rows are then returned in
 * ascending distance; the scan ends after those ef_search rows.
 *
 * Locking: share buffer locks, one at a time, each held while one element
 * is read (hnswutils.c); no heavyweight lock.  A reference to an element
 * freed by a concurrent vacuum is skipped.
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

typedef struct EngramHnswScanState
{
	MemoryContext context;		/* reset by every rescan */
	bool		searched;
	EngramHnswCandidate *results;
	int			result_count;
	int			next;
	int			metric;
	bool		orderby_null;	/* the query is NULL */
	bool		orderby_nan;	/* the query has no direction (cosine) */
} EngramHnswScanState;

IndexScanDesc
engram_hnsw_beginscan(Relation index, int nkeys, int norderbys)
{
	IndexScanDesc scan = RelationGetIndexScan(index, nkeys, norderbys);
	EngramHnswScanState  *state = palloc0(sizeof(EngramHnswScanState));

	state->context = AllocSetContextCreate(CurrentMemoryContext, "engram_hnsw scan",
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
	EngramHnswScanState  *state = (EngramHnswScanState *) scan->opaque;

	MemoryContextReset(state->context);
	state->searched = false;
	state->results = NULL;
	state->result_count = 0;
	state->next = 0;
	if (keys && scan->numberOfKeys > 0)
		memmove(scan->keyData, keys, scan->numberOfKeys * sizeof(ScanKeyData));
	if (orderbys && scan->numberOfOrderBys > 0)
		memmove(scan->orderByData, orderbys, scan->numberOfOrderBys * sizeof(ScanKeyData));
}

/* Run the graph search for the current ORDER BY argument. */
static void
run_search(IndexScanDesc scan)
{
	EngramHnswScanState  *state = (EngramHnswScanState *) scan->opaque;
	Relation	index = scan->indexRelation;
	EngramHnswMetaPageData meta;
	EngramHnswDiskGraph graph;
	EngramHnswCandidate *layer_results[ENGRAM_HNSW_MAX_LEVEL + 1];
	int			layer_counts[ENGRAM_HNSW_MAX_LEVEL + 1];
	EngramHnswRef entry;
	float	   *query = NULL;
	MemoryContext old;

	state->searched = true;
	if (scan->numberOfOrderBys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an engram_hnsw index can only be scanned in distance order"),
				 errhint("Use ORDER BY column <operator> value LIMIT k.")));

	old = MemoryContextSwitchTo(state->context);
	engram_hnsw_read_meta(index, &meta);
	state->metric = meta.metric;
	if (meta.entry_level < 0)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	engram_hnsw_disk_graph_init(&graph, index, &meta);
	entry = EngramHnswRefFromTid(meta.entry_blkno, meta.entry_offno);

	if (scan->orderByData[0].sk_flags & SK_ISNULL)
		state->orderby_null = true;
	else
	{
		EngramVector *vec = DatumGetEngramVector(scan->orderByData[0].sk_argument);

		if (vec->dim != meta.dimensions)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("different vector dimensions %d and %d", meta.dimensions, vec->dim),
					 errdetail("Index \"%s\" holds vectors of %d dimensions.",
							   RelationGetRelationName(index), meta.dimensions)));
		query = palloc(sizeof(float) * meta.dimensions);
		if (!engram_hnsw_prepare_vector(index, meta.metric, meta.dimensions, vec, query))
			state->orderby_nan = true;
	}
	if (state->orderby_null || state->orderby_nan)
	{
		EngramHnswCandidate entry_element;

		if (!engram_hnsw_read_element(&graph, entry, 0, &entry_element))
		{
			MemoryContextSwitchTo(old);
			return;
		}
		query = entry_element.vector;
	}

	engram_hnsw_search(&graph.graph, query, entry, meta.entry_level,
					   engram_hnsw_ef_search, 0, false, layer_results, layer_counts);
	state->results = layer_results[0];
	state->result_count = layer_counts[0];
	MemoryContextSwitchTo(old);
}

bool
engram_hnsw_gettuple(IndexScanDesc scan, ScanDirection dir)
{
	EngramHnswScanState  *state = (EngramHnswScanState *) scan->opaque;
	EngramHnswCandidate *result;

	if (!state->searched)
		run_search(scan);
	if (state->next >= state->result_count)
		return false;

	result = &state->results[state->next++];
	scan->xs_heaptid = result->heaptid;
	scan->xs_recheck = false;
	scan->xs_recheckorderby = false;
	if (state->orderby_null)
	{
		scan->xs_orderbyvals[0] = (Datum) 0;
		scan->xs_orderbynulls[0] = true;
	}
	else
	{
		double		value = state->orderby_nan ? NAN :
			engram_hnsw_distance_to_orderby(state->metric, result->distance);

		scan->xs_orderbyvals[0] = Float8GetDatum(value);
		scan->xs_orderbynulls[0] = false;
	}
	return true;
}

void
engram_hnsw_endscan(IndexScanDesc scan)
{
	EngramHnswScanState  *state = (EngramHnswScanState *) scan->opaque;

	MemoryContextDelete(state->context);
	pfree(state);
	scan->opaque = NULL;
}
