/*-------------------------------------------------------------------------
 *
 * worker_jobs.c
 *	  The worker's jobs: warm-up, tier migration, consolidation, soft
 *	  forgetting, access-statistics persistence, the flush of engram_hnsw
 *	  pending lists; the table AM provider.
 *
 * Every job is called inside a transaction with an active snapshot and
 * works space by space.  The spaces are the one engram_run_maintenance()
 * names, or (worker) every space of the registry engram_space_catalog.
 *
 * In the worker (context->as_table_owner) each space runs in its own
 * subtransaction as the owner of the space table, with
 * SECURITY_RESTRICTED_OPERATION like autovacuum's index functions, so a
 * trigger on a user's table never runs with the worker's superuser rights,
 * and one broken space does not stop the others: its error is counted in
 * result->failures and its work rolled back.  engram_run_maintenance()
 * runs as the caller and lets errors propagate (nothing partly written).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "engram.h"
#include "consolidate/engram_consolidate.h"
#include "metrics/engram_metrics.h"
#include "shmem/engram_access_stats.h"
#include "worker/engram_worker.h"

static const EngramTierProvider *tier_provider = NULL;

#define TABLE_AM_UNAVAILABLE	"unavailable: table access method not installed"
#define REGISTRY_UNAVAILABLE	"unavailable: memory space registry (engram_space_catalog) not installed"
#define MOVE_API_PENDING		"pending: tier move API"

void
engram_worker_set_tier_provider(const EngramTierProvider *provider)
{
	tier_provider = provider;
}

const EngramTierProvider *
engram_worker_tier_provider(void)
{
	return tier_provider;
}

const char *
engram_job_needs_table_am(void)
{
	return tier_provider == NULL ? TABLE_AM_UNAVAILABLE : NULL;
}

/* Work on one space; may raise ERROR. */
typedef void (*SpaceWork) (EngramJobContext *context, Oid space, Oid associations,
						   EngramJobResult *result);

/*
 * The spaces to work on: the one of engram_run_maintenance(), else every
 * space of the registry that still exists.  Returns -1 when there is no
 * registry.  Arrays are palloc'd in the current context.
 */
static int
list_spaces(EngramJobContext *context, Oid **spaces, Oid **associations)
{
	Oid			schema;
	Oid			registry;
	StringInfoData sql;
	int			count = 0;
	bool		pushed;

	if (OidIsValid(context->only_space))
	{
		*spaces = palloc(sizeof(Oid));
		*associations = palloc(sizeof(Oid));
		(*spaces)[0] = context->only_space;
		(*associations)[0] = context->only_associations;
		return 1;
	}

	schema = engram_extension_schema();
	if (!OidIsValid(schema))
		return -1;
	registry = get_relname_relid("engram_space_catalog", schema);
	if (!OidIsValid(registry))
		return -1;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT space::pg_catalog.oid, associations::pg_catalog.oid FROM %s.%s "
					 "ORDER BY space::pg_catalog.oid",
					 quote_identifier(get_namespace_name(schema)),
					 quote_identifier("engram_space_catalog"));
	/* a job that takes its own snapshots (see run_job_transaction) has none */
	pushed = !ActiveSnapshotSet();
	if (pushed)
		PushActiveSnapshot(GetTransactionSnapshot());
	SPI_connect();
	if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the space registry");
	*spaces = SPI_palloc(sizeof(Oid) * Max(SPI_processed, 1));
	*associations = SPI_palloc(sizeof(Oid) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			space = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		Oid			association = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 2,
																 &isnull));

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(space)))
			continue;
		(*spaces)[count] = space;
		(*associations)[count] = association;
		count++;
	}
	SPI_finish();
	if (pushed)
		PopActiveSnapshot();
	return count;
}

static Oid
relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("memory space %u no longer exists", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* Run "work" on one space in a subtransaction, as the table's owner. */
static void
run_space_isolated(EngramJobContext *context, Oid space, Oid associations, SpaceWork work,
				   EngramJobResult *result)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	Oid			saved_user;
	int			saved_security;
	Oid			owner;

	owner = relation_owner(space);
	GetUserIdAndSecContext(&saved_user, &saved_security);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		SetUserIdAndSecContext(owner, saved_security | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		work(context, space, associations, result);
		SetUserIdAndSecContext(saved_user, saved_security);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller_context);
		CurrentResourceOwner = caller_owner;
		SetUserIdAndSecContext(saved_user, saved_security);
		engram_worker_job_snapshot_after_rollback();

		if (result->failures++ == 0)
			snprintf(result->failure, sizeof(result->failure), "%s: %s",
					 get_rel_name(space) ? get_rel_name(space) : "?",
					 edata->message ? edata->message : "unknown error");
		ereport(LOG,
				(errmsg("engram worker: space \"%s\": %s",
						get_rel_name(space) ? get_rel_name(space) : "?", edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * Apply "work" to every space; returns the number of spaces, -1: no
 * registry.  The jobs' own reads are not uses of the memories: meanwhile
 * index fetches neither count as accesses (restored also on error) nor
 * fill the hot tier (engram.hot_tier_lookups off until the end of the
 * call; an error restores it with the transaction's abort).  Otherwise the
 * soft-forgetting scan alone would load every row into the hot tier, and
 * the next migration cycle would find them all hot.
 */
static int
for_each_space(EngramJobContext *context, SpaceWork work, EngramJobResult *result)
{
	Oid		   *spaces;
	Oid		   *associations;
	volatile int count = list_spaces(context, &spaces, &associations);
	int			nestlevel = NewGUCNestLevel();
	bool		tracking;

	if (GetConfigOption("engram.hot_tier_lookups", true, false) != NULL)
		(void) set_config_option("engram.hot_tier_lookups", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	tracking = engram_access_set_fetch_tracking(false);

	PG_TRY();
	{
		for (int i = 0; i < count; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (context->as_table_owner)
				run_space_isolated(context, spaces[i], associations[i], work, result);
			else
				work(context, spaces[i], associations[i], result);
			engram_worker_nap_point();
		}
	}
	PG_FINALLY();
	{
		(void) engram_access_set_fetch_tracking(tracking);
	}
	PG_END_TRY();
	AtEOXact_GUC(true, nestlevel);
	return count;
}

static void
report_spaces(EngramJobResult *result, int spaces, const char *what)
{
	if (spaces < 0)
	{
		strlcpy(result->detail, REGISTRY_UNAVAILABLE, sizeof(result->detail));
		result->unavailable = true;
	}
	else
		snprintf(result->detail, sizeof(result->detail), "%d space%s: %s",
				 spaces, spaces == 1 ? "" : "s", what);
}

/*
 * Move rows through the provider ENGRAM_WORKER_MOVE_CHUNK at a time,
 * charging each chunk's moves to the throttle (the worker may nap between
 * chunks).  Returns the rows moved.
 */
static int64
move_in_chunks(Oid space, const ItemPointerData *tids, int ntids, EngramTier target)
{
	int64		moved = 0;

	for (int start = 0; start < ntids; start += ENGRAM_WORKER_MOVE_CHUNK)
	{
		int			count = Min(ENGRAM_WORKER_MOVE_CHUNK, ntids - start);
		int64		chunk_moved = tier_provider->move_rows(space, tids + start, count, target);

		moved += chunk_moved;
		engram_worker_charge(chunk_moved * ENGRAM_WORKER_COST_ROW_MOVED);
	}
	return moved;
}

/*
 * Where the worker's windows of each space go on (soft forgetting: by id;
 * the migration listing: by heap block), by space OID.  Process memory: a
 * restarted worker starts every space from its start again (the windows
 * only bound work; starting over never selects a row twice, and a row is
 * at worst looked at later).  An entry of a dropped space is a few bytes
 * left until the worker exits; a new table that got its OID starts from
 * that position and wraps around.
 */
typedef struct SpacePosition
{
	Oid			space;			/* hash key */
	bool		positioned;		/* soft forgetting: last_id is set */
	int64		last_id;
	BlockNumber migration_block;	/* the next migration window's first block */
} SpacePosition;

static HTAB *space_positions = NULL;

static SpacePosition *
space_position(Oid space)
{
	bool		found;
	SpacePosition *position;

	if (space_positions == NULL)
	{
		HASHCTL		control;

		memset(&control, 0, sizeof(control));
		control.keysize = sizeof(Oid);
		control.entrysize = sizeof(SpacePosition);
		control.hcxt = TopMemoryContext;
		space_positions = hash_create("engram worker window positions", 64, &control,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	position = hash_search(space_positions, &space, HASH_ENTER, &found);
	if (!found)
	{
		position->positioned = false;
		position->last_id = 0;
		position->migration_block = 0;
	}
	return position;
}

/* Warm-up ------------------------------------------------------------------ */

static void
warmup_space(EngramJobContext *context, Oid space, Oid associations, EngramJobResult *result)
{
	result->rows_moved += tier_provider->warm_up(space, engram_migration_batch);
}

void
engram_job_warmup(EngramJobContext *context, EngramJobResult *result)
{
	int			spaces;
	char		what[64];

	if (tier_provider == NULL)
	{
		strlcpy(result->detail, TABLE_AM_UNAVAILABLE, sizeof(result->detail));
		result->unavailable = true;
		return;
	}
	spaces = for_each_space(context, warmup_space, result);
	snprintf(what, sizeof(what), INT64_FORMAT " rows loaded into the hot tier",
			 result->rows_moved);
	report_spaces(result, spaces, what);
}

/* Tier migration ------------------------------------------------------------ */

/* Does this cycle list candidates and a window (the worker) rather than every row? */
static inline bool
migration_in_windows(const EngramJobContext *context)
{
	return context->incremental && engram_migration_scan_pages > 0;
}

/*
 * One space's migration cycle: list (the worker: candidates and a window of
 * pages, see EngramListingScope; engram_run_maintenance: every row), plan,
 * move.  The window goes on where the previous cycle's stopped.
 */
static void
migrate_space(EngramJobContext *context, Oid space, Oid associations, EngramJobResult *result)
{
	EngramMigrationThresholds thresholds;
	EngramListingScope scope;
	EngramListingCounts counts = {0};
	SpacePosition *position = NULL;
	EngramTierRow *rows;
	EngramTierMove *moves;
	ItemPointerData *tids;
	EngramSlowDetails details;
	int			nrows = 0;
	int			nmoves;
	int64		moved_here = 0;

	engram_metrics_begin(ENGRAM_OP_MIGRATE);
	engram_migration_thresholds_current(&thresholds);
	memset(&scope, 0, sizeof(scope));
	scope.thresholds = &thresholds;
	scope.max_candidates = engram_migration_batch;
	if (migration_in_windows(context))
	{
		position = space_position(space);
		scope.window_pages = engram_migration_scan_pages;
		scope.window_start = position->migration_block;
	}
	rows = tier_provider->list_rows(space, &scope, &counts, &nrows);	/* charges its reads */
	result->rows_examined += counts.rows_read;
	result->pages_read += counts.pages_read;
	result->candidates += counts.candidates;
	if (counts.wrapped)
		result->spaces_wrapped++;
	moves = palloc(sizeof(EngramTierMove) * Max(Min(nrows, engram_migration_batch), 1));
	nmoves = engram_migration_plan(rows, nrows, &thresholds, engram_migration_batch, moves);
	tids = palloc(sizeof(ItemPointerData) * Max(nmoves, 1));

	/* One call per (from, to) pair, TIDs in plan order, counted per pair. */
	for (int from = 0; from < ENGRAM_TIER_COUNT; from++)
		for (int to = 0; to < ENGRAM_TIER_COUNT; to++)
		{
			int			ntids = 0;
			int64		moved;

			for (int i = 0; i < nmoves; i++)
				if (moves[i].from == (EngramTier) from && moves[i].to == (EngramTier) to)
					tids[ntids++] = moves[i].tid;
			if (ntids == 0)
				continue;
			moved = move_in_chunks(space, tids, ntids, (EngramTier) to);
			engram_metrics_tier_move((EngramTier) from, (EngramTier) to, moved);
			moved_here += moved;
		}
	result->rows_moved += moved_here;
	if (position != NULL)
		position->migration_block = counts.next_block;

	engram_slow_details_init(&details);
	details.space = space;
	details.rows = moved_here;
	engram_metrics_end(ENGRAM_OP_MIGRATE, &details);
}

void
engram_job_migration(EngramJobContext *context, EngramJobResult *result)
{
	int			spaces;
	char		what[ENGRAM_JOB_DETAIL_LEN];
	int			length;

	if (tier_provider == NULL)
	{
		strlcpy(result->detail, TABLE_AM_UNAVAILABLE, sizeof(result->detail));
		result->unavailable = true;
		return;
	}
	spaces = for_each_space(context, migrate_space, result);
	length = snprintf(what, sizeof(what), INT64_FORMAT " rows moved", result->rows_moved);
	/* the worker's windows: what this cycle read */
	if (migration_in_windows(context) && length < (int) sizeof(what))
		snprintf(what + length, sizeof(what) - length,
				 "; " INT64_FORMAT " rows read (" INT64_FORMAT " pages, " INT64_FORMAT
				 " candidates), %d wrapped around",
				 result->rows_examined, result->pages_read, result->candidates,
				 result->spaces_wrapped);
	report_spaces(result, spaces, what);
}

/* Consolidation ---------------------------------------------------------- */

static void
consolidate_space(EngramJobContext *context, Oid space, Oid associations,
				  EngramJobResult *result)
{
	EngramConsolidationSummary summary;

	engram_consolidate_space(space, associations, context->now, engram_consolidation_batch_size,
							 &summary);
	result->memories_consolidated += summary.semantic_created + summary.semantic_merged;
	result->episodes_linked += summary.episodes_linked;
}

void
engram_job_consolidation(EngramJobContext *context, EngramJobResult *result)
{
	int			spaces = for_each_space(context, consolidate_space, result);
	char		what[96];

	snprintf(what, sizeof(what), INT64_FORMAT " semantic memories created or merged, "
			 INT64_FORMAT " episodes linked",
			 result->memories_consolidated, result->episodes_linked);
	report_spaces(result, spaces, what);
}

/* Soft forgetting ---------------------------------------------------------- */

/* Does "relid" use the engram table access method (whose rows have tiers)? */
static bool
uses_engram_access_method(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	char	   *am_name = NULL;
	bool		engram;

	if (!HeapTupleIsValid(tuple))
		return false;
	if (OidIsValid(((Form_pg_class) GETSTRUCT(tuple))->relam))
		am_name = get_am_name(((Form_pg_class) GETSTRUCT(tuple))->relam);
	ReleaseSysCache(tuple);
	engram = am_name != NULL && strcmp(am_name, "engram") == 0;
	return engram;
}

/* Does this run examine windows (the worker) rather than whole spaces? */
static inline bool
forgetting_in_windows(const EngramJobContext *context)
{
	return context->incremental && engram_forgetting_scan_batch > 0;
}

/*
 * Episodes whose effective confidence, as recall computes it, is under
 * engram.min_confidence_threshold sink to the cold tier: never deleted,
 * never changed otherwise.  The worker examines a window of
 * engram.forgetting_scan_batch rows a run, going on where the previous run
 * stopped; engram_run_maintenance (and the worker with a batch of 0)
 * examines the whole space.  The position moves only once the moves are
 * done (a failed space examines the same window again next time).
 */
static void
forget_space(EngramJobContext *context, Oid space, Oid associations, EngramJobResult *result)
{
	EngramForgettingScan scan;
	SpacePosition *position = NULL;
	ItemPointer tids;
	int			ntids;

	memset(&scan, 0, sizeof(scan));
	if (forgetting_in_windows(context))
	{
		position = space_position(space);
		scan.max_rows = engram_forgetting_scan_batch;
		scan.positioned = position->positioned;
		scan.last_id = position->last_id;
	}
	tids = engram_forgetting_select(space, context->now, engram_min_confidence_threshold,
									engram_migration_batch, &scan, &ntids);
	result->episodes_selected += ntids;
	result->rows_examined += scan.examined;
	if (scan.wrapped)
		result->spaces_wrapped++;
	if (ntids > 0 && tier_provider != NULL && uses_engram_access_method(space))
	{
		int64		moved = move_in_chunks(space, tids, ntids, ENGRAM_TIER_COLD);

		engram_metrics_tier_move(ENGRAM_TIER_WARM, ENGRAM_TIER_COLD, moved);
		result->rows_moved += moved;
	}
	if (position != NULL)
	{
		position->positioned = scan.positioned;
		position->last_id = scan.last_id;
	}
}

void
engram_job_forgetting(EngramJobContext *context, EngramJobResult *result)
{
	int			spaces = for_each_space(context, forget_space, result);
	char		what[ENGRAM_JOB_DETAIL_LEN];
	int			length;

	if (tier_provider != NULL)
		length = snprintf(what, sizeof(what), INT64_FORMAT " episodes under the threshold, "
						  INT64_FORMAT " moved to cold", result->episodes_selected,
						  result->rows_moved);
	else
		length = snprintf(what, sizeof(what), INT64_FORMAT " episodes under the threshold; "
						  MOVE_API_PENDING, result->episodes_selected);
	/* the worker's windows: how far this run read */
	if (forgetting_in_windows(context) && length < (int) sizeof(what))
		snprintf(what + length, sizeof(what) - length,
				 "; " INT64_FORMAT " rows examined, %d wrapped around",
				 result->rows_examined, result->spaces_wrapped);
	report_spaces(result, spaces, what);
}

/* Access statistics -------------------------------------------------------- */

void
engram_job_access_stats(EngramJobContext *context, EngramJobResult *result)
{
	int64		saved;

	if (tier_provider == NULL)
	{
		strlcpy(result->detail, TABLE_AM_UNAVAILABLE, sizeof(result->detail));
		result->unavailable = true;
		return;
	}
	saved = tier_provider->save_access_stats();
	snprintf(result->detail, sizeof(result->detail), INT64_FORMAT " rows saved", saved);
}

/* Pending-list flush ------------------------------------------------------- */

/*
 * Merge pending-list entries of the engram_hnsw indexes of one space into
 * their graphs, ENGRAM_WORKER_MOVE_CHUNK at a time (the worker may nap
 * between chunks), while the cycle's budget (engram.pending_flush_batch,
 * less what earlier spaces used) lasts; then only count what is left
 * (result->rows_pending).  Locks are taken without waiting: a space or
 * index under DDL (a lock that conflicts with AccessShareLock on the table
 * or RowExclusiveLock on the index), or a list another process is merging,
 * is left for the next cycle.  Indexes in OID order.  A partitioned
 * table's partitions are not visited (a space is a plain table).
 */
static void
flush_space(EngramJobContext *context, Oid space, Oid associations, EngramJobResult *result)
{
	Relation	table;
	List	   *indexes;
	ListCell   *cell;

	if (!ConditionalLockRelationOid(space, AccessShareLock))
		return;
	table = try_table_open(space, NoLock);
	if (table == NULL)
	{
		UnlockRelationOid(space, AccessShareLock);
		return;
	}
	indexes = RelationGetIndexList(table);
	foreach(cell, indexes)
	{
		Oid			indexoid = lfirst_oid(cell);
		Relation	index;
		int64		left = 0;
		int64		merged;

		if (!ConditionalLockRelationOid(indexoid, RowExclusiveLock))
			continue;
		/* gone since the list was read (DROP INDEX CONCURRENTLY)? */
		index = try_relation_open(indexoid, NoLock);
		if (index == NULL)
		{
			UnlockRelationOid(indexoid, RowExclusiveLock);
			continue;
		}
		do
		{
			int64		budget = Min((int64) ENGRAM_WORKER_MOVE_CHUNK,
									 engram_pending_flush_batch - result->rows_flushed);

			CHECK_FOR_INTERRUPTS();
			/* a budget of 0 only reads how many entries are pending */
			merged = engram_hnsw_merge_pending_batch(index, Max(budget, 0), &left);
			if (merged > 0)
			{
				result->rows_flushed += merged;
				engram_worker_charge(merged * ENGRAM_WORKER_COST_ROW_FLUSHED);
			}
		} while (merged > 0 && left > 0);
		if (merged >= 0)
			result->rows_pending += left;
		relation_close(index, RowExclusiveLock);
	}
	list_free(indexes);
	table_close(table, AccessShareLock);
}

void
engram_job_pending_flush(EngramJobContext *context, EngramJobResult *result)
{
	int			spaces;
	char		what[96];

	if (engram_pending_flush_batch <= 0)
	{
		strlcpy(result->detail, "off: engram.pending_flush_batch = 0", sizeof(result->detail));
		return;
	}
	spaces = for_each_space(context, flush_space, result);
	snprintf(what, sizeof(what), INT64_FORMAT " pending entries merged, " INT64_FORMAT " left",
			 result->rows_flushed, result->rows_pending);
	report_spaces(result, spaces, what);
}
