/*-------------------------------------------------------------------------
 *
 * metrics_record.c
 *	  The recording side of the metrics API (engram_metrics.h): operation
 *	  timers, counters, and the slow-operation log.
 *
 * Each backend keeps a small stack of running operations (start time and CPU
 * time at start, transaction nesting level).  engram_metrics_end removes the
 * innermost running operation of its kind.  A transaction or subtransaction
 * abort records every operation begun inside the aborted one as an
 * error, so an ERROR thrown in the middle of an operation is counted without
 * the caller catching it.
 *
 * Locking: counters are lock-free atomics; the slow ring takes
 * locks[ENGRAM_METRICS_LOCK_SLOW_RING] in exclusive mode for one copy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/timestamp.h"

#include "engram.h"
#include "metrics_internal.h"

/* Deepest nesting of timed operations one backend tracks. */
#define ENGRAM_TIMER_STACK_DEPTH 16

typedef struct EngramRunningOperation
{
	EngramOperation op;
	int			nest_level;		/* GetCurrentTransactionNestLevel() at begin */
	instr_time	started;
	double		cpu_started;	/* process CPU seconds at begin, < 0 if unknown */
} EngramRunningOperation;

static EngramRunningOperation running[ENGRAM_TIMER_STACK_DEPTH];
static int	running_depth = 0;

/* Operations begun beyond the stack depth: counted so begin/end still pair. */
static int	running_overflow = 0;

static bool xact_callbacks_registered = false;

/* CPU seconds (user + system) of this process, or -1 if the clock fails. */
static double
process_cpu_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return -1;
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void
engram_slow_details_init(EngramSlowDetails *details)
{
	details->space = InvalidOid;
	details->k = -1;
	details->ef_search = -1;
	details->nodes_visited = -1;
	details->tiers_touched = 0;
	details->hops = -1;
	details->rows = -1;
}

/* Copy one finished operation into the slow ring, when over the threshold. */
static void
log_if_slow(EngramOperation op, double seconds, double cpu_seconds, bool ok,
			const EngramSlowDetails *details)
{
	EngramMetricsShared *shared = engram_metrics;
	EngramSlowEntry *entry;

	if (engram_slow_operation_threshold_ms < 0 ||
		seconds * 1000.0 < engram_slow_operation_threshold_ms)
		return;

	LWLockAcquire(&shared->locks[ENGRAM_METRICS_LOCK_SLOW_RING], LW_EXCLUSIVE);
	entry = &shared->slow_ring[shared->slow_next % ENGRAM_SLOW_RING_SIZE];
	shared->slow_next++;
	entry->finished_at = GetCurrentTimestamp();
	entry->operation = op;
	entry->ok = ok;
	entry->pid = MyProcPid;
	entry->database = MyDatabaseId;
	entry->user = GetUserId();
	entry->seconds = seconds;
	entry->cpu_seconds = cpu_seconds;
	if (details != NULL)
		entry->details = *details;
	else
		engram_slow_details_init(&entry->details);
	LWLockRelease(&shared->locks[ENGRAM_METRICS_LOCK_SLOW_RING]);
}

void
engram_metrics_record(EngramOperation op, double seconds, double cpu_seconds,
					  bool ok, const EngramSlowDetails *details)
{
	EngramOperationStats *stats;

	if (engram_metrics == NULL || op < 0 || op >= ENGRAM_OP_COUNT)
		return;
	stats = &engram_metrics->operations[op];
	if (!ok)
		pg_atomic_fetch_add_u64(&stats->errors, 1);
	if (cpu_seconds > 0)
		pg_atomic_fetch_add_u64(&stats->cpu_ns, (uint64) (cpu_seconds * 1e9));
	if (!(seconds >= 0))
		seconds = 0;
	engram_histogram_observe(&stats->latency, seconds, 1, (uint64) (seconds * 1e9));
	log_if_slow(op, seconds, cpu_seconds, ok, details);
}

/* Record running[index] as finished now. */
static double
finish_running(int index, bool ok, const EngramSlowDetails *details)
{
	EngramRunningOperation *operation = &running[index];
	instr_time	elapsed;
	double		seconds;
	double		cpu_seconds = -1;
	double		cpu_now;

	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, operation->started);
	seconds = INSTR_TIME_GET_DOUBLE(elapsed);
	cpu_now = process_cpu_seconds();
	if (operation->cpu_started >= 0 && cpu_now >= operation->cpu_started)
		cpu_seconds = cpu_now - operation->cpu_started;
	engram_metrics_record(operation->op, seconds, cpu_seconds, ok, details);
	return seconds;
}

/*
 * On abort, every operation begun at or inside the aborted (sub)transaction
 * ended in an error.  "level" is the nesting level being aborted.
 */
static void
abort_running_from_level(int level)
{
	while (running_depth > 0 && running[running_depth - 1].nest_level >= level)
	{
		running_depth--;
		finish_running(running_depth, false, NULL);
	}
	if (running_depth == 0)
		running_overflow = 0;
}

static void
metrics_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		abort_running_from_level(1);
	else if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
			 event == XACT_EVENT_PREPARE)
	{
		/* An operation still open at commit was never ended: drop it. */
		running_depth = 0;
		running_overflow = 0;
	}
}

static void
metrics_subxact_callback(SubXactEvent event, SubTransactionId subid,
						 SubTransactionId parent_subid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		abort_running_from_level(GetCurrentTransactionNestLevel());
}

void
engram_metrics_begin(EngramOperation op)
{
	EngramRunningOperation *operation;

	if (engram_metrics == NULL)
		return;
	if (!xact_callbacks_registered)
	{
		RegisterXactCallback(metrics_xact_callback, NULL);
		RegisterSubXactCallback(metrics_subxact_callback, NULL);
		xact_callbacks_registered = true;
	}
	if (running_depth >= ENGRAM_TIMER_STACK_DEPTH)
	{
		running_overflow++;
		return;
	}
	operation = &running[running_depth++];
	operation->op = op;
	operation->nest_level = GetCurrentTransactionNestLevel();
	operation->cpu_started = process_cpu_seconds();
	INSTR_TIME_SET_CURRENT(operation->started);
}

double
engram_metrics_end(EngramOperation op, const EngramSlowDetails *details)
{
	double		seconds;
	int			index;

	if (engram_metrics == NULL)
		return 0;

	/*
	 * The innermost running "op".  Usually the top of the stack; two
	 * set-returning functions read in turn by one query interleave, so
	 * search rather than insist on strict LIFO order.
	 */
	for (index = running_depth - 1; index >= 0; index--)
		if (running[index].op == op)
			break;
	if (index < 0)
	{
		/* Begun past the stack depth, or never begun: nothing to time. */
		if (running_overflow > 0)
			running_overflow--;
		return 0;
	}
	seconds = finish_running(index, true, details);
	memmove(&running[index], &running[index + 1],
			(running_depth - index - 1) * sizeof(EngramRunningOperation));
	running_depth--;
	return seconds;
}

void
engram_metrics_cache_lookup(EngramCache cache, bool hit)
{
	engram_metrics_cache_lookups(cache, 1, hit ? 1 : 0);
}

void
engram_metrics_cache_lookups(EngramCache cache, int64 lookups, int64 hits)
{
	if (engram_metrics == NULL || cache < 0 || cache >= ENGRAM_CACHE_COUNT || lookups <= 0)
		return;
	pg_atomic_fetch_add_u64(&engram_metrics->cache_requests[cache], (uint64) lookups);
	if (hits > 0)
		pg_atomic_fetch_add_u64(&engram_metrics->cache_hits[cache], (uint64) hits);
}

void
engram_metrics_tier_move(EngramTier from, EngramTier to, int64 count)
{
	if (engram_metrics == NULL || count <= 0 ||
		from < 0 || from >= ENGRAM_TIER_COUNT || to < 0 || to >= ENGRAM_TIER_COUNT)
		return;
	pg_atomic_fetch_add_u64(&engram_metrics->tier_moves[from][to], (uint64) count);
}

void
engram_metrics_lock_wait(EngramLockType lock, double seconds)
{
	if (engram_metrics == NULL || lock < 0 || lock >= ENGRAM_LOCK_COUNT || !(seconds >= 0))
		return;
	pg_atomic_fetch_add_u64(&engram_metrics->lock_waits[lock], 1);
	pg_atomic_fetch_add_u64(&engram_metrics->lock_wait_ns[lock], (uint64) (seconds * 1e9));
}
