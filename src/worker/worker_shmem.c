/*-------------------------------------------------------------------------
 *
 * worker_shmem.c
 *	  The worker's shared state: one slot per database with the status of
 *	  each job (layout and lock in engram_worker.h).
 *
 * Lock: engram_worker_shared->lock (tranche "engram_worker") guards every
 * field of the region; it is held only while fields are copied.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "worker/engram_worker.h"

#define ENGRAM_WORKER_TRANCHE "engram_worker"

EngramWorkerShared *engram_worker_shared = NULL;

static Size
engram_worker_shmem_size(void)
{
	return sizeof(EngramWorkerShared);
}

static int
engram_worker_lwlock_count(void)
{
	return 1;
}

static void
engram_worker_shmem_init(void *ptr, bool found)
{
	engram_worker_shared = (EngramWorkerShared *) ptr;
	if (!found)
		memset(engram_worker_shared, 0, sizeof(EngramWorkerShared));
	engram_worker_shared->lock = &(GetNamedLWLockTranche(ENGRAM_WORKER_TRANCHE))[0].lock;
}

static const EngramShmemRegion engram_worker_region = {
	.name = "engram worker state",
	.size = engram_worker_shmem_size,
	.init = engram_worker_shmem_init,
	.lwlock_tranche = ENGRAM_WORKER_TRANCHE,
	.lwlock_count = engram_worker_lwlock_count,
};

void
engram_worker_shmem_register(void)
{
	engram_shmem_register(&engram_worker_region);
}

/*
 * Take the slot of "database" (the one it had before, so counters survive a
 * worker restart) or a free one; NULL when all are taken.  A job left
 * RUNNING by a worker that died is put back to SCHEDULED and due now.
 */
EngramWorkerSlot *
engram_worker_claim_slot(Oid database)
{
	EngramWorkerSlot *slot = NULL;

	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES && slot == NULL; i++)
		if (engram_worker_shared->slots[i].database == database)
			slot = &engram_worker_shared->slots[i];
	for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES && slot == NULL; i++)
		if (!OidIsValid(engram_worker_shared->slots[i].database))
		{
			slot = &engram_worker_shared->slots[i];
			memset(slot, 0, sizeof(EngramWorkerSlot));
			slot->database = database;
			slot->restarts = -1;
		}
	if (slot != NULL)
	{
		slot->pid = MyProcPid;
		slot->started_at = GetCurrentTimestamp();
		slot->restarts++;
		slot->consolidating = false;
		for (int j = 0; j < ENGRAM_JOB_COUNT; j++)
			if (slot->jobs[j].state == ENGRAM_JOB_STATE_RUNNING)
			{
				slot->jobs[j].state = ENGRAM_JOB_STATE_SCHEDULED;
				slot->jobs[j].next_run = 0;
			}
	}
	LWLockRelease(engram_worker_shared->lock);
	return slot;
}

/*
 * The worker exits: the slot keeps its status (a restarted worker takes it
 * back) unless "forget", when it is freed.
 */
void
engram_worker_release_slot(EngramWorkerSlot *slot, bool forget)
{
	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->consolidating = false;
		if (forget)
			slot->database = InvalidOid;
	}
	LWLockRelease(engram_worker_shared->lock);
}

/* Record the nice value the worker of "slot" runs with (engram_worker_status). */
void
engram_worker_report_nice(EngramWorkerSlot *slot, int nice)
{
	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	if (slot->pid == MyProcPid)
		slot->nice = nice;
	LWLockRelease(engram_worker_shared->lock);
}

/* Take one of engram.consolidation_workers; false when all are in use. */
bool
engram_worker_acquire_consolidation(EngramWorkerSlot *slot)
{
	int			running = 0;
	bool		acquired = false;

	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ENGRAM_WORKER_MAX_DATABASES; i++)
		if (engram_worker_shared->slots[i].consolidating)
			running++;
	if (running < engram_consolidation_workers)
	{
		slot->consolidating = true;
		acquired = true;
	}
	LWLockRelease(engram_worker_shared->lock);
	return acquired;
}

void
engram_worker_release_consolidation(EngramWorkerSlot *slot)
{
	LWLockAcquire(engram_worker_shared->lock, LW_EXCLUSIVE);
	slot->consolidating = false;
	LWLockRelease(engram_worker_shared->lock);
}
