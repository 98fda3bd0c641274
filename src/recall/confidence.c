/*-------------------------------------------------------------------------
 *
 * confidence.c
 *	  SQL access to the confidence algebra: engram_confidence_and/or/not
 *	  and engram_noisy_or.
 *
 * Confidences are probabilities in [0,1]; the operators assume
 * independence (AND = ab, OR = a + b - ab, NOT = 1 - a) and noisy-OR is OR
 * folded over a set.  Arguments outside [0,1], NaN included, are errors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "recall_internal.h"

PG_FUNCTION_INFO_V1(engram_confidence_and_sql);
PG_FUNCTION_INFO_V1(engram_confidence_or_sql);
PG_FUNCTION_INFO_V1(engram_confidence_not_sql);
PG_FUNCTION_INFO_V1(engram_noisy_or_sql);

void
engram_check_unit_interval(const char *what, double value)
{
	if (isnan(value) || value < 0.0 || value > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be between 0 and 1", what),
				 errdetail("The value was %g.", value)));
}

Datum
engram_confidence_and_sql(PG_FUNCTION_ARGS)
{
	float8		a = PG_GETARG_FLOAT8(0);
	float8		b = PG_GETARG_FLOAT8(1);

	engram_check_unit_interval("confidence", a);
	engram_check_unit_interval("confidence", b);
	PG_RETURN_FLOAT8(engram_confidence_and(a, b));
}

Datum
engram_confidence_or_sql(PG_FUNCTION_ARGS)
{
	float8		a = PG_GETARG_FLOAT8(0);
	float8		b = PG_GETARG_FLOAT8(1);

	engram_check_unit_interval("confidence", a);
	engram_check_unit_interval("confidence", b);
	PG_RETURN_FLOAT8(engram_confidence_or(a, b));
}

Datum
engram_confidence_not_sql(PG_FUNCTION_ARGS)
{
	float8		a = PG_GETARG_FLOAT8(0);

	engram_check_unit_interval("confidence", a);
	PG_RETURN_FLOAT8(engram_confidence_not(a));
}

/*
 * engram_noisy_or(double precision[]) RETURNS double precision:
 * 1 - prod(1 - p) over the non-NULL elements; 0 for an empty array.
 */
Datum
engram_noisy_or_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elements;
	bool	   *nulls;
	int			count;
	double	   *values;
	int			n = 0;

	deconstruct_array(array, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elements, &nulls, &count);
	values = palloc(sizeof(double) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		if (nulls[i])
			continue;
		values[n] = DatumGetFloat8(elements[i]);
		engram_check_unit_interval("confidence", values[n]);
		n++;
	}
	PG_RETURN_FLOAT8(engram_noisy_or(values, n));
}
