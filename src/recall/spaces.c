/*-------------------------------------------------------------------------
 *
 * spaces.c
 *	  Memory spaces: engram_create_space, engram_register_space,
 *	  engram_unregister_space, engram_drop_space, and the resolution of a
 *	  space argument that every other function starts with.
 *
 * A memory space is an ordinary table with the canonical columns (DESIGN
 * section 3) plus an association table, both owned by the user, and one
 * row in the extension's catalog table engram_space_catalog (dumped by
 * pg_dump through pg_extension_config_dump).  The catalog is readable by
 * everyone and writable only for rows of tables one owns (row-level
 * security policies in 40_recall.sql).
 *
 * Every statement runs through SPI as the calling user.  SQL text contains
 * only names passed through quote_identifier()/quote_qualified_identifier()
 * or quote_literal_cstr(), catalog-derived numbers, and fixed fragments;
 * user values are SPI parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_ts_config.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "recall_internal.h"
#include "vector/engram_vector.h"

PG_FUNCTION_INFO_V1(engram_create_space);
PG_FUNCTION_INFO_V1(engram_register_space);
PG_FUNCTION_INFO_V1(engram_unregister_space);
PG_FUNCTION_INFO_V1(engram_drop_space);

#define ASSOCIATIONS_SUFFIX "_associations"
#define TABLE_AM_NAME "engram"
#define INDEX_AM_NAME "engram_hnsw"

/* ---------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------
 */

Oid
engram_extension_namespace(FunctionCallInfo fcinfo)
{
	return get_func_namespace(fcinfo->flinfo->fn_oid);
}

static const char *const distance_names[] = {
	[ENGRAM_DISTANCE_COSINE] = "cosine",
	[ENGRAM_DISTANCE_L2] = "l2",
	[ENGRAM_DISTANCE_INNER_PRODUCT] = "inner_product",
};

bool
engram_distance_parse(const char *name, EngramDistance *distance)
{
	for (int i = 0; i < lengthof(distance_names); i++)
	{
		if (strcmp(name, distance_names[i]) == 0)
		{
			*distance = (EngramDistance) i;
			return true;
		}
	}
	return false;
}

const char *
engram_distance_name(EngramDistance distance)
{
	return distance_names[distance];
}

const char *
engram_distance_operator(EngramDistance distance)
{
	switch (distance)
	{
		case ENGRAM_DISTANCE_COSINE:
			return "<=>";
		case ENGRAM_DISTANCE_L2:
			return "<->";
		case ENGRAM_DISTANCE_INNER_PRODUCT:
			return "<#>";
	}
	elog(ERROR, "unknown engram distance %d", (int) distance);
	return NULL;				/* keep compiler quiet */
}

/*
 * Similarity of a distance: cosine 1 - d (in [-1,1]); l2 1 / (1 + d) (in
 * (0,1]); inner product -d, since <#> is the negative inner product.
 */
double
engram_distance_to_similarity(EngramDistance distance, double d)
{
	switch (distance)
	{
		case ENGRAM_DISTANCE_COSINE:
			return 1.0 - d;
		case ENGRAM_DISTANCE_L2:
			return 1.0 / (1.0 + d);
		case ENGRAM_DISTANCE_INNER_PRODUCT:
			return -d;
	}
	return 0.0;
}

static const char *
distance_opclass(EngramDistance distance)
{
	switch (distance)
	{
		case ENGRAM_DISTANCE_COSINE:
			return "evector_cosine_ops";
		case ENGRAM_DISTANCE_L2:
			return "evector_l2_ops";
		case ENGRAM_DISTANCE_INNER_PRODUCT:
			return "evector_ip_ops";
	}
	return NULL;
}

static char *
require_text_argument(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static EngramDistance
parse_distance_argument(const char *name)
{
	EngramDistance distance;

	if (!engram_distance_parse(name, &distance))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown distance \"%s\"", name),
				 errhint("Use cosine, l2 or inner_product.")));
	return distance;
}

static EngramDecayKind
parse_default_decay_argument(const char *name)
{
	EngramDecayKind kind;

	if (!engram_decay_kind_parse(name, true, &kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown decay function \"%s\"", name),
				 errhint("Use exponential, power_law, two_component, hybrid or none.")));
	return kind;
}

/*
 * The settings arguments shared by engram_create_space and
 * engram_register_space: distance (arg 2), default_decay (arg 3) and
 * text_config (arg 4).  Errors on NULL or unknown values.
 */
static void
parse_space_settings(FunctionCallInfo fcinfo, EngramDistance *distance,
					 EngramDecayKind *default_decay, Oid *text_config)
{
	*distance = parse_distance_argument(require_text_argument(fcinfo, 2, "distance"));
	*default_decay = parse_default_decay_argument(require_text_argument(fcinfo, 3, "default_decay"));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("text_config must not be null")));
	*text_config = PG_GETARG_OID(4);
}

/* The evector type of the extension (its namespace is the extension's). */
static Oid
evector_type_oid(Oid extension_namespace)
{
	Oid			typid;

	typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum("evector"),
							ObjectIdGetDatum(extension_namespace));
	if (!OidIsValid(typid))
		elog(ERROR, "engram: type evector not found in the extension's schema");
	return typid;
}

static char *
quoted_relation_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

/*
 * The schema-qualified, quoted name of a text search configuration, as
 * kept in the catalog (text, not regconfig: pg_upgrade refuses tables with
 * regconfig columns).
 */
static char *
regconfig_qualified_name(Oid text_config)
{
	HeapTuple	tuple = SearchSysCache1(TSCONFIGOID, ObjectIdGetDatum(text_config));
	Form_pg_ts_config form;
	char	   *name;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("text search configuration with OID %u does not exist", text_config)));
	form = (Form_pg_ts_config) GETSTRUCT(tuple);
	name = quote_qualified_identifier(get_namespace_name(form->cfgnamespace),
									  NameStr(form->cfgname));
	ReleaseSysCache(tuple);
	return name;
}

static char *
catalog_table_name(Oid extension_namespace)
{
	return quote_qualified_identifier(get_namespace_name(extension_namespace),
									  "engram_space_catalog");
}

/* ---------------------------------------------------------------------
 * Catalog rows
 * ---------------------------------------------------------------------
 */

/*
 * Insert the catalog row of a space, as the caller (the catalog's policies
 * require owning both tables).  Inside SPI_connect().
 */
static void
catalog_insert(Oid extension_namespace, Oid relid, Oid assoc_relid, int dims,
			   EngramDistance distance, EngramDecayKind default_decay, Oid text_config)
{
	StringInfoData sql;
	Oid			argtypes[6] = {REGCLASSOID, REGCLASSOID, INT4OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = ObjectIdGetDatum(assoc_relid);
	values[2] = Int32GetDatum(dims);
	values[3] = CStringGetTextDatum(engram_distance_name(distance));
	values[4] = CStringGetTextDatum(engram_decay_kind_name(default_decay));
	values[5] = CStringGetTextDatum(regconfig_qualified_name(text_config));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO %s (space, associations, dims, distance, default_decay, text_config) "
					 "VALUES ($1, $2, $3, $4, $5, $6)",
					 catalog_table_name(extension_namespace));
	engram_spi_execute(sql.data, 6, argtypes, values, NULL, false, SPI_OK_INSERT);
}

/* Is "relid" a space or an association table of one?  Inside SPI_connect(). */
static bool
catalog_contains(Oid extension_namespace, Oid relid)
{
	StringInfoData sql;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT 1 FROM %s WHERE space = $1 OR associations = $1",
					 catalog_table_name(extension_namespace));
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/* Delete the catalog row of space "relid", as the caller.  Inside SPI_connect(). */
static void
catalog_delete(Oid extension_namespace, Oid relid)
{
	StringInfoData sql;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	initStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM %s WHERE space = $1",
					 catalog_table_name(extension_namespace));
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, false, SPI_OK_DELETE);
}

/* ---------------------------------------------------------------------
 * Resolution of a space argument
 * ---------------------------------------------------------------------
 */

/*
 * The relation a space argument names: first the string taken literally as
 * a table name looked up in search_path (so a space created as
 * 'My Space' or 'x"; DROP TABLE t; --' is found by that same string), then
 * the string parsed as a possibly schema-qualified, possibly quoted SQL
 * name (so regclass::text and 'schema.table' work).  InvalidOid if neither
 * names a relation.  Never raises a syntax error.
 */
static Oid
lookup_space_relation(const char *name)
{
	Oid			relid;
	char	   *copy;
	List	   *parts = NIL;

	relid = RelnameGetRelid(name);
	if (OidIsValid(relid))
		return relid;

	copy = pstrdup(name);
	if (!SplitIdentifierString(copy, '.', &parts) || list_length(parts) < 1 ||
		list_length(parts) > 3)
		return InvalidOid;
	{
		List	   *names = NIL;
		ListCell   *lc;

		foreach(lc, parts)
			names = lappend(names, makeString(lfirst(lc)));
		return RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
	}
}

void
engram_space_resolve(text *space_name, Oid extension_namespace, EngramSpace *space)
{
	char	   *name = text_to_cstring(space_name);
	Oid			relid = lookup_space_relation(name);
	StringInfoData sql;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	bool		isnull;
	HeapTuple	row;
	TupleDesc	desc;
	char	   *text_value;
	AttrNumber	embedding_attnum;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("memory space \"%s\" does not exist", name),
				 errhint("Create it with engram_create_space().")));

	/* Locking applies pending invalidations: the cache is current after it. */
	LockRelationOid(relid, AccessShareLock);
	if (engram_space_cache_lookup(relid, extension_namespace, space))
		return;
	if (get_rel_name(relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("memory space \"%s\" does not exist", name)));

	/*
	 * Read the catalog row with a snapshot taken now, not the statement's:
	 * what is cached must not be older than the invalidations applied
	 * above (space_cache.c).
	 */
	values[0] = ObjectIdGetDatum(relid);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT associations, dims, distance, default_decay, text_config "
					 "FROM %s WHERE space = $1",
					 catalog_table_name(extension_namespace));
	PushActiveSnapshot(GetLatestSnapshot());
	engram_spi_execute(sql.data, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
	PopActiveSnapshot();
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an Engram memory space", name),
				 errhint("Create a space with engram_create_space() or register a conforming table with engram_register_space().")));

	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	space->relid = relid;
	space->assoc_relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
	space->dims = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));
	text_value = SPI_getvalue(row, desc, 3);
	if (!engram_distance_parse(text_value, &space->distance))
		elog(ERROR, "engram: bad distance \"%s\" in the space catalog", text_value);
	text_value = SPI_getvalue(row, desc, 4);
	if (!engram_decay_kind_parse(text_value, true, &space->default_decay))
		elog(ERROR, "engram: bad decay \"%s\" in the space catalog", text_value);
	space->text_config_literal = quote_literal_cstr(SPI_getvalue(row, desc, 5));

	if (get_rel_name(space->assoc_relid) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the association table of memory space \"%s\" no longer exists", name),
				 errhint("Drop the space with engram_unregister_space() and register it again.")));

	embedding_attnum = get_attnum(relid, "embedding");
	if (embedding_attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("memory space \"%s\" has no embedding column", name)));
	space->embedding_type = get_atttype(relid, embedding_attnum);

	space->qualified_name = quoted_relation_name(relid);
	space->assoc_qualified_name = quoted_relation_name(space->assoc_relid);
	space->operator_schema = pstrdup(quote_identifier(get_namespace_name(extension_namespace)));
	space->operator_namespace = extension_namespace;
	engram_space_cache_store(space, get_relname_relid("engram_space_catalog",
													  extension_namespace));
}

Datum
engram_space_check_embedding(const EngramSpace *space, Datum value)
{
	EngramVector *vector = DatumGetEngramVector(value);

	if (vector->dim != space->dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("embedding has %d dimensions, the memory space expects %d",
						vector->dim, space->dims)));
	engram_vector_check_elements(vector->x, vector->dim);
	if (space->distance == ENGRAM_DISTANCE_COSINE)
	{
		bool		all_zero = true;

		for (int i = 0; i < vector->dim && all_zero; i++)
			all_zero = (vector->x[i] == 0.0f);
		if (all_zero)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("a zero vector has no cosine similarity"),
					 errhint("Use an embedding with at least one non-zero element, or a space with distance l2.")));
	}
	return PointerGetDatum(vector);
}

/*
 * An embedding argument of any accepted type as a checked evector: evector
 * itself, its text form, or any type with a cast to evector (real[],
 * double precision[], numeric[], integer[] from drivers).
 */
Datum
engram_space_embedding_argument(const EngramSpace *space, Datum value, Oid type)
{
	Oid			function;

	if (type == space->embedding_type)
		return engram_space_check_embedding(space, value);
	if (type == TEXTOID || type == UNKNOWNOID || type == CSTRINGOID)
	{
		Oid			input_function;
		Oid			ioparam;
		char	   *literal = (type == TEXTOID) ? TextDatumGetCString(value) : DatumGetCString(value);

		getTypeInputInfo(space->embedding_type, &input_function, &ioparam);
		return engram_space_check_embedding(space,
											OidInputFunctionCall(input_function, literal,
																 ioparam, -1));
	}
	if (find_coercion_pathway(space->embedding_type, type, COERCION_EXPLICIT, &function) ==
		COERCION_PATH_FUNC && OidIsValid(function))
		return engram_space_check_embedding(space,
											OidFunctionCall3(function, value, Int32GetDatum(-1),
															 BoolGetDatum(false)));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("an embedding cannot be given as %s", format_type_be(type)),
			 errhint("Pass an evector, its text form, or a real[], double precision[], numeric[] or integer[] array.")));
	return (Datum) 0;			/* keep compiler quiet */
}

/* ---------------------------------------------------------------------
 * Creating a space
 * ---------------------------------------------------------------------
 */

/* Does the named index AM have the named operator class? */
/*
 * Pin search_path to pg_catalog for the tables a call creates; returns the
 * GUC nest level to close with AtEOXact_GUC(true, level) (an error unwinds
 * it with the transaction).  The CREATE statements qualify every name they
 * use, but the operators their CHECK constraints bind (real >= integer has
 * no exact match) would otherwise be looked up in the caller's search_path,
 * where an operator planted by someone else would be the better match and
 * run on every later write to the space, the worker's included.
 */
static int
pin_search_path(void)
{
	int			nest_level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

static bool
index_opclass_exists(const char *am_name, const char *opclass_name)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(am_name), CStringGetTextDatum(opclass_name)};

	engram_spi_execute("SELECT 1 FROM pg_catalog.pg_opclass c "
					   "JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod "
					   "WHERE a.amname = $1 AND c.opcname = $2",
					   2, argtypes, values, NULL, true, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * The toast_tuple_target of a new space of "dims" dimensions: the row size
 * past which PostgreSQL starts compressing and moving values out of line.
 * Its default (TOAST_TUPLE_TARGET, about 2 kB) is smaller than a row whose
 * embedding has more than about 500 dimensions, so at every insert of such
 * a row the toaster first compressed the content and moved it out of line
 * whenever it was longer than a TOAST pointer, then tried pglz on the
 * embedding (STORAGE MAIN), which floats defeat, and kept it in the row
 * uncompressed anyway.  The space's target is the embedding's size plus
 * the default: the other columns keep the budget they would have in a row
 * without the embedding, and the embedding is left alone unless the row
 * would not fit a page (TOAST_TUPLE_TARGET_MAIN, the reloption's maximum).
 */
static int
space_toast_tuple_target(int dims)
{
	Size		target = MAXALIGN(ENGRAM_VECTOR_SIZE(dims)) + TOAST_TUPLE_TARGET;

	return (int) Min(target, TOAST_TUPLE_TARGET_MAIN);
}

/*
 * Create the association table "assoc_name" in schema "namespace_name" for
 * "space_name" (quoted), with the triggers of the association cache: its
 * OID.
 */
static Oid
create_association_table(const char *namespace_name, const char *assoc_name,
						 const char *space_name, Oid extension_namespace)
{
	const char *qualified = quote_qualified_identifier(namespace_name, assoc_name);
	Oid			relid;
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TABLE %s ("
					 "src bigint NOT NULL REFERENCES %s (id) ON DELETE CASCADE, "
					 "dst bigint NOT NULL REFERENCES %s (id) ON DELETE CASCADE, "
					 "weight real NOT NULL CHECK (weight > '0'::real AND weight <= '1'::real), "
					 "created_at timestamptz NOT NULL DEFAULT now(), "
					 "PRIMARY KEY (src, dst) INCLUDE (weight), "
					 "CHECK (src <> dst))",
					 qualified, space_name, space_name);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "CREATE INDEX ON %s (dst)", qualified);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);

	relid = RangeVarGetRelid(makeRangeVar(pstrdup(namespace_name), pstrdup(assoc_name), -1),
							 NoLock, false);
	engram_association_cache_add_triggers(relid, extension_namespace);
	return relid;
}

/*
 * engram_create_space(name text, dims int DEFAULT 768,
 *     distance text DEFAULT 'cosine', default_decay text DEFAULT 'power_law',
 *     text_config regconfig DEFAULT 'english') RETURNS regclass
 *
 * "name" is taken literally as the table name (never parsed as SQL) and
 * created in the current schema; the association table is
 * name || '_associations'.  Uses the engram table AM and an engram_hnsw
 * index when those access methods are installed, else heap and no vector
 * index (with a NOTICE).
 */
Datum
engram_create_space(PG_FUNCTION_ARGS)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	char	   *name = require_text_argument(fcinfo, 0, "space name");
	int32		dims;
	EngramDistance distance;
	EngramDecayKind default_decay;
	Oid			text_config;
	Oid			namespace_oid;
	char	   *namespace_name;
	char	   *qualified;
	char	   *assoc_name;
	bool		have_table_am;
	bool		have_index_am;
	Oid			relid;
	Oid			assoc_relid;
	StringInfoData sql;
	int			guc_nest_level;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dims must not be null")));
	dims = PG_GETARG_INT32(1);
	parse_space_settings(fcinfo, &distance, &default_decay, &text_config);

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("space name must not be empty")));
	if (strlen(name) + strlen(ASSOCIATIONS_SUFFIX) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("space name \"%s\" is too long", name),
				 errdetail("A space name may have at most %d bytes, so that its association table name fits.",
						   (int) (NAMEDATALEN - 1 - strlen(ASSOCIATIONS_SUFFIX)))));
	if (dims < 1 || dims > ENGRAM_VECTOR_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dims must be between 1 and %d", ENGRAM_VECTOR_MAX_DIM),
				 errdetail("The value was %d.", dims)));

	namespace_oid = RangeVarGetCreationNamespace(makeRangeVar(NULL, name, -1));
	namespace_name = get_namespace_name(namespace_oid);
	qualified = quote_qualified_identifier(namespace_name, name);
	assoc_name = psprintf("%s%s", name, ASSOCIATIONS_SUFFIX);

	have_table_am = OidIsValid(get_table_am_oid(TABLE_AM_NAME, true));
	have_index_am = OidIsValid(get_index_am_oid(INDEX_AM_NAME, true));

	/* The space name was resolved above, with the caller's search_path. */
	guc_nest_level = pin_search_path();
	SPI_connect();

	if (have_index_am && !index_opclass_exists(INDEX_AM_NAME, distance_opclass(distance)))
		have_index_am = false;

	/*
	 * The CHECK constraints are written with constants of the column's own
	 * type ('0'::real, a text[] literal) rather than 0, 1 and IN (...):
	 * PostgreSQL reads and plans a table's CHECK constraints again for every
	 * INSERT statement, and these forms are stored already folded (no
	 * integer-to-double casts or ARRAY[] constructors to evaluate each time,
	 * a third less text to parse).  They accept and refuse exactly the same
	 * rows, under the same constraint names.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TABLE %s ("
					 "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
					 "content text NOT NULL, "
					 "embedding %s, "
					 "kind text NOT NULL DEFAULT 'episodic' "
					 "CHECK (kind = ANY ('{episodic,semantic}'::text[])), "
					 "confidence real NOT NULL DEFAULT 0.9 "
					 "CHECK (confidence >= '0'::real AND confidence <= '1'::real), "
					 "occurred_at timestamptz NOT NULL DEFAULT now(), "
					 "location text, "
					 "participants text[], "
					 "tags text[], "
					 "importance real NOT NULL DEFAULT 0.5 "
					 "CHECK (importance >= '0'::real AND importance <= '1'::real), "
					 "decay_function text "
					 "CHECK (decay_function = ANY ('{exponential,power_law,two_component,hybrid}'::text[])), "
					 "metadata jsonb NOT NULL DEFAULT '{}', "
					 "created_at timestamptz NOT NULL DEFAULT now())%s "
					 "WITH (toast_tuple_target = %d)",
					 qualified,
					 format_type_extended(evector_type_oid(extension_namespace), dims,
										  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY),
					 have_table_am ? " USING " TABLE_AM_NAME : "",
					 space_toast_tuple_target(dims));
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);
	relid = RangeVarGetRelid(makeRangeVar(namespace_name, name, -1), NoLock, false);

	/*
	 * Keep embeddings in the row (out of line only when the row would not
	 * fit a page; with the table's toast_tuple_target above, not even
	 * compressed otherwise): recall computes the cue distance of its seeds
	 * and of the memories it reaches from the row, and a TOASTed embedding
	 * costs an index lookup and two chunk fetches each time.  Two
	 * 768-dimension rows fit a page.  (evector's own default since session
	 * 8; said here for an install whose type was created before.)
	 */
	resetStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ALTER COLUMN embedding SET STORAGE MAIN", qualified);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);

	if (have_index_am)
	{
		resetStringInfo(&sql);
		appendStringInfo(&sql, "CREATE INDEX ON %s USING %s (embedding %s.%s)%s",
						 qualified, INDEX_AM_NAME,
						 quote_identifier(get_namespace_name(extension_namespace)),
						 distance_opclass(distance),
						 engram_space_deferred_insert ? " WITH (deferred_insert = on)" : "");
		engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);
	}

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE INDEX ON %s USING gin (pg_catalog.to_tsvector(%s::pg_catalog.regconfig, content))",
					 qualified, quote_literal_cstr(regconfig_qualified_name(text_config)));
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);
	resetStringInfo(&sql);
	/*
	 * (occurred_at, id): time-window cues, and consolidation's candidate
	 * pool (the newest episodes, ORDER BY occurred_at DESC, id DESC LIMIT
	 * n), which reads the index backwards instead of sorting every row.
	 */
	appendStringInfo(&sql, "CREATE INDEX ON %s (occurred_at, id)", qualified);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);
	/*
	 * The semantic memories, which each consolidation pass reads in id
	 * order: a partial index (episodes, the bulk, get no entry) instead of
	 * a scan of the whole space.
	 */
	resetStringInfo(&sql);
	appendStringInfo(&sql, "CREATE INDEX ON %s (id) WHERE kind = 'semantic'", qualified);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);

	/*
	 * Only rows that have tags enter the tags index: GIN would otherwise
	 * record a "null item" for every memory stored without tags (every row
	 * of the array form of engram_store_batch), an index insert and its WAL
	 * per store that no query reads.  The tag cue's "tags && $n" is strict,
	 * so the planner proves the predicate and uses the index as before.
	 */
	resetStringInfo(&sql);
	appendStringInfo(&sql, "CREATE INDEX ON %s USING gin (tags) WHERE tags IS NOT NULL", qualified);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);

	assoc_relid = create_association_table(namespace_name, assoc_name, qualified,
										   extension_namespace);

	catalog_insert(extension_namespace, relid, assoc_relid, dims, distance, default_decay,
				   text_config);

	SPI_finish();
	AtEOXact_GUC(true, guc_nest_level);

	if (!have_table_am)
		ereport(NOTICE,
				(errmsg("table access method \"%s\" is not installed: memory space \"%s\" uses heap",
						TABLE_AM_NAME, name)));
	if (!have_index_am)
		ereport(NOTICE,
				(errmsg("index access method \"%s\" is not installed: memory space \"%s\" has no vector index",
						INDEX_AM_NAME, name),
				 errhint("Recall scans the whole table until an index on the embedding column exists.")));

	PG_RETURN_OID(relid);
}

/* ---------------------------------------------------------------------
 * Registering a hand-made table
 * ---------------------------------------------------------------------
 */

typedef struct ExpectedColumn
{
	const char *name;
	Oid			type;			/* InvalidOid: the evector type */
} ExpectedColumn;

static const ExpectedColumn canonical_columns[] = {
	{"id", INT8OID},
	{"content", TEXTOID},
	{"embedding", InvalidOid},
	{"kind", TEXTOID},
	{"confidence", FLOAT4OID},
	{"occurred_at", TIMESTAMPTZOID},
	{"location", TEXTOID},
	{"participants", TEXTARRAYOID},
	{"tags", TEXTARRAYOID},
	{"importance", FLOAT4OID},
	{"decay_function", TEXTOID},
	{"metadata", JSONBOID},
	{"created_at", TIMESTAMPTZOID},
};

static const ExpectedColumn association_columns[] = {
	{"src", INT8OID},
	{"dst", INT8OID},
	{"weight", FLOAT4OID},
};

/* Append one problem to a "; "-separated list. */
static void
add_problem(StringInfo problems, const char *problem)
{
	if (problems->len > 0)
		appendStringInfoString(problems, "; ");
	appendStringInfoString(problems, problem);
}

/* Append to "problems" each expected column that is missing or mistyped. */
static void
check_columns(Oid relid, const ExpectedColumn *columns, int ncolumns, Oid evector_type,
			  StringInfo problems)
{
	for (int i = 0; i < ncolumns; i++)
	{
		Oid			expected = OidIsValid(columns[i].type) ? columns[i].type : evector_type;
		AttrNumber	attnum = get_attnum(relid, columns[i].name);
		Oid			actual;

		if (attnum == InvalidAttrNumber)
		{
			add_problem(problems, psprintf("missing column \"%s\" (%s)", columns[i].name,
										   format_type_be(expected)));
			continue;
		}
		actual = get_atttype(relid, attnum);
		if (actual != expected)
			add_problem(problems, psprintf("column \"%s\" is %s, expected %s", columns[i].name,
										   format_type_be(actual), format_type_be(expected)));
	}
}

/* Is column "id" of "relid" covered by a unique, non-partial, plain index? */
static bool
id_is_unique(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int16GetDatum(get_attnum(relid, "id"))};

	engram_spi_execute("SELECT 1 FROM pg_catalog.pg_index "
					   "WHERE indrelid = $1 AND indisunique AND indnkeyatts = 1 "
					   "AND indkey[0] = $2 AND indpred IS NULL AND indexprs IS NULL",
					   2, argtypes, values, NULL, true, SPI_OK_SELECT);
	return SPI_processed > 0;
}

static void
check_relation_kind(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid))));
}

/* ERROR (42501) unless the current user owns "relid" (or a role that does). */
static void
check_owner(Oid relid)
{
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * engram_register_space(space regclass, associations regclass DEFAULT NULL,
 *     distance text DEFAULT 'cosine', default_decay text DEFAULT 'power_law',
 *     text_config regconfig DEFAULT 'english') RETURNS regclass
 *
 * Make a hand-made table a memory space.  It must have every canonical
 * column with its type, "embedding" declared with its dimensions, and a
 * unique index on "id"; otherwise ERROR listing everything that does not
 * conform.  Without "associations", the association table
 * <table>_associations is created; a given one must have src bigint,
 * dst bigint and weight real.  The caller must own both tables.
 */
Datum
engram_register_space(PG_FUNCTION_ARGS)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	Oid			relid;
	Oid			assoc_relid;
	EngramDistance distance;
	EngramDecayKind default_decay;
	Oid			text_config;
	Oid			evector_type = evector_type_oid(extension_namespace);
	StringInfoData problems;
	int32		dims = -1;
	AttrNumber	embedding_attnum;
	int			guc_nest_level;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space must not be null")));
	relid = PG_GETARG_OID(0);
	parse_space_settings(fcinfo, &distance, &default_decay, &text_config);

	LockRelationOid(relid, ShareRowExclusiveLock);
	check_relation_kind(relid);
	check_owner(relid);

	initStringInfo(&problems);
	check_columns(relid, canonical_columns, lengthof(canonical_columns), evector_type, &problems);
	embedding_attnum = get_attnum(relid, "embedding");
	if (embedding_attnum != InvalidAttrNumber &&
		get_atttype(relid, embedding_attnum) == evector_type)
	{
		Oid			typid;
		Oid			collation;

		get_atttypetypmodcoll(relid, embedding_attnum, &typid, &dims, &collation);
		if (dims < 1)
			add_problem(&problems,
						"column \"embedding\" must declare its dimensions, as in evector(768)");
	}

	guc_nest_level = pin_search_path();
	SPI_connect();

	if (get_attnum(relid, "id") != InvalidAttrNumber && !id_is_unique(relid))
		add_problem(&problems, "column \"id\" has no unique index or primary key");
	if (problems.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" is not a conforming memory space table",
						get_rel_name(relid)),
				 errdetail("%s.", problems.data),
				 errhint("See the canonical columns in docs/recall.md, or create a space with engram_create_space().")));

	if (catalog_contains(extension_namespace, relid))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("table \"%s\" is already a memory space", get_rel_name(relid))));

	if (PG_ARGISNULL(1))
	{
		char	   *relname = get_rel_name(relid);
		char	   *namespace_name = get_namespace_name(get_rel_namespace(relid));
		char	   *assoc_name;

		if (strlen(relname) + strlen(ASSOCIATIONS_SUFFIX) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("table name \"%s\" is too long to derive an association table name", relname),
					 errhint("Create the association table yourself and pass it as \"associations\".")));
		assoc_name = psprintf("%s%s", relname, ASSOCIATIONS_SUFFIX);
		assoc_relid = create_association_table(namespace_name, assoc_name,
											   quoted_relation_name(relid), extension_namespace);
	}
	else
	{
		assoc_relid = PG_GETARG_OID(1);
		LockRelationOid(assoc_relid, ShareRowExclusiveLock);
		check_relation_kind(assoc_relid);
		check_owner(assoc_relid);
		resetStringInfo(&problems);
		check_columns(assoc_relid, association_columns, lengthof(association_columns),
					  evector_type, &problems);
		if (problems.len > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("table \"%s\" is not a conforming association table",
							get_rel_name(assoc_relid)),
					 errdetail("%s.", problems.data)));
		if (catalog_contains(extension_namespace, assoc_relid))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("table \"%s\" already belongs to a memory space",
							get_rel_name(assoc_relid))));
	}

	catalog_insert(extension_namespace, relid, assoc_relid, dims, distance, default_decay,
				   text_config);
	SPI_finish();
	AtEOXact_GUC(true, guc_nest_level);
	PG_RETURN_OID(relid);
}

/* ---------------------------------------------------------------------
 * Dropping
 * ---------------------------------------------------------------------
 */

/*
 * engram_unregister_space(space text) RETURNS void
 *
 * Forget that a table is a memory space; both tables stay.  Owner only.
 */
Datum
engram_unregister_space(PG_FUNCTION_ARGS)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	EngramSpace space;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("space must not be null")));
	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	check_owner(space.relid);
	catalog_delete(extension_namespace, space.relid);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * engram_drop_space(space text, if_exists boolean DEFAULT false) RETURNS void
 *
 * Drop a memory space: its table, its association table and its catalog
 * row.  Owner only (the DROP runs as the caller).
 */
Datum
engram_drop_space(PG_FUNCTION_ARGS)
{
	Oid			extension_namespace = engram_extension_namespace(fcinfo);
	bool		if_exists = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	char	   *name;
	EngramSpace space;
	StringInfoData sql;

	name = require_text_argument(fcinfo, 0, "space");
	if (if_exists && !OidIsValid(lookup_space_relation(name)))
	{
		ereport(NOTICE,
				(errmsg("memory space \"%s\" does not exist, skipping", name)));
		PG_RETURN_VOID();
	}

	SPI_connect();
	engram_space_resolve(PG_GETARG_TEXT_PP(0), extension_namespace, &space);
	check_owner(space.relid);
	check_owner(space.assoc_relid);
	catalog_delete(extension_namespace, space.relid);

	initStringInfo(&sql);
	appendStringInfo(&sql, "DROP TABLE %s, %s", space.assoc_qualified_name,
					 space.qualified_name);
	engram_spi_execute(sql.data, 0, NULL, NULL, NULL, false, SPI_OK_UTILITY);
	SPI_finish();
	PG_RETURN_VOID();
}
