/*-------------------------------------------------------------------------
 *
 * metrics_sql.c
 *	  SQL-callable functions behind the metrics views of
 *	  sql/install/60_metrics.sql: operation counters and histograms,
 *	  caches, tier moves, lock waits, the slow-operation log, reset, and the
 *	  engram_metrics_test_record* testing aids.
 *
 * Every function here refuses with engram_require_preload() when Engram
 * was not preloaded: the counters live in shared memory.  Reads take no
 * lock except the slow ring's (see metrics_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "metrics_internal.h"

PG_FUNCTION_INFO_V1(engram_metrics_latency_bounds);
PG_FUNCTION_INFO_V1(engram_metrics_operations);
PG_FUNCTION_INFO_V1(engram_metrics_caches);
PG_FUNCTION_INFO_V1(engram_metrics_tier_moves);
PG_FUNCTION_INFO_V1(engram_metrics_lock_waits);
PG_FUNCTION_INFO_V1(engram_metrics_slow_operations);
PG_FUNCTION_INFO_V1(engram_metrics_stats_reset);
PG_FUNCTION_INFO_V1(engram_metrics_reset);
PG_FUNCTION_INFO_V1(engram_metrics_test_record);
PG_FUNCTION_INFO_V1(engram_metrics_test_record_cache);
PG_FUNCTION_INFO_V1(engram_metrics_test_record_tier_move);
PG_FUNCTION_INFO_V1(engram_metrics_test_record_lock_wait);
PG_FUNCTION_INFO_V1(engram_metrics_test_record_timed);

static double
ns_to_seconds(uint64 ns)
{
	return (double) ns / 1e9;
}

/* The finite histogram bounds, in seconds, as float8[]. */
Datum
engram_metrics_latency_bounds(PG_FUNCTION_ARGS)
{
	Datum		bounds[ENGRAM_LATENCY_BOUND_COUNT];

	for (int i = 0; i < ENGRAM_LATENCY_BOUND_COUNT; i++)
		bounds[i] = Float8GetDatum(engram_latency_bounds[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(bounds, ENGRAM_LATENCY_BOUND_COUNT, FLOAT8OID,
										  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * One row per operation: operations (ok + error), errors, total and CPU
 * seconds, and the per-bucket (not cumulative) counts, the last one for
 * durations over the largest bound.
 */
Datum
engram_metrics_operations(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 6, "engram_metrics_operations()");

	for (int op = 0; op < ENGRAM_OP_COUNT; op++)
	{
		EngramOperationStats *stats = &engram_metrics->operations[op];
		Datum		buckets[ENGRAM_LATENCY_BUCKET_COUNT];
		Datum		values[6];
		bool		nulls[6] = {false};

		for (int i = 0; i < ENGRAM_LATENCY_BUCKET_COUNT; i++)
			buckets[i] = Int64GetDatum((int64) pg_atomic_read_u64(&stats->latency.bucket[i]));
		values[0] = CStringGetTextDatum(engram_operation_names[op]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&stats->latency.count));
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&stats->errors));
		values[3] = Float8GetDatum(ns_to_seconds(pg_atomic_read_u64(&stats->latency.sum_ns)));
		values[4] = Float8GetDatum(ns_to_seconds(pg_atomic_read_u64(&stats->cpu_ns)));
		values[5] = PointerGetDatum(construct_array_builtin(buckets, ENGRAM_LATENCY_BUCKET_COUNT,
															 INT8OID));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
engram_metrics_caches(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 3, "engram_metrics_caches()");
	for (int cache = 0; cache < ENGRAM_CACHE_COUNT; cache++)
	{
		Datum		values[3];
		bool		nulls[3] = {false};

		values[0] = CStringGetTextDatum(engram_cache_names[cache]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&engram_metrics->cache_hits[cache]));
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&engram_metrics->cache_requests[cache]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Every (from, to) pair of distinct tiers, moved or not. */
Datum
engram_metrics_tier_moves(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 3, "engram_metrics_tier_moves()");
	for (int from = 0; from < ENGRAM_TIER_COUNT; from++)
		for (int to = 0; to < ENGRAM_TIER_COUNT; to++)
		{
			Datum		values[3];
			bool		nulls[3] = {false};

			if (from == to)
				continue;
			values[0] = CStringGetTextDatum(engram_tier_names[from]);
			values[1] = CStringGetTextDatum(engram_tier_names[to]);
			values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&engram_metrics->tier_moves[from][to]));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	return (Datum) 0;
}

Datum
engram_metrics_lock_waits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, 3, "engram_metrics_lock_waits()");
	for (int lock = 0; lock < ENGRAM_LOCK_COUNT; lock++)
	{
		Datum		values[3];
		bool		nulls[3] = {false};

		values[0] = CStringGetTextDatum(engram_lock_type_names[lock]);
		values[1] = Int64GetDatum((int64) pg_atomic_read_u64(&engram_metrics->lock_waits[lock]));
		values[2] = Float8GetDatum(ns_to_seconds(
			pg_atomic_read_u64(&engram_metrics->lock_wait_ns[lock])));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Names of the tiers in a tiers_touched bit mask, as text[] (NULL if none). */
static Datum
tiers_touched_array(int32 mask, bool *isnull)
{
	Datum		names[ENGRAM_TIER_COUNT];
	int			n = 0;

	for (int tier = 0; tier < ENGRAM_TIER_COUNT; tier++)
		if (mask & ENGRAM_TIER_BIT(tier))
			names[n++] = CStringGetTextDatum(engram_tier_names[tier]);
	*isnull = (n == 0);
	return n == 0 ? (Datum) 0 :
		PointerGetDatum(construct_array_builtin(names, n, TEXTOID));
}

#define SLOW_COLUMNS 15

/*
 * The slow-operation log, oldest first.  The ring is copied under its lock
 * and converted to tuples after releasing it.
 */
Datum
engram_metrics_slow_operations(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramSlowEntry *copy;
	uint64		total;
	int			n;
	int			first;

	engram_metrics_require();
	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, SLOW_COLUMNS, "engram_metrics_slow_operations()");

	copy = palloc(sizeof(EngramSlowEntry) * ENGRAM_SLOW_RING_SIZE);
	LWLockAcquire(&engram_metrics->locks[ENGRAM_METRICS_LOCK_SLOW_RING], LW_SHARED);
	total = engram_metrics->slow_next;
	memcpy(copy, engram_metrics->slow_ring, sizeof(EngramSlowEntry) * ENGRAM_SLOW_RING_SIZE);
	LWLockRelease(&engram_metrics->locks[ENGRAM_METRICS_LOCK_SLOW_RING]);

	n = (int) Min(total, (uint64) ENGRAM_SLOW_RING_SIZE);
	first = (int) ((total - n) % ENGRAM_SLOW_RING_SIZE);
	for (int i = 0; i < n; i++)
	{
		EngramSlowEntry *entry = &copy[(first + i) % ENGRAM_SLOW_RING_SIZE];
		EngramSlowDetails *details = &entry->details;
		Datum		values[SLOW_COLUMNS];
		bool		nulls[SLOW_COLUMNS] = {false};

		values[0] = TimestampTzGetDatum(entry->finished_at);
		values[1] = CStringGetTextDatum(engram_operation_names[entry->operation]);
		values[2] = BoolGetDatum(entry->ok);
		values[3] = Int32GetDatum(entry->pid);
		values[4] = ObjectIdGetDatum(entry->database);
		values[5] = ObjectIdGetDatum(entry->user);
		values[6] = Float8GetDatum(entry->seconds);
		values[7] = Float8GetDatum(entry->cpu_seconds);
		nulls[7] = entry->cpu_seconds < 0;
		values[8] = ObjectIdGetDatum(details->space);
		nulls[8] = !OidIsValid(details->space);
		values[9] = Int32GetDatum(details->k);
		nulls[9] = details->k < 0;
		values[10] = Int32GetDatum(details->ef_search);
		nulls[10] = details->ef_search < 0;
		values[11] = Int64GetDatum(details->nodes_visited);
		nulls[11] = details->nodes_visited < 0;
		values[12] = tiers_touched_array(details->tiers_touched, &nulls[12]);
		values[13] = Int32GetDatum(details->hops);
		nulls[13] = details->hops < 0;
		values[14] = Int64GetDatum(details->rows);
		nulls[14] = details->rows < 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(copy);
	return (Datum) 0;
}

Datum
engram_metrics_stats_reset(PG_FUNCTION_ARGS)
{
	engram_metrics_require();
	PG_RETURN_TIMESTAMPTZ((TimestampTz) pg_atomic_read_u64(&engram_metrics->stats_reset));
}

Datum
engram_metrics_reset(PG_FUNCTION_ARGS)
{
	engram_metrics_require();
	engram_metrics_reset_all();
	PG_RETURN_VOID();
}

/*
 * Testing aid: record one synthetic operation exactly as engram_metrics_record
 * would from C.  Arguments: operation, seconds, ok, cpu_seconds, ef_search,
 * nodes_visited, hops, tiers (text[] of tier names); NULL = unknown.
 */
Datum
engram_metrics_test_record(PG_FUNCTION_ARGS)
{
	EngramOperation op;
	EngramSlowDetails details;
	double		seconds;

	engram_metrics_require();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("operation and seconds must not be null")));
	op = engram_operation_from_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	seconds = PG_GETARG_FLOAT8(1);
	if (!(seconds >= 0) || isinf(seconds))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seconds must be a finite value of at least 0")));

	engram_slow_details_init(&details);
	if (!PG_ARGISNULL(4))
		details.ef_search = PG_GETARG_INT32(4);
	if (!PG_ARGISNULL(5))
		details.nodes_visited = PG_GETARG_INT64(5);
	if (!PG_ARGISNULL(6))
		details.hops = PG_GETARG_INT32(6);
	if (!PG_ARGISNULL(7))
	{
		Datum	   *tiers;
		bool	   *tier_nulls;
		int			n;

		deconstruct_array_builtin(PG_GETARG_ARRAYTYPE_P(7), TEXTOID, &tiers, &tier_nulls, &n);
		for (int i = 0; i < n; i++)
		{
			char	   *name;
			int			tier;

			if (tier_nulls[i])
				continue;
			name = TextDatumGetCString(tiers[i]);
			for (tier = 0; tier < ENGRAM_TIER_COUNT; tier++)
				if (strcmp(name, engram_tier_names[tier]) == 0)
					break;
			if (tier == ENGRAM_TIER_COUNT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown engram tier \"%s\"", name),
						 errhint("Valid tiers are: hot, warm, cold.")));
			details.tiers_touched |= ENGRAM_TIER_BIT(tier);
		}
	}
	engram_metrics_record(op, seconds,
						  PG_ARGISNULL(3) ? -1 : PG_GETARG_FLOAT8(3),
						  PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2),
						  &details);
	PG_RETURN_VOID();
}

static int
name_index(const char *name, const char *const *names, int count, const char *what)
{
	for (int i = 0; i < count; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown engram %s \"%s\"", what, name)));
	pg_unreachable();
}

/* Testing aid: one lookup in a cache (cache name, hit). */
Datum
engram_metrics_test_record_cache(PG_FUNCTION_ARGS)
{
	engram_metrics_require();
	engram_metrics_cache_lookup(name_index(text_to_cstring(PG_GETARG_TEXT_PP(0)),
										   engram_cache_names, ENGRAM_CACHE_COUNT, "cache"),
								PG_GETARG_BOOL(1));
	PG_RETURN_VOID();
}

/* Testing aid: "count" memories moved (from tier, to tier, count). */
Datum
engram_metrics_test_record_tier_move(PG_FUNCTION_ARGS)
{
	engram_metrics_require();
	engram_metrics_tier_move(name_index(text_to_cstring(PG_GETARG_TEXT_PP(0)),
										engram_tier_names, ENGRAM_TIER_COUNT, "tier"),
							 name_index(text_to_cstring(PG_GETARG_TEXT_PP(1)),
										engram_tier_names, ENGRAM_TIER_COUNT, "tier"),
							 PG_GETARG_INT64(2));
	PG_RETURN_VOID();
}

/* Testing aid: one lock wait (lock type, seconds). */
Datum
engram_metrics_test_record_lock_wait(PG_FUNCTION_ARGS)
{
	engram_metrics_require();
	engram_metrics_lock_wait(name_index(text_to_cstring(PG_GETARG_TEXT_PP(0)),
										engram_lock_type_names, ENGRAM_LOCK_COUNT, "lock type"),
							 PG_GETARG_FLOAT8(1));
	PG_RETURN_VOID();
}

/*
 * Testing aid: time an empty operation through the real C path,
 * engram_metrics_begin() then engram_metrics_end(), or, when "fail" is
 * true, begin and then raise an error, which the abort callback must count
 * as an error of that operation.
 */
Datum
engram_metrics_test_record_timed(PG_FUNCTION_ARGS)
{
	EngramOperation op;

	engram_metrics_require();
	op = engram_operation_from_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	engram_metrics_begin(op);
	if (PG_GETARG_BOOL(1))
		ereport(ERROR,
				(errcode(ERRCODE_RAISE_EXCEPTION),
				 errmsg("engram_metrics_test_record_timed: failing %s as asked",
						engram_operation_names[op])));
	engram_metrics_end(op, NULL);
	PG_RETURN_VOID();
}
