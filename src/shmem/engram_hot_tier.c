/*-------------------------------------------------------------------------
 *
 * engram_hot_tier.c
 *	  The hot tier: shared-memory cache of decoded rows (layout, MVCC
 *	  argument and locking in engram_hot_tier.h).
 *
 * Region layout (one ShmemInitStruct, "engram hot tier"):
 *	EngramHotControl			counters, NUMA report, per-relation counters
 *	EngramHotShard[nshards]		per shard: ring state and hash geometry
 *	uint32 buckets[nshards][nbuckets]	arena offset + 1 of an entry, 0 empty
 *	(pad to a page)
 *	arenas[nshards][arena_size]	circular logs of EngramHotEntry
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <numa.h>
#include <sched.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/xlog.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "metrics/engram_metrics.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "engram.h"
#include "shmem/engram_hot_tier.h"
#include "shmem/engram_relay_state.h"

#define ENGRAM_HOT_TRANCHE			"engram_hot_tier"
#define ENGRAM_HOT_PAGE				4096
#define ENGRAM_HOT_MIN_ENTRY		128 /* sizing estimate for the hash */
#define ENGRAM_HOT_MAX_RELS			256
#define ENGRAM_HOT_MAX_SECOND_CHANCES 16

int			engram_hot_tier_size_mb = ENGRAM_HOT_TIER_SIZE_MB_DEFAULT;
int			engram_hot_tier_shards = ENGRAM_HOT_TIER_SHARDS_DEFAULT;
bool		engram_numa_aware = false;
bool		engram_numa_interleave = false;
bool		engram_hot_tier_lookups = true;

#define ENTRY_WRAP	0			/* size 0 marks "continue at offset 0" */
#define ENTRY_LIVE	1
#define ENTRY_DEAD	2

typedef struct EngramHotEntry
{
	uint32		size;			/* whole entry, MAXALIGNed; 0 = wrap marker */
	uint8		state;
	uint8		referenced;		/* CLOCK bit, set on hits */
	uint8		residency;		/* EngramHotResidency: resident or a cached copy */
	uint8		pad;
	uint32		hash;
	uint32		tuple_len;
	EngramHotKey key;			/* key.tid: the TID index entries carry */
	ItemPointerData member_tid; /* the tuple's own TID (differs from
								 * key.tid for a HOT chain member) */
	/* tuple bytes follow at ENTRY_DATA_OFFSET */
} EngramHotEntry;

#define ENTRY_DATA_OFFSET	MAXALIGN(sizeof(EngramHotEntry))

typedef struct EngramHotShard
{
	LWLock	   *lock;
	uint32		nbuckets;		/* power of two */
	uint32		nentries;		/* live entries */
	uint32		ncached;		/* ... of which cached copies */
	Size		buckets_offset; /* from region start */
	Size		arena_offset;	/* from region start */
	Size		arena_size;
	Size		head;
	Size		tail;
	Size		used;			/* bytes from tail to head, wrap padding included */
} EngramHotShard;

typedef struct EngramHotRelCounters
{
	Oid			dbid;
	Oid			relid;			/* InvalidOid = free slot */
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 fills;
} EngramHotRelCounters;

typedef struct EngramHotControl
{
	int			nshards;
	Size		region_size;
	Size		arena_bytes;	/* all shards */
	char		numa_policy[32];
	int			numa_node;		/* bound node, -1 if none */
	int			numa_nodes;		/* nodes configured */
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 fills;
	pg_atomic_uint64 invalidations;
	pg_atomic_uint64 cached_fills;	/* cached copies stored */
	pg_atomic_uint64 cached_evictions;	/* ... dropped for room */
	pg_atomic_uint64 promotions;	/* cached copies made resident in place */
	slock_t		rel_mutex;		/* claims of rel_counters slots */
	EngramHotRelCounters rel_counters[ENGRAM_HOT_MAX_RELS];
	EngramHotShard shards[FLEXIBLE_ARRAY_MEMBER];
} EngramHotControl;

static EngramHotControl *hot = NULL;

/*
 * LWLockAcquire that reports the time spent waiting, when there was a wait,
 * to the lock-wait metric.
 */
static void
acquire_timed(LWLock *lock, LWLockMode mode)
{
	instr_time	start;
	instr_time	end;

	if (LWLockConditionalAcquire(lock, mode))
		return;
	INSTR_TIME_SET_CURRENT(start);
	LWLockAcquire(lock, mode);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	engram_metrics_lock_wait(ENGRAM_LOCK_HOT_TIER_SHARD, INSTR_TIME_GET_DOUBLE(end));
}

/* ------------------------------------------------------------------------
 * Geometry
 * ------------------------------------------------------------------------
 */

static Size
arena_size_per_shard(void)
{
	Size		total = (Size) engram_hot_tier_size_mb * 1024 * 1024;
	Size		per_shard = total / engram_hot_tier_shards;

	/* about 1/16 goes to the hash table */
	per_shard -= per_shard / 16;
	return Max(TYPEALIGN_DOWN(ENGRAM_HOT_PAGE, per_shard), ENGRAM_HOT_PAGE);
}

static uint32
buckets_per_shard(void)
{
	Size		wanted = 2 * (arena_size_per_shard() / ENGRAM_HOT_MIN_ENTRY);
	uint32		n = 64;

	while (n < wanted && n < (1U << 30))
		n <<= 1;
	return n;
}

static Size
control_size(void)
{
	return MAXALIGN(offsetof(EngramHotControl, shards) +
					sizeof(EngramHotShard) * engram_hot_tier_shards);
}

static Size
hot_tier_region_size(void)
{
	Size		size = control_size();

	size = add_size(size, mul_size(sizeof(uint32) * buckets_per_shard(), engram_hot_tier_shards));
	size = add_size(size, ENGRAM_HOT_PAGE);	/* alignment of the arenas */
	size = add_size(size, mul_size(arena_size_per_shard(), engram_hot_tier_shards));
	return size;
}

static int
hot_tier_lwlock_count(void)
{
	return engram_hot_tier_shards;
}

static void
place_arenas_numa(char *arenas, Size len)
{
	hot->numa_node = -1;
	hot->numa_nodes = 0;
	if (!engram_numa_aware)
	{
		strlcpy(hot->numa_policy, "off", sizeof(hot->numa_policy));
		return;
	}
	if (numa_available() < 0)
	{
		strlcpy(hot->numa_policy, "unavailable", sizeof(hot->numa_policy));
		return;
	}
	hot->numa_nodes = numa_num_configured_nodes();
	if (engram_numa_interleave)
	{
		numa_interleave_memory(arenas, len, numa_all_nodes_ptr);
		strlcpy(hot->numa_policy, "interleave", sizeof(hot->numa_policy));
	}
	else
	{
		int			cpu = sched_getcpu();
		int			node = cpu >= 0 ? numa_node_of_cpu(cpu) : 0;

		if (node < 0)
			node = 0;
		numa_tonode_memory(arenas, len, node);
		hot->numa_node = node;
		strlcpy(hot->numa_policy, "local", sizeof(hot->numa_policy));
	}
}

static void
hot_tier_region_init(void *ptr, bool found)
{
	LWLockPadded *locks;
	char	   *base = (char *) ptr;
	Size		arena_size = arena_size_per_shard();
	uint32		nbuckets = buckets_per_shard();
	Size		offset;
	Size		arenas_offset;

	hot = (EngramHotControl *) ptr;
	if (found)
		return;

	memset(hot, 0, control_size());
	hot->nshards = engram_hot_tier_shards;
	hot->region_size = hot_tier_region_size();
	pg_atomic_init_u64(&hot->hits, 0);
	pg_atomic_init_u64(&hot->misses, 0);
	pg_atomic_init_u64(&hot->evictions, 0);
	pg_atomic_init_u64(&hot->fills, 0);
	pg_atomic_init_u64(&hot->invalidations, 0);
	pg_atomic_init_u64(&hot->cached_fills, 0);
	pg_atomic_init_u64(&hot->cached_evictions, 0);
	pg_atomic_init_u64(&hot->promotions, 0);
	SpinLockInit(&hot->rel_mutex);
	for (int i = 0; i < ENGRAM_HOT_MAX_RELS; i++)
	{
		pg_atomic_init_u64(&hot->rel_counters[i].hits, 0);
		pg_atomic_init_u64(&hot->rel_counters[i].misses, 0);
		pg_atomic_init_u64(&hot->rel_counters[i].evictions, 0);
		pg_atomic_init_u64(&hot->rel_counters[i].fills, 0);
	}

	locks = GetNamedLWLockTranche(ENGRAM_HOT_TRANCHE);
	offset = control_size();
	arenas_offset = TYPEALIGN(ENGRAM_HOT_PAGE,
							  (uintptr_t) (base + offset + sizeof(uint32) * (Size) nbuckets * hot->nshards))
		- (uintptr_t) base;
	for (int s = 0; s < hot->nshards; s++)
	{
		EngramHotShard *shard = &hot->shards[s];

		shard->lock = &locks[s].lock;
		shard->nbuckets = nbuckets;
		shard->buckets_offset = offset + sizeof(uint32) * (Size) nbuckets * s;
		shard->arena_offset = arenas_offset + arena_size * s;
		shard->arena_size = arena_size;
		memset(base + shard->buckets_offset, 0, sizeof(uint32) * (Size) nbuckets);
	}
	hot->arena_bytes = arena_size * hot->nshards;
	Assert(arenas_offset + hot->arena_bytes <= hot->region_size);
	/* Before the arenas are first touched. */
	place_arenas_numa(base + arenas_offset, hot->arena_bytes);
}

static const EngramShmemRegion hot_tier_region = {
	.name = "engram hot tier",
	.size = hot_tier_region_size,
	.init = hot_tier_region_init,
	.lwlock_tranche = ENGRAM_HOT_TRANCHE,
	.lwlock_count = hot_tier_lwlock_count,
};

void
engram_hot_tier_init(void)
{
	DefineCustomBoolVariable("engram.hot_tier_lookups",
							 "Sets whether index fetches of engram tables consult the hot tier.",
							 NULL, &engram_hot_tier_lookups, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("engram.hot_tier_size_mb",
							"Sets the size of the hot tier in shared memory, in megabytes.",
							NULL, &engram_hot_tier_size_mb,
							ENGRAM_HOT_TIER_SIZE_MB_DEFAULT,
							ENGRAM_HOT_TIER_SIZE_MB_MIN, ENGRAM_HOT_TIER_SIZE_MB_MAX,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("engram.hot_tier_shards",
							"Sets the number of lock partitions of the hot tier.",
							NULL, &engram_hot_tier_shards,
							ENGRAM_HOT_TIER_SHARDS_DEFAULT,
							ENGRAM_HOT_TIER_SHARDS_MIN, ENGRAM_HOT_TIER_SHARDS_MAX,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("engram.numa_aware",
							 "Sets whether the hot tier's memory is placed with libnuma.",
							 NULL, &engram_numa_aware, false,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("engram.numa_interleave",
							 "Sets whether a NUMA-aware hot tier is interleaved over all nodes instead of bound to the local node.",
							 NULL, &engram_numa_interleave, false,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	engram_shmem_register(&hot_tier_region);
}

bool
engram_hot_tier_available(void)
{
	return hot != NULL && !RecoveryInProgress();
}

/* ------------------------------------------------------------------------
 * Shard internals (caller holds the shard lock)
 * ------------------------------------------------------------------------
 */

static inline uint32 *
shard_buckets(EngramHotShard *shard)
{
	return (uint32 *) ((char *) hot + shard->buckets_offset);
}

static inline EngramHotEntry *
shard_entry(EngramHotShard *shard, Size offset)
{
	return (EngramHotEntry *) ((char *) hot + shard->arena_offset + offset);
}

static void
make_key(EngramHotKey *key, Relation rel, ItemPointer tid)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->relid = RelationGetRelid(rel);
	key->relnode = rel->rd_node.relNode;
	key->tid = *tid;
}

static inline uint32
key_hash(const EngramHotKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(*key));
}

uint32
engram_hot_tier_key(EngramHotKey *key, Relation rel, ItemPointer tid)
{
	make_key(key, rel, tid);
	return key_hash(key);
}

static inline EngramHotShard *
key_shard(uint32 hash)
{
	return &hot->shards[hash % hot->nshards];
}

/* The bucket where a probe for an entry of hash "hash" starts. */
static inline uint32
home_bucket(const EngramHotShard *shard, uint32 hash)
{
	return (hash >> 7) & (shard->nbuckets - 1);
}

/* Bucket index holding "key", or -1. */
static int64
shard_find(EngramHotShard *shard, const EngramHotKey *key, uint32 hash)
{
	uint32	   *buckets = shard_buckets(shard);
	uint32		mask = shard->nbuckets - 1;
	uint32		i = home_bucket(shard, hash);

	while (buckets[i] != 0)
	{
		EngramHotEntry *entry = shard_entry(shard, buckets[i] - 1);

		if (entry->hash == hash && memcmp(&entry->key, key, sizeof(*key)) == 0)
			return i;
		i = (i + 1) & mask;
	}
	return -1;
}

/* The live entry bucket "bucket" points at. */
static inline EngramHotEntry *
bucket_entry(EngramHotShard *shard, int64 bucket)
{
	return shard_entry(shard, shard_buckets(shard)[bucket] - 1);
}

/*
 * Lock the shard of "tid" of "rel" in "mode" and find its entry: returns
 * the shard, locked (the caller releases it), with *bucket the entry's
 * bucket or -1.
 */
static EngramHotShard *
lock_and_find(Relation rel, ItemPointer tid, LWLockMode mode, int64 *bucket)
{
	EngramHotKey key;
	uint32		hash;
	EngramHotShard *shard;

	make_key(&key, rel, tid);
	hash = key_hash(&key);
	shard = key_shard(hash);
	acquire_timed(shard->lock, mode);
	*bucket = shard_find(shard, &key, hash);
	return shard;
}

/* Empty bucket "i", shifting later members of its probe run back. */
static void
shard_remove_bucket(EngramHotShard *shard, uint32 i)
{
	uint32	   *buckets = shard_buckets(shard);
	uint32		mask = shard->nbuckets - 1;
	uint32		j = i;

	buckets[i] = 0;
	for (;;)
	{
		uint32		home;

		j = (j + 1) & mask;
		if (buckets[j] == 0)
			break;
		home = home_bucket(shard, shard_entry(shard, buckets[j] - 1)->hash);
		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((i <= j) ? (home <= i || home > j) : (home <= i && home > j))
		{
			buckets[i] = buckets[j];
			buckets[j] = 0;
			i = j;
		}
	}
}

static void
shard_insert_bucket(EngramHotShard *shard, uint32 hash, Size offset)
{
	uint32	   *buckets = shard_buckets(shard);
	uint32		mask = shard->nbuckets - 1;
	uint32		i = home_bucket(shard, hash);

	while (buckets[i] != 0)
		i = (i + 1) & mask;
	buckets[i] = (uint32) (offset + 1);
}

/* Bucket pointing at arena "offset" (the entry must be live). */
static uint32
shard_bucket_of(EngramHotShard *shard, EngramHotEntry *entry, Size offset)
{
	uint32	   *buckets = shard_buckets(shard);
	uint32		mask = shard->nbuckets - 1;
	uint32		i = home_bucket(shard, entry->hash);

	while (buckets[i] != (uint32) (offset + 1))
	{
		Assert(buckets[i] != 0);
		i = (i + 1) & mask;
	}
	return i;
}

static EngramHotRelCounters *
rel_counters(Oid dbid, Oid relid, bool create)
{
	EngramHotRelCounters *found = NULL;

	for (int i = 0; i < ENGRAM_HOT_MAX_RELS; i++)
	{
		EngramHotRelCounters *c = &hot->rel_counters[i];

		if (c->relid == relid && c->dbid == dbid)
			return c;
	}
	if (!create)
		return NULL;
	SpinLockAcquire(&hot->rel_mutex);
	for (int i = 0; i < ENGRAM_HOT_MAX_RELS; i++)
	{
		EngramHotRelCounters *c = &hot->rel_counters[i];

		if (c->relid == relid && c->dbid == dbid)
		{
			found = c;
			break;
		}
		if (c->relid == InvalidOid)
		{
			c->dbid = dbid;
			c->relid = relid;
			found = c;
			break;
		}
	}
	SpinLockRelease(&hot->rel_mutex);
	return found;				/* NULL when every slot is taken */
}

/* An entry dropped for room: a resident's eviction, or a cached copy's. */
static void
count_eviction(EngramHotEntry *entry)
{
	EngramHotRelCounters *c;

	if (entry->residency != ENGRAM_HOT_RESIDENT)
	{
		pg_atomic_fetch_add_u64(&hot->cached_evictions, 1);
		return;
	}
	c = rel_counters(entry->key.dbid, entry->key.relid, false);
	pg_atomic_fetch_add_u64(&hot->evictions, 1);
	if (c)
		pg_atomic_fetch_add_u64(&c->evictions, 1);
}

/* Kill the live entry at bucket i. */
static void
shard_kill(EngramHotShard *shard, uint32 bucket)
{
	EngramHotEntry *entry = bucket_entry(shard, bucket);

	entry->state = ENTRY_DEAD;
	shard_remove_bucket(shard, bucket);
	shard->nentries--;
	if (entry->residency != ENGRAM_HOT_RESIDENT)
		shard->ncached--;
}

/*
 * Free the oldest entry of the ring.  A live entry referenced since it was
 * last passed gets a second chance while "chances" lasts: it is copied to
 * the head instead; so does a resident entry, referenced or not, while the
 * shard holds cached copies (they go first: a cached copy never costs a
 * resident entry its place while chances last).  Without "for_resident"
 * (room for a cached copy) a resident entry at the tail is never passed.
 * Returns false when the ring is empty, or the tail is a resident entry
 * and not "for_resident".
 */
static bool shard_advance_tail(EngramHotShard *shard, int *chances, bool for_resident);

/*
 * Contiguous room for "need" bytes at the head; -1 if impossible (without
 * "for_resident": without dropping a resident entry).
 */
static int64
shard_make_room(EngramHotShard *shard, Size need, int *chances, bool for_resident)
{
	if (need > shard->arena_size)
		return -1;
	for (;;)
	{
		if (shard->used == 0)
			shard->head = shard->tail = 0;
		if (shard->used == 0 || shard->head > shard->tail)
		{
			/* free: [head, end) and [0, tail) */
			if (shard->arena_size - shard->head >= need)
				return shard->head;
			if (shard->tail >= need)
			{
				shard_entry(shard, shard->head)->size = ENTRY_WRAP;
				shard->used += shard->arena_size - shard->head;
				shard->head = 0;
				return 0;
			}
		}
		else if (shard->head < shard->tail)
		{
			if (shard->tail - shard->head >= need)
				return shard->head;
		}
		if (!shard_advance_tail(shard, chances, for_resident))
			return -1;
	}
}

/* Append an entry (room must have been made); returns its offset. */
static Size
shard_append(EngramHotShard *shard, Size offset, Size size)
{
	shard->head = offset + size;
	if (shard->head == shard->arena_size)
		shard->head = 0;
	shard->used += size;
	return offset;
}

static bool
shard_advance_tail(EngramHotShard *shard, int *chances, bool for_resident)
{
	EngramHotEntry *entry;
	Size		offset = shard->tail;
	bool		resident;

	if (shard->used == 0)
		return false;
	entry = shard_entry(shard, offset);
	if (entry->size == ENTRY_WRAP)
	{
		shard->used -= shard->arena_size - offset;
		shard->tail = 0;
		return true;
	}

	resident = entry->state == ENTRY_LIVE && entry->residency == ENGRAM_HOT_RESIDENT;
	if (resident && !for_resident)
		return false;
	if (entry->state == ENTRY_LIVE && *chances > 0 &&
		(entry->referenced || (resident && shard->ncached > 0)))
	{
		Size		size = entry->size;
		char	   *copy = palloc(size);
		int64		dest;

		(*chances)--;
		memcpy(copy, entry, size);
		/* Unhook it first: its old bytes may be overwritten below. */
		shard_kill(shard, shard_bucket_of(shard, entry, offset));
		shard->tail = (offset + size == shard->arena_size) ? 0 : offset + size;
		shard->used -= size;
		dest = shard_make_room(shard, size, chances, for_resident);
		if (dest >= 0)
		{
			EngramHotEntry *moved = shard_entry(shard, dest);

			memcpy(moved, copy, size);
			moved->referenced = 0;
			shard_append(shard, dest, size);
			shard_insert_bucket(shard, moved->hash, dest);
			shard->nentries++;
			if (moved->residency != ENGRAM_HOT_RESIDENT)
				shard->ncached++;
		}
		else
			count_eviction((EngramHotEntry *) copy);
		pfree(copy);
		return true;
	}

	if (entry->state == ENTRY_LIVE)
	{
		shard_kill(shard, shard_bucket_of(shard, entry, offset));
		count_eviction(entry);
	}
	shard->tail = (offset + entry->size == shard->arena_size) ? 0 : offset + entry->size;
	shard->used -= entry->size;
	return true;
}

/* ------------------------------------------------------------------------
 * API
 * ------------------------------------------------------------------------
 */

/*
 * A committed, non-speculative row with no deleter: xmax invalid, or only
 * a row lock (not a multixact) taken by a transaction that has ended --
 * MVCC visibility checks leave such a lock's xmax without the invalid hint
 * (only VACUUM or a later locker set it), and consolidation's FOR KEY SHARE
 * or a foreign-key check on a lineage insert would otherwise keep the row
 * out of the hot tier until then.  A later row lock leaves a cached entry
 * alone (no MVCC snapshot reads a lock-only xmax as a deletion); an update
 * or delete goes through our tuple_update / tuple_delete and invalidates it.
 */
bool
engram_hot_tier_cacheable(HeapTupleHeader page_header)
{
	uint16		infomask = page_header->t_infomask;

	if (!HeapTupleHeaderXminCommitted(page_header) || HeapTupleHeaderIsSpeculative(page_header))
		return false;
	if (infomask & HEAP_XMAX_INVALID)
		return true;
	return HEAP_XMAX_IS_LOCKED_ONLY(infomask) && !(infomask & HEAP_XMAX_IS_MULTI) &&
		!TransactionIdIsInProgress(HeapTupleHeaderGetRawXmax(page_header));
}

/* Count "hits" and "misses" of lookups for "rel". */
void
engram_hot_tier_count_lookups(Relation rel, int64 hits, int64 misses)
{
	EngramHotRelCounters *c;

	if (hot == NULL || (hits <= 0 && misses <= 0))
		return;
	c = rel_counters(MyDatabaseId, RelationGetRelid(rel), true);
	if (hits > 0)
	{
		pg_atomic_fetch_add_u64(&hot->hits, (uint64) hits);
		if (c)
			pg_atomic_fetch_add_u64(&c->hits, (uint64) hits);
	}
	if (misses > 0)
	{
		pg_atomic_fetch_add_u64(&hot->misses, (uint64) misses);
		if (c)
			pg_atomic_fetch_add_u64(&c->misses, (uint64) misses);
	}
}

void
engram_hot_tier_count_miss(Relation rel)
{
	engram_hot_tier_count_lookups(rel, 0, 1);
}

bool
engram_hot_tier_read(Relation rel, ItemPointer tid, Snapshot snapshot,
					 EngramHotResidency *present, EngramHotTierReadRow read_row, void *arg)
{
	EngramHotShard *shard;
	int64		bucket;
	bool		visible = false;

	if (present != NULL)
		*present = ENGRAM_HOT_ABSENT;
	if (!engram_hot_tier_available() || snapshot->snapshot_type != SNAPSHOT_MVCC)
		return false;
	shard = lock_and_find(rel, tid, LW_SHARED, &bucket);
	if (bucket >= 0)
	{
		EngramHotEntry *entry = bucket_entry(shard, bucket);
		HeapTupleHeader hdr = (HeapTupleHeader) ((char *) entry + ENTRY_DATA_OFFSET);

		if (present != NULL)
			*present = (EngramHotResidency) entry->residency;

		/*
		 * A heap-only tuple is only ever stored under its chain's root (heap
		 * never starts a chain at one), so this guards against nothing but
		 * a broken invariant; then the row is visible iff its inserter is
		 * (see header).
		 */
		if (!(HeapTupleHeaderIsHeapOnly(hdr) && ItemPointerEquals(&entry->key.tid, &entry->member_tid)) &&
			(HeapTupleHeaderXminFrozen(hdr) ||
			 !XidInMVCCSnapshot(HeapTupleHeaderGetRawXmin(hdr), snapshot)))
		{
			HeapTupleData row;

			row.t_len = entry->tuple_len;
			row.t_self = entry->member_tid;
			row.t_tableOid = RelationGetRelid(rel);
			row.t_data = hdr;
			read_row(arg, &row);
			entry->referenced = 1;	/* benign race under a shared lock */
			visible = true;
		}
	}
	LWLockRelease(shard->lock);
	return visible;
}

/* engram_hot_tier_read() callback of engram_hot_tier_lookup(): a palloc'd copy. */
static void
copy_row(void *arg, HeapTuple row)
{
	*(HeapTuple *) arg = heap_copytuple(row);
}

HeapTuple
engram_hot_tier_lookup(Relation rel, ItemPointer tid, Snapshot snapshot)
{
	HeapTuple	copy = NULL;

	if (engram_hot_tier_read(rel, tid, snapshot, NULL, copy_row, &copy))
		engram_hot_tier_count_lookups(rel, 1, 0);
	return copy;
}

HeapTuple
engram_hot_tier_lookup_admit(Relation rel, ItemPointer tid, Snapshot snapshot)
{
	HeapTuple	copy = NULL;
	EngramHotResidency present;

	if (!engram_hot_tier_read(rel, tid, snapshot, &present, copy_row, &copy))
		return NULL;
	engram_hot_tier_count_lookups(rel, 1, 0);
	if (present != ENGRAM_HOT_RESIDENT)
		engram_hot_tier_make_resident(rel, tid);
	return copy;
}

/*
 * Hints, without the shard locks (a racing change only makes them load
 * other lines): three passes over the TIDs, each of whose loads are
 * independent, so that the misses of a pass overlap -- the home buckets,
 * then the first lines of the entries they point to (entry and tuple
 * headers, the columns before a large one), then each entry's last lines
 * (the columns after it).
 */
#define PREFETCH_CHUNK 64

void
engram_hot_tier_prefetch_rows(Relation rel, const ItemPointerData *tids, int n)
{
#ifdef __GNUC__
	uint32		hashes[PREFETCH_CHUNK];
	EngramHotEntry *entries[PREFETCH_CHUNK];

	if (!engram_hot_tier_available())
		return;
	for (int start = 0; start < n; start += PREFETCH_CHUNK)
	{
		int			count = Min(PREFETCH_CHUNK, n - start);

		for (int i = 0; i < count; i++)
		{
			EngramHotKey key;
			EngramHotShard *shard;

			if (!ItemPointerIsValid(&tids[start + i]))
				continue;
			make_key(&key, rel, (ItemPointer) &tids[start + i]);
			hashes[i] = key_hash(&key);
			shard = key_shard(hashes[i]);
			__builtin_prefetch(&shard_buckets(shard)[home_bucket(shard, hashes[i])]);
		}
		for (int i = 0; i < count; i++)
		{
			EngramHotShard *shard;
			uint32		bucket;

			entries[i] = NULL;
			if (!ItemPointerIsValid(&tids[start + i]))
				continue;
			shard = key_shard(hashes[i]);
			bucket = *(volatile uint32 *) &shard_buckets(shard)[home_bucket(shard, hashes[i])];
			if (bucket == 0 || bucket - 1 > shard->arena_size - ENTRY_DATA_OFFSET - PG_CACHE_LINE_SIZE)
				continue;
			entries[i] = shard_entry(shard, bucket - 1);
			__builtin_prefetch(entries[i]);
			__builtin_prefetch((char *) entries[i] + PG_CACHE_LINE_SIZE);
		}
		for (int i = 0; i < count; i++)
		{
			EngramHotShard *shard;
			uint32		size;

			if (entries[i] == NULL)
				continue;
			shard = key_shard(hashes[i]);
			size = *(volatile uint32 *) &entries[i]->size;
			if (size <= 3 * PG_CACHE_LINE_SIZE ||
				(char *) entries[i] + size > (char *) shard_entry(shard, shard->arena_size))
				continue;
			__builtin_prefetch((char *) entries[i] + size - 1);
			__builtin_prefetch((char *) entries[i] + size - 1 - PG_CACHE_LINE_SIZE);
		}
	}
#endif
}

/*
 * Sure to refuse a cached copy of "need" bytes: the shard is full (bytes or
 * buckets) and holds no cached copies to replace.  Read without the lock:
 * a hint, that only saves taking it (or preparing the row).
 */
static bool
shard_refuses_copy(EngramHotShard *shard, Size need)
{
	return shard->ncached == 0 &&
		(shard->used + need > shard->arena_size || shard->nentries + 1 > shard->nbuckets / 2);
}

bool
engram_hot_tier_may_copy(Relation rel, ItemPointer tid)
{
	EngramHotKey key;

	if (!engram_hot_tier_available())
		return false;
	make_key(&key, rel, tid);
	return !shard_refuses_copy(key_shard(key_hash(&key)), ENTRY_DATA_OFFSET);
}

/*
 * engram_hot_tier_store() with the entry's "residency": a resident entry
 * may drop anything for room (CLOCK); a cached copy only other cached
 * copies (and never replaces a resident entry of its key).
 */
static bool
store_entry(Relation rel, ItemPointer tid, HeapTuple tuple, HeapTupleHeader page_header,
			EngramHotResidency residency)
{
	EngramHotKey key;
	uint32		hash;
	EngramHotShard *shard;
	int64		bucket;
	Size		need = ENTRY_DATA_OFFSET + MAXALIGN(tuple->t_len);
	int64		offset;
	int			chances = ENGRAM_HOT_MAX_SECOND_CHANCES;
	EngramHotEntry *entry;
	HeapTupleHeader hdr;
	EngramHotRelCounters *c;
	bool		for_resident = residency == ENGRAM_HOT_RESIDENT;

	if (!engram_hot_tier_available())
		return false;
	make_key(&key, rel, tid);
	hash = key_hash(&key);
	shard = key_shard(hash);
	if (need > shard->arena_size / 8)
		return false;
	if (!for_resident && shard_refuses_copy(shard, need))
		return false;

	acquire_timed(shard->lock, LW_EXCLUSIVE);
	bucket = shard_find(shard, &key, hash);
	if (bucket >= 0)
	{
		if (!for_resident && bucket_entry(shard, bucket)->residency == ENGRAM_HOT_RESIDENT)
		{
			LWLockRelease(shard->lock);
			return false;
		}
		shard_kill(shard, (uint32) bucket);
	}
	while (shard->nentries + 1 > shard->nbuckets / 2)
		if (!shard_advance_tail(shard, &chances, for_resident))
			break;
	offset = (!for_resident && shard->nentries + 1 > shard->nbuckets / 2) ? -1 :
		shard_make_room(shard, need, &chances, for_resident);
	if (offset < 0)
	{
		LWLockRelease(shard->lock);
		return false;
	}
	shard_append(shard, offset, need);
	entry = shard_entry(shard, offset);
	entry->size = need;
	entry->state = ENTRY_LIVE;
	entry->referenced = 0;
	entry->residency = (uint8) residency;
	entry->pad = 0;
	entry->hash = hash;
	entry->tuple_len = tuple->t_len;
	entry->key = key;
	entry->member_tid = tuple->t_self;
	hdr = (HeapTupleHeader) ((char *) entry + ENTRY_DATA_OFFSET);
	memcpy(hdr, tuple->t_data, tuple->t_len);
	/* The transaction header is the page's, as of now. */
	hdr->t_choice = page_header->t_choice;
	hdr->t_ctid = page_header->t_ctid;
	hdr->t_infomask = (page_header->t_infomask & HEAP_XACT_MASK) | (hdr->t_infomask & ~HEAP_XACT_MASK);
	hdr->t_infomask2 = (page_header->t_infomask2 & HEAP2_XACT_MASK) | (hdr->t_infomask2 & ~HEAP2_XACT_MASK);
	shard_insert_bucket(shard, hash, offset);
	shard->nentries++;
	if (!for_resident)
		shard->ncached++;
	LWLockRelease(shard->lock);

	if (!for_resident)
	{
		pg_atomic_fetch_add_u64(&hot->cached_fills, 1);
		return true;
	}
	c = rel_counters(MyDatabaseId, RelationGetRelid(rel), true);
	pg_atomic_fetch_add_u64(&hot->fills, 1);
	if (c)
		pg_atomic_fetch_add_u64(&c->fills, 1);
	return true;
}

bool
engram_hot_tier_store(Relation rel, ItemPointer tid, HeapTuple tuple, HeapTupleHeader page_header)
{
	return store_entry(rel, tid, tuple, page_header, ENGRAM_HOT_RESIDENT);
}

bool
engram_hot_tier_store_copy(Relation rel, ItemPointer tid, HeapTuple tuple,
						   HeapTupleHeader page_header, bool home_cold)
{
	return store_entry(rel, tid, tuple, page_header,
					   home_cold ? ENGRAM_HOT_CACHED_COLD : ENGRAM_HOT_CACHED_WARM);
}

bool
engram_hot_tier_make_resident(Relation rel, ItemPointer tid)
{
	EngramHotShard *shard;
	int64		bucket;
	bool		promoted = false;
	EngramHotRelCounters *c;

	if (!engram_hot_tier_available())
		return false;
	shard = lock_and_find(rel, tid, LW_EXCLUSIVE, &bucket);
	if (bucket >= 0)
	{
		EngramHotEntry *entry = bucket_entry(shard, bucket);

		if (entry->residency != ENGRAM_HOT_RESIDENT)
		{
			entry->residency = ENGRAM_HOT_RESIDENT;
			shard->ncached--;
			promoted = true;
		}
	}
	LWLockRelease(shard->lock);
	if (!promoted)
		return false;
	c = rel_counters(MyDatabaseId, RelationGetRelid(rel), true);
	pg_atomic_fetch_add_u64(&hot->promotions, 1);
	pg_atomic_fetch_add_u64(&hot->fills, 1);
	if (c)
		pg_atomic_fetch_add_u64(&c->fills, 1);
	return true;
}

bool
engram_hot_tier_invalidate(Relation rel, ItemPointer tid)
{
	EngramHotShard *shard;
	int64		bucket;
	bool		resident = false;

	/* Also during recovery: entries must never outlive a change. */
	engram_relay_state_invalidate(rel, tid);
	if (hot == NULL)
		return false;
	shard = lock_and_find(rel, tid, LW_EXCLUSIVE, &bucket);
	if (bucket >= 0)
	{
		resident = bucket_entry(shard, bucket)->residency == ENGRAM_HOT_RESIDENT;
		shard_kill(shard, (uint32) bucket);
	}
	LWLockRelease(shard->lock);
	if (bucket >= 0)
		pg_atomic_fetch_add_u64(&hot->invalidations, 1);
	return resident;
}

/*
 * Call "fn" for every live entry of every shard, under each shard's lock
 * in "mode".
 */
static void
for_each_entry(LWLockMode mode,
			   void (*fn) (EngramHotShard *shard, Size offset, EngramHotEntry *entry, void *arg),
			   void *arg)
{
	for (int s = 0; s < hot->nshards; s++)
	{
		EngramHotShard *shard = &hot->shards[s];
		Size		offset;
		Size		remaining;

		acquire_timed(shard->lock, mode);
		offset = shard->tail;
		remaining = shard->used;
		while (remaining > 0)
		{
			EngramHotEntry *entry = shard_entry(shard, offset);

			if (entry->size == ENTRY_WRAP)
			{
				remaining -= shard->arena_size - offset;
				offset = 0;
				continue;
			}
			remaining -= entry->size;
			if (entry->state == ENTRY_LIVE)
				fn(shard, offset, entry, arg);
			offset += entry->size;
			if (offset == shard->arena_size)
				offset = 0;
		}
		LWLockRelease(shard->lock);
	}
}

typedef struct EngramRelnodeMatch
{
	Oid			dbid;
	Oid			relnode;
} EngramRelnodeMatch;

static void
kill_if_relnode(EngramHotShard *shard, Size offset, EngramHotEntry *entry, void *arg)
{
	EngramRelnodeMatch *match = (EngramRelnodeMatch *) arg;

	if (entry->key.dbid == match->dbid && entry->key.relnode == match->relnode)
	{
		shard_kill(shard, shard_bucket_of(shard, entry, offset));
		pg_atomic_fetch_add_u64(&hot->invalidations, 1);
	}
}

void
engram_hot_tier_invalidate_relfilenode(Oid dbid, Oid relnode)
{
	EngramRelnodeMatch match = {dbid, relnode};

	engram_relay_state_invalidate_relfilenode(dbid, relnode);
	if (hot == NULL)
		return;
	for_each_entry(LW_EXCLUSIVE, kill_if_relnode, &match);
}

typedef struct EngramRelTotals
{
	Oid			dbid;
	Oid			relid;
	int64		rows;
	int64		bytes;
	ItemPointerData *tids;		/* NULL, or the rows' TIDs (room for max_tids) */
	int64		max_tids;
} EngramRelTotals;

static void
add_if_relation(EngramHotShard *shard, Size offset, EngramHotEntry *entry, void *arg)
{
	EngramRelTotals *totals = (EngramRelTotals *) arg;

	if (entry->key.dbid != totals->dbid || entry->key.relid != totals->relid ||
		entry->residency != ENGRAM_HOT_RESIDENT)
		return;
	if (totals->tids != NULL)
	{
		if (totals->rows >= totals->max_tids)
		{
			totals->max_tids *= 2;
			totals->tids = repalloc(totals->tids, sizeof(ItemPointerData) * totals->max_tids);
		}
		totals->tids[totals->rows] = entry->key.tid;
	}
	totals->rows++;
	totals->bytes += entry->size;
}

ItemPointerData *
engram_hot_tier_collect_tids(Oid relid, int *ntids)
{
	EngramRelTotals totals = {MyDatabaseId, relid, 0, 0, NULL, 64};

	totals.tids = palloc(sizeof(ItemPointerData) * totals.max_tids);
	if (hot != NULL)
		for_each_entry(LW_SHARED, add_if_relation, &totals);
	*ntids = (int) totals.rows;
	return totals.tids;
}

void
engram_hot_tier_relation_stats(Oid relid, EngramHotTierRelStats *stats)
{
	EngramRelTotals totals = {MyDatabaseId, relid, 0, 0, NULL, 0};
	EngramHotRelCounters *c;

	memset(stats, 0, sizeof(*stats));
	if (hot == NULL)
		return;
	for_each_entry(LW_SHARED, add_if_relation, &totals);
	stats->rows = totals.rows;
	stats->bytes = totals.bytes;
	c = rel_counters(MyDatabaseId, relid, false);
	if (c)
	{
		stats->hits = pg_atomic_read_u64(&c->hits);
		stats->misses = pg_atomic_read_u64(&c->misses);
		stats->evictions = pg_atomic_read_u64(&c->evictions);
		stats->fills = pg_atomic_read_u64(&c->fills);
	}
}

/* ------------------------------------------------------------------------
 * SQL
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(engram_hot_tier_info);
PG_FUNCTION_INFO_V1(engram_hot_tier_contains);
PG_FUNCTION_INFO_V1(engram_hot_tier_entry);
PG_FUNCTION_INFO_V1(engram_hot_tier_cached_copies);

/* Entries and bytes, resident ([0], [1]) and cached copies ([2], [3]). */
static void
count_entry(EngramHotShard *shard, Size offset, EngramHotEntry *entry, void *arg)
{
	int64	   *totals = (int64 *) arg + (entry->residency == ENGRAM_HOT_RESIDENT ? 0 : 2);

	totals[0]++;
	totals[1] += entry->size;
}

/*
 * The blessed row type of "function" (a hot-tier report of "ncolumns"
 * columns), checked against the library's, with the entries' totals (as
 * count_entry() sums them) in "totals".
 */
static TupleDesc
report_row_type(FunctionCallInfo fcinfo, int ncolumns, const char *function, int64 totals[4])
{
	TupleDesc	tupdesc;

	engram_require_preload("the hot tier");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	engram_require_row_columns(tupdesc, ncolumns, function);
	memset(totals, 0, sizeof(int64) * 4);
	for_each_entry(LW_SHARED, count_entry, totals);
	return BlessTupleDesc(tupdesc);
}

/*
 * engram_hot_tier_info(): one row describing the whole hot tier: size,
 * shards, resident entries and their bytes, NUMA placement, and counters.
 */
Datum
engram_hot_tier_info(PG_FUNCTION_ARGS)
{
	Datum		values[12];
	bool		nulls[12] = {0};
	int64		totals[4];
	TupleDesc	tupdesc = report_row_type(fcinfo, lengthof(values), "engram_hot_tier_info()",
										  totals);

	values[0] = Int64GetDatum((int64) hot->arena_bytes);
	values[1] = Int32GetDatum(hot->nshards);
	values[2] = Int64GetDatum(totals[0]);
	values[3] = Int64GetDatum(totals[1]);
	values[4] = CStringGetTextDatum(hot->numa_policy);
	values[5] = Int32GetDatum(hot->numa_node);
	nulls[5] = hot->numa_node < 0;
	values[6] = Int32GetDatum(hot->numa_nodes);
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->hits));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->misses));
	values[9] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->evictions));
	values[10] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->fills));
	values[11] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->invalidations));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * engram_hot_tier_cached_copies(): the cached copies the hot tier holds
 * (entries and their bytes), and how many were stored, dropped for room,
 * and made resident in place.
 */
Datum
engram_hot_tier_cached_copies(PG_FUNCTION_ARGS)
{
	Datum		values[5];
	bool		nulls[5] = {0};
	int64		totals[4];
	TupleDesc	tupdesc = report_row_type(fcinfo, lengthof(values),
										  "engram_hot_tier_cached_copies()", totals);

	values[0] = Int64GetDatum(totals[2]);
	values[1] = Int64GetDatum(totals[3]);
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->cached_fills));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->cached_evictions));
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&hot->promotions));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* What the hot tier holds under "tid" of "rel". */
static EngramHotResidency
residency_of(Relation rel, ItemPointer tid)
{
	EngramHotShard *shard;
	int64		bucket;
	EngramHotResidency residency = ENGRAM_HOT_ABSENT;

	if (hot == NULL)
		return ENGRAM_HOT_ABSENT;
	shard = lock_and_find(rel, tid, LW_SHARED, &bucket);
	if (bucket >= 0)
		residency = (EngramHotResidency) bucket_entry(shard, bucket)->residency;
	LWLockRelease(shard->lock);
	return residency;
}

bool
engram_hot_tier_has(Relation rel, ItemPointer tid)
{
	return residency_of(rel, tid) == ENGRAM_HOT_RESIDENT;
}

/*
 * What the hot tier holds for the row at "tid" of table "relid", opened and
 * checked for SELECT (the answer tells whether a row exists and is used).
 */
static EngramHotResidency
residency_of_row(Oid relid, ItemPointer tid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	EngramHotResidency residency;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	residency = residency_of(rel, tid);
	relation_close(rel, AccessShareLock);
	return residency;
}

/*
 * engram_hot_tier_contains(regclass, tid): is the row at tid resident in the
 * hot tier (a cached copy does not count)?  Needs SELECT on the table.
 */
Datum
engram_hot_tier_contains(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(residency_of_row(PG_GETARG_OID(0), (ItemPointer) PG_GETARG_POINTER(1)) ==
				   ENGRAM_HOT_RESIDENT);
}

/*
 * engram_hot_tier_entry(regclass, tid): 'resident', 'cached warm' or
 * 'cached cold' (a cached copy and its row's home tier), NULL when the hot
 * tier holds nothing for the row at tid.  Needs SELECT on the table.
 */
Datum
engram_hot_tier_entry(PG_FUNCTION_ARGS)
{
	switch (residency_of_row(PG_GETARG_OID(0), (ItemPointer) PG_GETARG_POINTER(1)))
	{
		case ENGRAM_HOT_RESIDENT:
			PG_RETURN_TEXT_P(cstring_to_text("resident"));
		case ENGRAM_HOT_CACHED_WARM:
			PG_RETURN_TEXT_P(cstring_to_text("cached warm"));
		case ENGRAM_HOT_CACHED_COLD:
			PG_RETURN_TEXT_P(cstring_to_text("cached cold"));
		case ENGRAM_HOT_ABSENT:
			break;
	}
	PG_RETURN_NULL();
}
