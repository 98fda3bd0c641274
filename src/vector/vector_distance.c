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
 * REPEATED TOASTED ARGUMENTS
 *
 * ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 42)
 * evaluates the operator for every row it orders or returns with the same
 * second argument: the init-plan's parameter, whose value is the stored
 * row's on-disk TOAST pointer (a vector over about 500 dimensions lives
 * in TOAST with the default storage).  Detoasting it is a TOAST index
 * lookup and two or more chunk reads, repeated at every call: half of the
 * TOAST reads of a LIMIT 10 index scan's ORDER BY evaluations at 768
 * dimensions (10 of 20; docs/reference/performance-baselines.md, session
 * 7).  The
 * distance functions therefore remember, per argument in fn_extra, the
 * last on-disk TOAST pointer they were passed; when the same pointer comes
 * again they detoast it once into fn_mcxt and reuse that copy while it
 * keeps coming.  fn_extra lives as long as the expression's FmgrInfo
 * (normally one execution of the statement), during which the TOAST value
 * a pointer names does not change: TOAST values are never updated in
 * place, the row that held the pointer is visible to the statement's
 * snapshot (so VACUUM keeps its value), and a value id is an OID, checked
 * unique in its TOAST relation when assigned, that could only name
 * another value after the OID counter wrapped around.  An
 * argument that changes at every call (each row's own vector) costs one
 * 16-byte comparison more.  Inline values (compressed or not) are
 * detoasted as before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "fmgr.h"
#include "utils/memutils.h"

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

/* fn_extra of a distance function: REPEATED TOASTED ARGUMENTS above. */
typedef struct DistanceArgumentCache
{
	bool		seen[2];		/* last[i] holds a pointer */
	struct varatt_external last[2]; /* last on-disk TOAST pointer of argument i */
	EngramVector *copy[2];		/* last[i] detoasted in fn_mcxt, or NULL */
} DistanceArgumentCache;

/*
 * Argument "argno" (0 or 1) of a two-evector distance function, detoasted:
 * from the cached copy when it is the same on-disk TOAST pointer as at the
 * previous call (the copy belongs to the cache: never freed by the
 * caller, never modified), else as PG_GETARG_ENGRAM_VECTOR_P does.
 */
static EngramVector *
distance_argument(FunctionCallInfo fcinfo, int argno)
{
	struct varlena *value = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	FmgrInfo   *flinfo = fcinfo->flinfo;
	DistanceArgumentCache *cache;
	struct varatt_external pointer;

	if (!VARATT_IS_EXTERNAL_ONDISK(value) || flinfo == NULL)
		return DatumGetEngramVector(PointerGetDatum(value));
	VARATT_EXTERNAL_GET_POINTER(pointer, value);
	cache = (DistanceArgumentCache *) flinfo->fn_extra;
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(DistanceArgumentCache));
		flinfo->fn_extra = cache;
	}
	if (cache->seen[argno] && memcmp(&cache->last[argno], &pointer, sizeof(pointer)) == 0)
	{
		if (cache->copy[argno] == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(flinfo->fn_mcxt);

			cache->copy[argno] = (EngramVector *) detoast_attr(value);
			MemoryContextSwitchTo(old);
		}
		return cache->copy[argno];
	}
	if (cache->copy[argno] != NULL)
	{
		pfree(cache->copy[argno]);
		cache->copy[argno] = NULL;
	}
	cache->last[argno] = pointer;
	cache->seen[argno] = true;
	return DatumGetEngramVector(PointerGetDatum(value));
}

/* Euclidean distance: sqrt(sum (a-b)^2). */
Datum
engram_evector_l2_distance(PG_FUNCTION_ARGS)
{
	EngramVector *a = distance_argument(fcinfo, 0);
	EngramVector *b = distance_argument(fcinfo, 1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8(sqrt((double) engram_l2_squared_distance(a->x, b->x, a->dim)));
}

/* Squared Euclidean distance: orders like l2_distance, without the root. */
Datum
engram_evector_l2_squared_distance(PG_FUNCTION_ARGS)
{
	EngramVector *a = distance_argument(fcinfo, 0);
	EngramVector *b = distance_argument(fcinfo, 1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8((double) engram_l2_squared_distance(a->x, b->x, a->dim));
}

/* Inner (dot) product: sum a*b. */
Datum
engram_evector_inner_product(PG_FUNCTION_ARGS)
{
	EngramVector *a = distance_argument(fcinfo, 0);
	EngramVector *b = distance_argument(fcinfo, 1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8((double) engram_inner_product(a->x, b->x, a->dim));
}

/* Negative inner product, the <#> operator: smaller is more similar. */
Datum
engram_evector_negative_inner_product(PG_FUNCTION_ARGS)
{
	EngramVector *a = distance_argument(fcinfo, 0);
	EngramVector *b = distance_argument(fcinfo, 1);

	engram_vector_check_same_dims(a, b);
	PG_RETURN_FLOAT8(-(double) engram_inner_product(a->x, b->x, a->dim));
}

/* Cosine distance 1 - cos(a, b), in [0, 2]; NaN when a or b is zero. */
Datum
engram_evector_cosine_distance(PG_FUNCTION_ARGS)
{
	EngramVector *a = distance_argument(fcinfo, 0);
	EngramVector *b = distance_argument(fcinfo, 1);

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
