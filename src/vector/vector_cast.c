/*-------------------------------------------------------------------------
 *
 * vector_cast.c
 *	  Casts between evector and SQL arrays.
 *
 * real[], double precision[], numeric[] and integer[] convert to evector
 * (one C function for the four SQL signatures, switching on the element
 * type); evector converts to real[].  The arrays must be one-dimensional,
 * non-empty and without NULLs; every element must be finite and fit in
 * float4.  float8 and numeric values are rounded to the nearest float4;
 * values too small for float4 become 0 (or a subnormal), values too large
 * are an error.  The declared typmod of the target is checked here, as
 * PostgreSQL passes it to a cast function that takes one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "engram_vector.h"

PG_FUNCTION_INFO_V1(engram_array_to_evector);
PG_FUNCTION_INFO_V1(engram_evector_to_float4_array);

/* Convert one non-NULL array element of type "element_type" to float4. */
static float
array_element_to_float(Datum element, Oid element_type, int index)
{
	switch (element_type)
	{
		case FLOAT4OID:
			return DatumGetFloat4(element);
		case INT4OID:
			return (float) DatumGetInt32(element);
		case NUMERICOID:
			/* NaN and ±Infinity come back as such and are refused later */
			return DatumGetFloat4(DirectFunctionCall1(numeric_float4, element));
		case FLOAT8OID:
			{
				double		value = DatumGetFloat8(element);
				float		narrowed = (float) value;

				if (isinf(narrowed) && !isinf(value))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("evector element %d is out of range for type real",
									index + 1),
							 errdetail("The value is %g.", value)));
				return narrowed;
			}
		default:
			elog(ERROR, "unsupported array element type %u for evector", element_type);
	}
	return 0.0f;				/* keep compiler quiet */
}

/*
 * array_to_evector(<array>, int4, bool): the cast from real[], double
 * precision[], numeric[] and integer[].  Returns a new evector.
 */
Datum
engram_array_to_evector(PG_FUNCTION_ARGS)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(0);
	int32		typmod = PG_GETARG_INT32(1);
	Oid			element_type = ARR_ELEMTYPE(array);
	int16		element_length;
	bool		element_byval;
	char		element_align;
	Datum	   *elements;
	int			count;
	EngramVector *result;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array must be one-dimensional to be cast to evector"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(array))));
	if (array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array must not contain nulls to be cast to evector")));

	get_typlenbyvalalign(element_type, &element_length, &element_byval, &element_align);
	deconstruct_array(array, element_type, element_length, element_byval,
					  element_align, &elements, NULL, &count);

	/* dimension limits first: an empty or huge array fails before work */
	if (count < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("evector must have at least 1 dimension"),
				 errdetail("The array is empty.")));
	if (count > ENGRAM_VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("evector cannot have more than %d dimensions",
						ENGRAM_VECTOR_MAX_DIM),
				 errdetail("The array has %d elements.", count)));
	engram_vector_check_typmod(count, typmod);

	result = engram_vector_new(count);
	for (int i = 0; i < count; i++)
		result->x[i] = array_element_to_float(elements[i], element_type, i);
	engram_vector_check_elements(result->x, count);

	pfree(elements);
	PG_RETURN_ENGRAM_VECTOR_P(result);
}

/* evector_to_float4(evector, int4, bool): the cast to real[]. */
Datum
engram_evector_to_float4_array(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	Datum	   *elements = palloc(sizeof(Datum) * vector->dim);
	ArrayType  *result;

	for (int i = 0; i < vector->dim; i++)
		elements[i] = Float4GetDatum(vector->x[i]);
	result = construct_array(elements, vector->dim, FLOAT4OID,
							 sizeof(float4), true, TYPALIGN_INT);
	pfree(elements);
	PG_RETURN_ARRAYTYPE_P(result);
}
