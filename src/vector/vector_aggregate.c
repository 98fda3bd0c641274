/*-------------------------------------------------------------------------
 *
 * vector_aggregate.c
 *	  sum(evector) and avg(evector): elementwise sum and mean (centroid).
 *
 * Transition state: a float8[] of 1 + dim elements, {row count, sum of
 * element 1, ..., sum of element dim}, starting as '{0}' (no rows, dim not
 * yet known).  Sums are kept in float8 so that averaging many float4
 * vectors loses no precision and cannot overflow before the final step.
 * Inside an aggregate the state is updated in place (it lives in the
 * aggregate's memory context); called directly, a new array is returned.
 * The combine function makes both aggregates parallel-safe.  Empty input
 * gives NULL, like SQL's own sum and avg.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "engram_vector.h"

PG_FUNCTION_INFO_V1(engram_evector_accumulate);
PG_FUNCTION_INFO_V1(engram_evector_combine);
PG_FUNCTION_INFO_V1(engram_evector_sum_final);
PG_FUNCTION_INFO_V1(engram_evector_avg_final);

/*
 * The state's float8 elements and their count (1 + dim), after checking
 * that "state" has the shape this file builds.
 */
static float8 *
state_values(ArrayType *state, int *count)
{
	if (ARR_NDIM(state) != 1 || ARR_ELEMTYPE(state) != FLOAT8OID ||
		ARR_HASNULL(state) || ARR_DIMS(state)[0] < 1 ||
		ARR_DIMS(state)[0] > ENGRAM_VECTOR_MAX_DIM + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid evector aggregate state"),
				 errdetail("The state must be a one-dimensional float8 array {count, sums...}.")));
	*count = ARR_DIMS(state)[0];
	return (float8 *) ARR_DATA_PTR(state);
}

/* A new state array holding "count" values copied from "values". */
static ArrayType *
make_state(const float8 *values, int count)
{
	Datum	   *datums = palloc(sizeof(Datum) * count);
	ArrayType  *state;

	for (int i = 0; i < count; i++)
		datums[i] = Float8GetDatum(values[i]);
	state = construct_array(datums, count, FLOAT8OID, sizeof(float8),
							FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	pfree(datums);
	return state;
}

static void
check_state_dims(int state_dim, int vector_dim)
{
	if (state_dim != vector_dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different evector dimensions %d and %d", state_dim, vector_dim),
				 errhint("Every aggregated evector must have the same number of dimensions.")));
}

/* evector_accumulate(float8[], evector): add one vector to the state. */
Datum
engram_evector_accumulate(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(1);
	int			count;
	float8	   *values = state_values(state, &count);

	if (count == 1 || values[0] == 0)
	{
		/* first row: the state takes this vector's dimension */
		float8	   *fresh = palloc(sizeof(float8) * (vector->dim + 1));

		fresh[0] = 1;
		for (int i = 0; i < vector->dim; i++)
			fresh[i + 1] = vector->x[i];
		state = make_state(fresh, vector->dim + 1);
		pfree(fresh);
		PG_RETURN_ARRAYTYPE_P(state);
	}

	check_state_dims(count - 1, vector->dim);
	if (!AggCheckCallContext(fcinfo, NULL))
	{
		state = make_state(values, count);
		values = (float8 *) ARR_DATA_PTR(state);
	}
	values[0] += 1;
	for (int i = 0; i < vector->dim; i++)
		values[i + 1] += vector->x[i];
	PG_RETURN_ARRAYTYPE_P(state);
}

/* evector_combine(float8[], float8[]): merge two partial states. */
Datum
engram_evector_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *left = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *right = PG_GETARG_ARRAYTYPE_P(1);
	int			left_count;
	int			right_count;
	float8	   *left_values = state_values(left, &left_count);
	float8	   *right_values = state_values(right, &right_count);
	float8	   *sum;
	ArrayType  *result;

	if (right_count == 1 || right_values[0] == 0)
		PG_RETURN_ARRAYTYPE_P(make_state(left_values, left_count));
	if (left_count == 1 || left_values[0] == 0)
		PG_RETURN_ARRAYTYPE_P(make_state(right_values, right_count));

	check_state_dims(left_count - 1, right_count - 1);
	sum = palloc(sizeof(float8) * left_count);
	for (int i = 0; i < left_count; i++)
		sum[i] = left_values[i] + right_values[i];
	result = make_state(sum, left_count);
	pfree(sum);
	PG_RETURN_ARRAYTYPE_P(result);
}

/*
 * The evector of state sums divided by "divisor" (1 for sum, the row count
 * for avg); ERROR when an element overflows float4.
 */
static EngramVector *
state_to_vector(const float8 *values, int count, double divisor)
{
	EngramVector *result = engram_vector_new(count - 1);

	for (int i = 0; i < count - 1; i++)
	{
		double		value = values[i + 1] / divisor;

		result->x[i] = (float) value;
		if (unlikely(isinf(result->x[i])))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow"),
					 errdetail("Element %d of the aggregate is %g, which does not fit in type real.",
							   i + 1, value)));
	}
	return result;
}

/* Final function of sum(evector): NULL for no rows. */
Datum
engram_evector_sum_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			count;
	float8	   *values = state_values(state, &count);

	if (count == 1 || values[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_ENGRAM_VECTOR_P(state_to_vector(values, count, 1.0));
}

/* Final function of avg(evector): the centroid, NULL for no rows. */
Datum
engram_evector_avg_final(PG_FUNCTION_ARGS)
{
	ArrayType  *state = PG_GETARG_ARRAYTYPE_P(0);
	int			count;
	float8	   *values = state_values(state, &count);

	if (count == 1 || values[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_ENGRAM_VECTOR_P(state_to_vector(values, count, values[0]));
}
