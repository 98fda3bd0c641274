/*-------------------------------------------------------------------------
 *
 * vector_io.c
 *	  Text and binary I/O of the evector type, its typmod (the dimension
 *	  count), the length-coercion function, and the validity helpers every
 *	  other evector file uses.
 *
 * Text form: '[' element (',' element)* ']', whitespace allowed around
 * brackets, commas and elements; elements are float4 literals as strtof()
 * reads them.  Output always uses the shortest text that reads back to the
 * same float4 (independent of extra_float_digits), like pgvector.
 *
 * Binary form (send/recv): int16 dim, int16 unused (0), dim float4 in
 * network byte order; the same as pgvector's, so client libraries that
 * speak pgvector's binary format can read evector too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "engram_vector.h"

PG_FUNCTION_INFO_V1(engram_evector_in);
PG_FUNCTION_INFO_V1(engram_evector_out);
PG_FUNCTION_INFO_V1(engram_evector_typmod_in);
PG_FUNCTION_INFO_V1(engram_evector_typmod_out);
PG_FUNCTION_INFO_V1(engram_evector_recv);
PG_FUNCTION_INFO_V1(engram_evector_send);
PG_FUNCTION_INFO_V1(engram_evector_coerce);

EngramVector *
engram_vector_new(int dim)
{
	Size		size = ENGRAM_VECTOR_SIZE(dim);
	EngramVector *result = (EngramVector *) palloc0(size);

	SET_VARSIZE(result, size);
	result->dim = dim;
	return result;
}

void
engram_vector_check_same_dims(const EngramVector *a, const EngramVector *b)
{
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("different evector dimensions %d and %d", a->dim, b->dim),
				 errhint("Both operands must have the same number of dimensions.")));
}

/* ERROR unless 1 <= dim <= ENGRAM_VECTOR_MAX_DIM. */
static void
check_dim_range(int dim)
{
	if (dim < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("evector must have at least 1 dimension")));
	if (dim > ENGRAM_VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("evector cannot have more than %d dimensions",
						ENGRAM_VECTOR_MAX_DIM)));
}

/*
 * Elements checked per block: a fixed count, so the compiler turns the
 * block's loop into vector instructions.
 */
#define FINITE_CHECK_BLOCK	16
#define FLOAT_EXPONENT_BITS	0x7f800000
#define FLOAT_EXPONENT_LOW	0x00800000

void
engram_vector_check_elements(const float *x, int dim)
{
	uint32		exponent_overflow[FINITE_CHECK_BLOCK] = {0};
	uint32		any_overflow = 0;
	int			i = 0;

	check_dim_range(dim);

	/*
	 * First pass without a branch per element (an embedding is checked on
	 * every store, every element of a batch's): an infinity or a NaN has
	 * every exponent bit set, and only then does adding the exponent's
	 * lowest bit carry into the sign bit.  Only when it finds one does the
	 * loop below look for the first, for the message.
	 */
	for (; i + FINITE_CHECK_BLOCK <= dim; i += FINITE_CHECK_BLOCK)
	{
		uint32		bits[FINITE_CHECK_BLOCK];

		memcpy(bits, x + i, sizeof(bits));
		for (int j = 0; j < FINITE_CHECK_BLOCK; j++)
			exponent_overflow[j] |= (bits[j] & FLOAT_EXPONENT_BITS) + FLOAT_EXPONENT_LOW;
	}
	for (int j = 0; j < FINITE_CHECK_BLOCK; j++)
		any_overflow |= exponent_overflow[j];
	for (; i < dim; i++)
		any_overflow |= isfinite(x[i]) ? 0 : 0x80000000;
	if (likely((any_overflow & 0x80000000) == 0))
		return;

	for (i = 0; i < dim; i++)
	{
		if (unlikely(!isfinite(x[i])))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("evector elements must be finite"),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(x[i]) ? "NaN" :
							   (x[i] > 0 ? "Infinity" : "-Infinity"))));
	}
}

void
engram_vector_check_typmod(int dim, int32 typmod)
{
	if (typmod >= 0 && dim != typmod)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", typmod, dim),
				 errhint("The column or cast is declared as evector(%d).", typmod)));
}

static inline bool
is_vector_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static inline const char *
skip_spaces(const char *p)
{
	while (is_vector_space(*p))
		p++;
	return p;
}

/* Raise the syntax error for evector text "input", explained by "detail". */
static void
invalid_vector_text(const char *input, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type evector: \"%s\"", input),
			 errdetail_internal("%s", detail),
			 errhint("An evector is written like \"[1,2.5,-3]\".")));
}

/*
 * evector_in(cstring, oid, int4): parse the text form.  The result has
 * been checked against the typmod when one is given.
 */
Datum
engram_evector_in(PG_FUNCTION_ARGS)
{
	char	   *input = PG_GETARG_CSTRING(0);
	int32		typmod = PG_GETARG_INT32(2);
	const char *p = skip_spaces(input);
	int			capacity = 64;
	int			dim = 0;
	float	   *elements;
	EngramVector *result;

	if (*p != '[')
		invalid_vector_text(input, "An evector must start with \"[\".");
	p = skip_spaces(p + 1);
	if (*p == ']')
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("evector must have at least 1 dimension"),
				 errdetail("The input \"%s\" has no elements.", input)));

	elements = palloc(sizeof(float) * capacity);
	for (;;)
	{
		char	   *end;
		float		value;

		p = skip_spaces(p);
		if (*p == ']')
			invalid_vector_text(input,
								psprintf("Trailing comma after element %d.", dim));
		if (*p == ',' || *p == '\0')
			invalid_vector_text(input,
								psprintf("Element %d is empty.", dim + 1));
		if (dim == ENGRAM_VECTOR_MAX_DIM)
			check_dim_range(dim + 1);

		errno = 0;
		value = strtof(p, &end);
		if (end == p)
			invalid_vector_text(input,
								psprintf("Element %d is not a number.", dim + 1));
		if (errno == ERANGE && isinf(value))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("evector element %d is out of range for type real", dim + 1),
					 errdetail("The input was \"%s\".", input)));

		if (dim == capacity)
		{
			capacity *= 2;
			elements = repalloc(elements, sizeof(float) * capacity);
		}
		elements[dim++] = value;

		p = skip_spaces(end);
		if (*p == ',')
		{
			p++;
			continue;
		}
		if (*p == ']')
			break;
		if (*p == '\0')
			invalid_vector_text(input, "An evector must end with \"]\".");
		invalid_vector_text(input,
							psprintf("Unexpected character \"%.*s\" after element %d.",
									 pg_mblen(p), p, dim));
	}

	p = skip_spaces(p + 1);
	if (*p != '\0')
		invalid_vector_text(input, "Unexpected characters after \"]\".");

	engram_vector_check_elements(elements, dim);
	engram_vector_check_typmod(dim, typmod);

	result = engram_vector_new(dim);
	memcpy(result->x, elements, sizeof(float) * dim);
	pfree(elements);
	PG_RETURN_ENGRAM_VECTOR_P(result);
}

/* evector_out(evector): "[x1,x2,...]" with shortest round-trip floats. */
Datum
engram_evector_out(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	char	   *buffer;
	char	   *p;

	/* each element: at most FLOAT_SHORTEST_DECIMAL_LEN - 1 chars + comma */
	buffer = palloc(2 + (Size) vector->dim * FLOAT_SHORTEST_DECIMAL_LEN + 1);
	p = buffer;
	*p++ = '[';
	for (int i = 0; i < vector->dim; i++)
	{
		if (i > 0)
			*p++ = ',';
		p += float_to_shortest_decimal_bufn(vector->x[i], p);
	}
	*p++ = ']';
	*p = '\0';
	PG_FREE_IF_COPY(vector, 0);
	PG_RETURN_CSTRING(buffer);
}

/* evector_typmod_in(cstring[]): the one modifier, a dimension count. */
Datum
engram_evector_typmod_in(PG_FUNCTION_ARGS)
{
	ArrayType  *modifiers = PG_GETARG_ARRAYTYPE_P(0);
	int32	   *values;
	int			count;

	values = ArrayGetIntegerTypmods(modifiers, &count);
	if (count != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid type modifier for evector"),
				 errhint("Declare evector(n) with one dimension count n.")));
	if (values[0] < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type evector must be at least 1")));
	if (values[0] > ENGRAM_VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimensions for type evector cannot exceed %d",
						ENGRAM_VECTOR_MAX_DIM)));
	PG_RETURN_INT32(values[0]);
}

/* evector_typmod_out(int4): "(n)", or "" for an unconstrained evector. */
Datum
engram_evector_typmod_out(PG_FUNCTION_ARGS)
{
	int32		typmod = PG_GETARG_INT32(0);

	if (typmod < 0)
		PG_RETURN_CSTRING(pstrdup(""));
	PG_RETURN_CSTRING(psprintf("(%d)", typmod));
}

/*
 * evector_recv(internal, oid, int4): read the binary form, validating the
 * dimension count, the reserved field and every element like text input.
 */
Datum
engram_evector_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buffer = (StringInfo) PG_GETARG_POINTER(0);
	int32		typmod = PG_GETARG_INT32(2);
	int			dim;
	int			unused;
	EngramVector *result;

	if (buffer->len - buffer->cursor < 2 * (int) sizeof(int16))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary evector: %d bytes, shorter than the 4-byte header",
						buffer->len - buffer->cursor)));
	dim = (int16) pq_getmsgint(buffer, sizeof(int16));
	unused = (int16) pq_getmsgint(buffer, sizeof(int16));
	check_dim_range(dim);
	if (unused != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary evector: reserved field is %d, not 0", unused)));
	if ((Size) (buffer->len - buffer->cursor) < sizeof(float) * (Size) dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary evector: %d dimensions announced, %d bytes left",
						dim, buffer->len - buffer->cursor)));

	result = engram_vector_new(dim);
	for (int i = 0; i < dim; i++)
		result->x[i] = pq_getmsgfloat4(buffer);
	engram_vector_check_elements(result->x, dim);
	engram_vector_check_typmod(dim, typmod);
	PG_RETURN_ENGRAM_VECTOR_P(result);
}

/* evector_send(evector): the binary form read by evector_recv. */
Datum
engram_evector_send(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	StringInfoData buffer;

	pq_begintypsend(&buffer);
	pq_sendint16(&buffer, vector->dim);
	pq_sendint16(&buffer, 0);
	for (int i = 0; i < vector->dim; i++)
		pq_sendfloat4(&buffer, vector->x[i]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buffer));
}

/*
 * evector(evector, int4, bool): the length-coercion cast applied when a
 * value is stored in or cast to evector(n).  Never truncates or pads: a
 * dimension mismatch is an error, whether the cast is explicit or not.
 */
Datum
engram_evector_coerce(PG_FUNCTION_ARGS)
{
	EngramVector *vector = PG_GETARG_ENGRAM_VECTOR_P(0);
	int32		typmod = PG_GETARG_INT32(1);

	engram_vector_check_typmod(vector->dim, typmod);
	PG_RETURN_ENGRAM_VECTOR_P(vector);
}
