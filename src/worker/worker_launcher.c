/*-------------------------------------------------------------------------
 *
 * worker_launcher.c
 *	  The worker processes: the launcher (one, static) and the database
 *	  workers (one per database, dynamic), with the canonical loop.
 *
 * Restart policy.  The launcher is a static worker with bgw_restart_time
 * ENGRAM_WORKER_RESTART_SECONDS: the postmaster restarts it after it dies,
 * and after a crash restart of the whole cluster.  Database workers are
 * dynamic and never restarted by the postmaster (BGW_NEVER_RESTART); the
 * launcher notices a stopped one (it is notified: bgw_notify_pid) and
 * starts it again at its next scan, so a worker killed with any signal is
 * back within one engram.worker_naptime.  Were two workers ever started
 * for one database (a restarted launcher does not know the old workers'
 * handles), the second finds the slot taken by a live process and exits.
 *
 * A database worker exits with code 0 (and is started again at most every
 * ENGRAM_LAUNCHER_RETRY_CYCLES scans) when the extension is not installed
 * in its database, when the database leaves engram.worker_databases, or
 * when engram.background_workers is 0.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <signal.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "engram.h"
#include "worker/engram_worker.h"

#define ENGRAM_LAUNCHER_RETRY_CYCLES 6

/* A database the launcher knows about. */
typedef struct LaunchedDatabase
{
	Oid			database;
	BackgroundWorkerHandle *handle; /* NULL: never started by this launcher */
	int			cycles_until_retry; /* after a worker exited */
} LaunchedDatabase;

/*
 * SIGTERM.  Between jobs a stop is quiet: the handler sets
 * ShutdownRequestPending and the latch, and the loop exits (no FATAL in the
 * log at every server shutdown).  While a job runs it acts like die(), so
 * that CHECK_FOR_INTERRUPTS inside the job cancels it at once.
 */
volatile sig_atomic_t engram_worker_in_job = false;

static void
engram_worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ShutdownRequestPending = true;
	if (engram_worker_in_job)
		die(postgres_signal_arg);
	SetLatch(MyLatch);
	errno = save_errno;
}

static LaunchedDatabase launched[ENGRAM_WORKER_MAX_DATABASES];
static int	nlaunched = 0;

void
engram_worker_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* Consistent state: also on a hot standby, where only warm-up runs. */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = ENGRAM_WORKER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "engram", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "engram_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, ENGRAM_LAUNCHER_TYPE, BGW_MAXLEN);
	strlcpy(worker.bgw_type, ENGRAM_LAUNCHER_TYPE, BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* Is "name" in engram.worker_databases (true when the list is empty)? */
static bool
database_is_listed(const char *name)
{
	char	   *copy;
	List	   *names;
	ListCell   *cell;
	bool		listed = false;

	if (engram_worker_databases == NULL || engram_worker_databases[0] == '\0')
		return true;
	copy = pstrdup(engram_worker_databases);
	if (!SplitIdentifierString(copy, ',', &names))
	{
		ereport(LOG,
				(errmsg("engram worker: invalid list syntax in engram.worker_databases")));
		return false;
	}
	foreach(cell, names)
		if (strcmp((const char *) lfirst(cell), name) == 0)
			listed = true;
	return listed;
}

/* The databases a worker should serve (OIDs), in pg_database order. */
static List *
databases_to_serve(void)
{
	List	   *result = NIL;
	MemoryContext caller_context = CurrentMemoryContext;
	Relation	relation;
	TableScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	relation = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(relation, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database database = (Form_pg_database) GETSTRUCT(tuple);
		MemoryContext old;

		if (database->datistemplate || !database->datallowconn)
			continue;
		if (!database_is_listed(NameStr(database->datname)))
			continue;
		old = MemoryContextSwitchTo(caller_context);
		result = lappend_oid(result, database->oid);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(relation, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return result;
}

static LaunchedDatabase *
launched_entry(Oid database)
{
	for (int i = 0; i < nlaunched; i++)
		if (launched[i].database == database)
			return &launched[i];
	if (nlaunched >= ENGRAM_WORKER_MAX_DATABASES)
		return NULL;
	memset(&launched[nlaunched], 0, sizeof(LaunchedDatabase));
	launched[nlaunched].database = database;
	return &launched[nlaunched++];
}

/* Does some live process hold the slot of "database"? */
static bool
database_has_live_worker(Oid database)
{
	bool		live = false;

	LWLockAcquire(engram_worker_shared->lock, LW_SHARED);
	for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES; i++)
		if (engram_worker_shared->slots[i].database == database &&
			engram_worker_shared->slots[i].pid != 0 &&
			kill(engram_worker_shared->slots[i].pid, 0) == 0)
			live = true;
	LWLockRelease(engram_worker_shared->lock);
	return live;
}

static bool
start_database_worker(Oid database, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "engram", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "engram_database_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s for database %u", ENGRAM_WORKER_TYPE, database);
	strlcpy(worker.bgw_type, ENGRAM_WORKER_TYPE, BGW_MAXLEN);
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

/* One launcher scan: start the workers that are missing. */
static void
launcher_scan(void)
{
	List	   *databases = databases_to_serve();
	ListCell   *cell;
	int			running = 0;

	/* Count and age what we started before. */
	for (int i = 0; i < nlaunched; i++)
	{
		pid_t		pid;

		if (launched[i].handle == NULL)
			continue;
		switch (GetBackgroundWorkerPid(launched[i].handle, &pid))
		{
			case BGWH_STARTED:
			case BGWH_NOT_YET_STARTED:
				running++;
				break;
			case BGWH_STOPPED:
				pfree(launched[i].handle);
				launched[i].handle = NULL;
				launched[i].cycles_until_retry = ENGRAM_LAUNCHER_RETRY_CYCLES;
				break;
			case BGWH_POSTMASTER_DIED:
				proc_exit(1);
		}
	}

	foreach(cell, databases)
	{
		Oid			database = lfirst_oid(cell);
		LaunchedDatabase *entry = launched_entry(database);

		if (entry == NULL || entry->handle != NULL)
			continue;
		if (entry->cycles_until_retry > 0 && !database_has_live_worker(database))
		{
			/*
			 * A worker that stopped on its own (no extension) waits a few
			 * scans; one that held a slot and died is started at once.
			 */
			bool		had_slot = false;

			LWLockAcquire(engram_worker_shared->lock, LW_SHARED);
			for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES; i++)
				if (engram_worker_shared->slots[i].database == database)
					had_slot = true;
			LWLockRelease(engram_worker_shared->lock);
			if (!had_slot)
			{
				entry->cycles_until_retry--;
				continue;
			}
		}
		if (database_has_live_worker(database))
			continue;
		if (running >= engram_background_workers)
			break;
		if (!start_database_worker(database, &entry->handle))
		{
			ereport(LOG,
					(errmsg("engram launcher: could not start a worker for database %u", database),
					 errhint("Raise max_worker_processes.")));
			entry->handle = NULL;
			break;
		}
		entry->cycles_until_retry = 0;
		running++;
	}
	list_free(databases);
}

void
engram_launcher_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, engram_worker_sigterm);
	BackgroundWorkerUnblockSignals();

	/* Shared catalogs only: pg_database. */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(ENGRAM_LAUNCHER_TYPE);
	(void) engram_worker_apply_nice();

	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	engram_worker_shared->launcher_pid = MyProcPid;
	LWLockRelease(engram_worker_shared->lock);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		/* exit code 1: the postmaster starts the launcher again (unless it is shutting down) */
		if (ShutdownRequestPending)
			proc_exit(1);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			(void) engram_worker_apply_nice();
		}

		launcher_scan();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 engram_worker_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Database workers ---------------------------------------------------------- */

static EngramWorkerSlot *my_slot = NULL;

static void
release_slot_at_exit(int code, Datum arg)
{
	if (my_slot != NULL)
		engram_worker_release_slot(my_slot, false);
}

/* Should this worker go on serving its database? (in a transaction) */
static bool
still_wanted(void)
{
	bool		wanted;

	StartTransactionCommand();
	wanted = engram_background_workers > 0 &&
		OidIsValid(get_extension_oid("engram", true)) &&
		database_is_listed(get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	return wanted;
}

void
engram_database_worker_main(Datum main_arg)
{
	Oid			database = DatumGetObjectId(main_arg);
	MemoryContext cycle_context;
	int			nice_value;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, engram_worker_sigterm);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(database, InvalidOid, 0);
	pgstat_report_appname(ENGRAM_WORKER_TYPE);
	nice_value = engram_worker_apply_nice();

	/* A fixed, safe search_path; every reference we build is qualified anyway. */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	if (!still_wanted())
		proc_exit(0);

	/* One worker per database: a second one (see header) leaves. */
	if (database_has_live_worker(database))
		proc_exit(0);
	my_slot = engram_worker_claim_slot(database);
	if (my_slot == NULL)
	{
		ereport(LOG,
				(errmsg("engram worker: no free status slot for database %u", database),
				 errdetail("At most %d databases are served.", ENGRAM_WORKER_MAX_DATABASES)));
		proc_exit(0);
	}
	before_shmem_exit(release_slot_at_exit, (Datum) 0);
	engram_worker_report_nice(my_slot, nice_value);

	ereport(LOG,
			(errmsg("engram worker started for database %u (nice %d)", database, nice_value)));

	cycle_context = AllocSetContextCreate(TopMemoryContext, "engram worker cycle",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		/* the launcher starts a stopped worker again at its next scan */
		if (ShutdownRequestPending)
			proc_exit(0);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			engram_worker_report_nice(my_slot, engram_worker_apply_nice());
		}

		old = MemoryContextSwitchTo(cycle_context);
		if (!still_wanted())
		{
			/* dropped extension or unlisted database: its status goes too */
			engram_worker_release_slot(my_slot, true);
			my_slot = NULL;
			proc_exit(0);
		}
		engram_worker_run_due_jobs(my_slot);
		MemoryContextSwitchTo(old);
		MemoryContextReset(cycle_context);

		/*
		 * A SIGHUP that came during a job may have had its latch consumed by
		 * a throttle nap (worker_throttle.c): then reload now rather than
		 * after a whole naptime of the old settings.
		 */
		if (!ConfigReloadPending)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 engram_worker_naptime * 1000L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
