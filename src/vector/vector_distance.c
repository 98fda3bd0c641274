/*-------------------------------------------------------------------------
 *
 * vector_distance.c
 *	  Distances, norm, normalisation and elementwise arithmetic of evector.
 *
 * The distances go through the SIMD dispatch (engram_simd.h), so they use
 * the kernels chosen for this CPU.  Kernels accumulate in float4; results
 * are returned as float8 (PostgreSQL's ORDER BY distance type).
 *
 * Cosine distance involving a zero vector is NaN, as in pgvector: the angle
 * is undefined, raising an error would make one bad row abort a whole
 * ORDER BY, and NaN sorts after every number so such rows come last.
 *
 * Arithmetic results are checked for float4 overflow (an error); underflow
 * to zero or a subnormal is accepted, since it loses no information that
 * matters for distances.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "engram_simd.h"
#include "engram_vector.h"

PG_FUNCTION_INFO_V1(engram_evector_l2_distance);
PG_FUNCTION_INFO_V1(engram_evector_l2_squared_distance);
PG_FUNCTION_INFO_V1(engram_evector_inner_product);
PG_FUNCTION_INFO_V1(engram_evector_negative_inner_product);
PG_FUNCTION_INFO_V1(engram_evector_cosine_distance);
PG_FUNCTION_INFO_V1(engram_evector_dims);
PG_FUNCTION_INFO_V1(engram_evector_norm);
PG_FUNCTION_INFO_V1(engram_evector_l2_normalize);
PG_FUNCTION_INFO_V1(engram_evector_add);
PG_FUNCTION_INFO_V1(engram_evector_subtract);
PG_FUNCTION_INFO_V1(engram_evector_multiply);

/* Euclidean distance: sqrt(sum (a-b)^2). */
Datum
engram_evector_l2_distance(PG_FUNCTION_ARGS)
{
	EngramVector *a = PG_GETARG_ENGRAM_VECTOR_P(0);
	EngramVector *b = PG_GETARG_ENGRAM_VECTOR_P(1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8(sqrt((double) engram_l2_squared_distance(a->x, b->x, a->dim)));
}

/* Squared Euclidean distance: orders like l2_distance, without the root. */
Datum
engram_evector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	EngramVector *a = PG_GETARG_ENGRAM_VECTOR_P(0);
	EngramVector *b = PG_GETARG_ENGRAM_VECTOR_P(1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8((double) engram_l2_squared_distance(a->x, b->x, a->dim));
}

/* Inner (dot) product: sum a*b. */
Datum
engram_evector_inner_product(PG_FUNCTION_ARGS)
{
	EngramVector *a = PG_GETARG_ENGRAM_VECTOR_P(0);
	EngramVector *b = PG_GETARG_ENGRAM_VECTOR_P(1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8((double) engram_inner_product(a->x, b->x, a->dim));
}

/* Negative inner product, the <#> operator: smaller is more similar. */
Datum
engram_evector_negative_inner_product(PG_FUNCTION_ARGS)
{
	EngramVector *a = PG_GETARG_ENGRAM_VECTOR_P(0);
	EngramVector *b = PG_GETARG_ENGRAM_VECTOR_P(1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8(-(double) engram_inner_product(a->x, b->x, a->dim));
}

/* Cosine distance 1 - cos(a, b), in [0, 2]; NaN when a or b is zero. */
Datum
engram_evector_cosine_distance(PG_FUNCTION_ARGS)
{
	EngramVector *a = PG_GETARG_ENGRAM_VECTOR_P(0);
	EngramVector *b = PG_GETARG_ENGRAM_VECTOR_P(1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8((double) engram_cosine_distance(a->x, b->x, a->dim));
}

/* vector_dims(evector): the number of dimensions. */
Datum
engram_evector_dims(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);

	PG_RETURN_INT32(vector->dim);
}

/* Euclidean norm accumulated in double. */
static double
vector_norm(const EngramVector *vector)
{
	double		sum = 0.0;

	for (int i = 0; i < vector->dim; i++)
		sum += (double) vector->x[i] * (double) vector->x[i];
	return sqrt(sum);
}

/* vector_norm(evector): the Euclidean (L2) norm. */
Datum
engram_evector_norm(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);

	PG_RETURN_FLOAT8(vector_norm(vector));
}

/*
 * l2_normalize(evector): a new evector of norm 1 in the same direction.
 * The zero vector has no direction and is returned unchanged (a copy).
 */
Datum
engram_evector_l2_normalize(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	double		norm = vector_norm(vector);
	EngramVector *result = engram_vector_new(vector->dim);

	for (int i = 0; i < vector->dim; i++)
		result->x[i] = (norm > 0.0) ? (float) (vector->x[i] / norm) : vector->x[i];
	PG_RETURN_ENGRAM_VECTOR_P(result);
}

/* ERROR when an arithmetic result overflowed float4. */
static void
check_arithmetic_result(const EngramVector *result)
{
	for (int i = 0; i < result->dim; i++)
	{
		if (unlikely(isinf(result->x[i])))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value out of range: overflow"),
					 errdetail("Element %d of the result does not fit in type real.",
							   i + 1)));
	}
}

typedef enum VectorArithmetic
{
	VECTOR_ADD,
	VECTOR_SUBTRACT,
	VECTOR_MULTIPLY
} VectorArithmetic;

/* Elementwise a op b as a new evector, with overflow checked. */
static EngramVector *
vector_arithmetic(const EngramVector *a, const EngramVector *b, VectorArithmetic op)
{
	EngramVector *result;

	engram_vector_check_same_dims(a, b);
	result = engram_vector_new(a->dim);
	switch (op)
	{
		case VECTOR_ADD:
			for (int i = 0; i < a->dim; i++)
				result->x[i] = a->x[i] + b->x[i];
			break;
		case VECTOR_SUBTRACT:
			for (int i = 0; i < a->dim; i++)
				result->x[i] = a->x[i] - b->x[i];
			break;
		case VECTOR_MULTIPLY:
			for (int i = 0; i < a->dim; i++)
				result->x[i] = a->x[i] * b->x[i];
			break;
	}
	check_arithmetic_result(result);
	return result;
}

Datum
engram_evector_add(PG_FUNCTION_ARGS)
{
	PG_RETURN_ENGRAM_VECTOR_P(vector_arithmetic(PG_GETARG_ENGRAM_VECTOR_P(0),
												PG_GETARG_ENGRAM_VECTOR_P(1),
												VECTOR_ADD));
}

Datum
engram_evector_subtract(PG_FUNCTION_ARGS)
{
	PG_RETURN_ENGRAM_VECTOR_P(vector_arithmetic(PG_GETARG_ENGRAM_VECTOR_P(0),
												PG_GETARG_ENGRAM_VECTOR_P(1),
												VECTOR_SUBTRACT));
}

Datum
engram_evector_multiply(PG_FUNCTION_ARGS)
{
	PG_RETURN_ENGRAM_VECTOR_P(vector_arithmetic(PG_GETARG_ENGRAM_VECTOR_P(0),
												PG_GETARG_ENGRAM_VECTOR_P(1),
												VECTOR_MULTIPLY));
}
