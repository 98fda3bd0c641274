/*-------------------------------------------------------------------------
 *
 * engram_metrics.h
 *	  The metrics API that every Engram subsystem calls: operation counters,
 *	  latency histograms, CPU time, cache lookups, tier moves, lock waits
 *	  and the slow-operation log.
 *
 * All of it lives in one shared-memory region (src/metrics/) that exists
 * only when Engram is loaded from shared_preload_libraries.  Without it
 * every function below is a cheap no-op, so callers never test for
 * preloading themselves.
 *
 * Timing an operation:
 *
 *		engram_metrics_begin(ENGRAM_OP_RECALL);
 *		... do the work; an ERROR anywhere in here is fine ...
 *		details.ef_search = ...;  details.nodes_visited = ...;
 *		engram_metrics_end(ENGRAM_OP_RECALL, &details);
 *
 * begin/end nest (a recall may time its index search inside it) and must
 * be paired in LIFO order within one backend.  An operation begun but not
 * ended when its (sub)transaction aborts is recorded as an error, with the
 * time it ran until the abort: callers need no PG_TRY for the error count.
 * Code that measured a duration itself (the background worker, say) calls
 * engram_metrics_record() instead.
 *
 * Counters are updated with pg_atomic_* (lock-free); the slow-operation
 * ring takes one LWLock, only for operations over
 * engram.slow_operation_threshold_ms.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_METRICS_H
#define ENGRAM_METRICS_H

#include "postgres.h"

/*
 * The operations Engram times.  The SQL name of each (the "operation"
 * label in Prometheus) is in metrics_shmem.c; add new ones before
 * ENGRAM_OP_COUNT and give them a name there.
 */
typedef enum EngramOperation
{
	ENGRAM_OP_RECALL,			/* engram_recall: one call, whole */
	ENGRAM_OP_STORE,			/* engram_store / one row of store_batch / COPY */
	ENGRAM_OP_SPREAD,			/* spreading activation (inside recall or engram_spread) */
	ENGRAM_OP_ASSOCIATE,		/* engram_associate */
	ENGRAM_OP_FORGET,			/* engram_forget */
	ENGRAM_OP_CONSOLIDATE,		/* one consolidation pass over a space */
	ENGRAM_OP_MIGRATE,			/* one tier-migration cycle */
	ENGRAM_OP_INDEX_SEARCH,		/* one engram_hnsw scan (amrescan to last tuple) */
	ENGRAM_OP_INDEX_INSERT,		/* one engram_hnsw aminsert */
	ENGRAM_OP_COLD_READ,		/* decompressing one cold-tier segment */
	ENGRAM_OP_COUNT
} EngramOperation;

/* Storage tiers, for tier moves. */
typedef enum EngramTier
{
	ENGRAM_TIER_HOT,
	ENGRAM_TIER_WARM,
	ENGRAM_TIER_COLD,
	ENGRAM_TIER_COUNT
} EngramTier;

/* Caches whose lookups are counted (hits / requests). */
typedef enum EngramCache
{
	ENGRAM_CACHE_ACTIVATION,	/* hot-tier lookup by an index fetch from an engram table (recall) */
	ENGRAM_CACHE_COUNT
} EngramCache;

/* Locks whose waits are timed (only the time spent actually waiting). */
typedef enum EngramLockType
{
	ENGRAM_LOCK_HOT_TIER_SHARD,
	ENGRAM_LOCK_HNSW_GRAPH,
	ENGRAM_LOCK_COLD_SEGMENT,
	ENGRAM_LOCK_ACCESS_STATS,
	ENGRAM_LOCK_COUNT
} EngramLockType;

/* Bit for each tier in EngramSlowDetails.tiers_touched. */
#define ENGRAM_TIER_BIT(tier)	(1 << (tier))

/*
 * What made an operation slow, kept with it in the slow-operation log.
 * Fields a caller does not know stay at the value engram_slow_details_init
 * sets (-1, or 0 for tiers_touched, InvalidOid for space).
 */
typedef struct EngramSlowDetails
{
	Oid			space;			/* the space (table) operated on */
	int32		k;				/* results asked for */
	int32		ef_search;		/* HNSW candidate list size used */
	int64		nodes_visited;	/* graph nodes / memories examined */
	int32		tiers_touched;	/* ENGRAM_TIER_BIT() of every tier read */
	int32		hops;			/* deepest spreading hop reached */
	int64		rows;			/* rows returned or written */
} EngramSlowDetails;

extern void engram_slow_details_init(EngramSlowDetails *details);

/* Start timing "op" in this backend. */
extern void engram_metrics_begin(EngramOperation op);

/*
 * Finish the innermost operation, which must be "op", as a success.
 * Records its latency and CPU time, and logs it as slow (with "details",
 * which may be NULL) when over the threshold.  Returns the elapsed seconds
 * (0 when metrics are not available).
 */
extern double engram_metrics_end(EngramOperation op, const EngramSlowDetails *details);

/*
 * Record an operation measured by the caller: elapsed and CPU seconds
 * (cpu_seconds < 0 when unknown), success or error.
 */
extern void engram_metrics_record(EngramOperation op, double seconds,
								  double cpu_seconds, bool ok,
								  const EngramSlowDetails *details);

/* One lookup in a cache. */
extern void engram_metrics_cache_lookup(EngramCache cache, bool hit);

/* "lookups" lookups in a cache, "hits" of them hits (one update for a batch). */
extern void engram_metrics_cache_lookups(EngramCache cache, int64 lookups, int64 hits);

/* "count" memories moved between tiers. */
extern void engram_metrics_tier_move(EngramTier from, EngramTier to, int64 count);

/* Time spent waiting for a lock (call only when the wait really happened). */
extern void engram_metrics_lock_wait(EngramLockType lock, double seconds);

/* Initialisation, from _PG_init (src/engram.c). */
extern void engram_metrics_init(void);

#endif							/* ENGRAM_METRICS_H */
