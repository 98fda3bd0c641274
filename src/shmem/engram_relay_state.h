/*-------------------------------------------------------------------------
 *
 * engram_relay_state.h
 *	  The relay state cache: a small shared-memory table of what spreading
 *	  activation needs of a memory it reaches (its relays'), looked up by
 *	  (database, relation, relfilenode, index TID) like the hot tier.
 *
 * Spreading reads, for each memory it reaches, only its visibility, id,
 * the version's TID, stored confidence, created_at, decay_function and
 * home tier (memory_reader.c).  Read from a heap page, that is an 8 kB
 * page copy (and a buffer mapping lookup) for a few dozen bytes, and a
 * hot tier full of resident rows has no room for a 3 kB cached copy of
 * the row.  This table keeps just those few dozen bytes per row (an
 * EngramRelayStateEntry, 72 bytes), so that engram.relay_state_cache_mb
 * (default 8) holds every relay of a space of about 100,000 memories.  It
 * is separate from the hot tier's arena and never takes its room.
 *
 * Layout: sets of RELAY_STATE_WAYS entries (a key hashes to one set; a
 * full set replaces its entries round-robin), the sets spread over
 * RELAY_STATE_PARTITIONS LWLocks (named tranche "engram_relay_state").
 *
 * MVCC: the hot tier's argument (engram_hot_tier.h, "MVCC"), applied to a
 * summary instead of a copy of the tuple.  An entry is filled only from a
 * tuple read under its heap buffer's share lock whose inserter is known
 * committed (hint bit, frozen, or: the tuple was just found visible to an
 * MVCC snapshot and this transaction did not insert it) and that has no
 * deleter (engram_relay_state_fillable), keyed by the TID index entries
 * carry (the HOT chain's root),
 * and it records that header's xmin.  engram_hot_tier_invalidate() and
 * engram_hot_tier_invalidate_relfilenode() drop this table's entries too,
 * so every writer, tier move, TRUNCATE, VACUUM FULL, CLUSTER and new
 * relfilenode that invalidates the hot tier invalidates it.  A present
 * entry is thus the live tail of its chain, and for an MVCC snapshot the
 * row is visible iff the entry's xmin is frozen or not in the snapshot; an
 * entry this snapshot cannot use is a miss (the caller reads the heap).
 * Lookups serve only plain MVCC snapshots outside recovery, and entries
 * are never filled during recovery.
 *
 * Locks: a partition's lock shared for lookups, exclusive for fills and
 * invalidations; callers of engram_relay_state_store() hold the heap
 * buffer's share lock; nothing else is taken under a partition lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_RELAY_STATE_H
#define ENGRAM_RELAY_STATE_H

#include "postgres.h"

#include "access/htup.h"
#include "datatype/timestamp.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#define ENGRAM_RELAY_STATE_CACHE_MB_DEFAULT	8
#define ENGRAM_RELAY_STATE_CACHE_MB_MAX		(64 * 1024)

/* Longest decay_function value kept (longer ones are not cached). */
#define ENGRAM_RELAY_DECAY_NAME_MAX	15

extern int	engram_relay_state_cache_mb;
extern bool engram_relay_state_lookups;

/* What a memory relays with: the columns spreading reads, and its home tier. */
typedef struct EngramRelayState
{
	int64		id;
	ItemPointerData tid;		/* the visible version's own TID */
	bool		confidence_null;
	float4		confidence;		/* stored confidence */
	bool		created_at_null;
	TimestampTz created_at;
	bool		decay_null;
	char		decay_name[ENGRAM_RELAY_DECAY_NAME_MAX + 1];
	bool		home_cold;		/* a cold stub's row, else warm */
} EngramRelayState;

/* Define the GUCs and register the region (preload only). */
extern void engram_relay_state_init(void);

/* True when the table exists, is not off (size 0) and may be used now. */
extern bool engram_relay_state_available(void);

/*
 * The state of the row an index entry with "index_tid" of "rel" leads to,
 * for an MVCC "snapshot": true with *state filled when the table holds it
 * and it is visible to the snapshot.  Counts nothing (see
 * engram_relay_state_count_lookups).
 */
extern bool engram_relay_state_lookup(Relation rel, ItemPointer index_tid, Snapshot snapshot,
									  EngramRelayState *state);

/*
 * May a tuple with this header, just found visible to an MVCC snapshot
 * under its buffer's share lock, be kept?  engram_hot_tier_cacheable(), or
 * no deleter or locker (HEAP_XMAX_INVALID) and an inserter that is not this
 * transaction: a visible row's inserter then committed, although no reader
 * may have set the hint bit yet (a commit whose WAL is not flushed yet
 * delays it for every transaction of its clog group).
 */
extern bool engram_relay_state_fillable(HeapTupleHeader page_header);

/*
 * Keep "state", read from the tuple whose current header on the page is
 * "page_header", under "index_tid".  The caller holds the heap buffer's
 * share lock and has checked engram_relay_state_fillable(page_header).
 */
extern void engram_relay_state_store(Relation rel, ItemPointer index_tid,
									 HeapTupleHeader page_header, const EngramRelayState *state);

/* Drop the entry for "tid" of "rel" (called by engram_hot_tier_invalidate). */
extern void engram_relay_state_invalidate(Relation rel, ItemPointer tid);

/* Drop every entry of relfilenode "relnode" in database "dbid". */
extern void engram_relay_state_invalidate_relfilenode(Oid dbid, Oid relnode);

/* "hits" and "misses" of lookups at once (a batch of reads). */
extern void engram_relay_state_count_lookups(int64 hits, int64 misses);

#endif							/* ENGRAM_RELAY_STATE_H */
