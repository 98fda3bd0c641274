/*-------------------------------------------------------------------------
 *
 * fuzz_evector_text.c
 *	  libFuzzer harness for the evector text parser (engram_evector_in in
 *	  src/vector/vector_io.c, compiled unchanged with fuzz_shim.c).
 *
 * Each input is taken as a C string (up to its first NUL, as the server
 * hands cstrings to input functions).  Properties checked:
 *	- no crash, no sanitizer report, no leak of the error path;
 *	- a rejected input fails with one of the SQLSTATEs the parser
 *	  documents, never XX000 (an internal error);
 *	- an accepted value satisfies the evector invariants (1..16000
 *	  dimensions, finite elements, reserved field 0), and its text output
 *	  parses back to the same bits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"

#include "vector/engram_vector.h"
#include "fuzz_shim.h"

extern Datum engram_evector_in(PG_FUNCTION_ARGS);
extern Datum engram_evector_out(PG_FUNCTION_ARGS);

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int allowed_sqlstates[] = {
	ERRCODE_INVALID_TEXT_REPRESENTATION,
	ERRCODE_DATA_EXCEPTION,
	ERRCODE_PROGRAM_LIMIT_EXCEEDED,
	ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
};

static EngramVector *
parse(const char *text, int32 typmod)
{
	LOCAL_FCINFO(fcinfo, 3);

	InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetDatum(text);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = Int32GetDatum(typmod);
	fcinfo->args[2].isnull = false;
	return (EngramVector *) DatumGetPointer(engram_evector_in(fcinfo));
}

static char *
print(EngramVector *vector)
{
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(vector);
	fcinfo->args[0].isnull = false;
	return DatumGetCString(engram_evector_out(fcinfo));
}

static void
check_invariants(const EngramVector *vector)
{
	if (vector->dim < 1 || vector->dim > ENGRAM_VECTOR_MAX_DIM || vector->unused != 0 ||
		VARSIZE(vector) != ENGRAM_VECTOR_SIZE(vector->dim))
	{
		fprintf(stderr, "evector invariant broken: dim %d\n", vector->dim);
		abort();
	}
	for (int i = 0; i < vector->dim; i++)
		if (!isfinite(vector->x[i]))
		{
			fprintf(stderr, "evector element %d not finite\n", i);
			abort();
		}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jmp_buf		on_error;
	char	   *text = malloc(size + 1);
	EngramVector *vector;
	EngramVector *again;
	char	   *printed;

	memcpy(text, data, size);
	text[size] = '\0';

	engram_fuzz_error_target = &on_error;
	if (setjmp(on_error) == 0)
	{
		vector = parse(text, -1);
		check_invariants(vector);
		printed = print(vector);
		again = parse(printed, vector->dim);
		if (again->dim != vector->dim ||
			memcmp(again->x, vector->x, sizeof(float) * vector->dim) != 0)
		{
			fprintf(stderr, "round trip changed the value: %s\n", printed);
			abort();
		}
	}
	else
		engram_fuzz_require_sqlstate("evector_in", allowed_sqlstates,
									 lengthof(allowed_sqlstates));
	engram_fuzz_error_target = NULL;
	engram_fuzz_reset_memory();
	free(text);
	return 0;
}
