/*-------------------------------------------------------------------------
 *
 * engram.h
 *	  Declarations shared by every Engram subsystem: module state, the
 *	  shared-memory registry and the subsystem entry points called from
 *	  _PG_init.
 *
 * Each subsystem (src/<subsystem>/) exposes one engram_<subsystem>_init()
 * that defines its GUCs and, when it needs shared memory, calls
 * engram_shmem_register() during _PG_init.  Shared memory is requested and
 * created by src/engram.c through PostgreSQL 15's shmem_request_hook and
 * shmem_startup_hook; subsystems never install those hooks themselves.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_H
#define ENGRAM_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

/* True when the library was loaded from shared_preload_libraries. */
extern bool engram_loaded_at_preload;

/*
 * Raise an error (with a hint) unless the library was preloaded.  Call at
 * the entry of any SQL-callable function whose feature needs shared memory
 * or a background worker.  "feature" names the thing refused, for the
 * message: "the hot tier", "engram_run_maintenance".
 */
extern void engram_require_preload(const char *feature);

/*
 * After InitMaterializedSRF(): errors unless the result row the installed
 * SQL declares has "columns" columns (a library newer than its extension's
 * SQL objects would otherwise store values under the wrong types).
 */
extern void engram_require_result_columns(FunctionCallInfo fcinfo, int columns,
										  const char *function);
/* The same check for a function returning one row, on its declared row type. */
extern void engram_require_row_columns(TupleDesc declared_row, int columns,
									   const char *function);

/*
 * A named shared-memory region owned by one subsystem.
 *
 * size() is called from shmem_request_hook (GUCs are final then).
 * init(ptr, found) is called from shmem_startup_hook while
 * AddinShmemInitLock is held; "found" is true when the region already
 * existed (EXEC_BACKEND re-attach) and must not be reinitialised.
 * lwlock_tranche/lwlock_count, when set, request a named LWLock tranche
 * that the subsystem fetches with GetNamedLWLockTranche() in init().
 */
typedef struct EngramShmemRegion
{
	const char *name;
	Size		(*size) (void);
	void		(*init) (void *ptr, bool found);
	const char *lwlock_tranche;
	int			(*lwlock_count) (void);
} EngramShmemRegion;

/*
 * Register a region; only valid during _PG_init under
 * shared_preload_libraries.  "region" must point to static storage.
 */
extern void engram_shmem_register(const EngramShmemRegion *region);

/*
 * Engram's clock (src/clock.c): the time engram.pinned_now pins, else the
 * transaction start time (the current time outside a transaction).  Use it
 * for every time-dependent computation so tests can pin time.
 */
extern TimestampTz engram_now(void);
extern bool engram_clock_pinned(void);

/*
 * Tier moves and indexes (src/hnsw/hnswretarget.c).  While the table AM
 * inserts the index entries of "new_tid", the new version of a moved row of
 * table "heaprelid" whose indexed values did not change, it names the TID
 * "old_tid" that the index entries of the old version carry (the HOT chain
 * root): an engram_hnsw index then attaches new_tid to the element of
 * old_tid instead of inserting a new element (hnsw.h, MOVED ROWS).  Other
 * index AMs ignore it.  Backend-local; the caller clears it in every path,
 * errors included (PG_FINALLY).
 */
struct ItemPointerData;
extern void engram_index_move_source_set(Oid heaprelid, const struct ItemPointerData *old_tid,
										 const struct ItemPointerData *new_tid);
extern void engram_index_move_source_clear(void);

/*
 * The background worker's flush of an engram_hnsw pending list
 * (src/hnsw/hnswpending.c): merges up to max_entries entries into the
 * graph without waiting for a running merge; returns the entries merged
 * (-1: "index" is not an engram_hnsw index), *left the entries still
 * pending.  The caller holds RowExclusiveLock on the index, on a primary.
 */
struct RelationData;
extern int64 engram_hnsw_merge_pending_batch(struct RelationData *index, int64 max_entries,
											 int64 *left);

/* Subsystem entry points, called once from _PG_init in this order. */
extern void engram_simd_init(void);
extern void engram_hnsw_init(void);
extern void engram_tam_init(void);
extern void engram_metrics_init(void);
extern void engram_clock_init(void);
extern void engram_recall_init(void);
extern void engram_worker_init(void);

#endif							/* ENGRAM_H */
