/*-------------------------------------------------------------------------
 *
 * worker_sql.c
 *	  SQL functions of the worker: engram_worker_status(),
 *	  engram_run_maintenance(), engram_migration_plan(); and
 *	  engram_worker_init().
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
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "worker/engram_worker.h"

PG_FUNCTION_INFO_V1(engram_worker_state);
PG_FUNCTION_INFO_V1(engram_run_maintenance);
PG_FUNCTION_INFO_V1(engram_migration_plan_sql);

void
engram_worker_init(void)
{
	engram_worker_define_settings();
	if (!process_shared_preload_libraries_in_progress)
		return;
	engram_worker_shmem_register();
	engram_worker_register_launcher();
	engram_worker_install_utility_hook();
}

static Datum
timestamp_or_null(TimestampTz value, bool *isnull)
{
	*isnull = (value == 0);
	return TimestampTzGetDatum(value);
}

/* Columns of engram_worker_state(), as sql/install/50_worker.sql declares them. */
#define ENGRAM_WORKER_STATUS_COLUMNS 20

/*
 * engram_worker_state(): one row per (database served, job) from shared
 * memory.  Columns follow sql/install/50_worker.sql.
 */
Datum
engram_worker_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramWorkerSlot *slots;
	int			launcher_pid;

	engram_require_preload("engram_worker_status");
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, ENGRAM_WORKER_STATUS_COLUMNS, "engram_worker_state()");

	/* Copy under the lock, build tuples without it. */
	slots = palloc(sizeof(EngramWorkerSlot) * ENGRAM_WORKER_MAX_DATABASES);
	LWLockAcquire(engram_worker_shared->lock, LW_SHARED);
	memcpy(slots, engram_worker_shared->slots,
		   sizeof(EngramWorkerSlot) * ENGRAM_WORKER_MAX_DATABASES);
	launcher_pid = engram_worker_shared->launcher_pid;
	LWLockRelease(engram_worker_shared->lock);
	(void) launcher_pid;

	for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES; i++)
	{
		EngramWorkerSlot *slot = &slots[i];

		if (!OidIsValid(slot->database))
			continue;
		for (int kind = 0; kind < ENGRAM_JOB_COUNT; kind++)
		{
			EngramJobStatus *job = &slot->jobs[kind];
			Datum		values[ENGRAM_WORKER_STATUS_COLUMNS];
			bool		nulls[ENGRAM_WORKER_STATUS_COLUMNS] = {0};
			int			c = 0;

			values[c++] = ObjectIdGetDatum(slot->database);
			values[c] = Int32GetDatum(slot->pid);
			nulls[c++] = (slot->pid == 0);
			values[c] = timestamp_or_null(slot->started_at, &nulls[c]);
			c++;
			values[c++] = Int64GetDatum(Max(slot->restarts, 0));
			values[c] = Int32GetDatum(slot->nice);
			nulls[c++] = (slot->pid == 0);
			values[c++] = CStringGetTextDatum(engram_job_definitions[kind].name);
			values[c++] = CStringGetTextDatum(engram_job_state_name(job->state));
			values[c++] = CStringGetTextDatum(job->detail);
			values[c] = timestamp_or_null(job->last_start, &nulls[c]);
			c++;
			values[c] = timestamp_or_null(job->last_end, &nulls[c]);
			c++;
			values[c] = timestamp_or_null(job->next_run, &nulls[c]);
			c++;
			values[c++] = Int64GetDatum(job->runs);
			values[c++] = Int64GetDatum(job->rows_moved);
			values[c++] = Int64GetDatum(job->memories_consolidated);
			values[c++] = Int64GetDatum(job->episodes_linked);
			values[c++] = Int64GetDatum(job->episodes_selected);
			values[c++] = Int64GetDatum(job->rows_flushed);
			values[c++] = Int64GetDatum(job->errors);
			values[c] = CStringGetTextDatum(job->last_error);
			nulls[c] = (job->errors == 0);
			c++;
			values[c] = timestamp_or_null(job->last_error_at, &nulls[c]);
			c++;
			Assert(c == lengthof(values));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * engram_run_maintenance(space regclass, associations regclass DEFAULT NULL)
 * RETURNS TABLE (job, state, detail, rows_moved, memories_consolidated,
 * episodes_linked, episodes_selected, rows_flushed, duration_ms)
 *
 * One cycle of every periodic job on one space, now, in the calling
 * transaction, with the caller's privileges and settings (nothing is
 * recorded in the worker's status).  An error in any job aborts the whole
 * call: nothing is partly written.  Refused on a hot standby.
 */
Datum
engram_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramJobContext context;
	int			nestlevel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space must not be null"),
				 errhint("Pass the memory space table, for example 'memories'::regclass.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot run engram maintenance during recovery"),
				 errhint("Maintenance writes to the space: run it on the primary.")));

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 9, "engram_run_maintenance()");

	memset(&context, 0, sizeof(context));
	context.now = engram_now();
	context.only_space = PG_GETARG_OID(0);
	context.only_associations = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	context.as_table_owner = false;

	/* Same fixed search_path as the worker, for the duration of the call. */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	for (int kind = 0; kind < ENGRAM_JOB_COUNT; kind++)
	{
		const EngramJobDefinition *definition = &engram_job_definitions[kind];
		EngramJobResult result;
		const char *state;
		const char *reason;
		Datum		values[9];
		bool		nulls[9] = {0};
		instr_time	started;
		instr_time	elapsed;

		if (definition->one_shot)
			continue;
		memset(&result, 0, sizeof(result));
		INSTR_TIME_SET_CURRENT(started);
		reason = definition->unavailable_reason ? definition->unavailable_reason() : NULL;
		if (reason != NULL)
		{
			state = engram_job_state_name(ENGRAM_JOB_STATE_UNAVAILABLE);
			strlcpy(result.detail, reason, sizeof(result.detail));
		}
		else
		{
			definition->run(&context, &result);
			state = engram_job_state_name(result.unavailable ? ENGRAM_JOB_STATE_UNAVAILABLE
										  : ENGRAM_JOB_STATE_DONE);
		}
		values[0] = CStringGetTextDatum(definition->name);
		values[1] = CStringGetTextDatum(state);
		values[2] = CStringGetTextDatum(result.detail);
		values[3] = Int64GetDatum(result.rows_moved);
		values[4] = Int64GetDatum(result.memories_consolidated);
		values[5] = Int64GetDatum(result.episodes_linked);
		values[6] = Int64GetDatum(result.episodes_selected);
		values[7] = Int64GetDatum(result.rows_flushed);
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, started);
		values[8] = Float8GetDatum(INSTR_TIME_GET_MILLISEC(elapsed));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	AtEOXact_GUC(true, nestlevel);
	return (Datum) 0;
}

static EngramTier
parse_tier(const char *name)
{
	if (strcmp(name, "hot") == 0)
		return ENGRAM_TIER_HOT;
	if (strcmp(name, "warm") == 0)
		return ENGRAM_TIER_WARM;
	if (strcmp(name, "cold") == 0)
		return ENGRAM_TIER_COLD;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown tier \"%s\"", name),
			 errhint("Tiers are hot, warm and cold.")));
	return ENGRAM_TIER_WARM;	/* keep the compiler quiet */
}

/* Deconstruct a one-dimensional float8[] without nulls. */
static int
float8_array(ArrayType *array, const char *what, double **out)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;

	deconstruct_array(array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &values, &nulls, &n);
	*out = palloc(sizeof(double) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain nulls", what)));
		(*out)[i] = DatumGetFloat8(values[i]);
		if (isnan((*out)[i]) || (*out)[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must hold non-negative numbers", what)));
	}
	return n;
}

/*
 * engram_migration_plan(tids tid[], tiers text[], accesses_per_hour float8[],
 *     seconds_in_tier float8[] DEFAULT NULL, max_moves int DEFAULT NULL)
 * RETURNS TABLE (tid, from_tier, to_tier, accesses_per_hour)
 *
 * The moves the worker's migration policy makes for these rows with the
 * current engram.migration_* settings, in the order it makes them, at most
 * max_moves (default engram.migration_batch).  seconds_in_tier NULL: every
 * row has been in its tier forever.  Pure: reads no table.
 */
Datum
engram_migration_plan_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *tids;
	Datum	   *tiers;
	bool	   *tid_nulls;
	bool	   *tier_nulls;
	double	   *rates;
	double	   *ages = NULL;
	int			ntids,
				ntiers,
				nrates,
				nages;
	int			max_moves = PG_ARGISNULL(4) ? engram_migration_batch : PG_GETARG_INT32(4);
	EngramTierRow *rows;
	EngramTierMove *moves;
	EngramMigrationThresholds thresholds;
	int			nmoves;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tids, tiers and accesses_per_hour must not be null")));
	if (max_moves < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_moves must not be negative")));

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TIDOID, sizeof(ItemPointerData), false,
					  TYPALIGN_SHORT, &tids, &tid_nulls, &ntids);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT,
					  &tiers, &tier_nulls, &ntiers);
	nrates = float8_array(PG_GETARG_ARRAYTYPE_P(2), "accesses_per_hour", &rates);
	nages = PG_ARGISNULL(3) ? ntids : float8_array(PG_GETARG_ARRAYTYPE_P(3),
												   "seconds_in_tier", &ages);
	if (ntids != ntiers || ntids != nrates || ntids != nages)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("tids, tiers, accesses_per_hour and seconds_in_tier must have the same length")));

	rows = palloc(sizeof(EngramTierRow) * Max(ntids, 1));
	for (int i = 0; i < ntids; i++)
	{
		if (tid_nulls[i] || tier_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("tids and tiers must not contain nulls")));
		rows[i].tid = *(ItemPointer) DatumGetPointer(tids[i]);
		rows[i].tier = parse_tier(TextDatumGetCString(tiers[i]));
		rows[i].accesses_per_hour = rates[i];
		rows[i].seconds_in_tier = ages ? ages[i] : get_float8_infinity();
	}

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 4, "engram_migration_plan_sql()");
	engram_migration_thresholds_current(&thresholds);
	moves = palloc(sizeof(EngramTierMove) * Max(Min(ntids, max_moves), 1));
	nmoves = engram_migration_plan(rows, ntids, &thresholds, max_moves, moves);
	for (int i = 0; i < nmoves; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {0};
		ItemPointer tid = palloc(sizeof(ItemPointerData));

		*tid = moves[i].tid;
		values[0] = PointerGetDatum(tid);
		values[1] = CStringGetTextDatum(engram_tier_name(moves[i].from));
		values[2] = CStringGetTextDatum(engram_tier_name(moves[i].to));
		values[3] = Float8GetDatum(moves[i].accesses_per_hour);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
