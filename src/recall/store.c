/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Writing memories: engram_store, engram_store_batch, engram_associate,
 *	  engram_forget.
 *
 * Each function checks every argument before it writes anything, then
 * issues one SPI statement as the calling user (INSERT, UPDATE or DELETE
 * on the space or association table), so privileges, row-level security,
 * constraints and triggers apply as to a plain statement, and a failing
 * call leaves nothing behind.  Times the caller leaves out default to
 * recall's clock (engram_now(): engram.pinned_now when set), so tests can
 * store memories "at" a pinned time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "metrics/engram_metrics.h"
#include "portability/instr_time.h"
#include "recall_internal.h"
#include "vector/engram_vector.h"

PG_FUNCTION_INFO_V1(engram_store);
PG_FUNCTION_INFO_V1(engram_store_batch);
PG_FUNCTION_INFO_V1(engram_store_batch_jsonb);
PG_FUNCTION_INFO_V1(engram_associate);
PG_FUNCTION_INFO_V1(engram_forget);

#define DEFAULT_CONFIDENCE	0.9
#define DEFAULT_IMPORTANCE	0.5

static void
require_argument(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
}

static void
check_kind(const char *kind)
{
	if (strcmp(kind, "episodic") != 0 && strcmp(kind, "semantic") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown memory kind \"%s\"", kind),
				 errhint("Use episodic or semantic.")));
}

static void
check_decay_function(const char *name)
{
	EngramDecayKind kind;

	if (!engram_decay_kind_parse(name, false, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown decay function \"%s\"", name),
				 errhint("Use exponential, power_law, two_component or hybrid, or NULL for the space's default.")));
}

/*
 * engram_store(space text, content text, embedding evector,
 *     confidence real DEFAULT 0.9, kind text DEFAULT 'episodic',
 *     occurred_at timestamptz DEFAULT NULL, location text DEFAULT NULL,
 *     participants text[] DEFAULT NULL, tags text[] DEFAULT NULL,
 *     importance real DEFAULT 0.5, decay_function text DEFAULT NULL,
 *     metadata jsonb DEFAULT NULL) RETURNS bigint
 *
 * Insert one memory and return its id.  The embedding may be NULL (a
 * memory found only by text, time, place or tags); overloads take it as
 * evector, text, real[], double precision[], numeric[] or integer[].
 */
Datum
engram_store(PG_FUNCTION_ARGS)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	EngramSpace space;
	Oid			argtypes[12];
	Datum		values[12];
	char		nulls[12];
	StringInfoData sql;
	float4		confidence;
	float4		importance;
	bool		isnull;
	int64		id;
	EngramSlowDetails details;

	engram_metrics_begin(ENGRAM_OP_STORE);
	require_argument(fcinfo, 0, "space");
	require_argument(fcinfo, 1, "content");
	require_argument(fcinfo, 3, "confidence");
	require_argument(fcinfo, 4, "kind");
	require_argument(fcinfo, 9, "importance");
	confidence = PG_GETARG_FLOAT4(3);
	engram_check_unit_interval("confidence", confidence);
	importance = PG_GETARG_FLOAT4(9);
	engram_check_unit_interval("importance", importance);
	check_kind(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	if (!PG_ARGISNULL(10))
		check_decay_function(text_to_cstring(PG_GETARG_TEXT_PP(10)));

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);

	memset(nulls, ' ', sizeof(nulls));
	argtypes[0] = TEXTOID;
	values[0] = PG_GETARG_DATUM(1);
	argtypes[1] = space.embedding_type;
	if (PG_ARGISNULL(2))
		nulls[1] = 'n';
	else
		values[1] = engram_space_embedding_argument(&space, PG_GETARG_DATUM(2),
													get_fn_expr_argtype(fcinfo->flinfo, 2));
	argtypes[2] = FLOAT4OID;
	values[2] = Float4GetDatum(confidence);
	argtypes[3] = TEXTOID;
	values[3] = PG_GETARG_DATUM(4);
	argtypes[4] = TIMESTAMPTZOID;
	values[4] = PG_ARGISNULL(5) ? TimestampTzGetDatum(engram_now()) : PG_GETARG_DATUM(5);
	argtypes[5] = TEXTOID;
	argtypes[6] = TEXTARRAYOID;
	argtypes[7] = TEXTARRAYOID;
	for (int i = 5; i <= 7; i++)
	{
		if (PG_ARGISNULL(i + 1))
			nulls[i] = 'n';
		else
			values[i] = PG_GETARG_DATUM(i + 1);
	}
	argtypes[8] = FLOAT4OID;
	values[8] = Float4GetDatum(importance);
	argtypes[9] = TEXTOID;
	if (PG_ARGISNULL(10))
		nulls[9] = 'n';
	else
		values[9] = PG_GETARG_DATUM(10);
	argtypes[10] = JSONBOID;
	if (PG_ARGISNULL(11))
		values[10] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	else
		values[10] = PG_GETARG_DATUM(11);
	argtypes[11] = TIMESTAMPTZOID;
	values[11] = TimestampTzGetDatum(engram_now());

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s (content, embedding, confidence, kind, occurred_at, location, "
					 "participants, tags, importance, decay_function, metadata, created_at) "
					 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
					 space.qualified_name);
	engram_spi_execute(sql.data, 12, argtypes, values, nulls, false, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	engram_slow_details_init(&details);
	details.space = space.relid;
	details.rows = 1;
	engram_metrics_end(ENGRAM_OP_STORE, &details);
	PG_RETURN_INT64(id);
}

/* ---------------------------------------------------------------------
 * Batch store
 * ---------------------------------------------------------------------
 */

/* A 1-D array argument (or NULL) that must have "count" elements. */
static void
check_parallel_array(FunctionCallInfo fcinfo, int argno, const char *what, int count)
{
	ArrayType  *array;
	int			n;

	if (PG_ARGISNULL(argno))
		return;
	array = PG_GETARG_ARRAYTYPE_P(argno);
	n = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	if (n > 0 && ARR_NDIM(array) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	if (n != count)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s has %d elements, contents has %d", what, n, count)));
}

/*
 * The embeddings argument as an evector[] datum of "count" elements, each
 * checked against the space.  Accepts evector[] (NULL elements allowed)
 * text[] of vector literals, and two-dimensional real[][] / double
 * precision[][] / numeric[][] with one row per memory.
 */
static Datum
embeddings_argument(FunctionCallInfo fcinfo, int argno, const EngramSpace *space, int count)
{
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(argno);
	Oid			element_type = ARR_ELEMTYPE(array);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elements;
	bool	   *nulls;
	int			n;
	Datum	   *vectors;
	int			dims[1];
	int			lbs[1] = {1};

	get_typlenbyvalalign(element_type, &typlen, &typbyval, &typalign);
	deconstruct_array(array, element_type, typlen, typbyval, typalign, &elements, &nulls, &n);

	if (element_type == space->embedding_type)
	{
		if (ARR_NDIM(array) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("embeddings must be a one-dimensional array of evector")));
		if (n != count)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("embeddings has %d elements, contents has %d", n, count)));
		/* Checked in place: the INSERT unnests the caller's array itself, not a copy. */
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				(void) engram_space_check_embedding(space, elements[i]);
		return PointerGetDatum(array);
	}

	if (element_type == TEXTOID)
	{
		if (ARR_NDIM(array) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("embeddings must be a one-dimensional array of vector literals")));
		if (n != count)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("embeddings has %d elements, contents has %d", n, count)));
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				elements[i] = engram_space_embedding_argument(space, elements[i], TEXTOID);
		get_typlenbyvalalign(space->embedding_type, &typlen, &typbyval, &typalign);
		return PointerGetDatum(construct_md_array(elements, nulls, 1, &n, lbs,
												  space->embedding_type, typlen, typbyval,
												  typalign));
	}
	if (element_type != FLOAT4OID && element_type != FLOAT8OID && element_type != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("embeddings must be evector[] or a two-dimensional real, double precision or numeric array"),
				 errdetail("The argument is %s.", format_type_be(get_array_type(element_type)))));
	if (count == 0 && n == 0)
		return PointerGetDatum(construct_empty_array(space->embedding_type));
	if (ARR_NDIM(array) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("a numeric embeddings array must have two dimensions: one row of %d values per memory",
						space->dims)));
	if (ARR_DIMS(array)[0] != count)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("embeddings has %d rows, contents has %d", ARR_DIMS(array)[0], count)));
	if (ARR_DIMS(array)[1] != space->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding has %d dimensions, the memory space expects %d",
						ARR_DIMS(array)[1], space->dims)));

	vectors = palloc(sizeof(Datum) * count);
	for (int row = 0; row < count; row++)
	{
		EngramVector *vector = engram_vector_new(space->dims);

		for (int d = 0; d < space->dims; d++)
		{
			int			i = row * space->dims + d;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("embedding elements must not be null")));
			if (element_type == FLOAT4OID)
				vector->x[d] = DatumGetFloat4(elements[i]);
			else if (element_type == FLOAT8OID)
				vector->x[d] = (float) DatumGetFloat8(elements[i]);
			else
				vector->x[d] = (float) DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
																		  elements[i]));
		}
		vectors[row] = engram_space_check_embedding(space, PointerGetDatum(vector));
	}
	get_typlenbyvalalign(space->embedding_type, &typlen, &typbyval, &typalign);
	dims[0] = count;
	return PointerGetDatum(construct_md_array(vectors, NULL, 1, dims, lbs, space->embedding_type,
											  typlen, typbyval, typalign));
}

/*
 * Return the ids of the rows an INSERT ... RETURNING id[, embedding] just
 * stored through rsinfo's tuplestore, in order.  When "check_space" is not
 * NULL, column 2 is the stored embedding and is checked against that space
 * (the same checks as the single-row form; an error undoes the whole
 * batch); pass NULL when the embeddings were checked before the INSERT.
 * Reads SPI_tuptable: call before SPI_finish.
 */
static void
emit_stored_ids(const EngramSpace *check_space, ReturnSetInfo *rsinfo)
{
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1, &isnull);
		bool		out_null = false;

		if (check_space != NULL)
		{
			Datum		embedding = SPI_getbinval(SPI_tuptable->vals[row],
												  SPI_tuptable->tupdesc, 2, &isnull);

			if (!isnull)
				(void) engram_space_check_embedding(check_space, embedding);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &out_null);
	}
}

/*
 * engram_store_batch(space text, contents text[], embeddings anyarray,
 *     confidences real[] DEFAULT NULL, kinds text[] DEFAULT NULL,
 *     occurred_at timestamptz[] DEFAULT NULL, metadata jsonb[] DEFAULT NULL)
 *     RETURNS SETOF bigint
 *
 * Insert many memories with one INSERT ... SELECT unnest(...) and return
 * their ids in input order.  Optional arrays are NULL or as long
 * as contents; a NULL element takes the column default (confidence 0.9,
 * kind episodic, occurred_at now, metadata {}).  Every element is checked
 * before anything is inserted.
 */
static int64
store_batch_rows(FunctionCallInfo fcinfo, Oid *space_relid)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramSpace space;
	ArrayType  *contents;
	Datum	   *elements;
	bool	   *element_nulls;
	int			count;
	Oid			argtypes[7];
	Datum		values[7];
	char		nulls[7];
	StringInfoData sql;

	require_argument(fcinfo, 0, "space");
	require_argument(fcinfo, 1, "contents");
	require_argument(fcinfo, 2, "embeddings");

	contents = PG_GETARG_ARRAYTYPE_P(1);
	deconstruct_array(contents, TEXTOID, -1, false, TYPALIGN_INT, &elements, &element_nulls, &count);
	if (count > 0 && ARR_NDIM(contents) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("contents must be a one-dimensional array")));
	if (count > ENGRAM_RECALL_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a batch may hold at most %d memories", ENGRAM_RECALL_MAX_BATCH),
				 errhint("Split the batch, or load with COPY into the space table.")));
	for (int i = 0; i < count; i++)
		if (element_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("contents must not contain nulls")));

	check_parallel_array(fcinfo, 3, "confidences", count);
	check_parallel_array(fcinfo, 4, "kinds", count);
	check_parallel_array(fcinfo, 5, "occurred_at", count);
	check_parallel_array(fcinfo, 6, "metadata", count);

	if (!PG_ARGISNULL(3))
	{
		Datum	   *confidences;
		bool	   *confidence_nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), FLOAT4OID, sizeof(float4), true,
						  TYPALIGN_INT, &confidences, &confidence_nulls, &n);
		for (int i = 0; i < n; i++)
			if (!confidence_nulls[i])
				engram_check_unit_interval("confidence", DatumGetFloat4(confidences[i]));
	}
	if (!PG_ARGISNULL(4))
	{
		Datum	   *kinds;
		bool	   *kind_nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT,
						  &kinds, &kind_nulls, &n);
		for (int i = 0; i < n; i++)
			if (!kind_nulls[i])
				check_kind(TextDatumGetCString(kinds[i]));
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);

	memset(nulls, ' ', sizeof(nulls));
	argtypes[0] = TEXTARRAYOID;
	values[0] = PointerGetDatum(contents);
	argtypes[1] = get_array_type(space.embedding_type);
	values[1] = embeddings_argument(fcinfo, 2, &space, count);
	argtypes[2] = FLOAT4ARRAYOID;
	argtypes[3] = TEXTARRAYOID;
	argtypes[4] = get_array_type(TIMESTAMPTZOID);
	argtypes[5] = get_array_type(JSONBOID);
	for (int i = 2; i <= 5; i++)
	{
		if (PG_ARGISNULL(i + 1))
			nulls[i] = 'n';
		else
			values[i] = PG_GETARG_DATUM(i + 1);
	}
	argtypes[6] = TIMESTAMPTZOID;
	values[6] = TimestampTzGetDatum(engram_now());

	/*
	 * The arrays are unnested in the select list of a subquery (a ProjectSet
	 * node, which walks them in step, padding a NULL array with NULLs) and
	 * not in FROM: a function scan would first copy every row, embeddings
	 * included, into a tuplestore.  Rows reach the INSERT, and take their
	 * identity values, in array order, so RETURNING gives the ids in input
	 * order.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s (content, embedding, confidence, kind, occurred_at, metadata, created_at) "
					 "SELECT u.content, u.embedding, COALESCE(u.confidence, %g), "
					 "COALESCE(u.kind, 'episodic'), COALESCE(u.occurred_at, $7), "
					 "COALESCE(u.metadata, '{}'), $7 "
					 "FROM (SELECT pg_catalog.unnest($1) AS content, pg_catalog.unnest($2) AS embedding, "
					 "pg_catalog.unnest($3) AS confidence, pg_catalog.unnest($4) AS kind, "
					 "pg_catalog.unnest($5) AS occurred_at, pg_catalog.unnest($6) AS metadata) u "
					 "RETURNING id",
					 space.qualified_name, DEFAULT_CONFIDENCE);
	engram_spi_execute(sql.data, 7, argtypes, values, nulls, false, SPI_OK_INSERT_RETURNING);

	/* embeddings_argument() checked every embedding before the INSERT. */
	emit_stored_ids(NULL, rsinfo);
	SPI_finish();
	*space_relid = space.relid;
	return count;
}

static double
seconds_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/*
 * engram_store_batch(space, memories jsonb) RETURNS SETOF bigint
 *
 * The other batch form: a JSON array of objects whose keys are canonical
 * columns (content, embedding as a JSON array of numbers, kind,
 * confidence, occurred_at, location, participants, tags, importance,
 * decay_function, metadata); missing keys take the column defaults, "id"
 * and "created_at" are ignored, unknown keys too.  The objects are read
 * with jsonb_populate_recordset() into the space's row type, so each value
 * goes through its column type's input (and the embedding's dimension
 * check).  A first statement reads the scalar fields only and checks every
 * row as engram_store would; the second inserts them all.
 */
static int64
store_batch_jsonb_rows(FunctionCallInfo fcinfo, Oid *space_relid)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EngramSpace space;
	Oid			argtypes[2] = {JSONBOID, TIMESTAMPTZOID};
	Datum		values[2];
	StringInfoData sql;
	int64		count;

	require_argument(fcinfo, 0, "space");
	require_argument(fcinfo, 1, "memories");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	values[0] = PG_GETARG_DATUM(1);
	values[1] = TimestampTzGetDatum(engram_now());

	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "SELECT r.content IS NULL, r.confidence, r.importance, r.kind, r.decay_function "
						   "FROM pg_catalog.jsonb_to_recordset($1) AS r(content text, confidence real, "
						   "importance real, kind text, decay_function text)");
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
	count = (int64) SPI_processed;
	if (count > ENGRAM_RECALL_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a batch may hold at most %d memories", ENGRAM_RECALL_MAX_BATCH),
				 errhint("Split the batch, or load with COPY into the space table.")));
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		value;

		if (DatumGetBool(SPI_getbinval(tuple, desc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("memory %d of the batch has no content", (int) row + 1)));
		value = SPI_getbinval(tuple, desc, 2, &isnull);
		if (!isnull)
			engram_check_unit_interval("confidence", DatumGetFloat4(value));
		value = SPI_getbinval(tuple, desc, 3, &isnull);
		if (!isnull)
			engram_check_unit_interval("importance", DatumGetFloat4(value));
		value = SPI_getbinval(tuple, desc, 4, &isnull);
		if (!isnull)
			check_kind(TextDatumGetCString(value));
		value = SPI_getbinval(tuple, desc, 5, &isnull);
		if (!isnull)
			check_decay_function(TextDatumGetCString(value));
	}
	SPI_freetuptable(SPI_tuptable);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s (content, embedding, kind, confidence, occurred_at, location, "
					 "participants, tags, importance, decay_function, metadata, created_at) "
					 "SELECT r.content, r.embedding, COALESCE(r.kind, 'episodic'), "
					 "COALESCE(r.confidence, %g), COALESCE(r.occurred_at, $2), r.location, "
					 "r.participants, r.tags, COALESCE(r.importance, %g), r.decay_function, "
					 "COALESCE(r.metadata, '{}'), $2 "
					 "FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1) WITH ORDINALITY "
					 "AS r ORDER BY r.ordinality RETURNING id, embedding",
					 space.qualified_name, DEFAULT_CONFIDENCE, DEFAULT_IMPORTANCE,
					 space.qualified_name);
	engram_spi_execute(sql.data, 2, argtypes, values, NULL, false, SPI_OK_INSERT_RETURNING);
	emit_stored_ids(&space, rsinfo);
	SPI_finish();
	*space_relid = space.relid;
	return count;
}

/*
 * Run one of the batch forms, reporting to the metrics: each stored row
 * counts as one store taking the batch's time divided by its rows; a
 * failing batch counts as one failed store.
 */
static Datum
store_batch_with_metrics(FunctionCallInfo fcinfo,
						 int64 (*store_rows) (FunctionCallInfo, Oid *))
{
	instr_time	start;
	volatile int64 rows = 0;
	Oid			space_relid = InvalidOid;
	double		seconds;
	EngramSlowDetails details;

	INSTR_TIME_SET_CURRENT(start);
	PG_TRY();
	{
		rows = store_rows(fcinfo, &space_relid);
	}
	PG_CATCH();
	{
		engram_metrics_record(ENGRAM_OP_STORE, seconds_since(start), -1, false, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();

	seconds = seconds_since(start);
	engram_slow_details_init(&details);
	details.space = space_relid;
	details.rows = rows;
	for (int64 i = 0; i < rows; i++)
		engram_metrics_record(ENGRAM_OP_STORE, seconds / rows, -1, true, &details);
	return (Datum) 0;
}

Datum
engram_store_batch(PG_FUNCTION_ARGS)
{
	return store_batch_with_metrics(fcinfo, store_batch_rows);
}

Datum
engram_store_batch_jsonb(PG_FUNCTION_ARGS)
{
	return store_batch_with_metrics(fcinfo, store_batch_jsonb_rows);
}

/* ---------------------------------------------------------------------
 * Associations and forgetting
 * ---------------------------------------------------------------------
 */

/* ERROR unless every id in "ids" is a row of the space the caller can see. */
static void
check_memories_visible(const EngramSpace *space, int64 *ids, int n)
{
	StringInfoData sql;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];
	Datum	   *id_datums = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		id_datums[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(id_datums, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT id FROM %s WHERE id = ANY ($1)", space->qualified_name);
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, false, SPI_OK_SELECT);
	for (int i = 0; i < n; i++)
	{
		bool		found = false;

		for (uint64 row = 0; row < SPI_processed && !found; row++)
		{
			bool		isnull;

			found = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
												1, &isnull)) == ids[i];
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("memory " INT64_FORMAT " does not exist in the memory space", ids[i])));
	}
}

/*
 * engram_associate(space text, a bigint, b bigint, weight real DEFAULT 0.5,
 *     bidirectional boolean DEFAULT true) RETURNS void
 *
 * Create or re-weight the association a -> b (and b -> a when
 * bidirectional).  Both memories must be visible to the caller; the weight
 * is in (0,1].
 */
static Datum
associate_call(FunctionCallInfo fcinfo)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	EngramSpace space;
	int64		ids[2];
	float4		weight;
	bool		bidirectional;
	Oid			argtypes[3] = {INT8OID, INT8OID, FLOAT4OID};
	Datum		values[3];
	StringInfoData sql;
	EngramSlowDetails details;

	engram_metrics_begin(ENGRAM_OP_ASSOCIATE);
	require_argument(fcinfo, 0, "space");
	require_argument(fcinfo, 1, "a");
	require_argument(fcinfo, 2, "b");
	require_argument(fcinfo, 3, "weight");
	require_argument(fcinfo, 4, "bidirectional");
	ids[0] = PG_GETARG_INT64(1);
	ids[1] = PG_GETARG_INT64(2);
	weight = PG_GETARG_FLOAT4(3);
	bidirectional = PG_GETARG_BOOL(4);
	if (isnan(weight) || weight <= 0.0 || weight > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("association weight must be greater than 0 and at most 1"),
				 errdetail("The value was %g.", weight)));
	if (ids[0] == ids[1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a memory cannot be associated with itself")));

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	check_memories_visible(&space, ids, 2);

	values[0] = Int64GetDatum(ids[0]);
	values[1] = Int64GetDatum(ids[1]);
	values[2] = Float4GetDatum(weight);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s (src, dst, weight) VALUES ($1, $2, $3)%s "
					 "ON CONFLICT (src, dst) DO UPDATE SET weight = EXCLUDED.weight",
					 space.assoc_qualified_name, bidirectional ? ", ($2, $1, $3)" : "");
	engram_spi_execute(sql.data, 3, argtypes, values, NULL, false, SPI_OK_INSERT);
	SPI_finish();

	engram_slow_details_init(&details);
	details.space = space.relid;
	details.rows = bidirectional ? 2 : 1;
	engram_metrics_end(ENGRAM_OP_ASSOCIATE, &details);
	PG_RETURN_VOID();
}

/*
 * engram_associate: associate_call, with index fetches not counted as accesses
 * meanwhile (access.c); the setting is restored also on error.
 */
Datum
engram_associate(PG_FUNCTION_ARGS)
{
	return engram_recall_call_untracked(associate_call, fcinfo);
}

/*
 * engram_forget(space text, id bigint, mode text DEFAULT 'soft')
 *     RETURNS boolean
 *
 * Soft: set the memory's confidence to 0 (recall no longer returns it or
 * spreads through it; the row and its associations stay).  Hard: delete
 * the row (its associations go with it, ON DELETE CASCADE).  Returns
 * whether a row visible to the caller was changed.
 */
static Datum
forget_call(FunctionCallInfo fcinfo)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	EngramSpace space;
	char	   *mode;
	bool		hard;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	StringInfoData sql;
	bool		changed;
	EngramSlowDetails details;

	engram_metrics_begin(ENGRAM_OP_FORGET);
	require_argument(fcinfo, 0, "space");
	require_argument(fcinfo, 1, "id");
	require_argument(fcinfo, 2, "mode");
	mode = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(mode, "soft") == 0)
		hard = false;
	else if (strcmp(mode, "hard") == 0)
		hard = true;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown forget mode \"%s\"", mode),
				 errhint("Use soft (confidence 0, row kept) or hard (row deleted).")));

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	values[0] = PG_GETARG_DATUM(1);
	initStringInfo(&sql);
	if (hard)
	{
		appendStringInfo(&sql, "DELETE FROM %s WHERE id = $1", space.qualified_name);
		engram_spi_execute(sql.data, 1, argtypes, values, NULL, false, SPI_OK_DELETE);
		changed = SPI_processed > 0;
	}
	else
	{
		appendStringInfo(&sql, "UPDATE %s SET confidence = 0 WHERE id = $1 RETURNING ctid",
						 space.qualified_name);
		engram_spi_execute(sql.data, 1, argtypes, values, NULL, false, SPI_OK_UPDATE_RETURNING);
		changed = SPI_processed > 0;
		if (changed)
		{
			bool		isnull;
			ItemPointer tid = (ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0],
																		  SPI_tuptable->tupdesc,
																		  1, &isnull));

			engram_recall_access_forgotten(space.relid, tid);
		}
	}
	SPI_finish();

	engram_slow_details_init(&details);
	details.space = space.relid;
	details.rows = changed ? 1 : 0;
	engram_metrics_end(ENGRAM_OP_FORGET, &details);
	PG_RETURN_BOOL(changed);
}

/*
 * engram_forget: forget_call, with index fetches not counted as accesses
 * meanwhile (access.c); the setting is restored also on error.
 */
Datum
engram_forget(PG_FUNCTION_ARGS)
{
	return engram_recall_call_untracked(forget_call, fcinfo);
}
