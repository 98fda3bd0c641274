/*-------------------------------------------------------------------------
 *
 * consolidate_sql.c
 *	  SQL functions of consolidation: engram_consolidate(space) runs one
 *	  pass now; engram_consolidation_plan(...) shows what the algorithm
 *	  makes of given arrays, without touching any table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "engram.h"
#include "consolidate/engram_consolidate.h"
#include "shmem/engram_access_stats.h"
#include "worker/engram_worker.h"

PG_FUNCTION_INFO_V1(engram_consolidate);
PG_FUNCTION_INFO_V1(engram_consolidation_plan_sql);

/*
 * engram_consolidate(space regclass, associations regclass DEFAULT NULL)
 * RETURNS TABLE (candidates, semantic_created, semantic_merged,
 * episodes_linked, skipped_busy)
 *
 * One consolidation pass over "space" now, as the caller, in the caller's
 * transaction, with engram.consolidation_batch_size and the clock.
 */
Datum
engram_consolidate(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	EngramConsolidationSummary summary;
	bool		tracking;
	Datum		values[5];
	bool		nulls[5] = {0};
	int			nestlevel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space must not be null"),
				 errhint("Pass the memory space table, for example 'memories'::regclass.")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "engram_consolidate must return a composite type");
	engram_require_row_columns(desc, lengthof(values), "engram_consolidate()");

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* the pass's own reads are not uses of the memories: no access, no hot-tier fill */
	if (GetConfigOption("engram.hot_tier_lookups", true, false) != NULL)
		(void) set_config_option("engram.hot_tier_lookups", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	tracking = engram_access_set_fetch_tracking(false);
	PG_TRY();
	{
		engram_consolidate_space(PG_GETARG_OID(0),
								 PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1),
								 engram_now(), engram_consolidation_batch_size, &summary);
	}
	PG_FINALLY();
	{
		(void) engram_access_set_fetch_tracking(tracking);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);

	values[0] = Int64GetDatum(summary.candidates);
	values[1] = Int64GetDatum(summary.semantic_created);
	values[2] = Int64GetDatum(summary.semantic_merged);
	values[3] = Int64GetDatum(summary.episodes_linked);
	values[4] = BoolGetDatum(summary.skipped_busy);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * Read a two-dimensional real[] of "rows" rows into one float array per
 * row; returns the row length (dims).  "what" names the argument.
 */
static int
read_matrix(ArrayType *array, int rows, const char *what, float ***out)
{
	int			dims;
	float	   *data;

	if (rows == 0)
	{
		*out = NULL;
		return 0;
	}
	if (ARR_NDIM(array) != 2 || ARR_DIMS(array)[0] != rows || ARR_HASNULL(array))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a two-dimensional array with one row per id and no nulls",
						what),
				 errhint("For example ARRAY[[1,0],[0,1]]::real[].")));
	dims = ARR_DIMS(array)[1];
	data = (float *) ARR_DATA_PTR(array);
	*out = palloc(sizeof(float *) * rows);
	for (int i = 0; i < rows; i++)
	{
		(*out)[i] = palloc(sizeof(float) * dims);
		memcpy((*out)[i], data + (Size) i * dims, sizeof(float) * dims);
		for (int d = 0; d < dims; d++)
			if (isnan((*out)[i][d]) || isinf((*out)[i][d]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("%s must not contain NaN or infinite values", what)));
	}
	return dims;
}

static void
read_vector(ArrayType *array, Oid type, const char *what, Datum **values, int *n)
{
	bool	   *nulls;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(array, type, typlen, typbyval, typalign, values, &nulls, n);
	for (int i = 0; i < *n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", what)));
}

static Datum
float_array(const float *values, int n)
{
	Datum	   *elements = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elements[i] = Float4GetDatum(values[i]);
	return PointerGetDatum(construct_array(elements, n, FLOAT4OID, sizeof(float4), true,
										   TYPALIGN_INT));
}

/*
 * engram_consolidation_plan(ids bigint[], embeddings real[] (one row per
 *     id), confidences real[], pattern_ids bigint[] DEFAULT '{}',
 *     pattern_embeddings real[] DEFAULT '{}', pattern_confidences real[]
 *     DEFAULT '{}', pattern_members bigint[] DEFAULT '{}',
 *     batch_size int DEFAULT NULL)
 * RETURNS TABLE (memory int, merge_into bigint, members bigint[],
 *     representative bigint, cohesion float8, confidence float8,
 *     embedding real[], weights real[])
 *
 * The plan engram_consolidate() would carry out for these episodes and
 * existing semantic memories ("patterns"); confidences are taken as the
 * effective confidences.  merge_into is NULL for a new semantic memory.
 */
Datum
engram_consolidation_plan_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *ids;
	Datum	   *confidences;
	Datum	   *pattern_ids;
	Datum	   *pattern_confidences;
	Datum	   *pattern_members;
	float	  **embeddings;
	float	  **pattern_embeddings;
	int			nids,
				nconfidences,
				npatterns,
				npattern_confidences,
				npattern_members;
	int			dims;
	int			pattern_dims;
	int			batch_size;
	EngramEpisode *episodes;
	EngramPattern *patterns;
	EngramConsolidationParams params;
	EngramSemanticPlan *plans;
	int			nplans;

	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("array arguments of engram_consolidation_plan must not be null")));
	batch_size = PG_ARGISNULL(7) ? engram_consolidation_batch_size : PG_GETARG_INT32(7);
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1")));

	read_vector(PG_GETARG_ARRAYTYPE_P(0), INT8OID, "ids", &ids, &nids);
	read_vector(PG_GETARG_ARRAYTYPE_P(2), FLOAT4OID, "confidences", &confidences, &nconfidences);
	read_vector(PG_GETARG_ARRAYTYPE_P(3), INT8OID, "pattern_ids", &pattern_ids, &npatterns);
	read_vector(PG_GETARG_ARRAYTYPE_P(5), FLOAT4OID, "pattern_confidences",
				&pattern_confidences, &npattern_confidences);
	read_vector(PG_GETARG_ARRAYTYPE_P(6), INT8OID, "pattern_members",
				&pattern_members, &npattern_members);
	if (nconfidences != nids)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ids and confidences must have the same length")));
	if (npattern_confidences != npatterns || npattern_members != npatterns)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("pattern_ids, pattern_confidences and pattern_members must have the same length")));
	dims = read_matrix(PG_GETARG_ARRAYTYPE_P(1), nids, "embeddings", &embeddings);
	pattern_dims = read_matrix(PG_GETARG_ARRAYTYPE_P(4), npatterns, "pattern_embeddings",
							   &pattern_embeddings);
	if (npatterns > 0 && nids > 0 && pattern_dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("pattern embeddings have %d dimensions, episodes %d", pattern_dims, dims)));

	episodes = palloc(sizeof(EngramEpisode) * Max(nids, 1));
	for (int i = 0; i < nids; i++)
	{
		episodes[i].id = DatumGetInt64(ids[i]);
		episodes[i].embedding = embeddings[i];
		episodes[i].confidence = DatumGetFloat4(confidences[i]);
		if (!(episodes[i].confidence >= 0.0 && episodes[i].confidence <= 1.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("confidences must be between 0 and 1")));
	}
	patterns = palloc(sizeof(EngramPattern) * Max(npatterns, 1));
	for (int i = 0; i < npatterns; i++)
	{
		patterns[i].id = DatumGetInt64(pattern_ids[i]);
		patterns[i].embedding = pattern_embeddings[i];
		patterns[i].confidence = DatumGetFloat4(pattern_confidences[i]);
		patterns[i].members = DatumGetInt64(pattern_members[i]);
		if (patterns[i].members < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("pattern_members must be at least 1")));
	}

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 8, "engram_consolidation_plan_sql()");
	engram_consolidation_default_params(&params, dims, batch_size);
	plans = engram_consolidation_plan(episodes, nids, patterns, npatterns, &params, &nplans);
	for (int p = 0; p < nplans; p++)
	{
		EngramSemanticPlan *plan = &plans[p];
		Datum		values[8];
		bool		nulls[8] = {0};
		Datum	   *members = palloc(sizeof(Datum) * plan->nmembers);
		float	   *weights = palloc(sizeof(float) * plan->nmembers);

		for (int m = 0; m < plan->nmembers; m++)
		{
			members[m] = Int64GetDatum(episodes[plan->members[m]].id);
			weights[m] = (float) plan->member_weights[m];
		}
		values[0] = Int32GetDatum(p + 1);
		values[1] = Int64GetDatum(plan->merge_into >= 0 ? patterns[plan->merge_into].id : 0);
		nulls[1] = (plan->merge_into < 0);
		values[2] = PointerGetDatum(construct_array(members, plan->nmembers, INT8OID,
													sizeof(int64), FLOAT8PASSBYVAL,
													TYPALIGN_DOUBLE));
		values[3] = Int64GetDatum(episodes[plan->representative].id);
		nulls[3] = (plan->merge_into >= 0);
		values[4] = Float8GetDatum(plan->cohesion);
		values[5] = Float8GetDatum(plan->confidence);
		values[6] = float_array(plan->embedding, dims);
		values[7] = float_array(weights, plan->nmembers);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
