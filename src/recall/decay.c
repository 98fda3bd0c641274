/*-------------------------------------------------------------------------
 *
 * decay.c
 *	  SQL access to the forgetting curves and the seeding sigmoid:
 *	  engram_retention(), engram_seed_activation(), and to the decay state
 *	  of every memory of a space: engram_memory_stats().
 *
 * These expose the pure functions of recall_math.c with the current
 * engram.* settings, so users can see (and tests can assert) exactly the
 * numbers recall uses.  engram_recall_effective_confidence() is the one
 * place where a memory's effective confidence is computed: recall and
 * spreading (spreading.c), engram_memory_stats() and the worker's soft
 * forgetting (engram_recall.h) all call it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "recall_internal.h"

/* Columns of the rows engram_memory_stats() returns (its SQL declaration). */
#define DECAY_RESULT_COLUMNS 7

PG_FUNCTION_INFO_V1(engram_retention);
PG_FUNCTION_INFO_V1(engram_memory_stats);
PG_FUNCTION_INFO_V1(engram_seed_activation_sql);

/* Seconds in an interval, counting a month as an average Gregorian month. */
static double
interval_seconds(const Interval *span)
{
	return (double) span->time / USECS_PER_SEC
		+ (double) span->day * SECS_PER_DAY
		+ (double) span->month * (DAYS_PER_YEAR / MONTHS_PER_YEAR) * SECS_PER_DAY;
}

/*
 * Effective confidence of row "tid" of memory table "relid" at "now", the
 * one formula recall ranks with: stored confidence (clamped to [0,1]) x the
 * retention of curve "decay" after the time since the last access (access
 * statistics, or "created_at" when none, access.c) under "params".  Fills
 * "access" with the statistics used when it is not NULL.
 */
double
engram_recall_effective_confidence_kind(Oid relid, ItemPointer tid, double stored_confidence,
										TimestampTz created_at, EngramDecayKind decay,
										TimestampTz now, const EngramDecayParams *params,
										EngramRecallAccess *access)
{
	EngramRecallAccess local;

	if (access == NULL)
		access = &local;
	engram_recall_access_lookup(relid, tid, created_at, access);
	return engram_clamp01(stored_confidence) *
		engram_decay_retention(decay, (double) (now - access->last_access) / USECS_PER_SEC,
							   access->access_count, params);
}

/*
 * The same for callers outside src/recall/ (engram_recall.h): curves by
 * name and the current engram.decay_* settings.
 */
double
engram_recall_effective_confidence(Oid relid, ItemPointer tid, double stored_confidence,
								   TimestampTz created_at, const char *decay_function,
								   const char *default_decay, TimestampTz now)
{
	EngramDecayKind decay;
	EngramDecayParams params;

	if (decay_function == NULL || !engram_decay_kind_parse(decay_function, false, &decay))
	{
		if (default_decay == NULL || !engram_decay_kind_parse(default_decay, true, &decay))
			(void) engram_decay_kind_parse(ENGRAM_RECALL_DEFAULT_DECAY, true, &decay);
	}
	engram_decay_params_current(&params);
	return engram_recall_effective_confidence_kind(relid, tid, stored_confidence, created_at,
												   decay, now, &params, NULL);
}

/*
 * engram_retention(decay_function text, elapsed interval,
 *                  access_count bigint DEFAULT 0) RETURNS double precision
 *
 * Retention of a memory last used "elapsed" ago under the named curve
 * ('exponential', 'power_law', 'two_component', 'hybrid' or 'none').
 * STRICT.
 */
Datum
engram_retention(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Interval   *elapsed = PG_GETARG_INTERVAL_P(1);
	int64		access_count = PG_GETARG_INT64(2);
	EngramDecayKind kind;
	EngramDecayParams params;

	if (!engram_decay_kind_parse(name, true, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown decay function \"%s\"", name),
				 errhint("Use exponential, power_law, two_component, hybrid or none.")));
	if (access_count < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("access count must not be negative")));
	engram_decay_params_current(&params);
	PG_RETURN_FLOAT8(engram_decay_retention(kind, interval_seconds(elapsed),
											access_count, &params));
}

/*
 * engram_seed_activation(similarity double precision) RETURNS double precision
 *
 * The activation recall gives a seed of this similarity under the current
 * engram.seed_threshold and engram.seed_temperature.  STRICT.
 */
Datum
engram_seed_activation_sql(PG_FUNCTION_ARGS)
{
	float8		similarity = PG_GETARG_FLOAT8(0);

	if (isnan(similarity) || isinf(similarity))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("similarity must be a finite number")));
	PG_RETURN_FLOAT8(engram_seed_activation(similarity, engram_seed_threshold,
											engram_seed_temperature));
}

/*
 * engram_memory_stats(space text) RETURNS TABLE (id bigint, tier text,
 *     access_count bigint, last_access timestamptz, decay_function text,
 *     retention double precision, effective_confidence double precision)
 *
 * The state recall reads for each memory of a space the caller can see:
 * access statistics and tier (access.c), the forgetting curve in force
 * (the row's or the space's default), the retention now and the effective
 * confidence (stored confidence x retention).  Reads rows as the caller.
 */
static Datum
memory_stats_call(FunctionCallInfo fcinfo)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramSpace space;
	EngramDecayParams params;
	TimestampTz now = engram_now();
	StringInfoData sql;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space must not be null")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	engram_require_result_columns(fcinfo, DECAY_RESULT_COLUMNS, "engram_memory_stats()");
	engram_decay_params_current(&params);

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT id, ctid, confidence, created_at, decay_function FROM %s ORDER BY id",
					 space.qualified_name);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, true, SPI_OK_SELECT);

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		ItemPointer tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 2, &isnull));
		double		confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
		TimestampTz created_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
		char	   *decay_name = SPI_getvalue(tuple, desc, 5);
		EngramDecayKind decay;
		EngramRecallAccess access;
		double		effective;
		Datum		values[DECAY_RESULT_COLUMNS];
		bool		nulls[7] = {0};

		if (decay_name == NULL || !engram_decay_kind_parse(decay_name, false, &decay))
			decay = space.default_decay;
		effective = engram_recall_effective_confidence_kind(space.relid, tid, confidence,
															created_at, decay, now, &params,
															&access);
		values[0] = SPI_getbinval(tuple, desc, 1, &isnull);
		values[1] = CStringGetTextDatum(engram_recall_row_tier(space.relid, tid));
		values[2] = Int64GetDatum(access.access_count);
		values[3] = TimestampTzGetDatum(access.last_access);
		values[4] = CStringGetTextDatum(engram_decay_kind_name(decay));
		values[5] = Float8GetDatum(engram_decay_retention(decay,
														  (double) (now - access.last_access) / USECS_PER_SEC,
														  access.access_count, &params));
		values[6] = Float8GetDatum(effective);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * engram_memory_stats: memory_stats_call, with index fetches not counted as accesses
 * meanwhile (access.c); the setting is restored also on error.
 */
Datum
engram_memory_stats(PG_FUNCTION_ARGS)
{
	return engram_recall_call_untracked(memory_stats_call, fcinfo);
}
