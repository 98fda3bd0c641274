/*-------------------------------------------------------------------------
 *
 * migration_policy.c
 *	  The tier-migration policy as pure functions: which tier a row belongs
 *	  in, and the ordered, bounded plan of moves for one cycle.
 *
 * A row's access rate is its recent accesses per hour (the table AM keeps
 * a decayed count); a rule "N accesses per W seconds" compares
 * rate x W / 3600 with N.  Demotions wait until the row has been in its
 * tier for the rule's whole window.  One step per cycle (cold -> warm -> hot), so a
 * burst of accesses cannot pull a cold row straight into shared memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "worker/engram_worker_api.h"

#define SECONDS_PER_HOUR 3600.0

static double
accesses_in_window(double accesses_per_hour, double window_seconds)
{
	return accesses_per_hour * window_seconds / SECONDS_PER_HOUR;
}

/* The rate at which "accesses" fall in "window_seconds" (the inverse). */
static double
rate_for_accesses(double accesses, double window_seconds)
{
	return accesses * SECONDS_PER_HOUR / window_seconds;
}

const char *
engram_tier_name(EngramTier tier)
{
	switch (tier)
	{
		case ENGRAM_TIER_HOT:
			return "hot";
		case ENGRAM_TIER_WARM:
			return "warm";
		case ENGRAM_TIER_COLD:
			return "cold";
		case ENGRAM_TIER_COUNT:
			break;
	}
	return "unknown";
}

EngramTier
engram_migration_target(EngramTier current, double accesses_per_hour, double seconds_in_tier,
						const EngramMigrationThresholds *thresholds)
{
	switch (current)
	{
		case ENGRAM_TIER_HOT:
			if (seconds_in_tier >= thresholds->hot_to_warm_window &&
				accesses_in_window(accesses_per_hour, thresholds->hot_to_warm_window) <
				thresholds->hot_to_warm_accesses)
				return ENGRAM_TIER_WARM;
			return ENGRAM_TIER_HOT;
		case ENGRAM_TIER_WARM:
			if (accesses_in_window(accesses_per_hour, thresholds->warm_to_hot_window) >=
				thresholds->warm_to_hot_accesses)
				return ENGRAM_TIER_HOT;
			if (seconds_in_tier >= thresholds->warm_to_cold_window &&
				accesses_in_window(accesses_per_hour, thresholds->warm_to_cold_window) <
				thresholds->warm_to_cold_accesses)
				return ENGRAM_TIER_COLD;
			return ENGRAM_TIER_WARM;
		case ENGRAM_TIER_COLD:
			if (accesses_in_window(accesses_per_hour, thresholds->cold_to_warm_window) >=
				thresholds->cold_to_warm_accesses)
				return ENGRAM_TIER_WARM;
			return ENGRAM_TIER_COLD;
		case ENGRAM_TIER_COUNT:
			break;
	}
	return current;
}

bool
engram_migration_may_promote(double accesses_per_hour,
							 const EngramMigrationThresholds *thresholds)
{
	/* (no time in tier: neither rule demotes then) */
	return engram_migration_target(ENGRAM_TIER_WARM, accesses_per_hour, 0, thresholds) ==
		ENGRAM_TIER_HOT ||
		engram_migration_target(ENGRAM_TIER_COLD, accesses_per_hour, 0, thresholds) ==
		ENGRAM_TIER_WARM;
}

double
engram_migration_promotion_floor(const EngramMigrationThresholds *thresholds)
{
	/* windows are >= 1 s; a hair under the quotients, against rounding */
	double		to_warm = rate_for_accesses(thresholds->cold_to_warm_accesses,
											thresholds->cold_to_warm_window);
	double		to_hot = rate_for_accesses(thresholds->warm_to_hot_accesses,
										   thresholds->warm_to_hot_window);

	return Min(to_warm, to_hot) * (1.0 - 1e-9);
}

static int
compare_tids(const ItemPointerData *a, const ItemPointerData *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/* Promotions (to a warmer tier) first, most used first; then demotions, least used first. */
int
engram_migration_compare_moves(const void *left, const void *right)
{
	const EngramTierMove *a = (const EngramTierMove *) left;
	const EngramTierMove *b = (const EngramTierMove *) right;
	bool		a_promotes = a->to < a->from;
	bool		b_promotes = b->to < b->from;

	if (a_promotes != b_promotes)
		return a_promotes ? -1 : 1;
	if (a->accesses_per_hour != b->accesses_per_hour)
	{
		if (a_promotes)
			return (a->accesses_per_hour > b->accesses_per_hour) ? -1 : 1;
		return (a->accesses_per_hour < b->accesses_per_hour) ? -1 : 1;
	}
	return compare_tids(&a->tid, &b->tid);
}

int
engram_migration_plan(const EngramTierRow *rows, int nrows,
					  const EngramMigrationThresholds *thresholds,
					  int max_moves, EngramTierMove *moves)
{
	EngramTierMove *all = palloc(sizeof(EngramTierMove) * Max(nrows, 1));
	int			nall = 0;
	int			count;

	for (int i = 0; i < nrows; i++)
	{
		EngramTier	target = engram_migration_target(rows[i].tier, rows[i].accesses_per_hour,
													 rows[i].seconds_in_tier, thresholds);

		if (target == rows[i].tier)
			continue;
		all[nall].tid = rows[i].tid;
		all[nall].from = rows[i].tier;
		all[nall].to = target;
		all[nall].accesses_per_hour = rows[i].accesses_per_hour;
		nall++;
	}
	qsort(all, nall, sizeof(EngramTierMove), engram_migration_compare_moves);
	count = Min(nall, max_moves);
	memcpy(moves, all, sizeof(EngramTierMove) * count);
	pfree(all);
	return count;
}
