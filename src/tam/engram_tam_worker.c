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
#include "lib/binaryheap.h"
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
compare_item_pointers(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/*
 * Access rate and time in tier of the row at "tid" as of "now" (see the
 * file's header); *info gets its statistics, and the result says whether
 * it has any.  Takes a partition lock: no buffer lock may be held.
 */
static bool
row_facts(Oid relid, ItemPointer tid, TimestampTz now, double *accesses_per_hour,
		  double *seconds_in_tier, EngramAccessInfo *info)
{
	bool		tracked = engram_access_lookup_at(relid, tid, now, info);

	*accesses_per_hour = tracked ? info->recent : 0;
	*seconds_in_tier = (double) (now - (tracked && info->written != 0 ?
										info->written : PgStartTime)) / USECS_PER_SEC;
	return tracked;
}

/* The rows a listing collects while the walks run (tid and heap tier only). */
typedef struct TierRowList
{
	EngramTierRow *rows;
	int			count;
	int			max;
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
	bool		still;			/* this listing's statistics still show this
								 * version at a rate only cold -> warm
								 * promotes */
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

/* The settled entry of this version of the row, if it is known to be warm. */
static SettledRow *
settled_version(const SettledRows *settled, const EngramAccessRow *stat)
{
	SettledRow	key;
	SettledRow *found;

	key.tid = stat->tid;
	found = bsearch(&key, settled->rows, settled->count, sizeof(SettledRow), by_settled_tid);
	return found != NULL && found->written == stat->info.written ? found : NULL;
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
 * Replace the space's settled rows by those still settled: "found_warm"
 * (the listed rows found warm that only the cold -> warm rule makes
 * candidates, ascending TIDs) and the settled rows the listing's
 * statistics still show (SettledRow.still) that it did not list.  Both
 * ascending and disjoint: merged.
 */
static void
remember_settled_rows(SettledRows *settled, const EngramTierRow *rows, int nrows,
					  const SettledRow *found_warm, int nfound)
{
	SettledRow *next = MemoryContextAlloc(TopMemoryContext,
										  sizeof(SettledRow) * Max(settled->count + nfound, 1));
	int			count = 0;
	int			f = 0;

	for (int i = 0; i < settled->count; i++)
	{
		const SettledRow *old = &settled->rows[i];
		EngramTierRow key;

		key.tid = old->tid;
		if (!old->still ||
			bsearch(&key, rows, nrows, sizeof(EngramTierRow), by_tier_row_tid) != NULL)
			continue;
		while (f < nfound && compare_item_pointers(&found_warm[f].tid, &old->tid) < 0)
			next[count++] = found_warm[f++];
		next[count++] = *old;
	}
	while (f < nfound)
		next[count++] = found_warm[f++];
	if (settled->rows != NULL)
		pfree(settled->rows);
	settled->rows = next;
	settled->count = count;
}

/*
 * The first "max" moves in the plan's order among those offered, kept
 * while they are offered (a heap of at most "max", the last of them in
 * plan order on top): no list of every move, no sort of it.
 */
typedef struct BestMoves
{
	EngramTierMove *moves;		/* count kept, in no particular order */
	int			count;
	int			max;
	binaryheap *heap;			/* indexes into moves */
} BestMoves;

static int
later_in_plan(Datum a, Datum b, void *arg)
{
	const EngramTierMove *moves = (const EngramTierMove *) arg;

	return engram_migration_compare_moves(&moves[DatumGetInt32(a)], &moves[DatumGetInt32(b)]);
}

static void
best_moves_init(BestMoves *best, int max)
{
	best->max = Max(max, 0);
	best->count = 0;
	best->moves = palloc(sizeof(EngramTierMove) * Max(best->max, 1));
	best->heap = binaryheap_allocate(Max(best->max, 1), later_in_plan, best->moves);
}

/* Offer a possible move of the row at "tid" (allocates nothing). */
static void
best_moves_offer(BestMoves *best, ItemPointer tid, EngramTier from, EngramTier to,
				 double accesses_per_hour)
{
	EngramTierMove move;
	int			slot;

	move.tid = *tid;
	move.from = from;
	move.to = to;
	move.accesses_per_hour = accesses_per_hour;
	if (best->count < best->max)
	{
		best->moves[best->count] = move;
		binaryheap_add(best->heap, Int32GetDatum(best->count));
		best->count++;
		return;
	}
	if (best->max == 0)
		return;
	slot = DatumGetInt32(binaryheap_first(best->heap));
	if (engram_migration_compare_moves(&move, &best->moves[slot]) < 0)
	{
		best->moves[slot] = move;
		binaryheap_replace_first(best->heap, Int32GetDatum(slot));
	}
}

/* Append the TIDs of the moves kept to "tids" and free "best". */
static void
best_moves_take(BestMoves *best, ItemPointerData *tids, int *ntids)
{
	for (int i = 0; i < best->count; i++)
		tids[(*ntids)++] = best->moves[i].tid;
	binaryheap_free(best->heap);
	pfree(best->moves);
}

/* What consider_promotion needs, under a partition lock. */
typedef struct PromotionScan
{
	const EngramMigrationThresholds *thresholds;
	SettledRows *settled;
	const ItemPointerData *hot;	/* the space's hot rows, ascending */
	int			nhot;
	BestMoves  *promotions;
} PromotionScan;

/*
 * One row's statistics (engram_access_visit): a promotion candidate unless
 * no rule promotes its rate, it is a settled version only the cold -> warm
 * rule would promote (marked still settled), or it is already hot.
 * (warm -> hot stands for either promotion: only the direction ranks.)
 */
static void
consider_promotion(const EngramAccessRow *stat, void *arg)
{
	PromotionScan *scan = (PromotionScan *) arg;
	SettledRow *settled;

	if (!engram_migration_may_promote(stat->info.recent, scan->thresholds))
		return;
	if (promotes_only_from_cold(stat->info.recent, scan->thresholds) &&
		(settled = settled_version(scan->settled, stat)) != NULL)
	{
		settled->still = true;
		return;
	}
	if (bsearch(&stat->tid, scan->hot, scan->nhot, sizeof(ItemPointerData),
				compare_item_pointers) != NULL)
		return;
	best_moves_offer(scan->promotions, (ItemPointer) &stat->tid, ENGRAM_TIER_WARM,
					 ENGRAM_TIER_HOT, stat->info.recent);
}

/*
 * The candidates of EngramListingScope (promotions from the access
 * statistics, read once without copying or sorting them; demotions from
 * the hot tier): ascending TIDs, each once.  Marks the settled rows the
 * statistics still show (SettledRow.still).
 */
static ItemPointerData *
migration_candidates(Relation rel, TimestampTz now, const EngramListingScope *scope,
					 SettledRows *settled, int *ntids)
{
	Oid			relid = RelationGetRelid(rel);
	const EngramMigrationThresholds *thresholds = scope->thresholds;
	int			nhot;
	ItemPointerData *hot = engram_hot_tier_collect_tids(relid, &nhot);
	BestMoves	promotions;
	BestMoves	demotions;
	PromotionScan scan;
	ItemPointerData *tids = palloc(sizeof(ItemPointerData) * Max(2 * scope->max_candidates, 1));
	int			count = 0;

	qsort(hot, nhot, sizeof(ItemPointerData), compare_item_pointers);
	best_moves_init(&promotions, scope->max_candidates);
	best_moves_init(&demotions, scope->max_candidates);
	for (int i = 0; i < settled->count; i++)
		settled->rows[i].still = false;
	scan.thresholds = thresholds;
	scan.settled = settled;
	scan.hot = hot;
	scan.nhot = nhot;
	scan.promotions = &promotions;
	engram_access_visit(relid, now, engram_migration_promotion_floor(thresholds),
						consider_promotion, &scan);
	for (int i = 0; i < nhot; i++)
	{
		double		rate;
		double		seconds;
		EngramAccessInfo info;

		row_facts(relid, &hot[i], now, &rate, &seconds, &info);
		if (engram_migration_target(ENGRAM_TIER_HOT, rate, seconds, thresholds) !=
			ENGRAM_TIER_HOT)
			best_moves_offer(&demotions, &hot[i], ENGRAM_TIER_HOT, ENGRAM_TIER_WARM, rate);
	}
	best_moves_take(&promotions, tids, &count);
	best_moves_take(&demotions, tids, &count);
	qsort(tids, count, sizeof(ItemPointerData), compare_item_pointers);
	*ntids = (int) qunique(tids, count, sizeof(ItemPointerData), compare_item_pointers);
	pfree(hot);
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
 * engram_tam_move_rows skips rows changed since.  The access statistics
 * are looked up for the rows listed only (and read once, not copied, for
 * the promotion candidates).
 */
static EngramTierRow *
provider_list_rows(Oid relid, const EngramListingScope *scope, EngramListingCounts *counts,
				   int *nrows)
{
	Relation	rel;
	TimestampTz now;
	TierRowList list = {0};
	EngramWalkCounts walked = {0};
	SettledRows *settled = NULL;
	SettledRow *found_warm = NULL;
	int			nfound = 0;

	CommandCounterIncrement();	/* the walk sees this transaction's earlier changes */
	rel = open_engram_table(relid);
	list.max = 256;
	list.rows = palloc(sizeof(EngramTierRow) * list.max);
	*nrows = 0;
	if (rel == NULL)
		return list.rows;

	now = GetCurrentTimestamp();
	if (scope->window_pages <= 0)
		engram_tam_walk_visible_range(rel, NULL, false, 0, InvalidBlockNumber, collect_tier_row,
									  &list, &walked);
	else
	{
		int			ncandidates;
		ItemPointerData *candidates;

		settled = settled_rows_of(relid);
		candidates = migration_candidates(rel, now, scope, settled, &ncandidates);

		engram_tam_visit_tids(rel, candidates, ncandidates, collect_tier_row, &list, &walked);
		counts->candidates += ncandidates;
		walk_window(rel, scope, &list, &walked, counts);
		/* a candidate inside the window was visited twice */
		qsort(list.rows, list.count, sizeof(EngramTierRow), by_tier_row_tid);
		list.count = (int) qunique(list.rows, list.count, sizeof(EngramTierRow),
								   by_tier_row_tid);
		pfree(candidates);
		found_warm = palloc(sizeof(SettledRow) * Max(list.count, 1));
	}
	counts->rows_read += walked.rows_read;
	counts->pages_read += walked.pages_read;
	/* Hot-tier membership and access facts, without holding buffer locks. */
	for (int i = 0; i < list.count; i++)
	{
		EngramTierRow *row = &list.rows[i];
		EngramAccessInfo info;
		bool		tracked;

		if (engram_hot_tier_has(rel, &row->tid))
			row->tier = ENGRAM_TIER_HOT;
		tracked = row_facts(relid, &row->tid, now, &row->accesses_per_hour,
							&row->seconds_in_tier, &info);
		if (found_warm != NULL && tracked && row->tier == ENGRAM_TIER_WARM &&
			promotes_only_from_cold(info.recent, scope->thresholds))
		{
			found_warm[nfound].tid = row->tid;
			found_warm[nfound].written = info.written;
			found_warm[nfound].still = false;
			nfound++;
		}
	}
	if (settled != NULL)
	{
		remember_settled_rows(settled, list.rows, list.count, found_warm, nfound);
		pfree(found_warm);
	}

	table_close(rel, AccessShareLock);
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
	return compare_item_pointers(&x->tid, &y->tid);
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
