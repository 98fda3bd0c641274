/*-------------------------------------------------------------------------
 *
 * engram_hot_tier.h
 *	  The hot tier: a bounded shared-memory cache of decoded rows of engram
 *	  tables, looked up by (database, relation, relfilenode, TID).
 *
 * Layout
 * ------
 * One region ("engram hot tier") of engram.hot_tier_size_mb, split into
 * engram.hot_tier_shards shards; a key hashes to one shard.  Each shard is
 *	- an open-addressing hash table (linear probing, backward-shift delete)
 *	  of arena offsets, and
 *	- an arena used as a circular log: entries (key, flags, tuple bytes)
 *	  are appended at the head; space is reclaimed at the tail.  Eviction is
 *	  CLOCK over the log: a tail entry referenced since it was last passed
 *	  is moved to the head once (second chance), otherwise dropped.
 *
 * Resident entries and cached copies
 * -----------------------------------
 * An entry is either resident -- the row is in the hot tier: its tier is
 * hot for recall's visit budgets and reports, the tier statistics, the
 * worker and engram_move_to_tier -- or a cached copy: a row spreading
 * read in passing (the memory reader's relays and targets), kept in room
 * no resident entry uses, whose tier stays its home tier (warm, or cold
 * for a stub's decoded row).  Both are read and invalidated alike (the
 * MVCC argument below holds for both).  A cached copy is stored only into
 * free room or the room of other cached copies, never replacing or
 * evicting a resident entry; a resident store drops cached copies first
 * (a resident entry at the tail gets a second chance while the shard
 * holds cached copies).  A copy becomes resident in place when an index
 * fetch or the seed search reads it (what they do with the rows they
 * read from the heap), and is replaced by a resident entry when the worker
 * or engram_move_to_tier moves the row to the hot tier.
 *
 * The arena starts on a page boundary so that, with engram.numa_aware, it
 * can be bound (numa_tonode_memory, to the postmaster's node) or
 * interleaved (numa_interleave_memory, engram.numa_interleave) with
 * libnuma before it is first touched.
 *
 * MVCC
 * ----
 * An entry is a copy of a tuple (header included), keyed by the TID index
 * entries carry: the tuple's own, or, for a heap-only tuple (HOT chain
 * member), its chain's root.  Writers invalidate both the tuple's TID and
 * its chain root (engram_tam_invalidate_row).  Only rows
 * whose inserting transaction is known committed (HEAP_XMIN_COMMITTED or
 * frozen) and that have no deleter or locker (HEAP_XMAX_INVALID) are
 * stored, and the check and the store happen while the caller holds a
 * share lock on the heap buffer.  Every writer that sets xmax goes through
 * our tuple_update / tuple_delete / tuple_lock callbacks (or a tier move),
 * which call engram_hot_tier_invalidate() after heap has set xmax (under
 * its exclusive buffer lock, so no fill can interleave) and before the
 * change can become visible to anyone (it is not committed yet; the writer's
 * own later commands run after the invalidation).  So a present entry
 * always has the page's xmin and no xmax, and for an MVCC snapshot the row
 * is visible iff its xmin is frozen or not in the snapshot -- exactly
 * heap's answer for that TID: the cached tuple is the live tail of its HOT
 * chain, so every earlier member was deleted by a transaction the snapshot
 * sees.  If the entry's xmin is not visible, lookup reports a miss and the
 * caller takes the heap path (which may find an older chain member).  Lookups serve only plain MVCC snapshots, and never
 * during recovery (replayed changes bypass our callbacks).  TRUNCATE,
 * VACUUM FULL and CLUSTER give the table a new relfilenode, which is part
 * of the key; they also purge the old one's entries.  The relay state
 * cache (engram_relay_state.h) relies on the same argument:
 * engram_hot_tier_invalidate() and engram_hot_tier_invalidate_relfilenode()
 * drop its entries too.
 *
 * Locks
 * -----
 * One LWLock per shard (named tranche "engram_hot_tier").  Lookups take it
 * shared (setting the CLOCK reference bit is a benign unlocked byte write),
 * stores and invalidations exclusive.  Callers of engram_hot_tier_store()
 * hold a heap buffer share lock; nothing else is held with a shard lock
 * (engram_hot_tier_read's callback takes none).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_HOT_TIER_H
#define ENGRAM_HOT_TIER_H

#include "postgres.h"

#include "access/htup.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#define ENGRAM_HOT_TIER_SIZE_MB_DEFAULT	64
#define ENGRAM_HOT_TIER_SIZE_MB_MIN		1
#define ENGRAM_HOT_TIER_SIZE_MB_MAX		(1024 * 1024)
#define ENGRAM_HOT_TIER_SHARDS_DEFAULT	16
#define ENGRAM_HOT_TIER_SHARDS_MIN		1
#define ENGRAM_HOT_TIER_SHARDS_MAX		1024

extern int	engram_hot_tier_size_mb;
extern int	engram_hot_tier_shards;
extern bool engram_numa_aware;
extern bool engram_numa_interleave;
extern bool engram_hot_tier_lookups;

/*
 * The key of a row in the hot tier (and in the relay state cache): its
 * relation file and the TID index entries carry.
 */
typedef struct EngramHotKey
{
	Oid			dbid;
	Oid			relid;
	Oid			relnode;
	ItemPointerData tid;
	uint16		pad;			/* always 0: keys are compared with memcmp */
} EngramHotKey;

/* Fill "key" for the row at "tid" of "rel"; returns the key's hash. */
extern uint32 engram_hot_tier_key(EngramHotKey *key, Relation rel, ItemPointer tid);

/* Define the GUCs and register the region (preload only). */
extern void engram_hot_tier_init(void);

/* True when the region exists and may be used by this process now. */
extern bool engram_hot_tier_available(void);

/*
 * Look up the row an index entry with "tid" leads to, for an MVCC
 * "snapshot".  On a hit returns a palloc'd copy (t_self = the tuple's own
 * TID, which differs from "tid" for a HOT chain member; t_tableOid set)
 * visible to the snapshot; otherwise NULL (absent, or present but not
 * visible to this snapshot).
 */
extern HeapTuple engram_hot_tier_lookup(Relation rel, ItemPointer tid, Snapshot snapshot);

/*
 * engram_hot_tier_lookup(), and a cached copy it finds made resident
 * (engram_hot_tier_make_resident): the table AM's index fetch, which keeps
 * in the hot tier the rows it reads.
 */
extern HeapTuple engram_hot_tier_lookup_admit(Relation rel, ItemPointer tid, Snapshot snapshot);

/* What the hot tier holds under a key (see "Resident entries" above). */
typedef enum EngramHotResidency
{
	ENGRAM_HOT_ABSENT = 0,
	ENGRAM_HOT_RESIDENT,
	ENGRAM_HOT_CACHED_WARM,		/* a cached copy of a warm row */
	ENGRAM_HOT_CACHED_COLD		/* a cached copy of a cold stub's row */
} EngramHotResidency;

/*
 * Read in place the row engram_hot_tier_lookup() would copy: when there is
 * one visible to "snapshot", call read_row(arg, row) with "row" pointing
 * into the shared region (t_self and t_tableOid as a copy's) and return
 * true.  "read_row" runs under the shard's shared lock: it must copy what
 * it keeps, take no lock and call no user-defined code; it may palloc.
 * Sets *present (when not NULL) to what the hot tier held under "tid",
 * visible or not (ENGRAM_HOT_RESIDENT: what engram_hot_tier_has() would
 * have said at that moment).  Counts nothing: the caller reports
 * engram_hot_tier_count_lookups().
 */
typedef void (*EngramHotTierReadRow) (void *arg, HeapTuple row);

extern bool engram_hot_tier_read(Relation rel, ItemPointer tid, Snapshot snapshot,
								 EngramHotResidency *present, EngramHotTierReadRow read_row,
								 void *arg);

/*
 * Start loading, without the shard locks, the lines that looking up and
 * reading the rows of "n" index TIDs of "rel" will touch (their buckets,
 * the entries' headers and first and last lines), so that their cache
 * misses overlap; invalid TIDs are skipped.  Only a hint.
 */
extern void engram_hot_tier_prefetch_rows(Relation rel, const ItemPointerData *tids, int n);

/*
 * True when a tuple with this header may be stored (see MVCC above).  Call
 * with the heap buffer share-locked.
 */
extern bool engram_hot_tier_cacheable(HeapTupleHeader page_header);

/*
 * Store "tuple" (decoded row, t_self = its own TID; its header is replaced
 * by "page_header", the current header on the page) under "tid", the TID
 * index entries carry: the tuple's own, or the root of its HOT chain.
 * Caller holds a share lock on the heap buffer and has checked
 * engram_hot_tier_cacheable(page_header).  The entry is resident (it
 * replaces a cached copy of the key).  Returns false when the row is too
 * large for a shard.
 */
extern bool engram_hot_tier_store(Relation rel, ItemPointer tid, HeapTuple tuple,
								  HeapTupleHeader page_header);

/*
 * engram_hot_tier_store(), as a cached copy of a row whose home tier is
 * warm, or cold when "home_cold": only into free room or the room of other
 * cached copies; false when there is none, or when a resident entry holds
 * the key.
 */
extern bool engram_hot_tier_store_copy(Relation rel, ItemPointer tid, HeapTuple tuple,
									   HeapTupleHeader page_header, bool home_cold);

/*
 * False when engram_hot_tier_store_copy() under "tid" of "rel" is sure to
 * fail (its shard is full of resident entries): an unlocked hint, so that
 * the caller can skip preparing the row.
 */
extern bool engram_hot_tier_may_copy(Relation rel, ItemPointer tid);

/*
 * Make the cached copy under "tid" of "rel" resident, in place; false when
 * there is none (absent, or resident already).
 */
extern bool engram_hot_tier_make_resident(Relation rel, ItemPointer tid);

/* Is the row at "tid" of "rel" resident in the hot tier (not a cached copy)? */
extern bool engram_hot_tier_has(Relation rel, ItemPointer tid);

/*
 * The TIDs of the hot tier's resident rows of "relid" in this database, as
 * engram_hot_tier_has takes them (palloc'd, in no order; a row evicted or
 * invalidated meanwhile may be listed).  Cached copies are not listed.
 */
extern ItemPointerData *engram_hot_tier_collect_tids(Oid relid, int *ntids);

/*
 * Drop the entry for "tid" of "rel", resident or cached copy; true when it
 * was a resident one.
 */
extern bool engram_hot_tier_invalidate(Relation rel, ItemPointer tid);

/* Drop every entry of relfilenode "relnode" in database "dbid". */
extern void engram_hot_tier_invalidate_relfilenode(Oid dbid, Oid relnode);

/* Counters of one relation (0 when unknown); rows and bytes of resident entries. */
typedef struct EngramHotTierRelStats
{
	int64		rows;
	int64		bytes;
	int64		hits;
	int64		misses;
	int64		evictions;
	int64		fills;
} EngramHotTierRelStats;

extern void engram_hot_tier_relation_stats(Oid relid, EngramHotTierRelStats *stats);

/* A miss on the heap path for "rel" (counted by the index fetch). */
extern void engram_hot_tier_count_miss(Relation rel);

/* "hits" and "misses" of lookups of "rel" at once (a batch of reads). */
extern void engram_hot_tier_count_lookups(Relation rel, int64 hits, int64 misses);

#endif							/* ENGRAM_HOT_TIER_H */
