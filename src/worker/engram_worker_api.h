/*-------------------------------------------------------------------------
 *
 * engram_worker_api.h
 *	  What the background worker needs from the table access method, and
 *	  the pure tier-migration policy it applies.
 *
 * The worker owns the *policy* (which rows should change tier, how many a
 * cycle, in which order); the engram table AM owns the *mechanism* (where
 * each row lives, its access statistics, moving it).  The table AM plugs
 * its mechanism in by calling engram_worker_set_tier_provider() from its
 * engram_<sub>_init() during _PG_init.  Until a provider is registered the
 * migration, access-statistics and warm-up jobs report
 * "unavailable: table access method not installed" and soft forgetting
 * only counts its selection: nothing pretends to move rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_WORKER_API_H
#define ENGRAM_WORKER_API_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/block.h"
#include "storage/itemptr.h"

/* EngramTier (hot < warm < cold) is the metrics API's. */
#include "metrics/engram_metrics.h"

/* One row of an engram table as the table AM reports it to the planner. */
typedef struct EngramTierRow
{
	ItemPointerData tid;
	EngramTier	tier;
	double		accesses_per_hour;	/* recent access rate (decayed count) */
	double		seconds_in_tier;	/* since the row entered its tier (or was written) */
} EngramTierRow;

/* One move the planner asks for. */
typedef struct EngramTierMove
{
	ItemPointerData tid;
	EngramTier	from;
	EngramTier	to;
	double		accesses_per_hour;
} EngramTierMove;

/* Seed thresholds (DESIGN section 4): accesses per window. */
typedef struct EngramMigrationThresholds
{
	double		hot_to_warm_accesses;	/* hot -> warm below this ... */
	double		hot_to_warm_window;		/* ... per this many seconds */
	double		warm_to_cold_accesses;
	double		warm_to_cold_window;
	double		cold_to_warm_accesses;	/* cold -> warm at or above this */
	double		cold_to_warm_window;
	double		warm_to_hot_accesses;
	double		warm_to_hot_window;
} EngramMigrationThresholds;

/*
 * Which rows of a space one migration listing looks at.  window_pages <= 0:
 * every live row (engram_run_maintenance).  Otherwise (the worker) only
 *	- promotion candidates: the rows the access statistics say the policy
 *	  would promote from warm or cold, not in the hot tier, the
 *	  max_candidates most accessed (ties by TID);
 *	- demotion candidates of the hot tier: its rows of the space the policy
 *	  would demote, the max_candidates least accessed (ties by TID);
 *	- every live row of window_pages heap pages from block window_start on,
 *	  going on from block 0 at the end of the table (never past
 *	  window_start again): warm -> cold demotions, and whatever the rules
 *	  decide for rows without statistics.
 * A candidate is listed only when it is still a live row; its tier, rate
 * and time in tier are then the ones a whole listing would report.
 */
typedef struct EngramListingScope
{
	const EngramMigrationThresholds *thresholds;
	int			max_candidates;
	int64		window_pages;
	BlockNumber window_start;
} EngramListingScope;

/* What one listing read (added to by list_rows). */
typedef struct EngramListingCounts
{
	int64		rows_read;		/* line pointers of live tuples read, any snapshot */
	int64		pages_read;
	int64		candidates;		/* candidate TIDs looked up */
	BlockNumber next_block;		/* where the next window starts */
	bool		wrapped;		/* the window reached the table's end */
} EngramListingCounts;

/*
 * The table AM's mechanism.  Every callback runs inside the caller's
 * transaction with the caller's privileges and raises ERROR on failure.
 *
 * list_rows: the live rows of engram table "relid" that "scope" asks for
 *	(ascending TIDs, each once) with their tier, access rate and time in
 *	tier; returns a palloc'd array (in the current memory context) and its
 *	length in *nrows, and adds what it read to *counts; no rows for a table
 *	that does not use the engram access method.  Charges the rows it reads
 *	to the worker's throttle (engram_worker_charge) as it reads them, so
 *	that the worker may nap during a large listing; reads each slice under
 *	a fresh snapshot of its own and holds none while it naps (the worker
 *	calls it with no active snapshot: the job's xmin does not hold back
 *	VACUUM for the seconds a large listing takes).
 * move_rows: move the rows to tier "target"; returns the rows actually
 *	moved (rows changed concurrently are skipped).  Must never grow the hot
 *	tier over engram.hot_tier_size_mb.
 * save_access_stats: persist the shared-memory access statistics; returns
 *	rows written.
 * warm_up: load the most accessed rows of "relid" (by the saved statistics)
 *	into the hot tier, at most "max_rows"; returns rows loaded.  Allowed on a
 *	hot standby (the hot tier is a cache).
 */
typedef struct EngramTierProvider
{
	EngramTierRow *(*list_rows) (Oid relid, const EngramListingScope *scope,
								 EngramListingCounts *counts, int *nrows);
	int64		(*move_rows) (Oid relid, const ItemPointerData *tids, int ntids,
							  EngramTier target);
	int64		(*save_access_stats) (void);
	int64		(*warm_up) (Oid relid, int64 max_rows);
} EngramTierProvider;

/* Register the table AM's mechanism ("provider" must be static storage). */
extern void engram_worker_set_tier_provider(const EngramTierProvider *provider);
extern const EngramTierProvider *engram_worker_tier_provider(void);

/* The thresholds currently set by the engram.migration_* settings. */
extern void engram_migration_thresholds_current(EngramMigrationThresholds *thresholds);

/*
 * The tier a row with this access rate belongs in, from its current tier
 * (one step per cycle: cold never jumps straight to hot).  A row is only
 * demoted once it has spent a whole window of the rule in its tier: a row
 * written a minute ago has not had its chance to be used "once a day".
 */
extern EngramTier engram_migration_target(EngramTier current, double accesses_per_hour,
										  double seconds_in_tier,
										  const EngramMigrationThresholds *thresholds);

/*
 * Could a warm or a cold row with this rate be promoted (the rules
 * warm -> hot and cold -> warm)?  Rows for which this is false are never
 * promoted, whatever their tier.
 */
extern bool engram_migration_may_promote(double accesses_per_hour,
										 const EngramMigrationThresholds *thresholds);

/*
 * A rate under which engram_migration_may_promote is false (a lower bound:
 * a rate at or above it may still not promote).
 */
extern double engram_migration_promotion_floor(const EngramMigrationThresholds *thresholds);

/*
 * Plan at most "max_moves" moves for "rows": promotions first (most used
 * first), then demotions (least used first), ties by TID, so the plan is
 * the same for the same input.  Writes into "moves" (room for max_moves)
 * and returns how many.
 */
extern int	engram_migration_plan(const EngramTierRow *rows, int nrows,
								  const EngramMigrationThresholds *thresholds,
								  int max_moves, EngramTierMove *moves);

/* The plan's order of moves, for qsort of EngramTierMove. */
extern int	engram_migration_compare_moves(const void *left, const void *right);

extern const char *engram_tier_name(EngramTier tier);

#endif							/* ENGRAM_WORKER_API_H */
