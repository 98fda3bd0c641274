/*-------------------------------------------------------------------------
 *
 * vector_compare.c
 *	  Ordering and hashing of evector, for the btree and hash operator
 *	  classes (DISTINCT, GROUP BY, ORDER BY, UNIQUE, hash joins).
 *
 * The order is lexicographic over the elements; when one vector is a
 * prefix of the other, the shorter sorts first.  Elements are always
 * finite, so float comparison is a total order, except that -0 and +0 are
 * equal: the hash functions map -0 to +0 so that equal values hash alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"

#include "engram_vector.h"

PG_FUNCTION_INFO_V1(engram_evector_cmp);
PG_FUNCTION_INFO_V1(engram_evector_eq);
PG_FUNCTION_INFO_V1(engram_evector_ne);
PG_FUNCTION_INFO_V1(engram_evector_lt);
PG_FUNCTION_INFO_V1(engram_evector_le);
PG_FUNCTION_INFO_V1(engram_evector_gt);
PG_FUNCTION_INFO_V1(engram_evector_ge);
PG_FUNCTION_INFO_V1(engram_evector_hash);
PG_FUNCTION_INFO_V1(engram_evector_hash_extended);

/* -1, 0 or 1 as a sorts before, with or after b. */
static int
vector_compare(const EngramVector *a, const EngramVector *b)
{
	int			common = Min(a->dim, b->dim);

	for (int i = 0; i < common; i++)
	{
		if (a->x[i] < b->x[i])
			return -1;
		if (a->x[i] > b->x[i])
			return 1;
	}
	if (a->dim < b->dim)
		return -1;
	if (a->dim > b->dim)
		return 1;
	return 0;
}

/* Compare the two arguments, freeing detoasted copies. */
static int
compare_arguments(FunctionCallInfo fcinfo)
{
	EngramVector *a = PG_GETARG_ENGRAM_VECTOR_P(0);
	EngramVector *b = PG_GETARG_ENGRAM_VECTOR_P(1);
	int			result = vector_compare(a, b);

	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

Datum
engram_evector_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(compare_arguments(fcinfo));
}

Datum
engram_evector_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_arguments(fcinfo) == 0);
}

Datum
engram_evector_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_arguments(fcinfo) != 0);
}

Datum
engram_evector_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_arguments(fcinfo) < 0);
}

Datum
engram_evector_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_arguments(fcinfo) <= 0);
}

Datum
engram_evector_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_arguments(fcinfo) > 0);
}

Datum
engram_evector_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(compare_arguments(fcinfo) >= 0);
}

/*
 * The bytes that are hashed: dim followed by the elements with -0 turned
 * into +0.  Returns a palloc'd buffer and its length.
 */
static char *
hash_key(const EngramVector *vector, int *length)
{
	Size		size = sizeof(int32) + sizeof(float) * vector->dim;
	char	   *key = palloc(size);
	int32		dim = vector->dim;
	float	   *elements = (float *) (key + sizeof(int32));

	memcpy(key, &dim, sizeof(int32));
	for (int i = 0; i < vector->dim; i++)
		elements[i] = (vector->x[i] == 0.0f) ? 0.0f : vector->x[i];
	*length = (int) size;
	return key;
}

Datum
engram_evector_hash(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	int			length;
	char	   *key = hash_key(vector, &length);
	Datum		result = hash_any((unsigned char *) key, length);

	pfree(key);
	PG_FREE_IF_COPY(vector, 0);
	return result;
}

Datum
engram_evector_hash_extended(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	uint64		seed = PG_GETARG_INT64(1);
	int			length;
	char	   *key = hash_key(vector, &length);
	Datum		result = hash_any_extended((unsigned char *) key, length, seed);

	pfree(key);
	PG_FREE_IF_COPY(vector, 0);
	return result;
}
