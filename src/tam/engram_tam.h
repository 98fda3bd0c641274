/*-------------------------------------------------------------------------
 *
 * engram_tam.h
 *	  Private header of the "engram" table access method: design, on-disk
 *	  layout, tier states, locks and lock order, WAL.
 *
 * DESIGN
 * ======
 * The engram table AM wraps heap.  Every row is an ordinary heap tuple;
 * what differs is what a tuple may *contain* and how reads present it.
 *
 * Tiers
 * -----
 *	warm	an ordinary heap tuple (relation-file pages through shared
 *			buffers).  Every INSERT, COPY and UPDATE writes warm rows.
 *	cold	the heap tuple is a *stub*: a tuple with the table's attribute
 *			count, every attribute NULL except the replica identity key and
 *			primary key columns, which keep the row's values (so that heap
 *			logs the right old key for an UPDATE or DELETE of a cold row;
 *			stubs written before this have no value at all), the flag
 *			ENGRAM_STUB_INFOMASK2 set in t_infomask2 (a bit heap leaves
 *			unused, see htup_details.h: "bits 0x1800 are available"; heap
 *			never clears it: it only resets HEAP2_XACT_MASK, and WAL records
 *			copy t_infomask2 whole) and, ending the tuple after the
 *			attribute data, an EngramColdStub payload naming (segment_id,
 *			slot).  A stub is at most ENGRAM_STUB_MAX_SIZE bytes, so heap
 *			never toasts (re-forms) it.  The row itself, fully detoasted, is
 *			slot "slot" of a compressed segment stored as one row of the
 *			companion heap table engram.cold_segments.
 *	hot		not a storage state but a cache over the other two: decoded
 *			tuples (TOASTed values inline) in shared memory
 *			(src/shmem/engram_hot_tier.h), served on index fetches by the
 *			TID the index entry carries (the tuple's own, or its HOT
 *			chain's root).  A hot row is also warm or cold on disk.  Index
 *			fetches fill it on a miss; engram_move_to_tier(.., 'hot')
 *			loads rows explicitly.
 *
 * Moving a row between warm and cold (engram_move_to_tier) is a heap_update
 * of the row to its new representation, like an UPDATE: the row gets a new
 * TID and new index entries (built from the decoded values, so index keys
 * never change), the old version dies and VACUUM removes it.  Heap decides
 * HOT on the stored values, which for a stub are NULL but for the key: a
 * move between warm and cold, and any UPDATE of a cold row, is kept from
 * being HOT (engram_tam_forbid_hot), else an update setting indexed
 * columns to NULL would keep stale index entries.  A stub-to-stub update
 * (repack) may be HOT: then, as after a HOT UPDATE, the new version gets
 * no index entries of its own.
 * We chose new TIDs over in-place stubs because heap has no transactional,
 * crash-safe way to replace a tuple in place; with heap_update every move is
 * MVCC-correct, crash-safe and replicated by heap's own WAL with no code of
 * ours in redo.  Triggers do not fire for moves (they are not logical
 * changes).
 *
 * Reads
 * -----
 * Every read path calls heap's callback, then engram_tam_slot_unstub():
 * when the slot holds a stub it stores the decoded row instead (a palloc'd
 * HeapTuple whose header is the stub's header -- xmin, xmax, cmin, ctid,
 * infomask transaction bits -- and whose data is the archived row), keeping
 * tts_tid and tts_tableOid.  Paths: seq scan, TID range scan, index fetch,
 * fetch_row_version, tuple_lock, bitmap scan, sample scan, analyze.  Heap's
 * index_build_range_scan / index_validate_scan read raw tuples and form
 * index keys themselves (and refuse non-heap relations), so both are our
 * own (engram_tam_build.c).  Heap's copy_for_cluster re-forms every tuple
 * from its attributes, which would turn a stub into an all-NULL row, so
 * VACUUM FULL and CLUSTER are our own too (engram_tam_rewrite.c): stubs are
 * copied byte for byte, so rows keep their tier; in CLUSTER, a stub is
 * sorted by its decoded row's keys and written back as the stub.
 * ALTER TABLE SET ACCESS METHOD away from engram reads every row through
 * our scan (decoded) into the new storage; an event trigger then deletes
 * the segments of the table, now unreachable (sql/install/30_tam.sql).
 *
 * Segments
 * --------
 * engram.cold_segments(segment_id bigint PK, relid oid, nrows int,
 * row_bytes int, raw_bytes int, compressed_bytes int, checksum bigint,
 * created_at, data bytea STORAGE EXTERNAL), private to the extension: we
 * query and delete through SPI as its owner with search_path pinned
 * (engram_segments_spi_connect), and insert with heap_insert and
 * HEAP_INSERT_NO_LOGICAL, so that logical decoding never ships segment
 * bytes (a publication FOR ALL TABLES includes the store; a subscriber's
 * replication workers skip its changes: engram_ignore_replicated_segments).
 * segment_id comes from a sequence and is
 * never reused, so a decoded segment may be cached per backend for the life
 * of the backend (ENGRAM_SEGMENT_CACHE_SIZE segments, LRU).
 * Segment rows are immutable: inserted by the moving transaction (so a stub
 * is committed iff its segment is), deleted only by the garbage collector.
 * Readers fetch them by segment_id with SnapshotSelf: a stub is only ever
 * read once its creating transaction committed (or by that transaction).
 * A reader copies the segment's bytes before its index scan lets go of the
 * page: a segment stored inline lives in a shared buffer that pruning
 * compacts (segment rows are deleted all the time) or the buffer manager
 * reuses once unpinned (tests/t/045_tam_segment_read_race.pl).
 *
 * Raw segment image (before compression), native byte order (physical
 * replicas share the architecture):
 *	EngramSegmentHeader
 *	EngramSegmentRow[nrows]		row directory
 *	EngramFloatRegion[nregions]	float regions, all rows
 *	tuple bytes				each row's HeapTupleHeader + data with its
 *							float regions cut out
 *	float bytes				the float regions, concatenated, byte-shuffled
 *							with a 4-byte stride (all first bytes, then all
 *							second bytes, ...): exponents cluster and zstd
 *							compresses them far better
 * Float regions are the element arrays of evector, real[] and float8[]
 * values (float8 is shuffled with the same 4-byte stride).
 *
 * That is version 1, written whenever every region is stored at full
 * precision.  Version 2 is written when engram.cold_embedding_precision =
 * 'half' stored at least one region as IEEE 754 binary16: its region
 * table holds EngramFloatRegionV2 (with an encoding per region), and its
 * float area is two sections, the full-precision regions byte-shuffled
 * with a 4-byte stride, then the half-precision ones (2 bytes a value)
 * shuffled with a 2-byte stride; a region's stored_offset is into its own
 * section, before shuffling.  Only evector and real[] regions whose every
 * finite value fits binary16's range (|x| <= 65504) are stored half; NaN
 * and infinities keep their class.  The builder rounds those values in its
 * own copy of the row first, so index entries made at the move and every
 * later read see the same rounded values.  Decoding turns either version
 * into the same in-memory form (version 1 layout, float area unshuffled
 * and widened to float32), the form the decoded-segment cache keeps.
 *
 * data = zstd(raw image) at engram.cold_tier_compression_level; checksum =
 * hash_bytes_extended(data) seeded with the segment id, so a segment copied
 * under another id also fails.  Decoding validates checksum, zstd frame,
 * raw size, magic, version and every offset/length before use; any
 * mismatch is ereport(ERROR, ERRCODE_DATA_CORRUPTED), never a crash.
 *
 * Garbage collection (engram_tam_cold_collect_garbage): a segment is
 * garbage when no stub on any heap page (whatever its visibility) names it.
 * The collector takes its snapshot of candidate segments *before* scanning
 * the heap, so a segment committed after the scan began is never a
 * candidate; stubs never move between pages except by VACUUM FULL/CLUSTER,
 * which hold AccessExclusiveLock.  It runs at the end of every lazy VACUUM,
 * manual or autovacuum (after heap vacuum removed dead stubs, in the
 * vacuum's transaction: a crash before its commit leaves the segments for
 * the next one), in VACUUM FULL / CLUSTER and in engram_cold_vacuum();
 * TRUNCATE drops all segments of the table in the truncating transaction;
 * DROP TABLE is handled by an event trigger.  Anti-wraparound autovacuums
 * skip it (it needs a transaction id).  Lazy VACUUM runs with
 * PROC_IN_VACUUM set, under which other backends ignore this one's xmin
 * and xid when computing horizons; the collector clears the flag (heap
 * vacuum is over by then) before it takes a transaction id to delete
 * rows.  Its heap scan honours vacuum_cost_delay.
 *
 * Repacking (engram_cold_vacuum's repack_below): a segment whose live rows
 * are a small fraction of it keeps its whole size until the last one dies.
 * Its live rows are rewritten (decoded, packed into a new segment, stub
 * updated to a new stub: an ordinary move) so that the next VACUUM drops
 * it.  VACUUM itself never rewrites rows.
 *
 * Locks and lock order
 * --------------------
 *	1. relation lock (RowExclusiveLock for moves, as for UPDATE)
 *	2. heap buffer content lock (heap's own code; ours only in the index
 *	   build scan, the garbage collector and hot-tier fills, always share,
 *	   one buffer at a time)
 *	3. hot-tier shard LWLock (engram_hot_tier.h), then
 *	4. access-stats partition LWLock (engram_access_stats.h)
 * A hot-tier fill holds 2 while taking 3 (that is what makes fills race-free
 * against updaters, see engram_hot_tier.h); nothing takes 2 while holding 3
 * or 4, and 3 and 4 are never held together.
 *
 * WAL
 * ---
 * None of our own.  Stubs and moves are heap records; segments are heap
 * (and TOAST) records of engram.cold_segments.  Crash recovery and
 * streaming replicas therefore need neither the library nor any redo code.
 * Logical decoding does see a difference (below).
 * The hot tier and access statistics are not WAL-logged: the hot tier is a
 * cache (disabled during recovery, since replayed changes bypass our
 * invalidation), access statistics are saved to a file at shutdown.
 *
 * Logical decoding rebuilds changes from the tuples heap logged.  A move
 * to cold (or a repack) is an UPDATE whose new tuple is a stub: with the
 * library preloaded, engram_tam_logical.c replaces heap's rm_decode by a
 * filter that drops exactly those records, so nothing is published.  A
 * move to warm decodes as an UPDATE to the same row (a no-op for a
 * subscriber).  An UPDATE or DELETE of a cold row logs the old key from
 * the stub, which keeps it.  Published tables may therefore have cold
 * rows, except where that would still publish wrong rows: no filter (not
 * preloaded) or REPLICA IDENTITY FULL (engram_tam_cold_move_refusal;
 * checked by moves, by CREATE / ALTER PUBLICATION and by ALTER TABLE,
 * which also refuse stubs that lack the current replica identity key).
 * See "Logical replication" in docs/reference/tam.md.
 *
 * Access statistics (src/shmem/engram_access_stats.h) count rows returned
 * by index fetches with an MVCC snapshot (hot hits included) and explicit
 * engram_access_record() calls, not bulk scans; tuple_update and moves
 * carry a row's statistics to its new TID.
 *
 * The background worker drives moves through the tier provider of
 * engram_tam_worker.c (src/worker/engram_worker_api.h); a row's time in its
 * tier is the access statistics' "written" time, set by our tuple_insert,
 * multi_insert, tuple_update and by moves.
 *
 * An ALTER TABLE that rewrites an engram table (column type change) writes
 * every row warm; the same event trigger then collects the table's
 * segments when its file is new in the transaction
 * (engram.collect_rewritten_cold_segments).
 *
 * Known gaps: parallel index builds use heap's parallel block allocation
 * through table_block_parallelscan_* (tested with one worker).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_TAM_H
#define ENGRAM_TAM_H

#include "postgres.h"

#include "access/htup_details.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "metrics/engram_metrics.h"
#include "nodes/parsenodes.h"
#include "storage/buf.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"

/* The t_infomask2 bit that marks a cold-tier stub (see htup_details.h). */
#define ENGRAM_STUB_INFOMASK2	0x0800

StaticAssertDecl((ENGRAM_STUB_INFOMASK2 & (HEAP_NATTS_MASK | HEAP2_XACT_MASK)) == 0,
				 "cold stub flag overlaps a bit heap uses");

#define ENGRAM_STUB_MAGIC		0x454E4753	/* "ENGS" */

/*
 * Largest stub (header, null bitmap, key values, payload): well under
 * TOAST_TUPLE_THRESHOLD, so heap never toasts (re-forms) a stub.
 */
#define ENGRAM_STUB_MAX_SIZE	1024

/*
 * Payload that ends a stub's data (after its replica identity key values,
 * if any; see engram_form_stub).
 */
typedef struct EngramColdStub
{
	uint32		magic;			/* ENGRAM_STUB_MAGIC */
	uint32		slot;			/* row number inside the segment */
	int64		segment_id;		/* engram.cold_segments.segment_id */
} EngramColdStub;

#define ENGRAM_SEGMENT_MAGIC	0x454E4753	/* "ENGS" */
#define ENGRAM_SEGMENT_VERSION_FULL	1	/* all regions float32, shuffle-4 */
#define ENGRAM_SEGMENT_VERSION_MIXED	2	/* per-region encoding (V2 regions) */

typedef struct EngramSegmentHeader
{
	uint32		magic;
	uint16		version;
	uint16		flags;			/* reserved, 0 */
	uint32		nrows;
	uint32		nregions;
	uint32		tuple_bytes;	/* size of the tuple area (floats cut out) */
	uint32		float_bytes;	/* size of the shuffled float area */
} EngramSegmentHeader;

typedef struct EngramSegmentRow
{
	uint32		tuple_offset;	/* into the tuple area */
	uint32		tuple_len;		/* HeapTupleHeader + data, floats included */
	uint32		stored_len;		/* bytes in the tuple area: tuple_len minus
								 * its float regions */
	uint32		first_region;	/* index into the region table */
	uint32		nregions;		/* ascending, non-overlapping */
} EngramSegmentRow;

typedef struct EngramFloatRegion
{
	uint32		tuple_offset;	/* offset of the floats inside the tuple */
	uint32		length;			/* bytes, a multiple of 4 */
	uint32		float_offset;	/* offset in the (unshuffled) float area */
} EngramFloatRegion;

/* Encodings of a version 2 float region. */
#define ENGRAM_FLOAT_ENCODING_FULL	0	/* as stored in the row, 4-byte stride */
#define ENGRAM_FLOAT_ENCODING_HALF	1	/* float32 values as binary16 */

typedef struct EngramFloatRegionV2
{
	uint32		tuple_offset;	/* offset of the floats inside the tuple */
	uint32		length;			/* decoded bytes, a multiple of 4 */
	uint32		stored_offset;	/* offset in its section (unshuffled) */
	uint32		encoding;		/* ENGRAM_FLOAT_ENCODING_* */
} EngramFloatRegionV2;

/* engram.cold_embedding_precision */
typedef enum EngramColdPrecision
{
	ENGRAM_COLD_PRECISION_FULL,
	ENGRAM_COLD_PRECISION_HALF
} EngramColdPrecision;

/*
 * Limits of one segment (a move packs rows into as many as it needs).  A
 * point lookup of a cold row decompresses its whole segment (then keeps it
 * in the per-backend cache), so segments are kept small: 256 kB of raw
 * rows costs well under a millisecond to decode, and zstd's ratio barely
 * improves past that on rows of a few kilobytes.
 */
#define ENGRAM_SEGMENT_MAX_ROWS		1024
#define ENGRAM_SEGMENT_MAX_RAW		(256 * 1024)

/* Decoded segments kept per backend. */
#define ENGRAM_SEGMENT_CACHE_SIZE	8

/* Tiers as named in SQL: EngramTier of metrics/engram_metrics.h. */

/* GUCs (engram_tam_handler.c) */
extern int	engram_cold_compression_level;
extern int	engram_cold_embedding_precision;

/* engram_tam_handler.c */
extern const TableAmRoutine *engram_tam_routine(void);
extern bool engram_relation_is_engram(Relation rel);

/* Keeps heap from choosing HOT for updates of "rel" (see the handler). */
typedef struct EngramHotBlock
{
	Bitmapset  *saved;			/* the relcache's indexed-column set */
	Bitmapset  *forced;			/* ours, in its place; NULL when inactive */
} EngramHotBlock;

extern void engram_tam_forbid_hot(Relation rel, EngramHotBlock *block);
extern void engram_tam_allow_hot(Relation rel, EngramHotBlock *block);

/* engram_tam_scan.c: read paths */
extern bool engram_tuple_is_stub(HeapTupleHeader tuple, uint32 len);
extern void engram_tam_slot_unstub(Relation rel, TupleTableSlot *slot);
extern void engram_tam_store_row(Relation rel, TupleTableSlot *slot, HeapTuple row);
extern HeapTuple engram_tam_decode_stub(Relation rel, HeapTuple stub);
extern HeapTuple engram_hot_tier_flatten(Relation rel, HeapTuple row);
extern void engram_tam_admit_hot(Relation rel, ItemPointer index_tid, HeapTuple tuple,
								 HeapTuple decoded, Buffer buffer, bool as_copy);
extern void engram_tam_chain_root(Buffer buffer, ItemPointer tid, ItemPointer root);
extern bool engram_tam_invalidate_row(Relation rel, ItemPointer tid);
extern void engram_tam_setup_scan_callbacks(TableAmRoutine *routine);

/*
 * Index entries of rows a maintenance path writes with heap_insert or
 * heap_update itself (tier moves, segment rows): an executor state with the
 * relation's indexes open (engram_tam_move.c).
 */
typedef struct EngramIndexInserter
{
	struct EState *estate;
	struct ResultRelInfo *rri;
	TupleTableSlot *slot;
} EngramIndexInserter;

extern void engram_index_inserter_begin(EngramIndexInserter *inserter, Relation rel);
extern void engram_index_inserter_insert(EngramIndexInserter *inserter, Relation rel,
										 HeapTuple row, ItemPointer new_tid, ItemPointer old_tid);
extern void engram_index_inserter_end(EngramIndexInserter *inserter);

/*
 * Called by engram_tam_walk_visible for each visible tuple, with its page
 * share-locked: the tuple points into the page, so the visitor copies what
 * it keeps, takes no other buffer lock and does no catalog access.  It
 * returns false to stop the walk.
 */
typedef bool (*EngramTupleVisitor) (HeapTuple tuple, void *arg);
extern void engram_tam_walk_visible(Relation rel, Snapshot snapshot, bool stubs_only,
									EngramTupleVisitor visit, void *arg);

/* What a walk read: pages, and rows (normal line pointers, visible or not). */
typedef struct EngramWalkCounts
{
	int64		pages_read;
	int64		rows_read;
} EngramWalkCounts;

extern void engram_tam_walk_visible_range(Relation rel, Snapshot snapshot, bool stubs_only,
										  BlockNumber first_block, BlockNumber nblocks,
										  EngramTupleVisitor visit, void *arg,
										  EngramWalkCounts *counts);
extern void engram_tam_visit_tids(Relation rel, const ItemPointerData *tids, int ntids,
								  EngramTupleVisitor visit, void *arg,
								  EngramWalkCounts *counts);

/* engram_tam_build.c */
extern double engram_index_build_range_scan(Relation table_rel, Relation index_rel,
											struct IndexInfo *index_info,
											bool allow_sync, bool anyvisible,
											bool progress, BlockNumber start_blockno,
											BlockNumber numblocks,
											IndexBuildCallback callback,
											void *callback_state, TableScanDesc scan);
extern void engram_index_validate_scan(Relation table_rel, Relation index_rel,
									   struct IndexInfo *index_info,
									   Snapshot snapshot,
									   struct ValidateIndexState *state);

/* engram_tam_rewrite.c */
extern void engram_relation_copy_for_cluster(Relation OldTable, Relation NewTable,
											 Relation OldIndex, bool use_sort,
											 TransactionId OldestXmin,
											 TransactionId *xid_cutoff,
											 MultiXactId *multi_cutoff,
											 double *num_tuples,
											 double *tups_vacuumed,
											 double *tups_recently_dead);

/* engram_tam_cold.c: segment codec and store */
typedef struct EngramSegmentBuilder EngramSegmentBuilder;

extern EngramSegmentBuilder *engram_segment_builder_create(TupleDesc tupdesc);
/* Adds a (detoasted) row; returns its slot, or -1 when the segment is full. */
extern int	engram_segment_builder_add(EngramSegmentBuilder *builder, HeapTuple tuple);
extern int	engram_segment_builder_nrows(EngramSegmentBuilder *builder);
/* Compresses, stores the segment for "relid" and returns its id. */
extern int64 engram_segment_builder_store(EngramSegmentBuilder *builder, Oid relid);
extern void engram_segment_builder_reset(EngramSegmentBuilder *builder);
/* The detoasted copy of row "slot" (owned by the builder). */
extern HeapTuple engram_segment_builder_row(EngramSegmentBuilder *builder, int slot);
/* The row "slot" of a segment as a palloc'd HeapTuple (no header fields set). */
extern HeapTuple engram_segment_fetch_row(int64 segment_id, uint32 slot);
extern HeapTuple engram_form_stub(TupleDesc tupdesc, Bitmapset *key_attrs, HeapTuple row,
								  int64 segment_id, uint32 slot);
extern bool engram_stub_payload(HeapTupleHeader tuple, uint32 len, EngramColdStub *stub);
extern Oid	engram_cold_segments_relid(bool missing_ok);

/*
 * SPI on engram.cold_segments runs as the table's owner (the store is
 * private to the extension: PUBLIC has no privileges on it) with
 * search_path pinned to pg_catalog.  Callers check the caller's rights on
 * the engram table concerned first.  Between connect and finish, run only
 * SPI statements on the segment store.
 */
typedef struct EngramSegmentsAccess
{
	Oid			saved_userid;
	int			saved_sec_context;
	int			guc_nestlevel;
} EngramSegmentsAccess;

extern void engram_segments_spi_connect(EngramSegmentsAccess *access);
extern void engram_segments_spi_finish(EngramSegmentsAccess *access);
extern int64 engram_tam_cold_collect_garbage(Relation rel, Oid relid, bool clear_in_vacuum);
extern void engram_tam_cold_drop_all(Oid relid);

/* engram_tam_move.c */
extern Relation engram_tam_open_for_move(Oid relid, LOCKMODE lockmode, AclMode required);
extern int64 engram_tam_move_rows(Oid relid, ItemPointer tids, int ntids, EngramTier tier,
								  bool count_metrics);

/* engram_tam_logical.c */
extern void engram_tam_logical_init(void);
extern Bitmapset *engram_tam_stub_key_attrs(Relation rel);
extern const char *engram_tam_cold_move_refusal(Relation rel);

/* engram_tam_stats.c */
extern bool engram_tam_row_tier(Relation rel, ItemPointer tid, Snapshot snapshot,
								EngramTier *tier);

/* engram_tam_worker.c: the background worker's tier provider */
extern void engram_tam_register_tier_provider(void);

#endif							/* ENGRAM_TAM_H */
