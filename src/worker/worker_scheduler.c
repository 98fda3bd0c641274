/*-------------------------------------------------------------------------
 *
 * worker_scheduler.c
 *	  The job table, the job state machine and one scheduling cycle of a
 *	  database worker.
 *
 * engram_job_transition() is the only function that changes a job's state,
 * schedule or counters.  The scheduler reads the clock once per cycle
 * (engram_now(), so engram.pinned_now makes schedules deterministic) and,
 * for each job in table order, decides the event:
 *
 *	not due (SCHEDULED/FAILED before next_run, DONE) -> nothing
 *	needs a subsystem that is missing				 -> UNAVAILABLE
 *	writes, and the server is in recovery			 -> STANDBY
 *	needs a consolidation slot, none free			 -> DEFER
 *	otherwise										 -> START, run, then
 *														SUCCEED or FAIL
 *
 * UNAVAILABLE, STANDBY and DEFERRED jobs are reconsidered every cycle.
 * A run is one transaction; an error inside it is caught, the transaction
 * rolled back, the error recorded (FAIL) and the cycle continues.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "worker/engram_worker.h"

/* interval_seconds: 0 = every cycle, -1 = engram.consolidation_interval */
const EngramJobDefinition engram_job_definitions[ENGRAM_JOB_COUNT] = {
	[ENGRAM_JOB_WARMUP] = {
		.kind = ENGRAM_JOB_WARMUP, .name = "warm_up", .run = engram_job_warmup,
		.writes = false, .one_shot = true, .uses_consolidation_slot = false,
		.interval_seconds = 0, .unavailable_reason = engram_job_needs_table_am,
	},
	[ENGRAM_JOB_MIGRATION] = {
		.kind = ENGRAM_JOB_MIGRATION, .name = "tier_migration", .run = engram_job_migration,
		.writes = true, .one_shot = false, .uses_consolidation_slot = false,
		.takes_own_snapshots = true,
		.interval_seconds = 0, .unavailable_reason = engram_job_needs_table_am,
	},
	[ENGRAM_JOB_CONSOLIDATION] = {
		.kind = ENGRAM_JOB_CONSOLIDATION, .name = "consolidation",
		.run = engram_job_consolidation,
		.writes = true, .one_shot = false, .uses_consolidation_slot = true,
		.first_run_after_interval = true, .interval_seconds = -1, .unavailable_reason = NULL,
	},
	[ENGRAM_JOB_FORGETTING] = {
		.kind = ENGRAM_JOB_FORGETTING, .name = "soft_forgetting", .run = engram_job_forgetting,
		.writes = true, .one_shot = false, .uses_consolidation_slot = false,
		.first_run_after_interval = true, .interval_seconds = -1, .unavailable_reason = NULL,
	},
	[ENGRAM_JOB_ACCESS_STATS] = {
		.kind = ENGRAM_JOB_ACCESS_STATS, .name = "access_stats", .run = engram_job_access_stats,
		.writes = false, .one_shot = false, .uses_consolidation_slot = false,
		.interval_seconds = ENGRAM_ACCESS_STATS_INTERVAL_SECONDS,
		.unavailable_reason = engram_job_needs_table_am,
	},
	[ENGRAM_JOB_PENDING_FLUSH] = {
		.kind = ENGRAM_JOB_PENDING_FLUSH, .name = "pending_flush",
		.run = engram_job_pending_flush,
		.writes = true, .one_shot = false, .uses_consolidation_slot = false,
		.interval_seconds = 0, .unavailable_reason = NULL,
	},
};

const char *
engram_job_state_name(EngramJobState state)
{
	switch (state)
	{
		case ENGRAM_JOB_STATE_SCHEDULED:
			return "scheduled";
		case ENGRAM_JOB_STATE_RUNNING:
			return "running";
		case ENGRAM_JOB_STATE_DEFERRED:
			return "deferred";
		case ENGRAM_JOB_STATE_UNAVAILABLE:
			return "unavailable";
		case ENGRAM_JOB_STATE_STANDBY:
			return "standby";
		case ENGRAM_JOB_STATE_FAILED:
			return "failed";
		case ENGRAM_JOB_STATE_DONE:
			return "done";
	}
	return "unknown";
}

static TimestampTz
interval_after(const EngramJobDefinition *definition, TimestampTz now)
{
	int			seconds = definition->interval_seconds;

	if (seconds < 0)
		seconds = engram_consolidation_interval;
	return TimestampTzPlusMilliseconds(now, (int64) seconds * 1000);
}

/*
 * engram_job_transition: apply "event" to "job" at time "now".
 *
 * result (SUCCEED, FAIL) carries the run's counters and detail; message is
 * the error (FAIL) or the reason (DEFER, UNAVAILABLE, STANDBY).  The
 * caller holds engram_worker_shared->lock exclusively when "job" is in
 * shared memory.  Transitions:
 *
 *	SCHEDULE	SCHEDULED/FAILED -> same state; next_run = now + interval
 *				(a new worker's first schedule of a job that waits one
 *				interval, or a clock that went backwards)
 *	START		any -> RUNNING; last_start = now
 *	SUCCEED		RUNNING -> SCHEDULED (DONE for a one-shot job);
 *				runs++, counters added, next_run = now + interval
 *	FAIL		RUNNING -> FAILED; runs++, errors++, last_error = message,
 *				counters of the committed part added, next_run = now +
 *				interval (a one-shot job retries next cycle)
 *	DEFER		-> DEFERRED, UNAVAILABLE -> UNAVAILABLE, STANDBY -> STANDBY:
 *				detail = message, next_run = now (reconsidered every cycle)
 */
void
engram_job_transition(EngramJobStatus *job, const EngramJobDefinition *definition,
					  EngramJobEvent event, TimestampTz now,
					  const EngramJobResult *result, const char *message)
{
	switch (event)
	{
		case ENGRAM_JOB_EVENT_SCHEDULE:
			Assert(job->state == ENGRAM_JOB_STATE_SCHEDULED ||
				   job->state == ENGRAM_JOB_STATE_FAILED);
			job->next_run = interval_after(definition, now);
			return;

		case ENGRAM_JOB_EVENT_START:
			job->state = ENGRAM_JOB_STATE_RUNNING;
			job->last_start = now;
			strlcpy(job->detail, "running", sizeof(job->detail));
			return;

		case ENGRAM_JOB_EVENT_SUCCEED:
		case ENGRAM_JOB_EVENT_FAIL:
			Assert(job->state == ENGRAM_JOB_STATE_RUNNING);
			job->runs++;
			job->last_end = now;
			if (result != NULL)
			{
				job->rows_moved += result->rows_moved;
				job->memories_consolidated += result->memories_consolidated;
				job->episodes_linked += result->episodes_linked;
				job->episodes_selected += result->episodes_selected;
				job->rows_flushed += result->rows_flushed;
				strlcpy(job->detail, result->detail, sizeof(job->detail));
			}
			else
				strlcpy(job->detail, "failed: the run was rolled back", sizeof(job->detail));
			if (event == ENGRAM_JOB_EVENT_SUCCEED)
			{
				job->state = definition->one_shot ? ENGRAM_JOB_STATE_DONE
					: ENGRAM_JOB_STATE_SCHEDULED;
				job->next_run = definition->one_shot ? 0 : interval_after(definition, now);
			}
			else
			{
				job->state = ENGRAM_JOB_STATE_FAILED;
				job->errors++;
				job->last_error_at = now;
				strlcpy(job->last_error, message ? message : "unknown error",
						sizeof(job->last_error));
				job->next_run = definition->one_shot ? now : interval_after(definition, now);
			}
			return;

		case ENGRAM_JOB_EVENT_DEFER:
			job->state = ENGRAM_JOB_STATE_DEFERRED;
			break;
		case ENGRAM_JOB_EVENT_UNAVAILABLE:
			job->state = ENGRAM_JOB_STATE_UNAVAILABLE;
			break;
		case ENGRAM_JOB_EVENT_STANDBY:
			job->state = ENGRAM_JOB_STATE_STANDBY;
			break;
	}
	job->next_run = now;
	strlcpy(job->detail, message ? message : "", sizeof(job->detail));
}

/* Take the lock and apply one transition to job "kind" of "slot". */
static void
record_transition(EngramWorkerSlot *slot, EngramJobKind kind, EngramJobEvent event,
				  TimestampTz now, const EngramJobResult *result, const char *message)
{
	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	engram_job_transition(&slot->jobs[kind], &engram_job_definitions[kind], event, now,
						  result, message);
	LWLockRelease(engram_worker_shared->lock);
}

/*
 * Is job "kind" due at "now"?  First applies SCHEDULE when the job has
 * never been scheduled and waits one interval, or when the clock went
 * backwards past its schedule (a pinned clock moved back).
 */
static bool
job_is_due(EngramWorkerSlot *slot, EngramJobKind kind, TimestampTz now)
{
	const EngramJobDefinition *definition = &engram_job_definitions[kind];
	EngramJobStatus *job = &slot->jobs[kind];
	bool		due;

	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	switch (job->state)
	{
		case ENGRAM_JOB_STATE_DONE:
		case ENGRAM_JOB_STATE_RUNNING:
			due = false;
			break;
		case ENGRAM_JOB_STATE_SCHEDULED:
		case ENGRAM_JOB_STATE_FAILED:
			if ((definition->first_run_after_interval && job->next_run == 0 &&
				 job->last_start == 0) ||
				job->next_run > interval_after(definition, now))
				engram_job_transition(job, definition, ENGRAM_JOB_EVENT_SCHEDULE, now,
									  NULL, NULL);
			due = (now >= job->next_run);
			break;
		default:
			due = true;
			break;
	}
	LWLockRelease(engram_worker_shared->lock);
	return due;
}

/*
 * Run one job in its own transaction.  Returns true when it committed;
 * otherwise the error message is copied to "error" and the transaction is
 * rolled back.  Entered and left outside any transaction.
 */
static bool
run_job_transaction(const EngramJobDefinition *definition, EngramJobContext *context,
					EngramJobResult *result, char *error, Size error_size)
{
	MemoryContext caller_context = CurrentMemoryContext;
	volatile bool committed = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	pgstat_report_activity(STATE_RUNNING, definition->name);

	PG_TRY();
	{
		/* a SIGTERM now cancels the job (see engram_worker_sigterm) */
		engram_worker_in_job = true;
		if (ShutdownRequestPending)
			die(SIGTERM);
		CHECK_FOR_INTERRUPTS();
		engram_worker_throttle_begin();
		if (!definition->takes_own_snapshots)
			engram_worker_push_job_snapshot();
		definition->run(context, result);
		if (!definition->takes_own_snapshots)
			engram_worker_pop_job_snapshot();
		engram_worker_throttle_end();
		engram_worker_in_job = false;
		CommitTransactionCommand();
		committed = true;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		engram_worker_in_job = false;
		engram_worker_throttle_end();
		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		strlcpy(error, edata->message ? edata->message : "unknown error", error_size);
		/* the log keeps the full report */
		ereport(LOG,
				(errmsg("engram worker: job \"%s\" failed: %s", definition->name, error)));
		FreeErrorData(edata);
	}
	PG_END_TRY();

	pgstat_report_stat(true);
	pgstat_report_activity(STATE_IDLE, NULL);
	return committed;
}

/*
 * One cycle: run every due job of this database's worker.  Called outside
 * a transaction, in the worker's per-cycle memory context.
 */
void
engram_worker_run_due_jobs(EngramWorkerSlot *slot)
{
	TimestampTz now = engram_now();

	for (int kind = 0; kind < ENGRAM_JOB_COUNT; kind++)
	{
		const EngramJobDefinition *definition = &engram_job_definitions[kind];
		EngramJobContext context;
		EngramJobResult result;
		char		error[ENGRAM_JOB_ERROR_LEN];
		const char *reason;
		bool		committed;

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;				/* the loop exits quietly */
		if (!job_is_due(slot, kind, now))
			continue;

		reason = definition->unavailable_reason ? definition->unavailable_reason() : NULL;
		if (reason != NULL)
		{
			record_transition(slot, kind, ENGRAM_JOB_EVENT_UNAVAILABLE, now, NULL, reason);
			continue;
		}
		if (definition->writes && RecoveryInProgress())
		{
			record_transition(slot, kind, ENGRAM_JOB_EVENT_STANDBY, now, NULL,
							  "standby: no writes during recovery");
			continue;
		}
		if (definition->uses_consolidation_slot && !engram_worker_acquire_consolidation(slot))
		{
			record_transition(slot, kind, ENGRAM_JOB_EVENT_DEFER, now, NULL,
							  "deferred: engram.consolidation_workers runs in progress");
			continue;
		}

		memset(&context, 0, sizeof(context));
		context.now = now;
		context.as_table_owner = true;
		context.incremental = true;
		memset(&result, 0, sizeof(result));

		record_transition(slot, kind, ENGRAM_JOB_EVENT_START, now, NULL, NULL);
		committed = run_job_transaction(definition, &context, &result, error, sizeof(error));
		if (definition->uses_consolidation_slot)
			engram_worker_release_consolidation(slot);

		if (committed && result.unavailable)
			record_transition(slot, kind, ENGRAM_JOB_EVENT_UNAVAILABLE, engram_now(), NULL,
							  result.detail);
		else if (committed && result.failures == 0)
			record_transition(slot, kind, ENGRAM_JOB_EVENT_SUCCEED, engram_now(), &result, NULL);
		else if (committed)
			record_transition(slot, kind, ENGRAM_JOB_EVENT_FAIL, engram_now(), &result,
							  result.failure);
		else
			record_transition(slot, kind, ENGRAM_JOB_EVENT_FAIL, engram_now(), NULL, error);
	}
}
