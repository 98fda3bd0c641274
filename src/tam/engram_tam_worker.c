/*-------------------------------------------------------------------------
 *
 * engram_tam_worker.c
 *	  The table AM's side of the background worker: the tier provider
 *	  (src/worker/engram_worker_api.h) through which the worker's policy
 *	  lists rows with their tier and access rate, moves them, persists
 *	  access statistics and warms the hot tier up after a restart.
 *
 * Every callback runs in the worker's transaction with the worker's
 * privileges (the checks of engram_tam_move_rows apply) under a fresh
 * snapshot that sees the transaction's own earlier changes (the listing:
 * a fresh one per slice of its walk).  Row facts come from:
 *	tier			stub => cold, else warm; hot when the hot tier holds it
 *	accesses/hour	the access statistics' decayed count (time constant one
 *					hour), 0 for a row never accessed
 *	seconds in tier	now - the time the row's current version was written
 *					(insert, update, move: access statistics' "written");
 *					for a row written before tracking began (or beyond
 *					engram.access_stats_max_rows), the time since the
 *					server started
 * Moves asked by the worker are not counted in the tier-move metric here:
 * the worker counts them itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shmem/engram_access_stats.h"
#include "shmem/engram_hot_tier.h"
#include "tam/engram_tam.h"
#include "worker/engram_worker_api.h"

/*
 * Push a snapshot that sees everything the worker's transaction did so far
 * (its other jobs may have updated rows, giving them new TIDs), for the
 * duration of a callback.  Always returns true: the caller pops it.
 */
static bool
ensure_snapshot(void)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	return true;
}

/* The table, if it is an engram table the caller may read; else NULL. */
static Relation
open_engram_table(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);

	if (!engram_relation_is_engram(rel))
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	return rel;
}

/*
 * provider_list_rows' state while engram_tam_walk_visible runs.  The walk
 * visits tuples in ascending TID order, so the access statistics, sorted
 * by TID, are matched by a cursor that only moves forward (no lookup per
 * row: the walk visits every row of the space each cycle).
 */
typedef struct TierRowList
{
	EngramTierRow *rows;
	int			count;
	int			max;
	const EngramAccessRow *stats;	/* ascending TIDs */
	int			nstats;
	int			next_stat;		/* first entry not below the last TID visited */
	TimestampTz now;
} TierRowList;

static int
by_tid(const void *a, const void *b)
{
	const EngramAccessRow *x = a;
	const EngramAccessRow *y = b;

	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

/* The statistics of "tid", or NULL; "tid" must not be below the last one asked. */
static const EngramAccessRow *
stat_of(TierRowList *list, ItemPointer tid)
{
	while (list->next_stat < list->nstats &&
		   ItemPointerCompare((ItemPointer) &list->stats[list->next_stat].tid, tid) < 0)
		list->next_stat++;
	if (list->next_stat < list->nstats &&
		ItemPointerEquals((ItemPointer) &list->stats[list->next_stat].tid, tid))
		return &list->stats[list->next_stat];
	return NULL;
}

static bool
collect_tier_row(HeapTuple tuple, void *arg)
{
	TierRowList *list = (TierRowList *) arg;
	EngramTierRow *row;
	const EngramAccessRow *stat;

	if (list->count >= list->max)
	{
		list->max *= 2;
		list->rows = repalloc(list->rows, sizeof(EngramTierRow) * list->max);
	}
	row = &list->rows[list->count++];
	row->tid = tuple->t_self;
	row->tier = engram_tuple_is_stub(tuple->t_data, tuple->t_len) ?
		ENGRAM_TIER_COLD : ENGRAM_TIER_WARM;
	stat = stat_of(list, &tuple->t_self);
	row->accesses_per_hour = stat ? stat->info.recent : 0;
	row->seconds_in_tier = (double) (list->now - (stat && stat->info.written != 0 ?
												  stat->info.written : PgStartTime)) / USECS_PER_SEC;
	return true;
}

/*
 * The walk takes a fresh snapshot per slice and none while the worker naps
 * (see engram_tam_walk_visible): the listing only plans moves, and
 * engram_tam_move_rows skips rows changed since.
 */
static EngramTierRow *
provider_list_rows(Oid relid, int *nrows)
{
	Relation	rel;
	EngramTierRow *rows;
	int			n = 0;
	int			max = 256;
	EngramAccessRow *stats;
	int			nstats;
	TimestampTz now = GetCurrentTimestamp();
	TierRowList list = {0};

	CommandCounterIncrement();	/* the walk sees this transaction's earlier changes */
	rel = open_engram_table(relid);
	rows = palloc(sizeof(EngramTierRow) * max);
	*nrows = 0;
	if (rel == NULL)
		return rows;

	stats = engram_access_collect(relid, &nstats);
	qsort(stats, nstats, sizeof(EngramAccessRow), by_tid);

	list.rows = rows;
	list.max = max;
	list.stats = stats;
	list.nstats = nstats;
	list.now = now;
	engram_tam_walk_visible(rel, NULL, false, collect_tier_row, &list);
	rows = list.rows;
	n = list.count;
	/* Hot-tier membership, without holding buffer locks. */
	for (int i = 0; i < n; i++)
		if (engram_hot_tier_has(rel, &rows[i].tid))
			rows[i].tier = ENGRAM_TIER_HOT;

	table_close(rel, AccessShareLock);
	pfree(stats);
	*nrows = n;
	return rows;
}

static int64
provider_move_rows(Oid relid, const ItemPointerData *tids, int ntids, EngramTier target)
{
	bool		pushed = ensure_snapshot();
	int64		moved;

	moved = engram_tam_move_rows(relid, (ItemPointer) tids, ntids, target, false);
	if (pushed)
		PopActiveSnapshot();
	return moved;
}

static int64
provider_save_access_stats(void)
{
	return engram_access_stats_save();
}

static int
by_recent_accesses(const void *a, const void *b)
{
	const EngramAccessRow *x = a;
	const EngramAccessRow *y = b;

	if (x->info.recent != y->info.recent)
		return x->info.recent > y->info.recent ? -1 : 1;
	if (x->info.count != y->info.count)
		return x->info.count > y->info.count ? -1 : 1;
	return by_tid(a, b);
}

/*
 * The most accessed rows of "relid" by the access statistics (loaded from
 * the saved file after a restart) into the hot tier.  Nothing on a standby:
 * the hot tier is not used during recovery (see engram_hot_tier.h).
 */
static int64
provider_warm_up(Oid relid, int64 max_rows)
{
	bool		pushed;
	EngramAccessRow *stats;
	int			nstats;
	ItemPointer tids;
	int			ntids = 0;
	int64		moved;

	if (!engram_hot_tier_available() || max_rows <= 0)
		return 0;
	stats = engram_access_collect(relid, &nstats);
	qsort(stats, nstats, sizeof(EngramAccessRow), by_recent_accesses);
	tids = palloc(sizeof(ItemPointerData) * Max(nstats, 1));
	for (int i = 0; i < nstats && ntids < max_rows; i++)
		if (stats[i].info.count > 0)
			tids[ntids++] = stats[i].tid;
	if (ntids == 0)
		return 0;
	pushed = ensure_snapshot();
	moved = engram_tam_move_rows(relid, tids, ntids, ENGRAM_TIER_HOT, false);
	if (pushed)
		PopActiveSnapshot();
	return moved;
}

static const EngramTierProvider engram_tam_tier_provider = {
	.list_rows = provider_list_rows,
	.move_rows = provider_move_rows,
	.save_access_stats = provider_save_access_stats,
	.warm_up = provider_warm_up,
};

void
engram_tam_register_tier_provider(void)
{
	engram_worker_set_tier_provider(&engram_tam_tier_provider);
}
