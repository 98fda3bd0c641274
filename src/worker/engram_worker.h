/*-------------------------------------------------------------------------
 *
 * engram_worker.h
 *	  Private header of the Engram background worker: processes, shared
 *	  state layout, the job state machine, settings, locks.
 *
 * PROCESSES
 * =========
 * "engram launcher"  one static background worker registered from _PG_init
 *		(shared_preload_libraries only).  Connected to no database (shared
 *		catalogs only); every engram.worker_naptime it lists the databases
 *		(pg_database, or engram.worker_databases) and starts a dynamic
 *		"engram worker" for each one without a live worker, at most
 *		engram.background_workers at a time.
 * "engram worker"    one per database.  Connects, checks that the extension
 *		is installed (exits with code 0 otherwise: the launcher retries at
 *		its next scan), sets search_path = pg_catalog, pg_temp, then runs
 *		the canonical loop: handle signals, reload settings on SIGHUP, run
 *		the due jobs (each in its own transaction, errors recorded and the
 *		loop continues), WaitLatch(naptime, WL_EXIT_ON_PM_DEATH), ResetLatch.
 *		A worker that dies is restarted by the postmaster after
 *		ENGRAM_WORKER_RESTART_SECONDS.
 *
 * SHARED STATE
 * ============
 * Region "engram worker state": EngramWorkerShared, one EngramWorkerSlot
 * per database (ENGRAM_WORKER_MAX_DATABASES), each with one EngramJobStatus
 * per job.  A slot is claimed by the database worker at start (by database
 * OID; a restarted worker takes its old slot back and keeps the counters).
 * Shared memory is re-created after a crash restart, so status starts over
 * then (that is when the warm-up job is needed).
 *
 * Locks: one LWLock (tranche "engram_worker") protects the whole region.
 * It is held only to copy fields in or out, never across a job, an SPI call
 * or a wait, and never together with any other Engram lock.
 *
 * STATE MACHINE (docs/worker.md draws it)
 * =============
 * Every change of a job's state, schedule or counters goes through
 * engram_job_transition().  engram_run_maintenance() uses the same job
 * functions but records nothing in shared state (it is not the worker).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_WORKER_H
#define ENGRAM_WORKER_H

#include "postgres.h"

#include <signal.h>

#include "datatype/timestamp.h"
#include "storage/lwlock.h"

#include "worker/engram_worker_api.h"

#define ENGRAM_WORKER_MAX_DATABASES		64
#define ENGRAM_WORKER_RESTART_SECONDS	5
#define ENGRAM_JOB_DETAIL_LEN			128
#define ENGRAM_JOB_ERROR_LEN			256
#define ENGRAM_WORKER_TYPE				"engram worker"
#define ENGRAM_LAUNCHER_TYPE			"engram launcher"
#define ENGRAM_ACCESS_STATS_INTERVAL_SECONDS	60

/* Settings (worker_guc.c) ------------------------------------------------ */

#define ENGRAM_WORKER_NAPTIME_DEFAULT			10
#define ENGRAM_WORKER_NAPTIME_MIN				1
#define ENGRAM_WORKER_NAPTIME_MAX				3600
#define ENGRAM_CONSOLIDATION_INTERVAL_DEFAULT	300
#define ENGRAM_CONSOLIDATION_INTERVAL_MIN		1
#define ENGRAM_CONSOLIDATION_INTERVAL_MAX		(7 * 86400)
#define ENGRAM_CONSOLIDATION_BATCH_DEFAULT		100
#define ENGRAM_CONSOLIDATION_BATCH_MIN			3
#define ENGRAM_CONSOLIDATION_BATCH_MAX			1000
#define ENGRAM_MIN_CONFIDENCE_DEFAULT			0.3
#define ENGRAM_MIN_CONFIDENCE_MIN				0.0
#define ENGRAM_MIN_CONFIDENCE_MAX				1.0
#define ENGRAM_MIGRATION_BATCH_DEFAULT			1000
#define ENGRAM_MIGRATION_BATCH_MIN				1
#define ENGRAM_MIGRATION_BATCH_MAX				1000000
#define ENGRAM_MIGRATION_ACCESSES_MIN			0.0
#define ENGRAM_MIGRATION_ACCESSES_MAX			1e9
#define ENGRAM_MIGRATION_WINDOW_MIN				1
#define ENGRAM_MIGRATION_WINDOW_MAX				(365 * 86400)
#define ENGRAM_HOT_TO_WARM_ACCESSES_DEFAULT		10
#define ENGRAM_HOT_TO_WARM_WINDOW_DEFAULT		3600
#define ENGRAM_WARM_TO_COLD_ACCESSES_DEFAULT	1
#define ENGRAM_WARM_TO_COLD_WINDOW_DEFAULT		86400
#define ENGRAM_COLD_TO_WARM_ACCESSES_DEFAULT	5
#define ENGRAM_COLD_TO_WARM_WINDOW_DEFAULT		3600
#define ENGRAM_WARM_TO_HOT_ACCESSES_DEFAULT		20
#define ENGRAM_WARM_TO_HOT_WINDOW_DEFAULT		3600
#define ENGRAM_CONSOLIDATION_WORKERS_DEFAULT	1
#define ENGRAM_CONSOLIDATION_WORKERS_MIN		1
#define ENGRAM_CONSOLIDATION_WORKERS_MAX		ENGRAM_WORKER_MAX_DATABASES
#define ENGRAM_BACKGROUND_WORKERS_DEFAULT		8
#define ENGRAM_BACKGROUND_WORKERS_MIN			0
#define ENGRAM_BACKGROUND_WORKERS_MAX			ENGRAM_WORKER_MAX_DATABASES
#define ENGRAM_PENDING_FLUSH_BATCH_DEFAULT		1000
#define ENGRAM_PENDING_FLUSH_BATCH_MIN			0	/* 0: the worker never flushes */
#define ENGRAM_PENDING_FLUSH_BATCH_MAX			1000000
#define ENGRAM_FORGETTING_SCAN_BATCH_DEFAULT	10000
#define ENGRAM_FORGETTING_SCAN_BATCH_MIN		0	/* 0: the whole space every run */
#define ENGRAM_FORGETTING_SCAN_BATCH_MAX		1000000000
#define ENGRAM_MIGRATION_SCAN_PAGES_DEFAULT		1024
#define ENGRAM_MIGRATION_SCAN_PAGES_MIN			0	/* 0: every row every cycle */
#define ENGRAM_MIGRATION_SCAN_PAGES_MAX			1000000000
#define ENGRAM_WORKER_NICE_DEFAULT				0
#define ENGRAM_WORKER_NICE_MIN					0	/* never above a backend's priority */
#define ENGRAM_WORKER_NICE_MAX					19

extern int	engram_worker_naptime;
extern char *engram_worker_databases;
extern int	engram_consolidation_interval;
extern int	engram_consolidation_batch_size;
extern double engram_min_confidence_threshold;
extern int	engram_migration_batch;
extern int	engram_consolidation_workers;
extern int	engram_background_workers;
extern int	engram_pending_flush_batch;
extern int	engram_forgetting_scan_batch;
extern int	engram_migration_scan_pages;
extern int	engram_worker_nice;

extern void engram_worker_define_settings(void);

/* Cost-based throttling of the worker's jobs (worker_throttle.c) ---------- */

#define ENGRAM_WORKER_COST_DELAY_DEFAULT		10	/* ms; 0 = no throttling */
#define ENGRAM_WORKER_COST_DELAY_MIN			0
#define ENGRAM_WORKER_COST_DELAY_MAX			1000
#define ENGRAM_WORKER_COST_LIMIT_DEFAULT		200
#define ENGRAM_WORKER_COST_LIMIT_MIN			1
#define ENGRAM_WORKER_COST_LIMIT_MAX			1000000
#define ENGRAM_WORKER_COST_ROW_SCANNED			1	/* a row read by a job's scan */
#define ENGRAM_WORKER_COST_ROW_MOVED			20	/* a tier move: rewrite + index */
#define ENGRAM_WORKER_COST_MEMORY_WRITTEN		20	/* a semantic memory and its links */
#define ENGRAM_WORKER_COST_ROW_FLUSHED			20	/* a pending entry merged: a graph insert */
/* Rows per tier-move call, so that the worker can nap between them. */
#define ENGRAM_WORKER_MOVE_CHUNK				50

extern int	engram_worker_cost_delay;
extern int	engram_worker_cost_limit;

/* Throttle the current job (the background worker only), then stop. */
extern void engram_worker_throttle_begin(void);
extern void engram_worker_throttle_end(void);
/* Charge cost points for work just done; may nap (see worker_throttle.c). */
extern void engram_worker_charge(int64 points);
extern bool engram_worker_charge_naps(int64 points);
extern void engram_worker_nap_point(void);
/*
 * The job snapshot: an active snapshot a job holds between its statements,
 * which a nap replaces by a fresh one (naps hold no snapshot).
 */
extern void engram_worker_push_job_snapshot(void);
extern void engram_worker_pop_job_snapshot(void);
extern void engram_worker_job_snapshot_after_rollback(void);
/* Naps taken by this process so far. */
extern int64 engram_worker_throttle_naps(void);

/* CPU priority of the worker processes (worker_priority.c) ---------------- */

/* Give this process engram.worker_nice; returns its nice value afterwards. */
extern int	engram_worker_apply_nice(void);

/* Jobs and their state machine (worker_scheduler.c) ---------------------- */

typedef enum EngramJobKind
{
	ENGRAM_JOB_WARMUP = 0,		/* once after (re)start: hot tier from saved stats */
	ENGRAM_JOB_MIGRATION,		/* every cycle: hot <-> warm <-> cold */
	ENGRAM_JOB_CONSOLIDATION,	/* every engram.consolidation_interval */
	ENGRAM_JOB_FORGETTING,		/* with consolidation: soft forgetting */
	ENGRAM_JOB_ACCESS_STATS,	/* every 60 s: persist access statistics */
	ENGRAM_JOB_PENDING_FLUSH,	/* every cycle: engram_hnsw pending lists, bounded */
	ENGRAM_JOB_COUNT
} EngramJobKind;

typedef enum EngramJobState
{
	ENGRAM_JOB_STATE_SCHEDULED = 0, /* waiting for next_run */
	ENGRAM_JOB_STATE_RUNNING,	/* a run is in progress */
	ENGRAM_JOB_STATE_DEFERRED,	/* due, waiting for a consolidation slot */
	ENGRAM_JOB_STATE_UNAVAILABLE,	/* needs a subsystem that is not installed */
	ENGRAM_JOB_STATE_STANDBY,	/* writes nothing: server is a hot standby */
	ENGRAM_JOB_STATE_FAILED,	/* last run raised an error; retried at next_run */
	ENGRAM_JOB_STATE_DONE		/* one-shot job finished (warm-up) */
} EngramJobState;

typedef enum EngramJobEvent
{
	ENGRAM_JOB_EVENT_SCHEDULE,	/* set next_run = now + interval */
	ENGRAM_JOB_EVENT_START,		/* the scheduler starts a due run */
	ENGRAM_JOB_EVENT_SUCCEED,	/* the run committed */
	ENGRAM_JOB_EVENT_FAIL,		/* the run raised an error (rolled back) */
	ENGRAM_JOB_EVENT_DEFER,		/* due, but no consolidation slot is free */
	ENGRAM_JOB_EVENT_UNAVAILABLE,	/* a subsystem the job needs is missing */
	ENGRAM_JOB_EVENT_STANDBY	/* due, but the server is in recovery */
} EngramJobEvent;

/* What one run of a job did (filled by the job function). */
typedef struct EngramJobResult
{
	int64		rows_moved;
	int64		memories_consolidated;	/* semantic memories created or merged */
	int64		episodes_linked;	/* lineage associations written */
	int64		episodes_selected;	/* soft forgetting: selected for cold */
	int64		rows_flushed;	/* pending-list entries merged into a graph */
	int64		rows_pending;	/* pending_flush: entries left (detail only) */
	int64		rows_examined;	/* soft forgetting, migration: rows read (detail only) */
	int64		pages_read;		/* migration: heap pages read (detail only) */
	int64		candidates;		/* migration: candidate TIDs looked up (detail only) */
	int			spaces_wrapped; /* windows that reached the end of their space */
	char		detail[ENGRAM_JOB_DETAIL_LEN];	/* one line for the status view */
	bool		unavailable;	/* a subsystem is missing: detail says which */
	int			failures;		/* spaces whose work failed (rolled back) */
	char		failure[ENGRAM_JOB_ERROR_LEN];	/* the first failure's message */
} EngramJobResult;

/* One job of one database, in shared memory. */
typedef struct EngramJobStatus
{
	EngramJobState state;
	TimestampTz last_start;		/* 0 = never */
	TimestampTz last_end;
	TimestampTz next_run;		/* 0 = now */
	int64		runs;			/* completed runs (succeeded or failed) */
	int64		rows_moved;
	int64		memories_consolidated;
	int64		episodes_linked;
	int64		episodes_selected;
	int64		rows_flushed;
	int64		errors;
	TimestampTz last_error_at;
	char		detail[ENGRAM_JOB_DETAIL_LEN];
	char		last_error[ENGRAM_JOB_ERROR_LEN];
} EngramJobStatus;

typedef struct EngramWorkerSlot
{
	Oid			database;		/* InvalidOid: free */
	int			pid;			/* 0 when no worker runs */
	int			nice;			/* the worker's nice value (engram.worker_nice) */
	bool		consolidating;	/* holds one of engram.consolidation_workers */
	TimestampTz started_at;
	int64		restarts;		/* worker starts after the first */
	EngramJobStatus jobs[ENGRAM_JOB_COUNT];
} EngramWorkerSlot;

typedef struct EngramWorkerShared
{
	LWLock	   *lock;
	int			launcher_pid;
	EngramWorkerSlot slots[ENGRAM_WORKER_MAX_DATABASES];
} EngramWorkerShared;

/* Context handed to a job function. */
typedef struct EngramJobContext
{
	TimestampTz now;			/* engram_now() at the start of the cycle */
	Oid			only_space;		/* engram_run_maintenance: this space only */
	Oid			only_associations;	/* its association table, or InvalidOid */
	bool		as_table_owner; /* worker: run each space as its owner */
	bool		incremental;	/* worker: soft forgetting in bounded windows */
} EngramJobContext;

typedef void (*EngramJobFunction) (EngramJobContext *context, EngramJobResult *result);

typedef struct EngramJobDefinition
{
	EngramJobKind kind;
	const char *name;
	EngramJobFunction run;
	bool		writes;			/* skipped on a hot standby */
	bool		one_shot;		/* done after its first success */
	bool		uses_consolidation_slot;
	bool		first_run_after_interval;	/* not at once when a worker starts */
	/*
	 * Runs with no active snapshot and takes its own (the tier migration's
	 * listing: see engram_tam_walk_visible); the others run under a job
	 * snapshot that each nap replaces (see worker_throttle.c).
	 */
	bool		takes_own_snapshots;
	/* interval in seconds; < 0: engram.consolidation_interval */
	int			interval_seconds;
	/* NULL when available; else the reason ("table access method ...") */
	const char *(*unavailable_reason) (void);
} EngramJobDefinition;

extern const EngramJobDefinition engram_job_definitions[ENGRAM_JOB_COUNT];

extern const char *engram_job_state_name(EngramJobState state);
extern void engram_job_transition(EngramJobStatus *job, const EngramJobDefinition *definition,
								  EngramJobEvent event, TimestampTz now,
								  const EngramJobResult *result, const char *message);
extern void engram_worker_run_due_jobs(EngramWorkerSlot *slot_in_shmem);

/* Shared state (worker_shmem.c) ----------------------------------------- */

extern EngramWorkerShared *engram_worker_shared;
extern void engram_worker_shmem_register(void);
extern EngramWorkerSlot *engram_worker_claim_slot(Oid database);
extern void engram_worker_release_slot(EngramWorkerSlot *slot, bool forget);
extern bool engram_worker_acquire_consolidation(EngramWorkerSlot *slot);
extern void engram_worker_release_consolidation(EngramWorkerSlot *slot);
extern void engram_worker_report_nice(EngramWorkerSlot *slot, int nice);

/* Jobs (worker_jobs.c) --------------------------------------------------- */

extern void engram_job_warmup(EngramJobContext *context, EngramJobResult *result);
extern void engram_job_migration(EngramJobContext *context, EngramJobResult *result);
extern void engram_job_consolidation(EngramJobContext *context, EngramJobResult *result);
extern void engram_job_forgetting(EngramJobContext *context, EngramJobResult *result);
extern void engram_job_access_stats(EngramJobContext *context, EngramJobResult *result);
extern void engram_job_pending_flush(EngramJobContext *context, EngramJobResult *result);
extern const char *engram_job_needs_table_am(void);

/* Processes (worker_launcher.c) ------------------------------------------ */

extern volatile sig_atomic_t engram_worker_in_job;
extern void engram_worker_register_launcher(void);
extern void engram_worker_install_utility_hook(void);
extern PGDLLEXPORT void engram_launcher_main(Datum main_arg);
extern PGDLLEXPORT void engram_database_worker_main(Datum main_arg);

#endif							/* ENGRAM_WORKER_H */
