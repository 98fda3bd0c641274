/*-------------------------------------------------------------------------
 *
 * metrics_shmem.c
 *	  The metrics shared-memory region: registration, creation, reset, the
 *	  engram.slow_operation_threshold_ms setting and the label names.
 *
 * Layout and locking: see metrics_internal.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "metrics_internal.h"

#define ENGRAM_METRICS_TRANCHE "engram_metrics"

#define SLOW_THRESHOLD_MS_DEFAULT 10
#define SLOW_THRESHOLD_MS_MIN (-1)
#define SLOW_THRESHOLD_MS_MAX 3600000

EngramMetricsShared *engram_metrics = NULL;
int			engram_slow_operation_threshold_ms = SLOW_THRESHOLD_MS_DEFAULT;

const double engram_latency_bounds[ENGRAM_LATENCY_BOUND_COUNT] = ENGRAM_LATENCY_BOUNDS;

const char *const engram_operation_names[ENGRAM_OP_COUNT] = {
	[ENGRAM_OP_RECALL] = "recall",
	[ENGRAM_OP_STORE] = "store",
	[ENGRAM_OP_SPREAD] = "spread",
	[ENGRAM_OP_ASSOCIATE] = "associate",
	[ENGRAM_OP_FORGET] = "forget",
	[ENGRAM_OP_CONSOLIDATE] = "consolidate",
	[ENGRAM_OP_MIGRATE] = "migrate",
	[ENGRAM_OP_INDEX_SEARCH] = "index_search",
	[ENGRAM_OP_INDEX_INSERT] = "index_insert",
	[ENGRAM_OP_COLD_READ] = "cold_read",
};

const char *const engram_tier_names[ENGRAM_TIER_COUNT] = {
	[ENGRAM_TIER_HOT] = "hot",
	[ENGRAM_TIER_WARM] = "warm",
	[ENGRAM_TIER_COLD] = "cold",
};

const char *const engram_cache_names[ENGRAM_CACHE_COUNT] = {
	[ENGRAM_CACHE_ACTIVATION] = "activation",
};

const char *const engram_lock_type_names[ENGRAM_LOCK_COUNT] = {
	[ENGRAM_LOCK_HOT_TIER_SHARD] = "hot_tier_shard",
	[ENGRAM_LOCK_HNSW_GRAPH] = "hnsw_graph",
	[ENGRAM_LOCK_COLD_SEGMENT] = "cold_segment",
	[ENGRAM_LOCK_ACCESS_STATS] = "access_stats",
};

static Size
metrics_shmem_size(void)
{
	return sizeof(EngramMetricsShared);
}

static int
metrics_lwlock_count(void)
{
	return ENGRAM_METRICS_LOCK_COUNT;
}

static void
init_atomic_array(pg_atomic_uint64 *array, int n)
{
	for (int i = 0; i < n; i++)
		pg_atomic_init_u64(&array[i], 0);
}

static void
init_histogram(EngramLatencyHistogram *histogram)
{
	init_atomic_array(histogram->bucket, ENGRAM_LATENCY_BUCKET_COUNT);
	pg_atomic_init_u64(&histogram->sum_ns, 0);
	pg_atomic_init_u64(&histogram->count, 0);
}

/*
 * Create the region (called from shmem_startup_hook with AddinShmemInitLock
 * held).  On re-attach ("found") only the backend-local pointer is set.
 */
static void
metrics_shmem_init(void *ptr, bool found)
{
	EngramMetricsShared *shared = (EngramMetricsShared *) ptr;

	if (!found)
	{
		memset(shared, 0, sizeof(EngramMetricsShared));
		shared->locks = &(GetNamedLWLockTranche(ENGRAM_METRICS_TRANCHE))->lock;
		pg_atomic_init_u64(&shared->stats_reset, (uint64) GetCurrentTimestamp());
		for (int op = 0; op < ENGRAM_OP_COUNT; op++)
		{
			pg_atomic_init_u64(&shared->operations[op].errors, 0);
			pg_atomic_init_u64(&shared->operations[op].cpu_ns, 0);
			init_histogram(&shared->operations[op].latency);
		}
		init_atomic_array(shared->cache_hits, ENGRAM_CACHE_COUNT);
		init_atomic_array(shared->cache_requests, ENGRAM_CACHE_COUNT);
		init_atomic_array(&shared->tier_moves[0][0], ENGRAM_TIER_COUNT * ENGRAM_TIER_COUNT);
		init_atomic_array(shared->lock_waits, ENGRAM_LOCK_COUNT);
		init_atomic_array(shared->lock_wait_ns, ENGRAM_LOCK_COUNT);
		init_atomic_array(shared->network_bytes, ENGRAM_NET_DIRECTION_COUNT);
		init_histogram(&shared->wal.flushes);
	}
	engram_metrics = shared;
}

static const EngramShmemRegion metrics_region = {
	.name = "engram metrics",
	.size = metrics_shmem_size,
	.init = metrics_shmem_init,
	.lwlock_tranche = ENGRAM_METRICS_TRANCHE,
	.lwlock_count = metrics_lwlock_count,
};

void
engram_metrics_init(void)
{
	DefineCustomIntVariable("engram.slow_operation_threshold_ms",
							"Sets the duration above which an Engram operation is kept in the slow-operation log.",
							"-1 disables the log; 0 keeps every operation.  The log holds the most recent 256 entries (engram_slow_operations).",
							&engram_slow_operation_threshold_ms,
							SLOW_THRESHOLD_MS_DEFAULT,
							SLOW_THRESHOLD_MS_MIN, SLOW_THRESHOLD_MS_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		engram_shmem_register(&metrics_region);
		engram_metrics_network_init();
	}
}

void
engram_metrics_require(void)
{
	engram_require_preload("Engram metrics");
	if (engram_metrics == NULL)
		elog(ERROR, "engram metrics shared memory is not attached");
}

EngramOperation
engram_operation_from_name(const char *name)
{
	StringInfoData valid;

	for (int op = 0; op < ENGRAM_OP_COUNT; op++)
		if (strcmp(name, engram_operation_names[op]) == 0)
			return (EngramOperation) op;

	initStringInfo(&valid);
	for (int op = 0; op < ENGRAM_OP_COUNT; op++)
		appendStringInfo(&valid, "%s%s", op > 0 ? ", " : "", engram_operation_names[op]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown engram operation \"%s\"", name),
			 errhint("Valid operations are: %s.", valid.data)));
	pg_unreachable();
}

void
engram_histogram_observe(EngramLatencyHistogram *histogram, double seconds,
						 uint64 times, uint64 sum_ns)
{
	int			bucket = 0;

	if (seconds < 0 || isnan(seconds))
		seconds = 0;
	while (bucket < ENGRAM_LATENCY_BOUND_COUNT && seconds > engram_latency_bounds[bucket])
		bucket++;
	pg_atomic_fetch_add_u64(&histogram->bucket[bucket], times);
	pg_atomic_fetch_add_u64(&histogram->sum_ns, sum_ns);
	pg_atomic_fetch_add_u64(&histogram->count, times);
}

void
engram_histogram_reset(EngramLatencyHistogram *histogram)
{
	for (int i = 0; i < ENGRAM_LATENCY_BUCKET_COUNT; i++)
		pg_atomic_write_u64(&histogram->bucket[i], 0);
	pg_atomic_write_u64(&histogram->sum_ns, 0);
	pg_atomic_write_u64(&histogram->count, 0);
}

static void
zero_atomic_array(pg_atomic_uint64 *array, int n)
{
	for (int i = 0; i < n; i++)
		pg_atomic_write_u64(&array[i], 0);
}

void
engram_metrics_reset_all(void)
{
	EngramMetricsShared *shared = engram_metrics;

	for (int op = 0; op < ENGRAM_OP_COUNT; op++)
	{
		pg_atomic_write_u64(&shared->operations[op].errors, 0);
		pg_atomic_write_u64(&shared->operations[op].cpu_ns, 0);
		engram_histogram_reset(&shared->operations[op].latency);
	}
	zero_atomic_array(shared->cache_hits, ENGRAM_CACHE_COUNT);
	zero_atomic_array(shared->cache_requests, ENGRAM_CACHE_COUNT);
	zero_atomic_array(&shared->tier_moves[0][0], ENGRAM_TIER_COUNT * ENGRAM_TIER_COUNT);
	zero_atomic_array(shared->lock_waits, ENGRAM_LOCK_COUNT);
	zero_atomic_array(shared->lock_wait_ns, ENGRAM_LOCK_COUNT);
	zero_atomic_array(shared->network_bytes, ENGRAM_NET_DIRECTION_COUNT);

	LWLockAcquire(&shared->locks[ENGRAM_METRICS_LOCK_SLOW_RING], LW_EXCLUSIVE);
	shared->slow_next = 0;
	LWLockRelease(&shared->locks[ENGRAM_METRICS_LOCK_SLOW_RING]);

	/* The sampler keeps its baseline: only the folded flushes restart. */
	LWLockAcquire(&shared->locks[ENGRAM_METRICS_LOCK_WAL], LW_EXCLUSIVE);
	engram_histogram_reset(&shared->wal.flushes);
	LWLockRelease(&shared->locks[ENGRAM_METRICS_LOCK_WAL]);

	pg_atomic_write_u64(&shared->stats_reset, (uint64) GetCurrentTimestamp());
}
