/*-------------------------------------------------------------------------
 *
 * metrics_internal.h
 *	  Shared-memory layout of the metrics region and the helpers shared by
 *	  the files of src/metrics/.
 *
 * Layout: one EngramMetricsShared struct in the shared-memory region
 * "engram metrics", created by engram_metrics_shmem_init().
 *
 * Locking:
 *	- Counters, sums and histogram buckets are pg_atomic_uint64, updated
 *	  with pg_atomic_fetch_add_u64 and read without a lock.  A reader may
 *	  see a bucket already incremented while the count is not yet: a
 *	  scrape is a near-snapshot, never a torn value.
 *	- The slow-operation ring and the WAL-flush sampler state are guarded
 *	  by the region's two LWLocks (tranche "engram_metrics"):
 *	  lock[ENGRAM_METRICS_LOCK_SLOW_RING] and lock[ENGRAM_METRICS_LOCK_WAL].
 *	  Neither is ever held while taking the other, nor across anything
 *	  that can raise an error.
 *	- Reset writes zero with pg_atomic_write_u64 (and takes both LWLocks
 *	  for the ring and sampler); updates racing with a reset land on
 *	  either side of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_METRICS_INTERNAL_H
#define ENGRAM_METRICS_INTERNAL_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "engram_metrics.h"

/*
 * Latency histogram upper bounds in seconds (the "le" label): 50 us to
 * 10 s in 1-2.5-5 steps, plus an implicit +Inf bucket.
 */
#define ENGRAM_LATENCY_BOUNDS \
	{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, \
	 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}
#define ENGRAM_LATENCY_BOUND_COUNT 17
/* Buckets: one per bound plus +Inf; counts are per bucket, not cumulative. */
#define ENGRAM_LATENCY_BUCKET_COUNT (ENGRAM_LATENCY_BOUND_COUNT + 1)

extern const double engram_latency_bounds[ENGRAM_LATENCY_BOUND_COUNT];

/* Slow-operation log capacity (entries; the oldest is overwritten). */
#define ENGRAM_SLOW_RING_SIZE 256

#define ENGRAM_METRICS_LOCK_SLOW_RING 0
#define ENGRAM_METRICS_LOCK_WAL 1
#define ENGRAM_METRICS_LOCK_COUNT 2

typedef struct EngramLatencyHistogram
{
	pg_atomic_uint64 bucket[ENGRAM_LATENCY_BUCKET_COUNT];
	pg_atomic_uint64 sum_ns;
	pg_atomic_uint64 count;
} EngramLatencyHistogram;

typedef struct EngramOperationStats
{
	pg_atomic_uint64 errors;	/* subset of latency.count */
	pg_atomic_uint64 cpu_ns;	/* CPU time (user + system) inside the operation */
	EngramLatencyHistogram latency;
} EngramOperationStats;

typedef struct EngramSlowEntry
{
	TimestampTz finished_at;
	int32		operation;		/* EngramOperation */
	bool		ok;
	int32		pid;
	Oid			database;
	Oid			user;
	double		seconds;
	double		cpu_seconds;	/* < 0 when unknown */
	EngramSlowDetails details;
} EngramSlowEntry;

/*
 * WAL flush sampler: pg_stat_wal counts fsyncs and their total time, not
 * each one, so every sample folds the fsyncs since the previous sample into
 * the bucket of their mean duration (see metrics_sources.c).
 */
typedef struct EngramWalFlushSampler
{
	bool		primed;			/* last_* hold a baseline */
	int64		last_sync_count;
	int64		last_sync_time_us;
	TimestampTz last_stats_reset;
	EngramLatencyHistogram flushes;
} EngramWalFlushSampler;

/* Directions of engram_network_bytes_total (metrics_network.c). */
typedef enum EngramNetDirection
{
	ENGRAM_NET_RECEIVED,
	ENGRAM_NET_SENT,
	ENGRAM_NET_DIRECTION_COUNT
} EngramNetDirection;

typedef struct EngramMetricsShared
{
	LWLock	   *locks;			/* ENGRAM_METRICS_LOCK_COUNT locks */
	pg_atomic_uint64 stats_reset;	/* TimestampTz of the last reset */
	EngramOperationStats operations[ENGRAM_OP_COUNT];
	pg_atomic_uint64 cache_hits[ENGRAM_CACHE_COUNT];
	pg_atomic_uint64 cache_requests[ENGRAM_CACHE_COUNT];
	pg_atomic_uint64 tier_moves[ENGRAM_TIER_COUNT][ENGRAM_TIER_COUNT];
	pg_atomic_uint64 lock_waits[ENGRAM_LOCK_COUNT];
	pg_atomic_uint64 lock_wait_ns[ENGRAM_LOCK_COUNT];
	pg_atomic_uint64 network_bytes[ENGRAM_NET_DIRECTION_COUNT];

	/* guarded by locks[ENGRAM_METRICS_LOCK_SLOW_RING] */
	uint64		slow_next;		/* total entries ever logged; next slot = % size */
	EngramSlowEntry slow_ring[ENGRAM_SLOW_RING_SIZE];

	/* guarded by locks[ENGRAM_METRICS_LOCK_WAL] */
	EngramWalFlushSampler wal;
} EngramMetricsShared;

/* NULL unless preloaded and the region is attached. */
extern EngramMetricsShared *engram_metrics;

/* engram.slow_operation_threshold_ms; < 0 disables the slow log. */
extern int	engram_slow_operation_threshold_ms;

/* Names for SQL / Prometheus labels. */
extern const char *const engram_operation_names[ENGRAM_OP_COUNT];
extern const char *const engram_tier_names[ENGRAM_TIER_COUNT];
extern const char *const engram_cache_names[ENGRAM_CACHE_COUNT];
extern const char *const engram_lock_type_names[ENGRAM_LOCK_COUNT];
extern const char *const engram_network_direction_names[ENGRAM_NET_DIRECTION_COUNT];

/* Register the per-transaction socket sampler (metrics_network.c). */
extern void engram_metrics_network_init(void);

/* Parse an operation name; raises an error naming the valid ones. */
extern EngramOperation engram_operation_from_name(const char *name);

/*
 * Add "times" observations to a histogram (lock-free): all in the bucket of
 * "seconds", adding sum_ns nanoseconds to the sum.
 */
extern void engram_histogram_observe(EngramLatencyHistogram *histogram,
									 double seconds, uint64 times, uint64 sum_ns);

/* Zero a histogram (caller accepts the race described above). */
extern void engram_histogram_reset(EngramLatencyHistogram *histogram);

/* Raise an error unless the metrics region is available. */
extern void engram_metrics_require(void);

/* Clear every counter, the ring and the sampler. */
extern void engram_metrics_reset_all(void);

#endif							/* ENGRAM_METRICS_INTERNAL_H */
