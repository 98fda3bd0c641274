/*-------------------------------------------------------------------------
 *
 * engram_relay_state.c
 *	  The relay state cache (what it holds, MVCC argument and locking in
 *	  engram_relay_state.h).
 *
 * Region layout (one ShmemInitStruct, "engram relay state"):
 *	RelayStateControl			geometry and counters
 *	RelayStateSet[nsets]		RELAY_STATE_WAYS entries each; set s is
 *								guarded by lock s % RELAY_STATE_PARTITIONS
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "engram.h"
#include "shmem/engram_hot_tier.h"
#include "shmem/engram_relay_state.h"

#define RELAY_STATE_TRANCHE		"engram_relay_state"
#define RELAY_STATE_PARTITIONS	64
#define RELAY_STATE_WAYS		8

int			engram_relay_state_cache_mb = ENGRAM_RELAY_STATE_CACHE_MB_DEFAULT;
bool		engram_relay_state_lookups = true;

#define ENTRY_USED			0x01
#define ENTRY_XMIN_FROZEN	0x02
#define ENTRY_CONFIDENCE_NULL 0x04
#define ENTRY_CREATED_AT_NULL 0x08
#define ENTRY_DECAY_NULL	0x10
#define ENTRY_HOME_COLD		0x20

typedef struct RelayStateEntry
{
	EngramHotKey key;			/* the hot tier's: the TID index entries carry */
	ItemPointerData member_tid; /* the version's own TID */
	uint8		flags;
	TransactionId xmin;			/* the page header's raw xmin at the fill */
	float4		confidence;
	int64		id;
	TimestampTz created_at;
	char		decay_name[ENGRAM_RELAY_DECAY_NAME_MAX + 1];
} RelayStateEntry;

typedef struct RelayStateSet
{
	uint32		next_victim;	/* round-robin replacement in a full set */
	RelayStateEntry ways[RELAY_STATE_WAYS];
} RelayStateSet;

typedef struct RelayStateControl
{
	uint32		nsets;
	LWLock	   *locks[RELAY_STATE_PARTITIONS];
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 fills;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 invalidations;
	RelayStateSet sets[FLEXIBLE_ARRAY_MEMBER];
} RelayStateControl;

static RelayStateControl *relay = NULL;

static uint32
relay_state_nsets(void)
{
	Size		total = (Size) engram_relay_state_cache_mb * 1024 * 1024;
	Size		header = offsetof(RelayStateControl, sets);

	return (uint32) Max((total - Min(total, header)) / sizeof(RelayStateSet), 1);
}

static Size
relay_state_region_size(void)
{
	return add_size(offsetof(RelayStateControl, sets),
					mul_size(sizeof(RelayStateSet), relay_state_nsets()));
}

static int
relay_state_lwlock_count(void)
{
	return RELAY_STATE_PARTITIONS;
}

static void
relay_state_region_init(void *ptr, bool found)
{
	LWLockPadded *locks;

	relay = (RelayStateControl *) ptr;
	if (found)
		return;
	memset(relay, 0, relay_state_region_size());
	relay->nsets = relay_state_nsets();
	locks = GetNamedLWLockTranche(RELAY_STATE_TRANCHE);
	for (int i = 0; i < RELAY_STATE_PARTITIONS; i++)
		relay->locks[i] = &locks[i].lock;
	pg_atomic_init_u64(&relay->hits, 0);
	pg_atomic_init_u64(&relay->misses, 0);
	pg_atomic_init_u64(&relay->fills, 0);
	pg_atomic_init_u64(&relay->evictions, 0);
	pg_atomic_init_u64(&relay->invalidations, 0);
}

static const EngramShmemRegion relay_state_region = {
	.name = "engram relay state",
	.size = relay_state_region_size,
	.init = relay_state_region_init,
	.lwlock_tranche = RELAY_STATE_TRANCHE,
	.lwlock_count = relay_state_lwlock_count,
};

void
engram_relay_state_init(void)
{
	DefineCustomBoolVariable("engram.relay_state_lookups",
							 "Sets whether spreading activation reads the state of the memories it reaches from the relay state cache.",
							 NULL, &engram_relay_state_lookups, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("engram.relay_state_cache_mb",
							"Sets the size of the relay state cache in shared memory, in megabytes (0 turns it off).",
							NULL, &engram_relay_state_cache_mb,
							ENGRAM_RELAY_STATE_CACHE_MB_DEFAULT,
							0, ENGRAM_RELAY_STATE_CACHE_MB_MAX,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	if (engram_relay_state_cache_mb > 0)
		engram_shmem_register(&relay_state_region);
}

bool
engram_relay_state_available(void)
{
	return relay != NULL && !RecoveryInProgress();
}

/*
 * Fill "key" for the row at "tid" of "rel"; returns its set (whose
 * partition lock is set index % RELAY_STATE_PARTITIONS).
 */
static uint32
rel_key_set(EngramHotKey *key, Relation rel, ItemPointer tid)
{
	return engram_hot_tier_key(key, rel, tid) % relay->nsets;
}

static inline LWLock *
set_lock(uint32 set)
{
	return relay->locks[set % RELAY_STATE_PARTITIONS];
}

/* The used entry of "key" in "set", or NULL; caller holds the set's lock. */
static RelayStateEntry *
set_find(RelayStateSet *set, const EngramHotKey *key)
{
	for (int w = 0; w < RELAY_STATE_WAYS; w++)
	{
		RelayStateEntry *entry = &set->ways[w];

		if ((entry->flags & ENTRY_USED) && memcmp(&entry->key, key, sizeof(*key)) == 0)
			return entry;
	}
	return NULL;
}

bool
engram_relay_state_lookup(Relation rel, ItemPointer index_tid, Snapshot snapshot,
						  EngramRelayState *state)
{
	EngramHotKey key;
	uint32		set;
	RelayStateEntry *entry;
	bool		visible = false;

	if (!engram_relay_state_available() || snapshot->snapshot_type != SNAPSHOT_MVCC)
		return false;
	set = rel_key_set(&key, rel, index_tid);
	LWLockAcquire(set_lock(set), LW_SHARED);
	entry = set_find(&relay->sets[set], &key);
	if (entry != NULL &&
		((entry->flags & ENTRY_XMIN_FROZEN) || !XidInMVCCSnapshot(entry->xmin, snapshot)))
	{
		state->id = entry->id;
		state->tid = entry->member_tid;
		state->confidence_null = (entry->flags & ENTRY_CONFIDENCE_NULL) != 0;
		state->confidence = entry->confidence;
		state->created_at_null = (entry->flags & ENTRY_CREATED_AT_NULL) != 0;
		state->created_at = entry->created_at;
		state->decay_null = (entry->flags & ENTRY_DECAY_NULL) != 0;
		memcpy(state->decay_name, entry->decay_name, sizeof(state->decay_name));
		state->home_cold = (entry->flags & ENTRY_HOME_COLD) != 0;
		visible = true;
	}
	LWLockRelease(set_lock(set));
	return visible;
}

bool
engram_relay_state_fillable(HeapTupleHeader page_header)
{
	return engram_hot_tier_cacheable(page_header) ||
		((page_header->t_infomask & HEAP_XMAX_INVALID) &&
		 !HeapTupleHeaderIsSpeculative(page_header) &&
		 !TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetRawXmin(page_header)));
}

void
engram_relay_state_store(Relation rel, ItemPointer index_tid, HeapTupleHeader page_header,
						 const EngramRelayState *state)
{
	EngramHotKey key;
	uint32		set_index;
	RelayStateSet *set;
	RelayStateEntry *entry;
	bool		evicted = false;

	if (!engram_relay_state_available())
		return;
	set_index = rel_key_set(&key, rel, index_tid);
	set = &relay->sets[set_index];
	LWLockAcquire(set_lock(set_index), LW_EXCLUSIVE);
	entry = set_find(set, &key);
	for (int w = 0; entry == NULL && w < RELAY_STATE_WAYS; w++)
		if (!(set->ways[w].flags & ENTRY_USED))
			entry = &set->ways[w];
	if (entry == NULL)
	{
		entry = &set->ways[set->next_victim];
		set->next_victim = (set->next_victim + 1) % RELAY_STATE_WAYS;
		evicted = true;
	}
	entry->key = key;
	entry->member_tid = state->tid;
	entry->xmin = HeapTupleHeaderGetRawXmin(page_header);
	entry->flags = ENTRY_USED |
		(HeapTupleHeaderXminFrozen(page_header) ? ENTRY_XMIN_FROZEN : 0) |
		(state->confidence_null ? ENTRY_CONFIDENCE_NULL : 0) |
		(state->created_at_null ? ENTRY_CREATED_AT_NULL : 0) |
		(state->decay_null ? ENTRY_DECAY_NULL : 0) |
		(state->home_cold ? ENTRY_HOME_COLD : 0);
	entry->confidence = state->confidence;
	entry->id = state->id;
	entry->created_at = state->created_at;
	memcpy(entry->decay_name, state->decay_name, sizeof(entry->decay_name));
	LWLockRelease(set_lock(set_index));
	pg_atomic_fetch_add_u64(&relay->fills, 1);
	if (evicted)
		pg_atomic_fetch_add_u64(&relay->evictions, 1);
}

void
engram_relay_state_invalidate(Relation rel, ItemPointer tid)
{
	EngramHotKey key;
	uint32		set;
	RelayStateEntry *entry;

	/* Also during recovery: entries must never outlive a change. */
	if (relay == NULL)
		return;
	set = rel_key_set(&key, rel, tid);
	LWLockAcquire(set_lock(set), LW_EXCLUSIVE);
	entry = set_find(&relay->sets[set], &key);
	if (entry != NULL)
		entry->flags = 0;
	LWLockRelease(set_lock(set));
	if (entry != NULL)
		pg_atomic_fetch_add_u64(&relay->invalidations, 1);
}

void
engram_relay_state_invalidate_relfilenode(Oid dbid, Oid relnode)
{
	if (relay == NULL)
		return;
	for (uint32 p = 0; p < RELAY_STATE_PARTITIONS; p++)
	{
		uint64		dropped = 0;

		LWLockAcquire(relay->locks[p], LW_EXCLUSIVE);
		for (uint32 s = p; s < relay->nsets; s += RELAY_STATE_PARTITIONS)
			for (int w = 0; w < RELAY_STATE_WAYS; w++)
			{
				RelayStateEntry *entry = &relay->sets[s].ways[w];

				if ((entry->flags & ENTRY_USED) && entry->key.dbid == dbid &&
					entry->key.relnode == relnode)
				{
					entry->flags = 0;
					dropped++;
				}
			}
		LWLockRelease(relay->locks[p]);
		if (dropped > 0)
			pg_atomic_fetch_add_u64(&relay->invalidations, dropped);
	}
}

void
engram_relay_state_count_lookups(int64 hits, int64 misses)
{
	if (relay == NULL)
		return;
	if (hits > 0)
		pg_atomic_fetch_add_u64(&relay->hits, (uint64) hits);
	if (misses > 0)
		pg_atomic_fetch_add_u64(&relay->misses, (uint64) misses);
}

/* ------------------------------------------------------------------------
 * SQL
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(engram_relay_state_info);

/*
 * engram_relay_state_info(): the relay state cache's size (0 when off),
 * entries held, and counters (lookups that hit and missed, fills, entries
 * replaced for room, entries invalidated).
 */
Datum
engram_relay_state_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	int64		entries = 0;

	engram_require_preload("the relay state cache");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	engram_require_row_columns(tupdesc, lengthof(values), "engram_relay_state_info()");
	if (relay != NULL)
		for (uint32 p = 0; p < RELAY_STATE_PARTITIONS; p++)
		{
			LWLockAcquire(relay->locks[p], LW_SHARED);
			for (uint32 s = p; s < relay->nsets; s += RELAY_STATE_PARTITIONS)
				for (int w = 0; w < RELAY_STATE_WAYS; w++)
					if (relay->sets[s].ways[w].flags & ENTRY_USED)
						entries++;
			LWLockRelease(relay->locks[p]);
		}
	values[0] = Int64GetDatum(relay ? (int64) relay_state_region_size() : 0);
	values[1] = Int64GetDatum(entries);
	values[2] = Int64GetDatum(relay ? (int64) pg_atomic_read_u64(&relay->hits) : 0);
	values[3] = Int64GetDatum(relay ? (int64) pg_atomic_read_u64(&relay->misses) : 0);
	values[4] = Int64GetDatum(relay ? (int64) pg_atomic_read_u64(&relay->fills) : 0);
	values[5] = Int64GetDatum(relay ? (int64) pg_atomic_read_u64(&relay->evictions) : 0);
	values[6] = Int64GetDatum(relay ? (int64) pg_atomic_read_u64(&relay->invalidations) : 0);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
