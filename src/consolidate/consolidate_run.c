/*-------------------------------------------------------------------------
 *
 * consolidate_run.c
 *	  One consolidation run over a memory space, and the soft-forgetting
 *	  selection, through SPI.
 *
 * THE CONTRACT ASSUMED OF A SPACE (DESIGN section 3)
 * ==================================================
 * space table: id bigint, content text, embedding evector (any dims; rows
 *	whose length differs from the first candidate's are skipped), kind text
 *	('episodic' | 'semantic'), confidence real, occurred_at timestamptz,
 *	metadata jsonb; optional created_at timestamptz (set to the clock on the
 *	semantic memories we create, so a pinned clock gives identical rows).
 * association table: src bigint, dst bigint, weight real in (0, 1];
 *	optional kind text (set to 'lineage').  A lineage association is one
 *	from a semantic memory to an episodic one: an episode with such an
 *	association is consolidated and never a candidate again.  This rule
 *	holds whether or not the table has a kind column.
 * The association table is the second argument, or found in the space
 *	registry (engram_space_catalog(space regclass, associations regclass) in
 *	the extension's schema) when that is installed.
 *
 * Everything runs in the caller's transaction as the current user (table
 * privileges and row-level security apply), with parameters for every value
 * and regclass-quoted names for every table.  Candidate episodes are read
 * without locks; the members of the semantic memories a run will write are
 * then locked FOR KEY SHARE SKIP LOCKED, so a concurrent DELETE waits for
 * the run rather than breaking its lineage, and a cluster with a member
 * being deleted or changed since it was read is left for the next run.  Runs on one space are serialized by a transaction-level
 * advisory lock (ENGRAM_CONSOLIDATION_LOCK_KEY, space OID); a run that
 * cannot take it at once skips the space ("busy").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "consolidate/engram_consolidate.h"
#include "metrics/engram_metrics.h"
#include "recall/engram_recall.h"
#include "worker/engram_worker.h"

/* Advisory lock space of consolidation runs: "ENGC". */
#define ENGRAM_CONSOLIDATION_LOCK_KEY	0x454E4743

/* A column the contract requires (or allows). */
typedef struct RequiredColumn
{
	const char *name;
	Oid			type;			/* InvalidOid: the extension's evector */
	bool		optional;
} RequiredColumn;

static const RequiredColumn space_columns[] = {
	{"id", INT8OID, false},
	{"content", TEXTOID, false},
	{"embedding", InvalidOid, false},
	{"kind", TEXTOID, false},
	{"confidence", FLOAT4OID, false},
	{"occurred_at", TIMESTAMPTZOID, false},
	{"metadata", JSONBOID, false},
	{"created_at", TIMESTAMPTZOID, true},
	{"decay_function", TEXTOID, true},
};

/* Bits of the optional space columns in check_columns()' result. */
#define SPACE_HAS_CREATED_AT		(1u << 7)
#define SPACE_HAS_DECAY_FUNCTION	(1u << 8)

/* Rows the soft-forgetting scan fetches at a time. */
#define FORGETTING_FETCH_ROWS		1000
/* Rows per query of a soft-forgetting window (the worker may nap between). */
#define FORGETTING_QUERY_ROWS		256

static const RequiredColumn association_columns[] = {
	{"src", INT8OID, false},
	{"dst", INT8OID, false},
	{"weight", FLOAT4OID, false},
	{"kind", TEXTOID, true},
};

/*
 * The schema of the engram extension in this database, InvalidOid when it
 * is not installed.  (PostgreSQL 15 keeps its own lookup static.)
 */
Oid
engram_extension_schema(void)
{
	Relation	relation;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			schema = InvalidOid;

	relation = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("engram"));
	scan = systable_beginscan(relation, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		schema = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(relation, AccessShareLock);
	return schema;
}

static Oid
extension_namespace(void)
{
	Oid			schema = engram_extension_schema();

	if (!OidIsValid(schema))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"engram\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION engram.")));
	return schema;
}

static const char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * Check "relid" against the contract; returns a bitmask of the optional
 * columns present (bit i for columns[i]).  Raises ERROR naming the first
 * missing or mistyped column.
 */
static uint32
check_columns(Oid relid, const RequiredColumn *columns, int ncolumns, const char *role)
{
	uint32		present = 0;
	Oid			evector = InvalidOid;
	char		relkind = get_rel_relkind(relid);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errhint("Pass the %s table of an Engram memory space.", role)));

	for (int i = 0; i < ncolumns; i++)
	{
		AttrNumber	attnum = get_attnum(relid, columns[i].name);
		Oid			expected = columns[i].type;
		Oid			actual;

		if (attnum == InvalidAttrNumber)
		{
			if (columns[i].optional)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" is not an Engram %s table", get_rel_name(relid), role),
					 errdetail("Column \"%s\" is missing.", columns[i].name),
					 errhint("See the canonical columns in docs/worker.md.")));
		}
		actual = get_atttype(relid, attnum);
		if (!OidIsValid(expected))
		{
			if (!OidIsValid(evector))
				evector = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										  CStringGetDatum("evector"),
										  ObjectIdGetDatum(extension_namespace()));
			expected = evector;
		}
		if (actual != expected)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("table \"%s\" is not an Engram %s table", get_rel_name(relid), role),
					 errdetail("Column \"%s\" has type %s, expected %s.", columns[i].name,
							   format_type_be(actual), format_type_be(expected)),
					 errhint("See the canonical columns in docs/worker.md.")));
		present |= (1u << i);
	}
	return present;
}

/*
 * Column "column" of the registry row of "space", cast to "type" and then
 * to text (palloc'd in the caller's context); NULL when there is no
 * registry, no such column, no row for the space, or the value is NULL.
 */
static char *
registry_value(Oid space, const char *column, const char *type)
{
	Oid			registry = get_relname_relid("engram_space_catalog", extension_namespace());
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(space)};
	StringInfoData sql;
	char	   *result = NULL;

	if (!OidIsValid(registry) || get_attnum(registry, column) == InvalidAttrNumber)
		return NULL;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::%s::pg_catalog.text FROM %s WHERE space = $1",
					 quote_identifier(column), type, qualified_name(registry));
	SPI_connect();
	if (SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the space registry");
	if (SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
		{
			result = SPI_palloc(strlen(value) + 1);
			strcpy(result, value);
		}
	}
	SPI_finish();
	return result;
}

/* The default forgetting curve of "space" in the registry, NULL if none. */
static char *
space_default_decay(Oid space)
{
	return registry_value(space, "default_decay", "pg_catalog.text");
}

Oid
engram_space_associations(Oid space, Oid associations)
{
	check_columns(space, space_columns, lengthof(space_columns), "space");

	if (!OidIsValid(associations))
	{
		char	   *registered = registry_value(space, "associations", "pg_catalog.oid");

		if (registered != NULL)
			associations = atooid(registered);
		if (!OidIsValid(associations))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("no association table is known for \"%s\"", get_rel_name(space)),
					 errhint("Pass the association table as the second argument, or register the space.")));
	}
	check_columns(associations, association_columns, lengthof(association_columns),
				  "association");
	return associations;
}

/* Copy a one-dimensional real[] without NULLs; returns its length or -1. */
static int
copy_float_array(Datum value, float **out)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	int			n;

	if (ARR_NDIM(array) != 1 || ARR_HASNULL(array) || ARR_ELEMTYPE(array) != FLOAT4OID)
		return -1;
	n = ARR_DIMS(array)[0];
	*out = palloc(sizeof(float) * Max(n, 1));
	memcpy(*out, ARR_DATA_PTR(array), sizeof(float) * n);
	return n;
}

static Datum
float_array_datum(const float *values, int n)
{
	Datum	   *elements = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		elements[i] = Float4GetDatum(values[i]);
	return PointerGetDatum(construct_array(elements, n, FLOAT4OID, sizeof(float4), true,
										   TYPALIGN_INT));
}

/* A bigint[] of n Int64 datums. */
static Datum
int8_array_datum(Datum *ids, int n)
{
	return PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

/* Transaction-level advisory lock on the space, without waiting. */
static bool
try_lock_space(Oid space)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, ENGRAM_CONSOLIDATION_LOCK_KEY, space, 2);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* An episode lock_plan_members locked, and the TID it locked. */
typedef struct LockedEpisode
{
	int64		id;
	ItemPointerData tid;
} LockedEpisode;

static int
locked_episode_cmp(const void *a, const void *b)
{
	int64		x = ((const LockedEpisode *) a)->id;
	int64		y = ((const LockedEpisode *) b)->id;

	return (x > y) - (x < y);
}

/*
 * Lock the member episodes of "plans" FOR KEY SHARE SKIP LOCKED, so that a
 * concurrent DELETE of one waits for the run rather than breaking its
 * lineage.  A plan with a member that cannot be locked (being deleted or
 * key-updated), is gone, or is no longer the version the pool read (its
 * TID changed: updated or moved between tiers since) is dropped, and so
 * is every plan merging into the same semantic memory (their merged
 * embedding assumed it); their episodes stay candidates for the next run.
 * Keeps the order of the plans that remain and returns how many remain.
 */
static int
lock_plan_members(const char *space_name, EngramSemanticPlan *plans, int nplans,
				  const EngramEpisode *episodes, const ItemPointerData *episode_tids)
{
	StringInfoData sql;
	Datum	   *ids;
	int			nids = 0;
	LockedEpisode *locked;
	uint64		nlocked;
	bool	   *dropped;
	int			kept = 0;
	Oid			argtypes[1] = {INT8ARRAYOID};
	Datum		values[1];

	if (nplans == 0)
		return 0;
	for (int p = 0; p < nplans; p++)
		nids += plans[p].nmembers;
	ids = palloc(sizeof(Datum) * Max(nids, 1));
	nids = 0;
	for (int p = 0; p < nplans; p++)
		for (int m = 0; m < plans[p].nmembers; m++)
			ids[nids++] = Int64GetDatum(episodes[plans[p].members[m]].id);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT e.id, e.ctid FROM %s e WHERE e.id = ANY ($1) "
					 "AND e.kind = 'episodic' FOR KEY SHARE OF e SKIP LOCKED",
					 space_name);
	values[0] = int8_array_datum(ids, nids);
	if (SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the episodes of \"%s\"", space_name);
	nlocked = SPI_processed;
	locked = palloc(sizeof(LockedEpisode) * Max(nlocked, 1));
	for (uint64 i = 0; i < nlocked; i++)
	{
		bool		isnull;

		locked[i].id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));
		ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc,
																	2, &isnull)),
						&locked[i].tid);
	}
	if (nlocked > 1)
		qsort(locked, nlocked, sizeof(LockedEpisode), locked_episode_cmp);

	/* A plan stays when each member was locked at the TID the pool read. */
	dropped = palloc0(sizeof(bool) * nplans);
	for (int p = 0; p < nplans; p++)
		for (int m = 0; m < plans[p].nmembers && !dropped[p]; m++)
		{
			int			e = plans[p].members[m];
			LockedEpisode key;
			LockedEpisode *found;

			key.id = episodes[e].id;
			found = nlocked == 0 ? NULL :
				bsearch(&key, locked, nlocked, sizeof(LockedEpisode), locked_episode_cmp);
			dropped[p] = found == NULL ||
				!ItemPointerEquals(&found->tid, (ItemPointer) &episode_tids[e]);
		}
	for (int p = 0; p < nplans; p++)
		if (dropped[p] && plans[p].merge_into >= 0)
			for (int q = 0; q < nplans; q++)
				if (plans[q].merge_into == plans[p].merge_into)
					dropped[q] = true;
	for (int p = 0; p < nplans; p++)
		if (!dropped[p])
			plans[kept++] = plans[p];
	return kept;
}

static void consolidate_space_timed(Oid space, Oid associations, TimestampTz now,
									int batch_size, EngramConsolidationSummary *summary);

/*
 * One pass, timed as the operation "consolidate" in the metrics (an error
 * is counted as a failed operation by the metrics' abort handling).
 */
void
engram_consolidate_space(Oid space, Oid associations, TimestampTz now, int batch_size,
						 EngramConsolidationSummary *summary)
{
	EngramSlowDetails details;

	engram_metrics_begin(ENGRAM_OP_CONSOLIDATE);
	consolidate_space_timed(space, associations, now, batch_size, summary);
	engram_slow_details_init(&details);
	details.space = space;
	details.nodes_visited = summary->candidates;
	details.rows = summary->semantic_created + summary->semantic_merged + summary->episodes_linked;
	engram_metrics_end(ENGRAM_OP_CONSOLIDATE, &details);
}

static void
consolidate_space_timed(Oid space, Oid associations, TimestampTz now, int batch_size,
						EngramConsolidationSummary *summary)
{
	const char *space_name;
	const char *association_name;
	bool		space_has_created_at;
	bool		space_has_decay_function;
	char	   *default_decay;
	bool		association_has_kind;
	StringInfoData sql;
	EngramEpisode *episodes;
	ItemPointerData *episode_tids;	/* each episode's TID in the pool */
	TimestampTz *occurred;
	EngramPattern *patterns;
	Datum	   *semantic_ids;
	int			nsemantic;
	int			nepisodes = 0;
	int			npatterns = 0;
	int			dims = -1;
	EngramConsolidationParams params;
	EngramSemanticPlan *plans;
	int			nplans;

	memset(summary, 0, sizeof(*summary));

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot consolidate memories during recovery"),
				 errhint("Consolidation writes semantic memories: run it on the primary.")));

	associations = engram_space_associations(space, associations);
	space_has_created_at = get_attnum(space, "created_at") != InvalidAttrNumber;
	space_has_decay_function = get_attnum(space, "decay_function") != InvalidAttrNumber;
	default_decay = space_default_decay(space);
	association_has_kind = get_attnum(associations, "kind") != InvalidAttrNumber;
	space_name = qualified_name(space);
	association_name = qualified_name(associations);

	if (!try_lock_space(space))
	{
		summary->skipped_busy = true;
		return;
	}

	SPI_connect();
	initStringInfo(&sql);

	/*
	 * Existing semantic memories and how many episodes each explains; the
	 * ids of all of them (those without an embedding too) for the pool's
	 * "not consolidated yet" test.
	 */
	appendStringInfo(&sql,
					 "SELECT s.id, s.embedding::pg_catalog.float4[], s.confidence, "
					 "CASE WHEN s.embedding IS NOT NULL THEN "
					 "(SELECT pg_catalog.count(*) FROM %s a JOIN %s e ON e.id = a.dst "
					 "WHERE a.src = s.id AND e.kind = 'episodic') END "
					 "FROM %s s WHERE s.kind = 'semantic' ORDER BY s.id",
					 association_name, space_name, space_name);
	if (SPI_execute(sql.data, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the semantic memories of \"%s\"", space_name);
	patterns = palloc(sizeof(EngramPattern) * Max(SPI_processed, 1));
	semantic_ids = palloc(sizeof(Datum) * Max(SPI_processed, 1));
	nsemantic = (int) SPI_processed;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		float	   *embedding;
		int			n;
		Datum		embedding_datum;

		semantic_ids[i] = Int64GetDatum(DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull)));
		embedding_datum = SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			continue;
		n = copy_float_array(embedding_datum, &embedding);
		if (dims < 0)
			dims = n;
		if (n <= 0 || n != dims)
			continue;
		patterns[npatterns].id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		patterns[npatterns].embedding = embedding;
		patterns[npatterns].confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
		patterns[npatterns].members = Max(1, DatumGetInt64(SPI_getbinval(tuple, desc, 4, &isnull)));
		npatterns++;
	}

	/*
	 * The candidate pool: newest unconsolidated episodes, read without
	 * locks (a bounded top-N sort of narrow rows); only the pool's
	 * embeddings are then read, by TID, and converted.  Only the members of
	 * the plans are locked, afterwards (lock_plan_members): locking the
	 * whole pool wrote a lock into up to 10 x batch_size tuples every run,
	 * which also took them out of the hot tier (it keeps only rows without
	 * a locker), slowing the recalls that read them.  "Consolidated" (a
	 * lineage association from a semantic memory) is tested against the
	 * semantic ids just read, which spares a third scan of the space; a
	 * semantic memory stored in between (by a session: consolidation runs
	 * on a space are serialized) is seen next run.
	 */
	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT p.id, (SELECT x.embedding FROM %s x WHERE x.ctid = p.tid)::pg_catalog.float4[], "
					 "p.confidence, p.occurred_at, p.tid, p.last_use, p.decay_function FROM "
					 "(SELECT e.id, e.confidence, e.occurred_at, e.ctid AS tid, %s AS last_use, "
					 "%s AS decay_function "
					 "FROM %s e WHERE e.kind = 'episodic' AND e.embedding IS NOT NULL "
					 "AND NOT EXISTS (SELECT 1 FROM %s a "
					 "WHERE a.dst = e.id AND a.src = ANY ($2)) "
					 "ORDER BY e.occurred_at DESC, e.id DESC LIMIT $1) p",
					 space_name,
					 space_has_created_at ? "COALESCE(e.created_at, e.occurred_at)" : "e.occurred_at",
					 space_has_decay_function ? "e.decay_function" : "NULL::pg_catalog.text",
					 space_name, association_name);
	{
		Oid			argtypes[2] = {INT8OID, INT8ARRAYOID};
		Datum		values[2];

		values[0] = Int64GetDatum((int64) batch_size * ENGRAM_CONSOLIDATION_POOL_FACTOR);
		values[1] = int8_array_datum(semantic_ids, nsemantic);
		if (SPI_execute_with_args(sql.data, 2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the episodes of \"%s\"", space_name);
	}
	episodes = palloc(sizeof(EngramEpisode) * Max(SPI_processed, 1));
	occurred = palloc(sizeof(TimestampTz) * Max(SPI_processed, 1));
	episode_tids = palloc(sizeof(ItemPointerData) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		float	   *embedding;
		int			n;
		double		confidence;
		ItemPointer tid;
		Datum		last_use;
		TimestampTz created_at;
		Datum		decay_datum;
		char	   *decay_function;
		Datum		embedding_datum = SPI_getbinval(tuple, desc, 2, &isnull);

		if (isnull)
			continue;
		n = copy_float_array(embedding_datum, &embedding);
		if (dims < 0)
			dims = n;
		if (n <= 0 || n != dims)
			continue;
		confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
		occurred[nepisodes] = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
		if (isnull)
			occurred[nepisodes] = now;
		tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 5, &isnull));
		last_use = SPI_getbinval(tuple, desc, 6, &isnull);
		created_at = isnull ? now : DatumGetTimestampTz(last_use);
		decay_datum = SPI_getbinval(tuple, desc, 7, &isnull);
		decay_function = isnull ? NULL : TextDatumGetCString(decay_datum);
		episodes[nepisodes].id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
		episodes[nepisodes].embedding = embedding;
		ItemPointerCopy(tid, &episode_tids[nepisodes]);
		/* the effective confidence recall ranks this memory with */
		episodes[nepisodes].confidence =
			engram_recall_effective_confidence(space, tid, confidence, created_at,
											   decay_function, default_decay, now);
		nepisodes++;
	}
	summary->candidates = Min(nepisodes, batch_size);
	engram_worker_charge((int64) (nepisodes + npatterns) * ENGRAM_WORKER_COST_ROW_SCANNED);

	if (nepisodes == 0)
	{
		SPI_finish();
		return;
	}

	engram_consolidation_default_params(&params, dims, batch_size);
	plans = engram_consolidation_plan(episodes, nepisodes, patterns, npatterns, &params, &nplans);
	nplans = lock_plan_members(space_name, plans, nplans, episodes, episode_tids);

	for (int p = 0; p < nplans; p++)
	{
		EngramSemanticPlan *plan = &plans[p];
		int64		semantic_id;

		engram_worker_charge(ENGRAM_WORKER_COST_MEMORY_WRITTEN);

		if (plan->merge_into < 0)
		{
			const EngramEpisode *representative = &episodes[plan->representative];
			TimestampTz latest = occurred[plan->members[0]];
			StringInfoData metadata;
			Oid			argtypes[6] = {INT8OID, FLOAT4ARRAYOID, FLOAT4OID, TIMESTAMPTZOID,
			TEXTOID, TIMESTAMPTZOID};
			Datum		values[6];
			bool		isnull;

			for (int m = 1; m < plan->nmembers; m++)
				if (occurred[plan->members[m]] > latest)
					latest = occurred[plan->members[m]];

			initStringInfo(&metadata);
			appendStringInfo(&metadata,
							 "{\"consolidated_at\": \"%s\", \"episodes\": %d, "
							 "\"cohesion\": %.6f, \"representative\": " INT64_FORMAT "}",
							 timestamptz_to_str(now), plan->nmembers, plan->cohesion,
							 representative->id);

			resetStringInfo(&sql);
			appendStringInfo(&sql,
							 "INSERT INTO %s (content, embedding, kind, confidence, occurred_at, metadata%s) "
							 "SELECT r.content, $2, 'semantic', $3, $4, $5::pg_catalog.jsonb%s "
							 "FROM %s r WHERE r.id = $1 RETURNING id",
							 space_name, space_has_created_at ? ", created_at" : "",
							 space_has_created_at ? ", $6" : "", space_name);
			values[0] = Int64GetDatum(representative->id);
			values[1] = float_array_datum(plan->embedding, dims);
			values[2] = Float4GetDatum((float4) plan->confidence);
			values[3] = TimestampTzGetDatum(latest);
			values[4] = CStringGetTextDatum(metadata.data);
			values[5] = TimestampTzGetDatum(now);
			if (SPI_execute_with_args(sql.data, 6, argtypes, values, NULL, false, 0)
				!= SPI_OK_INSERT_RETURNING || SPI_processed != 1)
				elog(ERROR, "could not insert a semantic memory into \"%s\"", space_name);
			semantic_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													  SPI_tuptable->tupdesc, 1, &isnull));
			summary->semantic_created++;
		}
		else
		{
			Oid			argtypes[3] = {INT8OID, FLOAT4ARRAYOID, FLOAT4OID};
			Datum		values[3];

			semantic_id = patterns[plan->merge_into].id;
			resetStringInfo(&sql);
			appendStringInfo(&sql,
							 "UPDATE %s SET embedding = $2, confidence = $3 "
							 "WHERE id = $1 AND kind = 'semantic'",
							 space_name);
			values[0] = Int64GetDatum(semantic_id);
			values[1] = float_array_datum(plan->embedding, dims);
			values[2] = Float4GetDatum((float4) plan->confidence);
			if (SPI_execute_with_args(sql.data, 3, argtypes, values, NULL, false, 0)
				!= SPI_OK_UPDATE)
				elog(ERROR, "could not update semantic memory " INT64_FORMAT, semantic_id);
			summary->semantic_merged++;
		}

		/* Lineage: semantic -> each member episode. */
		resetStringInfo(&sql);
		appendStringInfo(&sql,
						 "INSERT INTO %s (src, dst, weight%s) VALUES ($1, $2, $3%s) "
						 "ON CONFLICT DO NOTHING",
						 association_name, association_has_kind ? ", kind" : "",
						 association_has_kind ? ", 'lineage'" : "");
		for (int m = 0; m < plan->nmembers; m++)
		{
			Oid			argtypes[3] = {INT8OID, INT8OID, FLOAT4OID};
			Datum		values[3];

			values[0] = Int64GetDatum(semantic_id);
			values[1] = Int64GetDatum(episodes[plan->members[m]].id);
			values[2] = Float4GetDatum((float4) plan->member_weights[m]);
			if (SPI_execute_with_args(sql.data, 3, argtypes, values, NULL, false, 0)
				!= SPI_OK_INSERT)
				elog(ERROR, "could not insert a lineage association into \"%s\"",
					 association_name);
			summary->episodes_linked += SPI_processed;
		}
	}

	SPI_finish();
}

/*
 * Soft forgetting selection ----------------------------------------------
 *
 * The selection reads the rows of a space in id order and keeps the
 * episodes whose effective confidence at "now", as recall computes it
 * (engram_recall_effective_confidence: the row's forgetting curve or the
 * space's default, last access from the access statistics, else
 * created_at, else occurred_at), is under the threshold and which are not
 * in the cold tier already.  Two ways to read:
 *
 *	whole space	 one cursor over "ORDER BY id" (engram_run_maintenance: a
 *				 manual call means "all of it, now");
 *	window		 at most max_rows rows, from the id after the previous
 *				 window's last one; at the end of the space it goes on from
 *				 the lowest id up to where it started (the worker: bounded
 *				 work per run, the whole space covered over successive
 *				 runs).  Each query is "id BETWEEN $1 AND $2 ORDER BY id
 *				 LIMIT $3" with sequential and bitmap scans disabled for it,
 *				 so the space's btree on id answers it with an index range
 *				 scan that stops after max_rows rows (a space without such
 *				 an index falls back to a sequential scan, still bounded in
 *				 rows examined but not in rows read).
 *
 * Every row read counts as examined (episodes or not: the index returns
 * them all) and costs ENGRAM_WORKER_COST_ROW_SCANNED.
 */

/* One selection in progress. */
typedef struct ForgettingSelection
{
	Oid			space;
	TimestampTz now;
	double		threshold;
	int			limit;			/* selections at most */
	char	   *default_decay;	/* the space's curve; NULL: none registered */
	char	   *select_list;	/* "SELECT ... FROM space", no WHERE */
	ItemPointer tids;			/* selected rows, room for "limit" */
	int			count;
	int64		examined;		/* rows read */
	int64		last_id;		/* id of the last row read with an id */
} ForgettingSelection;

static bool
selection_full(const ForgettingSelection *selection)
{
	return selection->count >= selection->limit;
}

/* Examine one row of the selection query (columns: see engram_forgetting_select). */
static void
examine_row(ForgettingSelection *selection, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		id = SPI_getbinval(tuple, desc, 1, &isnull);
	bool		candidate;
	ItemPointer tid;
	double		confidence;
	TimestampTz last_use;
	char	   *decay_function;
	double		effective;
	Datum		value;

	selection->examined++;
	engram_worker_charge(ENGRAM_WORKER_COST_ROW_SCANNED);
	if (!isnull)
		selection->last_id = DatumGetInt64(id);

	value = SPI_getbinval(tuple, desc, 6, &isnull);
	candidate = !isnull && DatumGetBool(value);
	if (!candidate)
		return;					/* not an episode, or no confidence */

	tid = (ItemPointer) DatumGetPointer(SPI_getbinval(tuple, desc, 2, &isnull));
	confidence = DatumGetFloat4(SPI_getbinval(tuple, desc, 3, &isnull));
	value = SPI_getbinval(tuple, desc, 4, &isnull);
	last_use = isnull ? selection->now : DatumGetTimestampTz(value);
	value = SPI_getbinval(tuple, desc, 5, &isnull);
	decay_function = isnull ? NULL : TextDatumGetCString(value);

	effective = engram_recall_effective_confidence(selection->space, tid, confidence, last_use,
												   decay_function, selection->default_decay,
												   selection->now);
	if (decay_function != NULL)
		pfree(decay_function);
	if (effective >= selection->threshold)
		return;
	if (strcmp(engram_recall_row_tier(selection->space, tid), "cold") == 0)
		return;
	selection->tids[selection->count++] = *tid;
}

/*
 * Run one selection query through a cursor, FORGETTING_FETCH_ROWS rows at
 * a time, examining rows until the query ends or the selection is full.
 * Returns the rows examined.  Inside SPI.
 */
static int64
examine_query(ForgettingSelection *selection, const char *sql, int nargs, Oid *argtypes,
			  Datum *values)
{
	Portal		portal;
	int64		examined = 0;
	bool		done = false;

	portal = SPI_cursor_open_with_args(NULL, sql, nargs, argtypes, values, NULL, true, 0);
	while (!done && !selection_full(selection))
	{
		SPI_cursor_fetch(portal, true, FORGETTING_FETCH_ROWS);
		done = (SPI_processed == 0);
		for (uint64 i = 0; i < SPI_processed && !selection_full(selection); i++)
		{
			CHECK_FOR_INTERRUPTS();
			examine_row(selection, SPI_tuptable->vals[i], SPI_tuptable->tupdesc);
			examined++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	return examined;
}

/*
 * Examine the rows with low <= id <= high in id order, at most max_rows,
 * through index range scans on id (see above), FORGETTING_QUERY_ROWS rows
 * a query: between queries no cursor holds a snapshot, so the worker may
 * nap there holding none (engram_worker_nap_point).  Returns the rows
 * examined: fewer than max_rows while the selection is not full means the
 * range is exhausted.  Inside SPI.
 */
static int64
examine_id_range(ForgettingSelection *selection, int64 low, int64 high, int64 max_rows)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3];
	StringInfoData sql;
	int			nestlevel = NewGUCNestLevel();
	int64		examined = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "%s WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3",
					 selection->select_list);
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	while (examined < max_rows && !selection_full(selection))
	{
		int64		query_rows = Min(max_rows - examined, FORGETTING_QUERY_ROWS);
		int64		query_examined;

		values[0] = Int64GetDatum(low);
		values[1] = Int64GetDatum(high);
		values[2] = Int64GetDatum(query_rows);
		query_examined = examine_query(selection, sql.data, 3, argtypes, values);
		examined += query_examined;
		if (query_examined < query_rows || selection->last_id >= high)
			break;				/* the range is exhausted */
		low = selection->last_id + 1;
		engram_worker_nap_point();
	}
	AtEOXact_GUC(true, nestlevel);
	pfree(sql.data);
	return examined;
}

/*
 * One window of at most scan->max_rows rows after scan->last_id (from the
 * lowest id when !scan->positioned); at the end of the space, on from the
 * lowest id up to where the window started.  Updates *scan for the next
 * window (see EngramForgettingScan).  Inside SPI.
 */
static void
examine_window(ForgettingSelection *selection, EngramForgettingScan *scan)
{
	bool		from_start = !scan->positioned;
	int64		started_after = scan->last_id;
	int64		budget = scan->max_rows;
	int64		examined;
	bool		at_end;

	scan->wrapped = false;
	if (!from_start && started_after == PG_INT64_MAX)
		examined = 0;			/* nothing can follow */
	else
		examined = examine_id_range(selection, from_start ? PG_INT64_MIN : started_after + 1,
									PG_INT64_MAX, budget);
	at_end = examined < budget && !selection_full(selection);
	budget -= examined;

	if (!at_end)
	{
		/* stopped by the window or by the selection limit: go on after it */
		scan->positioned = true;
		scan->last_id = selection->last_id;
		return;
	}
	scan->wrapped = true;
	if (from_start)
	{
		/* the whole space fitted in the window: next time from the start */
		scan->positioned = false;
		return;
	}
	examined = examine_id_range(selection, PG_INT64_MIN, started_after, budget);
	if (examined < budget && !selection_full(selection))
		scan->positioned = false;	/* every row examined in this window */
	else
	{
		scan->positioned = true;
		scan->last_id = selection->last_id;
	}
}

ItemPointer
engram_forgetting_select(Oid space, TimestampTz now, double threshold, int limit,
						 EngramForgettingScan *scan, int *ntids)
{
	MemoryContext caller_context = CurrentMemoryContext;
	uint32		present = check_columns(space, space_columns, lengthof(space_columns), "space");
	ForgettingSelection selection;
	StringInfoData sql;

	memset(&selection, 0, sizeof(selection));
	selection.space = space;
	selection.now = now;
	selection.threshold = threshold;
	selection.limit = limit;
	selection.default_decay = space_default_decay(space);
	selection.tids = palloc(sizeof(ItemPointerData) * Max(limit, 1));
	scan->examined = 0;
	scan->wrapped = false;
	*ntids = 0;
	if (limit <= 0)
		return selection.tids;

	/* Columns: 1 id, 2 ctid, 3 confidence, 4 last use fallback, 5 curve, 6 candidate. */
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT id, ctid, confidence, %s, %s, "
					 "kind = 'episodic' AND confidence IS NOT NULL FROM %s",
					 (present & SPACE_HAS_CREATED_AT) ? "COALESCE(created_at, occurred_at)"
					 : "occurred_at",
					 (present & SPACE_HAS_DECAY_FUNCTION) ? "decay_function" : "NULL::pg_catalog.text",
					 qualified_name(space));
	selection.select_list = sql.data;

	SPI_connect();
	if (scan->max_rows > 0)
		examine_window(&selection, scan);
	else
	{
		StringInfoData whole;

		initStringInfo(&whole);
		appendStringInfo(&whole, "%s ORDER BY id", selection.select_list);
		(void) examine_query(&selection, whole.data, 0, NULL, NULL);
		scan->wrapped = !selection_full(&selection);
		scan->positioned = false;
	}
	SPI_finish();
	MemoryContextSwitchTo(caller_context);

	scan->examined = selection.examined;
	*ntids = selection.count;
	return selection.tids;
}
