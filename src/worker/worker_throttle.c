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
 * row locks), as vacuum does -- but no snapshot: a job's xmin during a nap
 * would keep VACUUM from removing rows and marking pages all-visible for
 * as long as the job lasts.  So a nap is taken only where the job holds
 * no snapshot but its job snapshot (engram_worker_push_job_snapshot): that
 * one is popped, the catalog snapshot dropped, and a fresh job snapshot
 * pushed after the nap.  A charge made while something else holds a
 * snapshot (a statement, an open cursor) only adds to the balance: the nap
 * comes at the next charge or nap point (engram_worker_nap_point) where
 * none is held.  A job therefore sees the rows committed during its naps,
 * as a READ COMMITTED transaction would between statements.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "worker/engram_worker.h"

int			engram_worker_cost_delay = ENGRAM_WORKER_COST_DELAY_DEFAULT;
int			engram_worker_cost_limit = ENGRAM_WORKER_COST_LIMIT_DEFAULT;

static bool throttling = false;
static int64 cost_balance = 0;
static int64 naps_taken = 0;

/* The active snapshot a nap may replace (the bottom of the stack), or NULL. */
static Snapshot job_snapshot = NULL;

void
engram_worker_throttle_begin(void)
{
	throttling = true;
	cost_balance = 0;
	job_snapshot = NULL;
}

void
engram_worker_throttle_end(void)
{
	throttling = false;
	cost_balance = 0;
	job_snapshot = NULL;
}

void
engram_worker_push_job_snapshot(void)
{
	Assert(!ActiveSnapshotSet());
	PushActiveSnapshot(GetTransactionSnapshot());
	job_snapshot = GetActiveSnapshot();
}

void
engram_worker_pop_job_snapshot(void)
{
	Assert(job_snapshot != NULL && GetActiveSnapshot() == job_snapshot);
	PopActiveSnapshot();
	job_snapshot = NULL;
}

/*
 * After a subtransaction of the job rolled back: a job snapshot pushed by
 * a nap inside it went with it (it was the only active snapshot); push a
 * fresh one for the rest of the job.
 */
void
engram_worker_job_snapshot_after_rollback(void)
{
	if (job_snapshot != NULL && !ActiveSnapshotSet())
		engram_worker_push_job_snapshot();
}

/*
 * Give up every snapshot for a nap: the job snapshot (when it is the only
 * active one) and the catalog snapshot.  False, holding what it held,
 * when something else holds a snapshot.
 */
static bool
release_snapshots_for_nap(void)
{
	if (ActiveSnapshotSet() && (job_snapshot == NULL || GetActiveSnapshot() != job_snapshot))
		return false;			/* a statement or the caller's own */
	if (job_snapshot != NULL)
		PopActiveSnapshot();
	InvalidateCatalogSnapshot();
	if (HaveRegisteredOrActiveSnapshot())
	{
		/* a registered one (an open cursor's) */
		if (job_snapshot != NULL)
			engram_worker_push_job_snapshot();
		return false;
	}
	return true;
}

/* Nap for the balance, holding no snapshot; false when one is held (no nap). */
static bool
nap_without_snapshots(void)
{
	double		naptime;

	if (!release_snapshots_for_nap())
		return false;
	naptime = (double) engram_worker_cost_delay * cost_balance / engram_worker_cost_limit;
	if (naptime > 4.0 * engram_worker_cost_delay)
		naptime = 4.0 * engram_worker_cost_delay;
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 (long) naptime, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	naps_taken++;
	cost_balance = 0;
	if (job_snapshot != NULL)
		engram_worker_push_job_snapshot();
	CHECK_FOR_INTERRUPTS();
	return true;
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
 * Would engram_worker_charge(points) nap now (if no snapshot is held)?  A
 * caller that holds a snapshot it can give up and take again (see
 * engram_tam_walk_visible) asks first and gives it up before the charge.
 */
bool
engram_worker_charge_naps(int64 points)
{
	return charge_counts(points) && cost_balance + points >= engram_worker_cost_limit;
}

/*
 * Charge "points" for work just done; nap when the balance reaches
 * engram.worker_cost_limit and no snapshot but the job snapshot is held.
 * Does nothing outside a throttled job or when engram.worker_cost_delay
 * is 0.
 */
void
engram_worker_charge(int64 points)
{
	if (!charge_counts(points))
		return;
	cost_balance += points;
	if (cost_balance >= engram_worker_cost_limit)
		(void) nap_without_snapshots();
}

/*
 * A point where the caller holds no snapshot but the job snapshot: take
 * the nap charges made under a snapshot have put off.
 */
void
engram_worker_nap_point(void)
{
	if (throttling && engram_worker_cost_delay > 0 &&
		cost_balance >= engram_worker_cost_limit)
		(void) nap_without_snapshots();
}
