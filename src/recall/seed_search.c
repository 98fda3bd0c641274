/*-------------------------------------------------------------------------
 *
 * seed_search.c
 *	  A recall's embedding seed query run through the vector index's access
 *	  method and the memory reader, without the executor, where that reads
 *	  exactly the rows the statement would.
 *
 * recall.c's seed query for an embedding cue without filters,
 *		SELECT m.id, m.ctid, m.confidence, m.created_at, m.decay_function,
 *		       m.embedding OPERATOR(op) $1, NULL::real FROM space m
 *		 WHERE m.confidence > 0 AND m.embedding IS NOT NULL
 *		 ORDER BY m.embedding OPERATOR(op) $1 LIMIT k'
 * is planned, on a table of more than a few thousand rows, as a Limit over
 * an ordered Index Scan of the space's engram_hnsw index.  Run through SPI,
 * the executor's start and end, projection and tuple copies, and the table
 * AM's fetches (whole rows copied out of the hot tier, 3 kB of embedding
 * each at 768 dimensions) cost more than the rows themselves.
 * engram_seed_search_direct() runs that plan itself:
 *	- plan: only when SPI would run the statement's generic plan (the plan
 *	  cache's own choice, repeated: custom plans for the first five runs in
 *	  a backend, then the generic one if it costs less than their average,
 *	  or as plan_cache_mode forces), and that plan is exactly that Limit over
 *	  that Index Scan, of an engram_hnsw index with exact distances
 *	  (quantization none: the executor has nothing to reorder); otherwise
 *	  (a custom plan, a small table's sequential scan and sort, another
 *	  index) the statement runs;
 *	- index: index_getnext_tid() with the ORDER BY key the executor builds
 *	  from that plan, under engram.ef_search as the caller left it: the
 *	  same TIDs in the same order, ties included, and the same further
 *	  search rounds when rows are filtered out;
 *	- rows: the memory reader's (engram_memory_reader_fetch_tids: the
 *	  version visible to the snapshot, hot-tier rows read in place, heap
 *	  rows kept in the hot tier as the table AM's fetch does, confidence >
 *	  0), a batch of as many TIDs as rows are still wanted at a time, so no
 *	  row past the k'-th is read; the distance and "embedding IS NOT NULL"
 *	  come from the row's embedding and the operator's function
 *	  (engram_memory_reader_set_cue, engram_memory_reader_distances), as the
 *	  statement's select list computes them.
 * Only where the memory reader exists (the caller holds SELECT on the
 * whole table, no row-level security applies, a plain MVCC snapshot:
 * memory_reader.c); the heap fetches are not counted in
 * pg_stat_user_tables.idx_tup_fetch, as the reader's are not.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "nodes/primnodes.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw/hnsw.h"
#include "recall_internal.h"

/*
 * The Index Scan of "stmt" when the plan is "Limit <limit>" over an Index
 * Scan of table "relid", not backward (an ordering operator's scan has no
 * direction: the executor reads it forward), without an index condition, with
 * one ORDER BY key "index column 1 <op> $1"; else NULL.
 */
static IndexScan *
seed_index_scan(PlannedStmt *stmt, Oid relid, int64 limit)
{
	Limit	   *top;
	Const	   *count;
	IndexScan  *scan;
	OpExpr	   *order;
	RangeTblEntry *rte;

	if (stmt->commandType != CMD_SELECT || stmt->planTree == NULL ||
		!IsA(stmt->planTree, Limit) || stmt->subplans != NIL)
		return NULL;
	top = (Limit *) stmt->planTree;
	if (top->limitOffset != NULL || top->limitOption != LIMIT_OPTION_COUNT ||
		top->limitCount == NULL || !IsA(top->limitCount, Const) ||
		top->plan.lefttree == NULL || !IsA(top->plan.lefttree, IndexScan))
		return NULL;
	count = (Const *) top->limitCount;
	if (count->constisnull || count->consttype != INT8OID ||
		DatumGetInt64(count->constvalue) != limit)
		return NULL;
	scan = (IndexScan *) top->plan.lefttree;
	if (scan->indexqual != NIL || ScanDirectionIsBackward(scan->indexorderdir) ||
		list_length(scan->indexorderby) != 1)
		return NULL;
	rte = rt_fetch(scan->scan.scanrelid, stmt->rtable);
	if (rte->rtekind != RTE_RELATION || rte->relid != relid)
		return NULL;
	order = (OpExpr *) linitial(scan->indexorderby);
	if (!IsA(order, OpExpr) || list_length(order->args) != 2 ||
		!IsA(linitial(order->args), Var) || ((Var *) linitial(order->args))->varattno != 1 ||
		!IsA(lsecond(order->args), Param) ||
		((Param *) lsecond(order->args))->paramkind != PARAM_EXTERN ||
		((Param *) lsecond(order->args))->paramid != 1)
		return NULL;
	return scan;
}

/*
 * Would SPI run the statement of "source" (a saved plan's, with parameters)
 * with its generic plan?  plancache.c's choose_custom_plan(), repeated: the
 * forced modes, then custom plans for the first five runs, then the generic
 * plan when it costs less than their average.  Its cost, "generic_cost",
 * is known once it is built: -1 before (only then is it built here, as SPI
 * builds it then).
 */
static bool
runs_generic_plan(CachedPlanSource *source, double generic_cost)
{
	if (plan_cache_mode == PLAN_CACHE_MODE_FORCE_GENERIC_PLAN ||
		(source->cursor_options & CURSOR_OPT_GENERIC_PLAN))
		return true;
	if (plan_cache_mode == PLAN_CACHE_MODE_FORCE_CUSTOM_PLAN ||
		(source->cursor_options & CURSOR_OPT_CUSTOM_PLAN) ||
		source->num_custom_plans < 5)
		return false;
	return generic_cost < source->total_custom_cost / source->num_custom_plans;
}

/*
 * The index and ORDER BY key of the statement's plan when it can run here
 * (see the file header): the index opened with AccessShareLock, as the
 * executor opens it; false otherwise.
 */
static bool
plan_seed_scan(SPIPlanPtr plan, Oid relid, int64 limit, Datum cue, Relation *index,
			   ScanKeyData *order_key)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;
	CachedPlan *cached;
	IndexScan  *scan = NULL;
	OpExpr	   *order;
	int			strategy;
	Oid			lefttype;
	Oid			righttype;

	if (list_length(sources) != 1)
		return false;
	source = linitial(sources);
	if (!runs_generic_plan(source, -1.0))
		return false;
	cached = SPI_plan_get_cached_plan(plan);
	if (cached == NULL)
		return false;
	if (runs_generic_plan(source, source->generic_cost) && list_length(cached->stmt_list) == 1)
		scan = seed_index_scan(linitial_node(PlannedStmt, cached->stmt_list), relid, limit);
	if (scan != NULL)
	{
		*index = index_open(scan->indexid, AccessShareLock);
		if ((*index)->rd_indam->amgettuple != engram_hnsw_gettuple ||
			engram_hnsw_get_quantization(*index) != ENGRAM_HNSW_QUANT_NONE)
		{
			index_close(*index, AccessShareLock);
			scan = NULL;
		}
	}
	if (scan != NULL)
	{
		/* the key ExecIndexBuildScanKeys() makes of the ORDER BY operator */
		order = (OpExpr *) linitial(scan->indexorderby);
		get_op_opfamily_properties(order->opno, (*index)->rd_opfamily[0], true, &strategy,
								   &lefttype, &righttype);
		ScanKeyEntryInitialize(order_key, SK_ORDER_BY, 1, (StrategyNumber) strategy, righttype,
							   order->inputcollid, order->opfuncid, cue);
	}
	ReleaseCachedPlan(cached, CurrentResourceOwner);
	return scan != NULL;
}

/*
 * Complete the rows whose distance the reader could not take from the row
 * read (embedding compressed or out of line, or NULL): computed from the
 * version read; a row whose embedding is NULL is dropped, as the
 * statement's "embedding IS NOT NULL" drops it.  Returns the rows kept.
 */
static int
complete_distances(EngramMemoryReader *reader, EngramMemoryRow *rows, int n, Datum cue)
{
	int			kept = 0;

	for (int i = 0; i < n; i++)
	{
		if (!rows[i].has_distance)
		{
			bool		found;

			engram_memory_reader_distances(reader, &rows[i].index_tid, &rows[i].tid, 1, cue,
										   &rows[i].distance, &found);
			if (!found)
				continue;
			rows[i].has_distance = true;
		}
		rows[kept++] = rows[i];
	}
	return kept;
}

bool
engram_seed_search_direct(EngramMemoryReader *reader, const EngramSpace *space,
						  const char *sql, int nargs, Oid *argtypes, Datum cue, int64 limit,
						  EngramMemoryRow **rows, int *nrows)
{
	Relation	table;
	Relation	index;
	ScanKeyData order_key;
	IndexScanDesc scan;
	ItemPointerData *tids;
	EngramMemoryRow *found;
	int			count = 0;
	bool		exhausted = false;
	bool		exact = true;

	if (limit > INT_MAX / 2 ||
		!plan_seed_scan(engram_spi_saved_plan(sql, nargs, argtypes), space->relid, limit, cue,
						&index, &order_key))
		return false;

	table = relation_open(space->relid, NoLock);	/* locked by the resolve */
	tids = palloc(sizeof(ItemPointerData) * limit);
	found = palloc(sizeof(EngramMemoryRow) * limit);
	engram_memory_reader_set_cue(reader, cue);
	scan = index_beginscan(table, index, GetActiveSnapshot(), 0, 1);
	index_rescan(scan, NULL, 0, &order_key, 1);
	while (count < limit && !exhausted && exact)
	{
		int			wanted = (int) limit - count;
		int			ntids = 0;
		int			nread;

		CHECK_FOR_INTERRUPTS();
		while (ntids < wanted)
		{
			ItemPointer tid = index_getnext_tid(scan, ForwardScanDirection);

			if (tid == NULL)
			{
				exhausted = true;
				break;
			}
			/* a lossy row or distance would need the executor's recheck */
			if (scan->xs_recheck || scan->xs_recheckorderby)
			{
				exact = false;
				break;
			}
			tids[ntids++] = *tid;
		}
		if (!exact)
			break;
		nread = engram_memory_reader_fetch_tids(reader, tids, ntids, found + count);
		count += complete_distances(reader, found + count, nread, cue);
	}
	index_endscan(scan);
	index_close(index, AccessShareLock);
	relation_close(table, NoLock);
	pfree(tids);
	if (!exact)
	{
		pfree(found);
		return false;
	}
	*rows = found;
	*nrows = count;
	return true;
}
