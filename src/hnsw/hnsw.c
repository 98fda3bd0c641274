/*-------------------------------------------------------------------------
 *
 * hnsw.c
 *	  The engram_hnsw index access method: handler, reloptions (m,
 *	  ef_construction), the engram.ef_search setting, the cost estimate and
 *	  the operator class support functions naming each metric.
 *
 * Layout, locking and WAL are described in hnsw.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/reloptions.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "engram.h"
#include "hnsw/hnsw.h"

PG_FUNCTION_INFO_V1(engram_hnsw_handler);
PG_FUNCTION_INFO_V1(engram_hnsw_metric_l2);
PG_FUNCTION_INFO_V1(engram_hnsw_metric_inner_product);
PG_FUNCTION_INFO_V1(engram_hnsw_metric_cosine);

int			engram_hnsw_ef_search = ENGRAM_HNSW_DEFAULT_EF_SEARCH;
bool		engram_hnsw_iterative_scan = true;
bool		engram_hnsw_early_exit = false;
int			engram_hnsw_max_scan_tuples = ENGRAM_HNSW_DEFAULT_MAX_SCAN_TUPLES;
int			engram_hnsw_pending_list_limit = ENGRAM_HNSW_DEFAULT_PENDING_LIST_LIMIT;
int			engram_hnsw_build_search = ENGRAM_HNSW_DEFAULT_BUILD_SEARCH;
bool		engram_hnsw_build_check_selection = false;
int			engram_hnsw_build_version = ENGRAM_HNSW_VERSION;

static const struct config_enum_entry engram_hnsw_build_search_options[] = {
	{"exact", ENGRAM_HNSW_BUILD_SEARCH_EXACT, false},
	{"int8", ENGRAM_HNSW_BUILD_SEARCH_INT8, false},
	{"auto", ENGRAM_HNSW_BUILD_SEARCH_AUTO, false},
	{NULL, 0, false}
};

static relopt_kind engram_hnsw_relopt_kind;

static relopt_enum_elt_def engram_hnsw_quantization_values[] = {
	{"none", ENGRAM_HNSW_QUANT_NONE},
	{"int8", ENGRAM_HNSW_QUANT_INT8},
	{(const char *) NULL}
};

/*
 * Define the reloptions and the engram.ef_search setting.  Called once
 * from _PG_init, whether or not the library is preloaded.
 */
void
engram_hnsw_init(void)
{
	engram_hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(engram_hnsw_relopt_kind, "m",
					  "Sets the maximum number of neighbours of an element per layer (twice that on layer 0).",
					  ENGRAM_HNSW_DEFAULT_M, ENGRAM_HNSW_MIN_M, ENGRAM_HNSW_MAX_M,
					  AccessExclusiveLock);
	add_int_reloption(engram_hnsw_relopt_kind, "ef_construction",
					  "Sets the size of the candidate list used while building the graph.",
					  ENGRAM_HNSW_DEFAULT_EF_CONSTRUCTION,
					  ENGRAM_HNSW_MIN_EF_CONSTRUCTION, ENGRAM_HNSW_MAX_EF_CONSTRUCTION,
					  AccessExclusiveLock);
	add_enum_reloption(engram_hnsw_relopt_kind, "quantization",
					   "Sets how the index stores vectors: none (float4) or int8 (8-bit scalar quantization, rows re-ranked at full precision).",
					   engram_hnsw_quantization_values, ENGRAM_HNSW_QUANT_NONE,
					   gettext_noop("Valid values are \"none\" and \"int8\"."),
					   AccessExclusiveLock);
	add_bool_reloption(engram_hnsw_relopt_kind, "deferred_insert",
					   "Sets whether new rows go to the pending list instead of the graph (merged later).",
					   false, ShareUpdateExclusiveLock);
	add_int_reloption(engram_hnsw_relopt_kind, "pending_list_limit",
					  "Sets the size in kB of the pending list above which inserters merge it into the graph.",
					  -1, ENGRAM_HNSW_MIN_PENDING_LIST_LIMIT, ENGRAM_HNSW_MAX_PENDING_LIST_LIMIT,
					  ShareUpdateExclusiveLock);

	DefineCustomIntVariable("engram.ef_search",
							"Sets the size of the candidate list of an engram_hnsw index scan.",
							"Larger values find the true nearest neighbours more often and cost more time; "
							"an index scan returns at most this many rows.",
							&engram_hnsw_ef_search,
							ENGRAM_HNSW_DEFAULT_EF_SEARCH,
							ENGRAM_HNSW_MIN_EF_SEARCH, ENGRAM_HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("engram.hnsw_iterative_scan",
							 "Sets whether an engram_hnsw scan keeps searching when more rows are wanted.",
							 "When a WHERE clause rejects rows, the scan searches again with a doubled "
							 "candidate list for rows it has not returned yet (relaxed order), up to "
							 "engram.hnsw_max_scan_tuples candidates.",
							 &engram_hnsw_iterative_scan, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("engram.hnsw_early_exit",
							 "Sets whether engram_hnsw searches stop computing a distance once it cannot enter the result list.",
							 "Under L2 and cosine a distance is summed in steps and abandoned when the "
							 "partial sum proves the element is no nearer than the furthest result so far; "
							 "results are the same either way.",
							 &engram_hnsw_early_exit, false,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.hnsw_max_scan_tuples",
							"Sets the largest candidate list an iterative engram_hnsw scan grows to.",
							NULL,
							&engram_hnsw_max_scan_tuples,
							ENGRAM_HNSW_DEFAULT_MAX_SCAN_TUPLES,
							ENGRAM_HNSW_MIN_MAX_SCAN_TUPLES, ENGRAM_HNSW_MAX_MAX_SCAN_TUPLES,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.hnsw_pending_list_limit",
							"Sets the size of an engram_hnsw pending list above which inserters merge it into the graph.",
							"For indexes with deferred_insert = on whose pending_list_limit is not set.",
							&engram_hnsw_pending_list_limit,
							ENGRAM_HNSW_DEFAULT_PENDING_LIST_LIMIT,
							ENGRAM_HNSW_MIN_PENDING_LIST_LIMIT, ENGRAM_HNSW_MAX_PENDING_LIST_LIMIT,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomEnumVariable("engram.hnsw_build_search",
							 "Sets how an engram_hnsw build measures distances while searching its graph.",
							 "int8: estimates from 8-bit codes of the vectors, the candidates then "
							 "re-ranked with exact distances before neighbours are chosen; "
							 "exact: float distances throughout; auto: int8 from 512 dimensions on.",
							 &engram_hnsw_build_search,
							 ENGRAM_HNSW_DEFAULT_BUILD_SEARCH,
							 engram_hnsw_build_search_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("engram.hnsw_build_check_selection",
							 "Sets whether engram_hnsw builds and inserts check every pruned neighbour list against a selection from scratch.",
							 "A developer check of the pruning from the links' kept distances and heuristic "
							 "outcomes (builds, and inserts into indexes whose elements keep link states): "
							 "an error when the two differ.  Slows builds and inserts.",
							 &engram_hnsw_build_check_selection, false,
							 PGC_SUSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.hnsw_build_version",
							"Sets the on-disk version of the engram_hnsw indexes that CREATE INDEX and REINDEX write.",
							"4: elements keep their links' distances and heuristic outcomes where that costs "
							"no room (float elements of 384 to 1,024 dimensions at m = 16), which makes "
							"inserts cheaper; 3: the layout of the libraries before version 4, without them.",
							&engram_hnsw_build_version,
							ENGRAM_HNSW_VERSION, ENGRAM_HNSW_MIN_VERSION, ENGRAM_HNSW_VERSION,
							PGC_USERSET, 0, NULL, NULL, NULL);
	engram_hnsw_retarget_init();	/* engram.hnsw_move_retarget */
}

/*
 * amoptions: parse and validate m, ef_construction and quantization.  Beyond the range
 * checks done by the reloption machinery, ef_construction must leave room
 * to choose the 2m neighbours of layer 0.
 */
static bytea *
engram_hnsw_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(EngramHnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(EngramHnswOptions, ef_construction)},
		{"quantization", RELOPT_TYPE_ENUM, offsetof(EngramHnswOptions, quantization)},
		{"deferred_insert", RELOPT_TYPE_BOOL, offsetof(EngramHnswOptions, deferred_insert)},
		{"pending_list_limit", RELOPT_TYPE_INT, offsetof(EngramHnswOptions, pending_list_limit)},
	};
	EngramHnswOptions *options;

	options = (EngramHnswOptions *) build_reloptions(reloptions, validate,
													 engram_hnsw_relopt_kind,
													 sizeof(EngramHnswOptions),
													 tab, lengthof(tab));
	if (validate && options != NULL && options->ef_construction < 2 * options->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be at least 2 * m"),
				 errdetail("ef_construction is %d and m is %d.",
						   options->ef_construction, options->m),
				 errhint("Raise ef_construction to %d or more, or lower m.",
						 2 * options->m)));
	return (bytea *) options;
}

int
engram_hnsw_get_m(Relation index)
{
	EngramHnswOptions *options = (EngramHnswOptions *) index->rd_options;

	return options ? options->m : ENGRAM_HNSW_DEFAULT_M;
}

int
engram_hnsw_get_ef_construction(Relation index)
{
	EngramHnswOptions *options = (EngramHnswOptions *) index->rd_options;

	return options ? options->ef_construction : ENGRAM_HNSW_DEFAULT_EF_CONSTRUCTION;
}

/* The quantization reloption; the build records it in the metapage. */
int
engram_hnsw_get_quantization(Relation index)
{
	EngramHnswOptions *options = (EngramHnswOptions *) index->rd_options;

	return options ? options->quantization : ENGRAM_HNSW_QUANT_NONE;
}

/* The deferred_insert reloption (off by default). */
bool
engram_hnsw_get_deferred_insert(Relation index)
{
	EngramHnswOptions *options = (EngramHnswOptions *) index->rd_options;

	return options ? options->deferred_insert : false;
}

/* The pending list's limit in kB: the reloption, else the setting. */
int
engram_hnsw_get_pending_list_limit(Relation index)
{
	EngramHnswOptions *options = (EngramHnswOptions *) index->rd_options;

	if (options && options->pending_list_limit > 0)
		return options->pending_list_limit;
	return engram_hnsw_pending_list_limit;
}

/*
 * The metric of the index's operator class, from its support procedure 1
 * (which returns an EngramHnswMetric code).  Used by the build, which
 * records the metric in the metapage for everyone else.
 */
int
engram_hnsw_get_metric_from_opclass(Relation index)
{
	RegProcedure procid = index_getprocid(index, 1, ENGRAM_HNSW_METRIC_PROC);
	int			metric;

	if (!RegProcedureIsValid(procid))
		elog(ERROR, "engram_hnsw operator class has no support procedure %d",
			 ENGRAM_HNSW_METRIC_PROC);
	metric = DatumGetInt32(OidFunctionCall1(procid, PointerGetDatum(NULL)));
	if (metric < ENGRAM_HNSW_METRIC_L2 || metric > ENGRAM_HNSW_METRIC_COSINE)
		elog(ERROR, "engram_hnsw support procedure returned unknown metric %d", metric);
	return metric;
}

Datum
engram_hnsw_metric_l2(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ENGRAM_HNSW_METRIC_L2);
}

Datum
engram_hnsw_metric_inner_product(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ENGRAM_HNSW_METRIC_INNER_PRODUCT);
}

Datum
engram_hnsw_metric_cosine(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(ENGRAM_HNSW_METRIC_COSINE);
}

/*
 * amcostestimate.  All the work of an index scan (the graph search, and
 * the distance of every pending row, read from the metapage) is done
 * before it returns its first row, so the whole index cost is startup cost.
 * The search visits about ef_search * 2m elements on layer 0 plus a few per
 * upper layer; each visit is a buffer access (a hot index is in shared
 * buffers: charged a twentieth of a random page) and one distance over the
 * whole vector.  Calibrated so that the index wins from a few thousand
 * rows on, where it is measurably faster than a sequential scan and sort.
 *
 * The scan returns at most engram.ef_search rows per round, so a plan that
 * reads many rows from it must lose: every row beyond the startup is
 * charged a random page access, which a LIMIT k plan pays k times (the
 * planner interpolates between startup and total cost) while a plan
 * without LIMIT pays it for the whole table and loses to a sequential scan
 * and sort (which is also the only plan that returns every row).  A path
 * without ORDER BY cannot use this index at all.
 */
static void
engram_hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
						 Cost *indexStartupCost, Cost *indexTotalCost,
						 Selectivity *indexSelectivity, double *indexCorrelation,
						 double *indexPages)
{
	IndexOptInfo *info = path->indexinfo;
	double		tuples = Max(info->tuples, 1.0);
	Relation	index;
	int			m;
	int			dims;
	double		visited;
	double		per_visit;
	EngramHnswMetaPageData meta;

	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = disable_cost;
		*indexTotalCost = disable_cost;
		*indexSelectivity = 0;
		*indexCorrelation = 0;
		*indexPages = 0;
		return;
	}

	index = index_open(info->indexoid, NoLock);
	m = engram_hnsw_get_m(index);
	dims = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	engram_hnsw_read_meta(index, &meta);
	index_close(index, NoLock);
	if (dims <= 0)
		dims = ENGRAM_HNSW_COST_DEFAULT_DIMS;

	visited = (double) engram_hnsw_ef_search * 2 * m +
		log(tuples) / log(Max(m, 2)) * m;
	visited = Min(visited, tuples);
	/* every pending row is read and measured too (hnsw.h, PENDING LIST) */
	visited += meta.pending_count;
	per_visit = random_page_cost / 20 + cpu_index_tuple_cost +
		cpu_operator_cost * (1 + dims / 64.0);

	*indexStartupCost = visited * per_visit;
	*indexTotalCost = *indexStartupCost + tuples * random_page_cost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0;
	*indexPages = Min(visited, (double) Max(info->pages, 1));
}

static char *
engram_hnsw_buildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case ENGRAM_HNSW_PHASE_LOAD:
			return "loading tuples";
		case ENGRAM_HNSW_PHASE_WRITE:
			return "writing graph";
		default:
			return NULL;
	}
}

Datum
engram_hnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;
	amroutine->amsupport = ENGRAM_HNSW_NPROCS;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = engram_hnsw_build;
	amroutine->ambuildempty = engram_hnsw_buildempty;
	amroutine->aminsert = engram_hnsw_insert;
	amroutine->ambulkdelete = engram_hnsw_bulkdelete;
	amroutine->amvacuumcleanup = engram_hnsw_vacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = engram_hnsw_costestimate;
	amroutine->amoptions = engram_hnsw_options;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = engram_hnsw_buildphasename;
	amroutine->amvalidate = engram_hnsw_validate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = engram_hnsw_beginscan;
	amroutine->amrescan = engram_hnsw_rescan;
	amroutine->amgettuple = engram_hnsw_gettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = engram_hnsw_endscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}
