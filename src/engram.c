/*-------------------------------------------------------------------------
 *
 * engram.c
 *	  Module entry point: _PG_init, the shared-memory registry and the
 *	  preload check.
 *
 * The library may be loaded two ways.  From shared_preload_libraries every
 * subsystem is available: shared memory (hot tier, metrics, access
 * statistics) and the background worker.  Loaded lazily by the first call
 * of one of its functions, only the stateless parts work (vector type,
 * SIMD kernels, index access method); functions that need the rest refuse
 * with engram_require_preload().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "engram.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

bool		engram_loaded_at_preload = false;

#define ENGRAM_MAX_SHMEM_REGIONS 16

static const EngramShmemRegion *shmem_regions[ENGRAM_MAX_SHMEM_REGIONS];
static int	shmem_region_count = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void
engram_require_preload(const char *feature)
{
	if (!engram_loaded_at_preload)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires engram to be loaded via shared_preload_libraries",
						feature),
				 errhint("Add engram to shared_preload_libraries in postgresql.conf and restart the server.")));
}

void
engram_require_result_columns(FunctionCallInfo fcinfo, int columns, const char *function)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	engram_require_row_columns(rsinfo->setDesc, columns, function);
}

void
engram_require_row_columns(TupleDesc declared_row, int columns, const char *function)
{
	int			declared = declared_row->natts;

	if (declared != columns)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s returns %d columns in this engram library, but the installed extension declares %d",
						function, columns, declared),
				 errdetail("The engram shared library was replaced by a build whose SQL objects differ from the ones created by CREATE EXTENSION."),
				 errhint("Recreate the extension's objects from this build (DROP EXTENSION engram and CREATE EXTENSION engram; dump the memory spaces first).")));
}

void
engram_shmem_register(const EngramShmemRegion *region)
{
	if (!process_shared_preload_libraries_in_progress)
		elog(ERROR, "engram shared memory region \"%s\" registered outside shared_preload_libraries",
			 region->name);
	if (shmem_region_count >= ENGRAM_MAX_SHMEM_REGIONS)
		elog(ERROR, "too many engram shared memory regions");
	shmem_regions[shmem_region_count++] = region;
}

static void
engram_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	for (int i = 0; i < shmem_region_count; i++)
	{
		const EngramShmemRegion *region = shmem_regions[i];

		RequestAddinShmemSpace(MAXALIGN(region->size()));
		if (region->lwlock_tranche != NULL)
			RequestNamedLWLockTranche(region->lwlock_tranche,
									  region->lwlock_count());
	}
}

static void
engram_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < shmem_region_count; i++)
	{
		const EngramShmemRegion *region = shmem_regions[i];
		bool		found;
		void	   *ptr;

		ptr = ShmemInitStruct(region->name, MAXALIGN(region->size()), &found);
		region->init(ptr, found);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	engram_loaded_at_preload = process_shared_preload_libraries_in_progress;

	engram_simd_init();
	engram_hnsw_init();
	engram_tam_init();
	engram_metrics_init();
	engram_clock_init();
	engram_recall_init();
	engram_worker_init();

	MarkGUCPrefixReserved("engram");

	if (engram_loaded_at_preload)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = engram_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = engram_shmem_startup;
	}
}
