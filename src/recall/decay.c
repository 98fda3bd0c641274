/*-------------------------------------------------------------------------
 *
 * decay.c
 *	  SQL access to the forgetting curves and the seeding sigmoid:
 *	  engram_retention(), engram_seed_activation().
 *
 * These expose the pure functions of recall_math.c with the current
 * engram.* settings, so users can see (and tests can assert) exactly the
 * numbers recall uses.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "recall_internal.h"

PG_FUNCTION_INFO_V1(engram_retention);
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
