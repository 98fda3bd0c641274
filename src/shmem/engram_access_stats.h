/*-------------------------------------------------------------------------
 *
 * engram_access_stats.h
 *	  Per-row access statistics of engram tables, kept in shared memory:
 *	  the C API used by the table AM, recall and the background worker.
 *
 * What counts as an access: a row returned by an index fetch by TID (plain
 * and bitmap-free index scans of an engram table, through the hot tier or
 * the heap) with an MVCC snapshot, unless the backend switched fetch
 * tracking off (engram_access_set_fetch_tracking), and every explicit
 * engram_access_record() call (recall switches fetch tracking off while it
 * reads and records only the memories it returns).
 * Sequential, bitmap, sample and analyze scans are not accesses: they read
 * rows in bulk and would make every row look used.
 *
 * An entry is keyed by (database, relation OID, TID).  Our tuple_update
 * and tier moves move the entry to the row's new TID, so statistics
 * survive updates and tier moves; a delete drops it.  Statistics are
 * advisory and not transactional: an aborted update leaves the entry at
 * the new (dead) TID.  TRUNCATE, VACUUM FULL and CLUSTER forget the
 * relation's entries (TIDs change).
 *
 * Each entry holds the total count, the first and last access time,
 * "recent", an exponentially decayed count with a one-hour time constant
 * (ENGRAM_ACCESS_RECENT_TAU_SECONDS): the worker's "accesses per hour",
 * and "written", when the row's current version was written (insert,
 * update or tier move: the time the row entered its tier).
 *
 * Layout: a region ("engram access stats") of ENGRAM_ACCESS_PARTITIONS
 * open-addressing tables (linear probing, backward-shift delete), each
 * with its own LWLock from the tranche "engram_access_stats"; capacity
 * engram.access_stats_max_rows in total (slots are sized for a load of at
 * most one half, rounded up to a power of two: about 128 bytes of shared
 * memory per row).  Over half full, a row never accessed (only its
 * written time known) on the new key's probe run gives its slot to the new
 * one, the one written longest ago first; with none, the new key takes an
 * empty slot up to three quarters full; beyond that the new row is not
 * tracked and "dropped" is counted.  Accessed rows are never evicted.
 *
 * Persistence: saved to $PGDATA/engram_access_stats.dat (write to a
 * temporary file, fsync, durable rename) by the postmaster at normal
 * shutdown and by engram_access_stats_save() (the worker calls it
 * periodically); loaded by the postmaster when shared memory is created.
 *
 * Lock order: a partition lock is taken alone, never with a hot-tier
 * shard lock or a buffer lock held.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_ACCESS_STATS_H
#define ENGRAM_ACCESS_STATS_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "utils/timestamp.h"

#define ENGRAM_ACCESS_STATS_MAX_ROWS_DEFAULT	250000
#define ENGRAM_ACCESS_STATS_MAX_ROWS_MIN		1024
#define ENGRAM_ACCESS_STATS_MAX_ROWS_MAX		(256 * 1024 * 1024)
#define ENGRAM_ACCESS_PARTITIONS				32
#define ENGRAM_ACCESS_RECENT_TAU_SECONDS		3600.0
#define ENGRAM_ACCESS_STATS_FILE				"engram_access_stats.dat"

extern int	engram_access_stats_max_rows;

typedef struct EngramAccessInfo
{
	int64		count;			/* accesses since tracking began */
	double		recent;			/* decayed count, tau one hour, as of now */
	TimestampTz first_access;	/* 0 when never accessed */
	TimestampTz last_access;	/* 0 when never accessed */
	TimestampTz written;		/* when this version of the row was written
								 * (insert, update, tier move); 0 unknown */
} EngramAccessInfo;

/* Define the GUC and register the region (preload only). */
extern void engram_access_stats_init(void);

/* True when access statistics are kept (library preloaded, not recovery). */
extern bool engram_access_stats_available(void);

/* Record one access to row "tid" of table "relid" now; no-op if unavailable. */
extern void engram_access_record(Oid relid, ItemPointer tid);

/*
 * The same, at time "when" (recall records its accesses at engram_now(),
 * the clock its decay and recency are computed with).
 */
extern void engram_access_record_at(Oid relid, ItemPointer tid, TimestampTz when);

/*
 * Whether index fetches of this backend count as accesses (default on).
 * A caller that reads rows on its own behalf and records the accesses it
 * means itself (recall: only the memories it returns) switches it off
 * around its reads and restores the previous value, also on error
 * (PG_FINALLY).  engram_access_set_fetch_tracking() returns the previous
 * value.
 */
extern bool engram_access_fetch_tracking(void);
extern bool engram_access_set_fetch_tracking(bool on);

/* Statistics of one row; false when it has none. */
extern bool engram_access_lookup(Oid relid, ItemPointer tid, EngramAccessInfo *info);

/* The same, "recent" decayed to "now". */
extern bool engram_access_lookup_at(Oid relid, ItemPointer tid, TimestampTz now,
									EngramAccessInfo *info);

/*
 * Start loading, without a lock, the slots where engram_access_lookup()
 * will look for the rows "tids" of "relid", so that the cache misses of a
 * batch of lookups overlap.  Only a hint.
 */
extern void engram_access_prefetch(Oid relid, const ItemPointerData *tids, int n);

/*
 * The row moved from "from" to "to" (update, tier move): its statistics
 * follow it, and its "written" time becomes now.
 */
extern void engram_access_move(Oid relid, ItemPointer from, ItemPointer to);

/* A row version was written at "tid" now (insert): sets "written". */
extern void engram_access_mark_written(Oid relid, ItemPointer tid);

/* One row's statistics, as collected for a relation. */
typedef struct EngramAccessRow
{
	ItemPointerData tid;
	EngramAccessInfo info;
} EngramAccessRow;

/* Every tracked row of "relid" (palloc'd array, current context). */
extern EngramAccessRow *engram_access_collect(Oid relid, int *nrows);

/*
 * Called by engram_access_visit for a row, with its partition's lock held:
 * it takes no lock and does not wait (it may allocate memory).
 */
typedef void (*EngramAccessVisitor) (const EngramAccessRow *row, void *arg);

/*
 * Call "visit" for every tracked row of "relid" whose "recent", decayed to
 * "now" (as passed to the visitor), may be at least "min_recent": rows
 * whose undecayed count is under it are skipped without being decayed or
 * copied (decay only lowers it), and so are whole partitions where no
 * accessed entry's count, decayed to now, can reach it (an upper bound
 * kept per partition).  Otherwise reads the shared table once.
 */
extern void engram_access_visit(Oid relid, TimestampTz now, double min_recent,
								EngramAccessVisitor visit, void *arg);

/* Forget one row, or every row of a relation. */
extern void engram_access_forget(Oid relid, ItemPointer tid);
extern void engram_access_forget_relation(Oid relid);

/* Write the statistics file now; returns the number of rows written. */
extern int64 engram_access_stats_save(void);

#endif							/* ENGRAM_ACCESS_STATS_H */
