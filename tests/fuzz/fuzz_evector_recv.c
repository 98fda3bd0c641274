/*-------------------------------------------------------------------------
 *
 * fuzz_evector_recv.c
 *	  libFuzzer harness for the evector binary receive function
 *	  (engram_evector_recv in src/vector/vector_io.c, compiled unchanged
 *	  with fuzz_shim.c).
 *
 * Each input is the message buffer handed to evector_recv.  Properties:
 *	- no crash, no sanitizer report;
 *	- a rejected input fails with a documented SQLSTATE, never XX000;
 *	- an accepted value satisfies the evector invariants, consumed exactly
 *	  4 + 4 * dim bytes, and evector_send writes those bytes back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "vector/engram_vector.h"
#include "fuzz_shim.h"

extern Datum engram_evector_recv(PG_FUNCTION_ARGS);
extern Datum engram_evector_send(PG_FUNCTION_ARGS);

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int allowed_sqlstates[] = {
	ERRCODE_INVALID_BINARY_REPRESENTATION,
	ERRCODE_DATA_EXCEPTION,
	ERRCODE_PROGRAM_LIMIT_EXCEEDED,
	ERRCODE_PROTOCOL_VIOLATION,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jmp_buf		on_error;
	StringInfoData buffer;

	if (size > 1024 * 1024)
		return 0;
	engram_fuzz_error_target = &on_error;
	if (setjmp(on_error) == 0)
	{
		LOCAL_FCINFO(fcinfo, 3);
		EngramVector *vector;
		bytea	   *sent;

		/* The server's message buffers are palloc'd and NUL-terminated. */
		buffer.data = palloc(size + 1);
		memcpy(buffer.data, data, size);
		buffer.data[size] = '\0';
		buffer.len = size;
		buffer.maxlen = size + 1;
		buffer.cursor = 0;

		InitFunctionCallInfoData(*fcinfo, NULL, 3, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = PointerGetDatum(&buffer);
		fcinfo->args[0].isnull = false;
		fcinfo->args[1].value = ObjectIdGetDatum(InvalidOid);
		fcinfo->args[1].isnull = false;
		fcinfo->args[2].value = Int32GetDatum(-1);
		fcinfo->args[2].isnull = false;
		vector = (EngramVector *) DatumGetPointer(engram_evector_recv(fcinfo));

		if (vector->dim < 1 || vector->dim > ENGRAM_VECTOR_MAX_DIM || vector->unused != 0 ||
			buffer.cursor != 4 + 4 * vector->dim)
		{
			fprintf(stderr, "evector_recv accepted a bad value (dim %d)\n", vector->dim);
			abort();
		}
		for (int i = 0; i < vector->dim; i++)
			if (!isfinite(vector->x[i]))
				abort();

		InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = PointerGetDatum(vector);
		fcinfo->args[0].isnull = false;
		sent = DatumGetByteaP(engram_evector_send(fcinfo));
		if (VARSIZE(sent) - VARHDRSZ != (Size) buffer.cursor ||
			memcmp(VARDATA(sent), data, buffer.cursor) != 0)
		{
			fprintf(stderr, "evector_send does not reproduce the received bytes\n");
			abort();
		}
	}
	else
		engram_fuzz_require_sqlstate("evector_recv", allowed_sqlstates,
									 lengthof(allowed_sqlstates));
	engram_fuzz_error_target = NULL;
	engram_fuzz_reset_memory();
	return 0;
}
