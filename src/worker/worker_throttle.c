/*-------------------------------------------------------------------------
 *
 * worker_throttle.c
 *	  Cost-based throttling of the background worker's jobs, in the manner
 *	  of PostgreSQL's cost-based vacuum delay.
 *
 * The jobs charge cost points for the work they do (engram_worker_charge):
 * a row read by a scan (ENGRAM_WORKER_COST_ROW_SCANNED), a row moved between
 * tiers, which rewrites it and inserts its index entries again
 * (ENGRAM_WORKER_COST_ROW_MOVED), a semantic memory written
 * (ENGRAM_WORKER_COST_MEMORY_WRITTEN).  When the points gathered since the
 * last nap reach engram.worker_cost_limit, the worker sleeps
 * engram.worker_cost_delay milliseconds (longer, up to four times, when a
 * single charge overshot the limit by that much), so that on a busy server
 * its work is spread out instead of taking a CPU away from queries in
 * bursts.  engram.worker_cost_delay = 0 switches throttling off.
 *
 * Throttling applies only inside the background worker's jobs
 * (engram_worker_throttle_begin/end around each job); engram_run_maintenance
 * and engram_consolidate, run by a session, go at full speed like a manual
 * VACUUM.  The nap is a latch wait: a SIGHUP or SIGTERM cuts it short, and
 * CHECK_FOR_INTERRUPTS follows it.  The worker sleeps inside its job's
 * transaction, holding what the job holds (row-exclusive locks, consolidation's
 * row locks), as vacuum does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

#include "worker/engram_worker.h"

int			engram_worker_cost_delay = ENGRAM_WORKER_COST_DELAY_DEFAULT;
int			engram_worker_cost_limit = ENGRAM_WORKER_COST_LIMIT_DEFAULT;

static bool throttling = false;
static int64 cost_balance = 0;
static int64 naps_taken = 0;

void
engram_worker_throttle_begin(void)
{
	throttling = true;
	cost_balance = 0;
}

void
engram_worker_throttle_end(void)
{
	throttling = false;
	cost_balance = 0;
}

int64
engram_worker_throttle_naps(void)
{
	return naps_taken;
}

/* Does a charge of "points" count now (a throttled job, throttling on)? */
static inline bool
charge_counts(int64 points)
{
	return throttling && engram_worker_cost_delay > 0 && points > 0;
}

/*
 * Would engram_worker_charge(points) nap now?  A caller that holds
 * something it can give up and take again (a snapshot: see
 * engram_tam_walk_visible) asks first and gives it up before the nap.
 */
bool
engram_worker_charge_naps(int64 points)
{
	return charge_counts(points) && cost_balance + points >= engram_worker_cost_limit;
}

/*
 * Charge "points" for work just done; nap when the balance reaches
 * engram.worker_cost_limit.  Does nothing outside a throttled job or when
 * engram.worker_cost_delay is 0.
 */
void
engram_worker_charge(int64 points)
{
	double		naptime;

	if (!charge_counts(points))
		return;
	cost_balance += points;
	if (cost_balance < engram_worker_cost_limit)
		return;

	naptime = (double) engram_worker_cost_delay * cost_balance / engram_worker_cost_limit;
	if (naptime > 4.0 * engram_worker_cost_delay)
		naptime = 4.0 * engram_worker_cost_delay;
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 (long) naptime, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	naps_taken++;
	cost_balance = 0;
	CHECK_FOR_INTERRUPTS();
}
