/*-------------------------------------------------------------------------
 *
 * engram_tam_handler.c
 *	  The engram table AM handler: the routine (heap's, with our
 *	  overrides), the subsystem's GUCs, tuple modification callbacks (hot
 *	  tier invalidation, access-statistics bookkeeping) and DDL callbacks
 *	  (TRUNCATE, VACUUM).
 *
 * The routine starts as a copy of heap's (GetHeapamTableAmRoutine()) made
 * once per backend, then every callback that must differ is replaced.  It
 * cannot be a "static const" with designated initializers like heap's own,
 * because heap's callbacks are static functions of heapam_handler.c reached
 * only through that routine pointer; the copy is made before first use and
 * never changed afterwards.  Overrides, by file:
 *	engram_tam_scan.c	every read path (stub replacement, hot tier)
 *	engram_tam_build.c	index build and validate scans
 *	engram_tam_rewrite.c	VACUUM FULL / CLUSTER copy
 *	this file			insert/update/delete/lock (hot tier + access
 *						stats: when each row version was written),
 *						set_new_filenode / nontransactional truncate
 *						(segments, hot tier, access stats), vacuum
 *						(segment garbage collection)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "access/heapam.h"
#include "access/hio.h"
#include "access/tableam.h"
#include "commands/vacuum.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/autovacuum.h"
#include "storage/bufmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "engram.h"
#include "shmem/engram_access_stats.h"
#include "shmem/engram_hot_tier.h"
#include "shmem/engram_relay_state.h"
#include "tam/engram_tam.h"

#define ENGRAM_COLD_COMPRESSION_LEVEL_DEFAULT	3
#define ENGRAM_COLD_COMPRESSION_LEVEL_MIN		1
#define ENGRAM_COLD_COMPRESSION_LEVEL_MAX		19

int			engram_cold_compression_level = ENGRAM_COLD_COMPRESSION_LEVEL_DEFAULT;

#define ENGRAM_COLD_EMBEDDING_PRECISION_DEFAULT	ENGRAM_COLD_PRECISION_FULL

int			engram_cold_embedding_precision = ENGRAM_COLD_EMBEDDING_PRECISION_DEFAULT;

static const struct config_enum_entry engram_cold_precision_options[] = {
	{"full", ENGRAM_COLD_PRECISION_FULL, false},
	{"half", ENGRAM_COLD_PRECISION_HALF, false},
	{NULL, 0, false}
};

static TableAmRoutine engram_routine;
static bool engram_routine_ready = false;

PG_FUNCTION_INFO_V1(engram_tam_handler);

/* ------------------------------------------------------------------------
 * Tuple modification
 * ------------------------------------------------------------------------
 */

static void
engram_tuple_insert(Relation rel, TupleTableSlot *slot, CommandId cid, int options,
					BulkInsertState bistate)
{
	GetHeapamTableAmRoutine()->tuple_insert(rel, slot, cid, options, bistate);
	engram_access_mark_written(RelationGetRelid(rel), &slot->tts_tid);
}

static void
engram_multi_insert(Relation rel, TupleTableSlot **slots, int nslots, CommandId cid,
					int options, BulkInsertState bistate)
{
	GetHeapamTableAmRoutine()->multi_insert(rel, slots, nslots, cid, options, bistate);
	if (engram_access_stats_available())
		for (int i = 0; i < nslots; i++)
			engram_access_mark_written(RelationGetRelid(rel), &slots[i]->tts_tid);
}

static TM_Result
engram_tuple_delete(Relation rel, ItemPointer tid, CommandId cid, Snapshot snapshot,
					Snapshot crosscheck, bool wait, TM_FailureData *tmfd, bool changingPart)
{
	TM_Result	result;

	result = GetHeapamTableAmRoutine()->tuple_delete(rel, tid, cid, snapshot, crosscheck,
													 wait, tmfd, changingPart);
	if (result == TM_Ok)
	{
		engram_tam_invalidate_row(rel, tid);
		engram_access_forget(RelationGetRelid(rel), tid);
	}
	return result;
}

/* True when the tuple at "tid" is a stub (cold row). */
static bool
tuple_is_stub(Relation rel, ItemPointer tid)
{
	Buffer		buffer = ReadBuffer(rel, ItemPointerGetBlockNumber(tid));
	Page		page;
	OffsetNumber offnum = ItemPointerGetOffsetNumber(tid);
	bool		stub = false;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	if (offnum <= PageGetMaxOffsetNumber(page))
	{
		ItemId		lp = PageGetItemId(page, offnum);

		stub = ItemIdIsNormal(lp) &&
			engram_tuple_is_stub((HeapTupleHeader) PageGetItem(page, lp), ItemIdGetLength(lp));
	}
	UnlockReleaseBuffer(buffer);
	return stub;
}

/*
 * An UPDATE of a cold row must not be HOT.  Heap decides HOT by comparing
 * the indexed columns of the stored old tuple with the new one, and a stub
 * stores NULL for every column but its key: an UPDATE that sets the other
 * indexed columns to NULL would look HOT to heap, and leave index entries
 * of the old values pointing at a row that no longer has them.  Heap
 * copies the relcache's indexed-column set (rd_indexattr) when it starts;
 * between engram_tam_forbid_hot and engram_tam_allow_hot it gets a set
 * that also holds the ctid system column, which heap always counts as
 * changed, so heap never chooses HOT.  If the relcache entry is rebuilt
 * meanwhile, the rebuild has replaced (and freed) our set: the saved one is
 * then ours to free.  A table without indexes has no entries to keep
 * right: it is left alone.  Call allow_hot also on error (PG_FINALLY).
 */
void
engram_tam_forbid_hot(Relation rel, EngramHotBlock *block)
{
	MemoryContext oldcontext;

	bms_free(RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_ALL));
	block->saved = rel->rd_indexattr;
	block->forced = NULL;
	if (block->saved == NULL)
		return;
	oldcontext = MemoryContextSwitchTo(CacheMemoryContext);
	block->forced = bms_add_member(bms_copy(block->saved),
								   SelfItemPointerAttributeNumber - FirstLowInvalidHeapAttributeNumber);
	MemoryContextSwitchTo(oldcontext);
	rel->rd_indexattr = block->forced;
}

void
engram_tam_allow_hot(Relation rel, EngramHotBlock *block)
{
	if (block->forced == NULL)
		return;
	if (rel->rd_indexattr == block->forced)
	{
		rel->rd_indexattr = block->saved;
		bms_free(block->forced);
	}
	else
		bms_free(block->saved);
	block->forced = NULL;
}

static TM_Result
engram_tuple_update(Relation rel, ItemPointer otid, TupleTableSlot *slot, CommandId cid,
					Snapshot snapshot, Snapshot crosscheck, bool wait,
					TM_FailureData *tmfd, LockTupleMode *lockmode, bool *update_indexes)
{
	volatile TM_Result result;
	ItemPointerData old_tid = *otid;
	EngramHotBlock block = {NULL, NULL};

	if (rel->rd_rel->relhasindex && tuple_is_stub(rel, otid))
		engram_tam_forbid_hot(rel, &block);
	PG_TRY();
	{
		result = GetHeapamTableAmRoutine()->tuple_update(rel, otid, slot, cid, snapshot,
														 crosscheck, wait, tmfd, lockmode,
														 update_indexes);
	}
	PG_FINALLY();
	{
		engram_tam_allow_hot(rel, &block);
	}
	PG_END_TRY();
	if (result == TM_Ok)
	{
		engram_tam_invalidate_row(rel, &old_tid);
		engram_access_move(RelationGetRelid(rel), &old_tid, &slot->tts_tid);
	}
	return result;
}

static TM_Result
engram_tuple_lock(Relation rel, ItemPointer tid, Snapshot snapshot, TupleTableSlot *slot,
				  CommandId cid, LockTupleMode mode, LockWaitPolicy wait_policy,
				  uint8 flags, TM_FailureData *tmfd)
{
	TM_Result	result;

	/*
	 * A row lock leaves hot-tier entries alone: it sets a lock-only xmax,
	 * which no MVCC snapshot reads as a deletion, so a cached copy without
	 * it still answers exactly as the heap does (the hot tier serves MVCC
	 * snapshots only).  Updates and deletes invalidate (tuple_update,
	 * tuple_delete).
	 */
	result = GetHeapamTableAmRoutine()->tuple_lock(rel, tid, snapshot, slot, cid, mode,
												   wait_policy, flags, tmfd);
	engram_tam_slot_unstub(rel, slot);
	return result;
}

/* ------------------------------------------------------------------------
 * DDL
 * ------------------------------------------------------------------------
 */

/* Forget everything cached or counted about the relation's current file. */
static void
forget_relation_contents(Relation rel)
{
	engram_hot_tier_invalidate_relfilenode(MyDatabaseId, rel->rd_node.relNode);
	engram_access_forget_relation(RelationGetRelid(rel));
}

static void
engram_relation_set_new_filenode(Relation rel, const RelFileNode *newrnode, char persistence,
								 TransactionId *freezeXid, MultiXactId *minmulti)
{
	/*
	 * A relation that already had storage is being truncated (or rewritten
	 * in place): its stubs are gone with the old file, so are its segments.
	 */
	bool		had_storage = rel->rd_createSubid == InvalidSubTransactionId;

	if (had_storage)
	{
		forget_relation_contents(rel);
		engram_tam_cold_drop_all(RelationGetRelid(rel));
	}
	GetHeapamTableAmRoutine()->relation_set_new_filenode(rel, newrnode, persistence,
														 freezeXid, minmulti);
	engram_hot_tier_invalidate_relfilenode(MyDatabaseId, newrnode->relNode);
}

static void
engram_relation_nontransactional_truncate(Relation rel)
{
	forget_relation_contents(rel);
	engram_tam_cold_drop_all(RelationGetRelid(rel));
	GetHeapamTableAmRoutine()->relation_nontransactional_truncate(rel);
}

/*
 * Heap vacuum (which removes dead stubs), then drop the segments no stub
 * names any more, in the vacuum's own transaction: manual VACUUM and
 * autovacuum alike, so dead segments are reclaimed without anyone calling
 * engram_cold_vacuum().  An anti-wraparound autovacuum skips the segments:
 * deleting them needs a transaction id, which is what such a vacuum may be
 * running short of, and an error there would stop it before the table's
 * TOAST relation is vacuumed.  See "Garbage collection" in engram_tam.h.
 */
static void
engram_relation_vacuum(Relation rel, struct VacuumParams *params, BufferAccessStrategy bstrategy)
{
	GetHeapamTableAmRoutine()->relation_vacuum(rel, params, bstrategy);
	if (IsAutoVacuumWorkerProcess() && params->is_wraparound)
	{
		ereport(DEBUG1,
				(errmsg_internal("anti-wraparound autovacuum of \"%s\" leaves its cold segments to the next vacuum",
								 RelationGetRelationName(rel))));
		return;
	}
	engram_tam_cold_collect_garbage(rel, RelationGetRelid(rel), true);
}

/* ------------------------------------------------------------------------
 * Routine and handler
 * ------------------------------------------------------------------------
 */

const TableAmRoutine *
engram_tam_routine(void)
{
	if (!engram_routine_ready)
	{
		engram_routine = *GetHeapamTableAmRoutine();
		engram_tam_setup_scan_callbacks(&engram_routine);
		engram_routine.tuple_insert = engram_tuple_insert;
		engram_routine.multi_insert = engram_multi_insert;
		engram_routine.tuple_delete = engram_tuple_delete;
		engram_routine.tuple_update = engram_tuple_update;
		engram_routine.tuple_lock = engram_tuple_lock;
		engram_routine.relation_set_new_filenode = engram_relation_set_new_filenode;
		engram_routine.relation_nontransactional_truncate = engram_relation_nontransactional_truncate;
		engram_routine.relation_copy_for_cluster = engram_relation_copy_for_cluster;
		engram_routine.relation_vacuum = engram_relation_vacuum;
		engram_routine.index_build_range_scan = engram_index_build_range_scan;
		engram_routine.index_validate_scan = engram_index_validate_scan;
		engram_routine_ready = true;
	}
	return &engram_routine;
}

/* True when "rel" is a table of the engram access method. */
bool
engram_relation_is_engram(Relation rel)
{
	return rel->rd_tableam == engram_tam_routine();
}

Datum
engram_tam_handler(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(engram_tam_routine());
}

void
engram_tam_init(void)
{
	DefineCustomIntVariable("engram.cold_tier_compression_level",
							"Sets the zstd compression level of cold-tier segments.",
							NULL,
							&engram_cold_compression_level,
							ENGRAM_COLD_COMPRESSION_LEVEL_DEFAULT,
							ENGRAM_COLD_COMPRESSION_LEVEL_MIN,
							ENGRAM_COLD_COMPRESSION_LEVEL_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("engram.cold_embedding_precision",
							 "Sets the precision at which new cold-tier segments store embeddings.",
							 "full keeps every float bit (lossless); half stores evector and real[] "
							 "values as IEEE float16 (lossy: rows read back rounded).",
							 &engram_cold_embedding_precision,
							 ENGRAM_COLD_EMBEDDING_PRECISION_DEFAULT,
							 engram_cold_precision_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	engram_hot_tier_init();
	engram_relay_state_init();
	engram_access_stats_init();
	engram_tam_register_tier_provider();
	engram_tam_logical_init();
}
