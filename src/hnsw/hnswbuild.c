/*-------------------------------------------------------------------------
 *
 * hnswbuild.c
 *	  ambuild and ambuildempty for engram_hnsw: the serial and the
 *	  parallel build.
 *
 * Both builds scan the heap and insert every vector into the in-memory
 * graph of hnswbuildgraph.c, whose arena is sized from the table and
 * capped at maintenance_work_mem, and then write the graph to pages.
 *
 * Serial build: the arena is backend memory; this backend scans the heap.
 *
 * Parallel build (PostgreSQL 15 gives index access methods no generic
 * support, so ambuild runs its own parallel context): the number of
 * workers comes from plan_create_index_workers() (max_parallel_maintenance_
 * workers, the table's parallel_workers reloption, its size), or, when that
 * gives none for a table whose vectors live in TOAST, from the size of the
 * table and its TOAST (workers_for_toasted_vectors).  One dynamic
 * shared memory segment holds a ParallelBuildShared (relation ids, a
 * condition variable, counters, then the parallel heap scan) and the
 * arena.  The leader and every worker run the same heap scan callback,
 * each on the blocks the parallel scan hands it, and insert concurrently
 * into the shared graph (hnswbuild.h states its locks).  The leader then
 * waits for the workers, writes the graph, and reports the rows done in
 * pg_stat_progress_create_index (workers have no progress slot).
 *
 * When the arena is full (maintenance_work_mem is too small): a NOTICE
 * says so, the graph built so far is written, and every participant goes
 * on through the on-disk insertion path (hnswinsert.c, generic WAL,
 * concurrent inserts supported).  In a parallel build a worker that finds
 * the arena full waits (on the condition variable) for the leader to
 * write it; the leader writes it once every worker is either waiting or
 * done, i.e. no insert into the arena is in progress.
 *
 * Crash safety: the index is invisible until the building transaction
 * commits, and its pages are WAL-logged (log_newpage_range, then generic
 * WAL for on-disk inserts) before that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/condition_variable.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/backend_progress.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "hnsw/hnswbuild.h"

/* shm_toc keys of the parallel build's segment */
#define PARALLEL_KEY_SHARED		UINT64CONST(0xE4C0000000000001)
#define PARALLEL_KEY_ARENA		UINT64CONST(0xE4C0000000000002)

/* Transparent huge page size asked for the serial arena. */
#define HUGEPAGE_BYTES			(2 * 1024 * 1024)

/* How often a waiting leader refreshes the progress view (ms). */
#define PROGRESS_REFRESH_MS		200

typedef struct ParallelBuildShared
{
	/* set before the workers start */
	Oid			heaprelid;
	Oid			indexrelid;
	bool		isconcurrent;

	ConditionVariable cv;		/* workers done or waiting; graph written */
	pg_atomic_uint64 inserted_on_disk;	/* rows every participant inserted
										 * through the on-disk path */
	slock_t		mutex;			/* guards the fields below */
	int			workers_done;
	int			workers_waiting;	/* stopped at a full arena */
	bool		graph_written;	/* the leader wrote the arena's graph */
	double		reltuples;		/* heap tuples scanned by finished workers */

	/* the parallel heap scan follows, at MAXALIGN(sizeof(this)) */
} ParallelBuildShared;

#define ParallelBuildSharedScan(shared) \
	((ParallelTableScanDesc) ((char *) (shared) + MAXALIGN(sizeof(ParallelBuildShared))))

/* One participant's state (the serial build is a lone leader). */
typedef struct BuildState
{
	Relation	heap;
	Relation	index;
	int			metric;
	EngramHnswBuildGraph graph;
	ParallelBuildShared *shared;	/* NULL: serial build */
	ParallelContext *pcxt;		/* leader of a parallel build */
	bool		is_worker;
	bool		on_disk;		/* the arena was full: insert on disk */
	int64		written;		/* elements the leader wrote from the graph */
	int64		inserted_on_disk;	/* on-disk inserts of this participant */
	int64		inserted_in_memory; /* graph inserts of this participant */
	float	   *vector;			/* scratch, dimensions floats */
	instr_time	start;			/* when the build began (leader) */
	MemoryContext build_context;
	MemoryContext tuple_context;	/* reset after every tuple */
} BuildState;

PGDLLEXPORT void engram_hnsw_parallel_build_main(dsm_segment *seg, shm_toc *toc);

/*
 * Progress reporting with a DEBUG1 echo: each update of the build's subphase
 * and the final count are logged as this backend's row of
 * pg_stat_progress_create_index holds them (read back from its own status
 * entry, which only this backend writes), so tests can check what the view
 * showed even where a watching session, polling on a busy machine, misses a
 * short phase or the final value (the row disappears a moment later when
 * the command ends).
 */
static int64
own_progress_param(int param)
{
	return MyBEEntry != NULL ? MyBEEntry->st_progress_param[param] : -1;
}

void
engram_hnsw_build_set_phase(int64 subphase)
{
	pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, subphase);
	elog(DEBUG1, "engram_hnsw build: progress view shows subphase %lld",
		 (long long) own_progress_param(PROGRESS_CREATEIDX_SUBPHASE));
}

static void
report_final_progress(void)
{
	elog(DEBUG1, "engram_hnsw build: progress view shows %lld of %lld tuples done, %lld of %lld blocks",
		 (long long) own_progress_param(PROGRESS_CREATEIDX_TUPLES_DONE),
		 (long long) own_progress_param(PROGRESS_CREATEIDX_TUPLES_TOTAL),
		 (long long) own_progress_param(PROGRESS_SCAN_BLOCKS_DONE),
		 (long long) own_progress_param(PROGRESS_SCAN_BLOCKS_TOTAL));
}

/* ---------------------------------------------------------------------
 * Parallel coordination
 * ---------------------------------------------------------------------
 */

/* Rows indexed so far, for the progress view (leader). */
static int64
rows_done(BuildState *state)
{
	int64		done = engram_hnsw_build_graph_count(&state->graph);

	if (state->shared != NULL)
		return done + (int64) pg_atomic_read_u64(&state->shared->inserted_on_disk);
	return done + state->inserted_on_disk;
}

/*
 * Leader: wait until no worker inserts into the arena any more (each is
 * done or, unless "done_only", waiting for the graph to be written),
 * refreshing the progress view meanwhile.
 */
static void
wait_for_workers(BuildState *state, bool done_only)
{
	ParallelBuildShared *shared = state->shared;

	/* a worker that fails to start raises an error here, never hangs */
	WaitForParallelWorkersToAttach(state->pcxt);
	ConditionVariablePrepareToSleep(&shared->cv);
	for (;;)
	{
		int			idle;

		SpinLockAcquire(&shared->mutex);
		idle = shared->workers_done + (done_only ? 0 : shared->workers_waiting);
		SpinLockRelease(&shared->mutex);
		if (idle >= state->pcxt->nworkers_launched)
			break;
		ConditionVariableTimedSleep(&shared->cv, PROGRESS_REFRESH_MS,
									WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, rows_done(state));
	}
	ConditionVariableCancelSleep();
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, rows_done(state));
}

/* Worker: the arena is full; wait until the leader has written it. */
static void
wait_for_graph_written(ParallelBuildShared *shared)
{
	SpinLockAcquire(&shared->mutex);
	shared->workers_waiting++;
	SpinLockRelease(&shared->mutex);
	ConditionVariableBroadcast(&shared->cv);

	ConditionVariablePrepareToSleep(&shared->cv);
	for (;;)
	{
		bool		written;

		SpinLockAcquire(&shared->mutex);
		written = shared->graph_written;
		SpinLockRelease(&shared->mutex);
		if (written)
			break;
		ConditionVariableSleep(&shared->cv, WAIT_EVENT_PARALLEL_CREATE_INDEX_SCAN);
	}
	ConditionVariableCancelSleep();
}

/*
 * Leader (or serial build): write the graph of the arena, once every
 * worker has stopped inserting into it; tell waiting workers.
 */
static void
write_graph(BuildState *state)
{
	instr_time	loaded;
	instr_time	idle;

	INSTR_TIME_SET_CURRENT(loaded);
	if (state->shared != NULL)
		wait_for_workers(state, false);
	/* how long loading took, and how long the leader then waited for workers */
	INSTR_TIME_SET_CURRENT(idle);
	INSTR_TIME_SUBTRACT(idle, loaded);
	INSTR_TIME_SUBTRACT(loaded, state->start);
	elog(DEBUG1, "engram_hnsw build: %lld rows into the graph (%lld by the leader) in %.3f s, then %.3f s waiting for workers",
		 (long long) engram_hnsw_build_graph_count(&state->graph),
		 (long long) state->inserted_in_memory, INSTR_TIME_GET_DOUBLE(loaded),
		 INSTR_TIME_GET_DOUBLE(idle));
	if (pg_atomic_read_u32(&state->graph.arena->full) != 0)
	{
		ereport(NOTICE,
				(errmsg("engram_hnsw graph no longer fits into maintenance_work_mem"),
				 errdetail("The rest of the build inserts into the on-disk graph, which takes significantly more time."),
				 errhint("Increase maintenance_work_mem to speed up the build.")));
		elog(DEBUG1, "engram_hnsw build: %lld elements in memory when it filled up",
			 (long long) engram_hnsw_build_graph_count(&state->graph));
	}
	state->written = engram_hnsw_build_graph_write(&state->graph, state->index);
	if (state->shared != NULL)
	{
		SpinLockAcquire(&state->shared->mutex);
		state->shared->graph_written = true;
		SpinLockRelease(&state->shared->mutex);
		ConditionVariableBroadcast(&state->shared->cv);
	}
}

/* ---------------------------------------------------------------------
 * Heap scan callback, shared by every participant
 * ---------------------------------------------------------------------
 */

static void
build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
			   bool tupleIsAlive, void *opaque)
{
	BuildState *state = (BuildState *) opaque;
	MemoryContext old;
	EngramVector *vec;
	int			dims;

	if (isnull[0])
		return;

	old = MemoryContextSwitchTo(state->tuple_context);
	vec = DatumGetEngramVector(values[0]);
	dims = engram_hnsw_build_graph_set_dimensions(&state->graph, vec->dim);
	if (state->vector == NULL)
		state->vector = MemoryContextAlloc(state->build_context, sizeof(float) * dims);

	if (!state->on_disk &&
		engram_hnsw_prepare_vector(index, state->metric, dims, vec, state->vector))
	{
		if (engram_hnsw_build_graph_insert(&state->graph, state->vector, tid))
			state->inserted_in_memory++;
		else
		{
			/* the arena is full: write the graph, then go on on disk */
			if (state->is_worker)
				wait_for_graph_written(state->shared);
			else
			{
				write_graph(state);
				engram_hnsw_build_set_phase(ENGRAM_HNSW_PHASE_LOAD);
			}
			state->on_disk = true;
		}
	}
	if (state->on_disk)
	{
		engram_hnsw_insert_value(index, values[0], tid);
		state->inserted_on_disk++;
		if (state->shared != NULL)
			pg_atomic_fetch_add_u64(&state->shared->inserted_on_disk, 1);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->tuple_context);
	if (!state->is_worker)
		pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, rows_done(state));
}

static void
init_participant(BuildState *state, Relation heap, Relation index,
				 EngramHnswBuildArena *arena, ParallelBuildShared *shared, bool is_worker)
{
	memset(state, 0, sizeof(BuildState));
	state->heap = heap;
	state->index = index;
	state->metric = arena->metric;
	state->shared = shared;
	state->is_worker = is_worker;
	engram_hnsw_build_graph_attach(&state->graph, arena, shared != NULL);
	INSTR_TIME_SET_CURRENT(state->start);
	state->build_context = CurrentMemoryContext;
	state->tuple_context = AllocSetContextCreate(CurrentMemoryContext,
												 "engram_hnsw build tuple",
												 ALLOCSET_DEFAULT_SIZES);
}

/* ---------------------------------------------------------------------
 * Parallel build: leader side and worker entry point
 * ---------------------------------------------------------------------
 */

/*
 * Set up the parallel context, the shared segment (arena initialised) and
 * launch the workers.  Returns the leader's state's arena, or NULL when no
 * segment could be created (then the caller builds serially).
 */
static EngramHnswBuildArena *
begin_parallel(BuildState *state, Relation heap, Relation index, IndexInfo *indexInfo,
			   int nworkers, int metric, int dims, int m, int ef_construction,
			   bool compact_search, Snapshot *snapshot)
{
	ParallelContext *pcxt;
	Size		shared_size;
	Size		arena_size;
	ParallelBuildShared *shared;
	EngramHnswBuildArena *arena;

	EnterParallelMode();
	pcxt = CreateParallelContext("engram", "engram_hnsw_parallel_build_main", nworkers);

	*snapshot = indexInfo->ii_Concurrent ?
		RegisterSnapshot(GetTransactionSnapshot()) : SnapshotAny;
	shared_size = add_size(MAXALIGN(sizeof(ParallelBuildShared)),
						   table_parallelscan_estimate(heap, *snapshot));
	arena_size = engram_hnsw_build_arena_size(heap, indexInfo->ii_IndexAttrNumbers[0],
											  dims, m, compact_search,
											  (Size) maintenance_work_mem * 1024);
	shm_toc_estimate_chunk(&pcxt->estimator, shared_size);
	shm_toc_estimate_chunk(&pcxt->estimator, arena_size);
	shm_toc_estimate_keys(&pcxt->estimator, 2);

	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		if (IsMVCCSnapshot(*snapshot))
			UnregisterSnapshot(*snapshot);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	shared = shm_toc_allocate(pcxt->toc, shared_size);
	memset(shared, 0, MAXALIGN(sizeof(ParallelBuildShared)));
	shared->heaprelid = RelationGetRelid(heap);
	shared->indexrelid = RelationGetRelid(index);
	shared->isconcurrent = indexInfo->ii_Concurrent;
	ConditionVariableInit(&shared->cv);
	pg_atomic_init_u64(&shared->inserted_on_disk, 0);
	SpinLockInit(&shared->mutex);
	table_parallelscan_initialize(heap, ParallelBuildSharedScan(shared), *snapshot);

	arena = shm_toc_allocate(pcxt->toc, arena_size);
	engram_hnsw_build_arena_init(arena, arena_size, metric, dims, m, ef_construction,
								 engram_hnsw_get_quantization(index), engram_hnsw_build_version,
								 compact_search);

	shm_toc_insert(pcxt->toc, PARALLEL_KEY_SHARED, shared);
	shm_toc_insert(pcxt->toc, PARALLEL_KEY_ARENA, arena);

	LaunchParallelWorkers(pcxt);
	elog(DEBUG1, "engram_hnsw build: %d parallel workers planned, %d launched",
		 nworkers, pcxt->nworkers_launched);

	init_participant(state, heap, index, arena, shared, false);
	state->pcxt = pcxt;
	return arena;
}

/*
 * Leader, after its own share of the scan: write the graph (unless a full
 * arena made it do so already), wait for the workers, add up their
 * counts, and leave parallel mode.  Returns the heap tuples the workers
 * scanned.
 */
static double
end_parallel(BuildState *state, Snapshot snapshot)
{
	ParallelBuildShared *shared = state->shared;
	double		reltuples;

	if (!state->on_disk)
		write_graph(state);
	/* workers may still insert on disk: count them in the view until done */
	wait_for_workers(state, true);
	WaitForParallelWorkersToFinish(state->pcxt);

	SpinLockAcquire(&shared->mutex);
	reltuples = shared->reltuples;
	SpinLockRelease(&shared->mutex);
	state->inserted_on_disk = (int64) pg_atomic_read_u64(&shared->inserted_on_disk);
	state->shared = NULL;

	if (IsMVCCSnapshot(snapshot))
		UnregisterSnapshot(snapshot);
	DestroyParallelContext(state->pcxt);
	ExitParallelMode();
	state->pcxt = NULL;
	return reltuples;
}

/*
 * Entry point of a parallel build worker (named in CreateParallelContext):
 * scan the blocks the parallel scan hands out and insert their rows.
 */
void
engram_hnsw_parallel_build_main(dsm_segment *seg, shm_toc *toc)
{
	ParallelBuildShared *shared = shm_toc_lookup(toc, PARALLEL_KEY_SHARED, false);
	EngramHnswBuildArena *arena = shm_toc_lookup(toc, PARALLEL_KEY_ARENA, false);
	LOCKMODE	heap_lockmode = shared->isconcurrent ? ShareUpdateExclusiveLock : ShareLock;
	LOCKMODE	index_lockmode = shared->isconcurrent ? RowExclusiveLock : AccessExclusiveLock;
	Relation	heap;
	Relation	index;
	IndexInfo  *indexInfo;
	BuildState	state;
	TableScanDesc scan;
	double		reltuples;

	heap = table_open(shared->heaprelid, heap_lockmode);
	index = index_open(shared->indexrelid, index_lockmode);
	indexInfo = BuildIndexInfo(index);
	indexInfo->ii_Concurrent = shared->isconcurrent;

	init_participant(&state, heap, index, arena, shared, true);
	scan = table_beginscan_parallel(heap, ParallelBuildSharedScan(shared));
	reltuples = table_index_build_scan(heap, index, indexInfo, true, false,
									   build_callback, &state, scan);

	elog(DEBUG1, "engram_hnsw parallel build worker: %lld rows into the graph, %lld on disk",
		 (long long) state.inserted_in_memory, (long long) state.inserted_on_disk);
	SpinLockAcquire(&shared->mutex);
	shared->reltuples += reltuples;
	shared->workers_done++;
	SpinLockRelease(&shared->mutex);
	ConditionVariableBroadcast(&shared->cv);

	index_close(index, index_lockmode);
	table_close(heap, heap_lockmode);
}

/* ---------------------------------------------------------------------
 * Build entry points
 * ---------------------------------------------------------------------
 */

/*
 * Backend memory for a serial build's arena.  Searches jump between
 * random elements: with 4 kB pages nearly every visit misses the TLB, so
 * transparent huge pages are asked for where the kernel offers them
 * ("madvise" mode); the advice is only a hint.
 */
static EngramHnswBuildArena *
allocate_private_arena(Size size)
{
	char	   *memory = MemoryContextAllocHuge(CurrentMemoryContext, size);

#if defined(MADV_HUGEPAGE)
	{
		uintptr_t	start = TYPEALIGN(HUGEPAGE_BYTES, (uintptr_t) memory);
		uintptr_t	end = TYPEALIGN_DOWN(HUGEPAGE_BYTES, (uintptr_t) memory + size);

		if (end > start)
			(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
	}
#endif
	return (EngramHnswBuildArena *) memory;
}

/*
 * Workers for a build that plan_create_index_workers() gave none because
 * it sizes the table by its main fork only: in a column with STORAGE
 * EXTERNAL (evector's default before it became main; still pgvector's),
 * vectors of more than about 500 dimensions are stored out of line, so a
 * table of 30,000 768-dimension vectors has a main fork of 1.5 MB and
 * 120 MB of TOAST, and got no worker under the default
 * min_parallel_table_scan_size (8 MB).
 * This counts the TOAST blocks too, with the same rule as the planner's
 * (one worker from min_parallel_table_scan_size, one more each time the
 * size triples, at most max_parallel_maintenance_workers), and only where
 * the planner's other reasons for no worker cannot apply: not in parallel
 * mode, no parallel_workers setting on the table, not a temporary table,
 * a plain column (no index expression or predicate, whose functions might
 * not be parallel safe).
 */
static int
workers_for_toasted_vectors(Relation heap, IndexInfo *indexInfo)
{
	BlockNumber blocks;
	double		threshold = Max(min_parallel_table_scan_size, 1);
	int			workers = 0;

	if (!IsNormalProcessingMode() || IsInParallelMode() ||
		max_parallel_maintenance_workers <= 0 ||
		RelationGetParallelWorkers(heap, -1) != -1 ||
		heap->rd_rel->relpersistence == RELPERSISTENCE_TEMP ||
		indexInfo->ii_Expressions != NIL || indexInfo->ii_Predicate != NIL ||
		!OidIsValid(heap->rd_rel->reltoastrelid))
		return 0;

	blocks = RelationGetNumberOfBlocks(heap);
	{
		Relation	toast = table_open(heap->rd_rel->reltoastrelid, AccessShareLock);

		blocks += RelationGetNumberOfBlocks(toast);
		table_close(toast, AccessShareLock);
	}
	for (double size = threshold; blocks >= size && workers < max_parallel_maintenance_workers;
		 size *= 3)
		workers++;
	if (workers > 0)
		elog(DEBUG1, "engram_hnsw build: %d parallel workers for %u blocks with TOAST",
			 workers, blocks);
	return workers;
}

/*
 * Make "page" the metapage of a new, empty index of "dims" dimensions (0:
 * set by the first vector), of the on-disk version engram.hnsw_build_version
 * says.
 */
static void
init_new_metapage(Page page, Relation index, int dims)
{
	EngramHnswMetaPage meta;

	engram_hnsw_init_page(page, ENGRAM_HNSW_PAGE_META);
	meta = EngramHnswPageGetMeta(page);
	meta->magic = ENGRAM_HNSW_MAGIC;
	meta->version = engram_hnsw_build_version;
	meta->dimensions = dims;
	meta->m = engram_hnsw_get_m(index);
	meta->ef_construction = engram_hnsw_get_ef_construction(index);
	meta->metric = engram_hnsw_get_metric_from_opclass(index);
	meta->quantization = engram_hnsw_get_quantization(index);
	meta->entry_blkno = InvalidBlockNumber;
	meta->entry_offno = InvalidOffsetNumber;
	meta->entry_level = -1;
	meta->insert_blkno = ENGRAM_HNSW_METAPAGE_BLKNO + 1;
	engram_hnsw_pending_init_meta(meta);
	((PageHeader) page)->pd_lower = ((char *) meta + sizeof(EngramHnswMetaPageData)) - (char *) page;
}

/* Write the metapage as block 0 of a new index (no WAL: logged later). */
static void
write_initial_metapage(Relation index, int dims)
{
	Buffer		buf = ReadBuffer(index, P_NEW);

	Assert(BufferGetBlockNumber(buf) == ENGRAM_HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	init_new_metapage(BufferGetPage(buf), index, dims);
	MarkBufferDirty(buf);
	UnlockReleaseBuffer(buf);
}

IndexBuildResult *
engram_hnsw_build(Relation heap, Relation index, IndexInfo *indexInfo)
{
	IndexBuildResult *result;
	BuildState	state;
	EngramHnswBuildArena *arena = NULL;
	TableScanDesc scan = NULL;
	Snapshot	snapshot = InvalidSnapshot;
	double		reltuples;
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;
	int			metric = engram_hnsw_get_metric_from_opclass(index);
	int			m = engram_hnsw_get_m(index);
	int			ef_construction = engram_hnsw_get_ef_construction(index);
	int			dims = typmod > 0 ? typmod : 0;
	bool		compact_search = engram_hnsw_build_compact_search(dims);
	int			nworkers = 0;

	if (RelationGetNumberOfBlocks(index) != 0)
		elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
	if (dims > 0)
		engram_hnsw_check_element_fits(dims, engram_hnsw_get_quantization(index), m);

	elog(DEBUG1, "engram_hnsw build: the graph is searched with %s distances",
		 compact_search ? "int8" : "exact");
	write_initial_metapage(index, dims);
	engram_hnsw_build_set_phase(ENGRAM_HNSW_PHASE_LOAD);
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
								 (int64) Max(heap->rd_rel->reltuples, 0));

	if (IsNormalProcessingMode() && !IsInParallelMode())
		nworkers = plan_create_index_workers(RelationGetRelid(heap), RelationGetRelid(index));
	if (nworkers == 0)
		nworkers = workers_for_toasted_vectors(heap, indexInfo);
	if (nworkers > 0)
		arena = begin_parallel(&state, heap, index, indexInfo, nworkers, metric, dims, m,
							   ef_construction, compact_search, &snapshot);
	if (arena != NULL)
		scan = table_beginscan_parallel(heap, ParallelBuildSharedScan(state.shared));
	else
	{
		Size		arena_size = engram_hnsw_build_arena_size(heap,
															  indexInfo->ii_IndexAttrNumbers[0],
															  dims, m, compact_search,
															  (Size) maintenance_work_mem * 1024);

		arena = allocate_private_arena(arena_size);
		engram_hnsw_build_arena_init(arena, arena_size, metric, dims, m, ef_construction,
									 engram_hnsw_get_quantization(index),
									 engram_hnsw_build_version, compact_search);
		init_participant(&state, heap, index, arena, NULL, false);
	}

	reltuples = table_index_build_scan(heap, index, indexInfo, true, true,
									   build_callback, &state, scan);

	if (state.pcxt != NULL)
		reltuples += end_parallel(&state, snapshot);
	else
	{
		if (!state.on_disk)
			write_graph(&state);
		pfree(arena);
	}
	MemoryContextDelete(state.tuple_context);

	/* the final count in the view: every row the index holds */
	pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE,
								 state.written + state.inserted_on_disk);
	report_final_progress();

	result = palloc(sizeof(IndexBuildResult));
	result->heap_tuples = reltuples;
	result->index_tuples = (double) (state.written + state.inserted_on_disk);
	return result;
}

/*
 * ambuildempty: the init fork of an unlogged index is a lone metapage
 * (an empty graph whose dimensions come from the first vector).
 */
void
engram_hnsw_buildempty(Relation index)
{
	Buffer		buf;
	GenericXLogState *state;
	int			typmod = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

	buf = ReadBufferExtended(index, INIT_FORKNUM, P_NEW, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	init_new_metapage(GenericXLogRegisterBuffer(state, buf, GENERIC_XLOG_FULL_IMAGE), index,
					  typmod > 0 ? typmod : 0);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(buf);
}
