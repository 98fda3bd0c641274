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
#include "lib/qunique.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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

static int
by_tid(const void *a, const void *b)
{
	const EngramAccessRow *x = a;
	const EngramAccessRow *y = b;

	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

static int
compare_item_pointers(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/* A space's access statistics, sorted by TID, and the listing's clock. */
typedef struct RowFacts
{
	EngramAccessRow *stats;
	int			nstats;
	TimestampTz now;
} RowFacts;

/* Access rate and time in tier of the row at "tid" (see the file's header). */
static void
row_facts(const RowFacts *facts, ItemPointer tid, double *accesses_per_hour,
		  double *seconds_in_tier)
{
	EngramAccessRow key;
	const EngramAccessRow *stat;

	key.tid = *tid;
	stat = bsearch(&key, facts->stats, facts->nstats, sizeof(EngramAccessRow), by_tid);
	*accesses_per_hour = stat ? stat->info.recent : 0;
	*seconds_in_tier = (double) (facts->now - (stat && stat->info.written != 0 ?
											   stat->info.written : PgStartTime)) / USECS_PER_SEC;
}

/* The rows a listing collects while the walks run. */
typedef struct TierRowList
{
	EngramTierRow *rows;
	int			count;
	int			max;
	const RowFacts *facts;
} TierRowList;

static bool
collect_tier_row(HeapTuple tuple, void *arg)
{
	TierRowList *list = (TierRowList *) arg;
	EngramTierRow *row;

	if (list->count >= list->max)
	{
		list->max *= 2;
		list->rows = repalloc(list->rows, sizeof(EngramTierRow) * list->max);
	}
	row = &list->rows[list->count++];
	row->tid = tuple->t_self;
	row->tier = engram_tuple_is_stub(tuple->t_data, tuple->t_len) ?
		ENGRAM_TIER_COLD : ENGRAM_TIER_WARM;
	row_facts(list->facts, &tuple->t_self, &row->accesses_per_hour, &row->seconds_in_tier);
	return true;
}

static int
by_tier_row_tid(const void *a, const void *b)
{
	return compare_item_pointers(&((const EngramTierRow *) a)->tid,
								 &((const EngramTierRow *) b)->tid);
}

/*
 * Row versions that the cold -> warm rule alone makes promotion candidates
 * and that a listing found warm, per space, ascending TIDs.  A version
 * (TID, time written) found warm stays warm: every tier move and update
 * writes a new version whose statistics move to its TID with a new time
 * written (engram_access_move), and an insert into a freed TID gives it a
 * new time written (0, unknown, included: a row written before tracking
 * began keeps its entry until it moves).  So later listings do not read it
 * again while its rate stays under the warm -> hot rule (it would make no
 * move); should a version be taken for another, the window still reads
 * the row within a sweep.  Process memory, replaced by each listing of the
 * space; the entry of a dropped space stays until the worker exits.
 */
typedef struct SettledRow
{
	ItemPointerData tid;
	TimestampTz written;
} SettledRow;

typedef struct SettledRows
{
	Oid			relid;
	SettledRow *rows;			/* in TopMemoryContext */
	int			count;
} SettledRows;

static List *settled_spaces = NIL;

static SettledRows *
settled_rows_of(Oid relid)
{
	ListCell   *cell;
	SettledRows *settled;
	MemoryContext old;

	foreach(cell, settled_spaces)
		if (((SettledRows *) lfirst(cell))->relid == relid)
			return (SettledRows *) lfirst(cell);
	old = MemoryContextSwitchTo(TopMemoryContext);
	settled = palloc0(sizeof(SettledRows));
	settled->relid = relid;
	settled_spaces = lappend(settled_spaces, settled);
	MemoryContextSwitchTo(old);
	return settled;
}

static int
by_settled_tid(const void *a, const void *b)
{
	return compare_item_pointers(&((const SettledRow *) a)->tid, &((const SettledRow *) b)->tid);
}

/* Is this version of the row known to be warm? */
static bool
known_warm(const SettledRows *settled, const EngramAccessRow *stat)
{
	SettledRow	key;
	const SettledRow *found;

	key.tid = stat->tid;
	found = bsearch(&key, settled->rows, settled->count, sizeof(SettledRow), by_settled_tid);
	return found != NULL && found->written == stat->info.written;
}

/* Only the cold -> warm rule would promote a row with this rate? */
static bool
promotes_only_from_cold(double accesses_per_hour, const EngramMigrationThresholds *thresholds)
{
	return engram_migration_may_promote(accesses_per_hour, thresholds) &&
		engram_migration_target(ENGRAM_TIER_WARM, accesses_per_hour, 0, thresholds) !=
		ENGRAM_TIER_HOT;
}

/*
 * Replace the space's settled rows by those still settled: the listed
 * rows found warm that only the cold -> warm rule makes candidates, and
 * the settled rows the listing skipped (same version, same rule).
 */
static void
remember_settled_rows(SettledRows *settled, const RowFacts *facts, const EngramTierRow *rows,
					  int nrows, const EngramMigrationThresholds *thresholds)
{
	SettledRow *next = MemoryContextAlloc(TopMemoryContext,
										  sizeof(SettledRow) * Max(facts->nstats, 1));
	int			count = 0;

	for (int i = 0; i < facts->nstats; i++)
	{
		const EngramAccessRow *stat = &facts->stats[i];
		EngramTierRow key;
		const EngramTierRow *row;

		if (!promotes_only_from_cold(stat->info.recent, thresholds))
			continue;
		key.tid = stat->tid;
		row = bsearch(&key, rows, nrows, sizeof(EngramTierRow), by_tier_row_tid);
		if (row != NULL ? row->tier == ENGRAM_TIER_WARM : known_warm(settled, stat))
		{
			next[count].tid = stat->tid;
			next[count].written = stat->info.written;
			count++;
		}
	}
	if (settled->rows != NULL)
		pfree(settled->rows);
	settled->rows = next;
	settled->count = count;
}

/*
 * Append the TIDs of the first "max" of "moves" in the plan's order
 * (promotions most used first, demotions least used first, ties by TID)
 * to "tids".
 */
static void
keep_first(EngramTierMove *moves, int nmoves, int max, ItemPointerData *tids, int *ntids)
{
	qsort(moves, nmoves, sizeof(EngramTierMove), engram_migration_compare_moves);
	for (int i = 0; i < Min(nmoves, max); i++)
		tids[(*ntids)++] = moves[i].tid;
}

/* A possible move of the row at "tid", to be ranked by keep_first. */
static void
add_move(EngramTierMove *moves, int *nmoves, ItemPointer tid, EngramTier from, EngramTier to,
		 double accesses_per_hour)
{
	EngramTierMove *move = &moves[(*nmoves)++];

	move->tid = *tid;
	move->from = from;
	move->to = to;
	move->accesses_per_hour = accesses_per_hour;
}

/*
 * The candidates of EngramListingScope (promotions from the access
 * statistics, demotions from the hot tier): ascending TIDs, each once.
 */
static ItemPointerData *
migration_candidates(Relation rel, const RowFacts *facts, const EngramListingScope *scope,
					 const SettledRows *settled, int *ntids)
{
	const EngramMigrationThresholds *thresholds = scope->thresholds;
	int			nhot;
	ItemPointerData *hot = engram_hot_tier_collect_tids(RelationGetRelid(rel), &nhot);
	EngramTierMove *promotions = palloc(sizeof(EngramTierMove) * Max(facts->nstats, 1));
	EngramTierMove *demotions = palloc(sizeof(EngramTierMove) * Max(nhot, 1));
	int			npromotions = 0;
	int			ndemotions = 0;
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * Max(2 * scope->max_candidates, 1));
	int			count = 0;

	/*
	 * (warm -> hot stands for either promotion: only the direction ranks;
	 * the rows already hot are those just collected, searched sorted
	 * rather than probed in the hot tier once per statistics entry)
	 */
	qsort(hot, nhot, sizeof(ItemPointerData), compare_item_pointers);
	for (int i = 0; i < facts->nstats; i++)
	{
		const EngramAccessRow *stat = &facts->stats[i];

		if (!engram_migration_may_promote(stat->info.recent, thresholds) ||
			(promotes_only_from_cold(stat->info.recent, thresholds) && known_warm(settled, stat)) ||
			bsearch(&stat->tid, hot, nhot, sizeof(ItemPointerData), compare_item_pointers) != NULL)
			continue;
		add_move(promotions, &npromotions, (ItemPointer) &stat->tid, ENGRAM_TIER_WARM,
				 ENGRAM_TIER_HOT, stat->info.recent);
	}
	for (int i = 0; i < nhot; i++)
	{
		double		rate;
		double		seconds;

		row_facts(facts, &hot[i], &rate, &seconds);
		if (engram_migration_target(ENGRAM_TIER_HOT, rate, seconds, thresholds) !=
			ENGRAM_TIER_HOT)
			add_move(demotions, &ndemotions, &hot[i], ENGRAM_TIER_HOT, ENGRAM_TIER_WARM, rate);
	}
	keep_first(promotions, npromotions, scope->max_candidates, tids, &count);
	keep_first(demotions, ndemotions, scope->max_candidates, tids, &count);
	qsort(tids, count, sizeof(ItemPointerData), compare_item_pointers);
	*ntids = (int) qunique(tids, count, sizeof(ItemPointerData), compare_item_pointers);
	pfree(hot);
	pfree(promotions);
	pfree(demotions);
	return tids;
}

/*
 * The window of EngramListingScope: window_pages pages from window_start,
 * on from block 0 at the end of the table; sets counts->next_block and
 * counts->wrapped.
 */
static void
walk_window(Relation rel, const EngramListingScope *scope, TierRowList *list,
			EngramWalkCounts *walked, EngramListingCounts *counts)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	BlockNumber start = scope->window_start < nblocks ? scope->window_start : 0;
	BlockNumber pages = (BlockNumber) Min((int64) nblocks, scope->window_pages);
	BlockNumber before_end = Min(pages, nblocks - start);

	engram_tam_walk_visible_range(rel, NULL, false, start, before_end, collect_tier_row, list,
								  walked);
	counts->next_block = start + before_end;
	if (counts->next_block >= nblocks)
	{
		counts->wrapped = true;
		counts->next_block = pages - before_end;
		engram_tam_walk_visible_range(rel, NULL, false, 0, counts->next_block, collect_tier_row,
									  list, walked);
	}
}

/*
 * The walks take a fresh snapshot per slice and none while the worker naps
 * (see engram_tam_walk_visible): the listing only plans moves, and
 * engram_tam_move_rows skips rows changed since.
 */
static EngramTierRow *
provider_list_rows(Oid relid, const EngramListingScope *scope, EngramListingCounts *counts,
				   int *nrows)
{
	Relation	rel;
	RowFacts	facts;
	TierRowList list = {0};
	EngramWalkCounts walked = {0};
	SettledRows *settled = NULL;

	CommandCounterIncrement();	/* the walk sees this transaction's earlier changes */
	rel = open_engram_table(relid);
	list.max = 256;
	list.rows = palloc(sizeof(EngramTierRow) * list.max);
	*nrows = 0;
	if (rel == NULL)
		return list.rows;

	facts.now = GetCurrentTimestamp();
	facts.stats = engram_access_collect(relid, &facts.nstats);
	qsort(facts.stats, facts.nstats, sizeof(EngramAccessRow), by_tid);
	list.facts = &facts;
	if (scope->window_pages <= 0)
		engram_tam_walk_visible_range(rel, NULL, false, 0, InvalidBlockNumber, collect_tier_row,
									  &list, &walked);
	else
	{
		int			ncandidates;
		ItemPointerData *candidates;

		settled = settled_rows_of(relid);
		candidates = migration_candidates(rel, &facts, scope, settled, &ncandidates);

		engram_tam_visit_tids(rel, candidates, ncandidates, collect_tier_row, &list, &walked);
		counts->candidates += ncandidates;
		walk_window(rel, scope, &list, &walked, counts);
		/* a candidate inside the window was visited twice */
		qsort(list.rows, list.count, sizeof(EngramTierRow), by_tier_row_tid);
		list.count = (int) qunique(list.rows, list.count, sizeof(EngramTierRow),
								   by_tier_row_tid);
		pfree(candidates);
	}
	counts->rows_read += walked.rows_read;
	counts->pages_read += walked.pages_read;
	/* Hot-tier membership, without holding buffer locks. */
	for (int i = 0; i < list.count; i++)
		if (engram_hot_tier_has(rel, &list.rows[i].tid))
			list.rows[i].tier = ENGRAM_TIER_HOT;
	if (settled != NULL)
		remember_settled_rows(settled, &facts, list.rows, list.count, scope->thresholds);

	table_close(rel, AccessShareLock);
	pfree(facts.stats);
	*nrows = list.count;
	return list.rows;
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
