/*-------------------------------------------------------------------------
 *
 * engram_tam_move.c
 *	  Tier moves: engram_move_to_tier(regclass, tid[], tier), and the
 *	  segment maintenance that rewrites rows: engram_cold_vacuum().
 *
 * warm -> cold	rows are packed into segments (one or more per call), each
 *				row is heap_update'd to a stub naming its segment slot, and
 *				index entries are made for the new TIDs from the archived
 *				values (like a non-HOT UPDATE; the row's logical content and
 *				index keys are unchanged).  While they are made, the index
 *				AMs are told which TID the new one replaces
 *				(engram_index_move_source_set): engram_hnsw attaches the new
 *				TID to the old element instead of inserting a new one
 *				(src/hnsw/hnsw.h, MOVED ROWS); btree inserts as usual.
 * cold -> warm	the stub is heap_update'd to the decoded row (heap toasts it
 *				if needed), new index entries likewise.
 * -> hot		the visible version is stored in the hot tier (a cache: the
 *				row's storage tier does not change).  A warm move of a row
 *				that is cached drops it from the hot tier.
 *
 * Transactional and crash-safe: every change is a heap insert/update in the
 * caller's transaction (segments included), WAL-logged by heap; a crash or
 * abort leaves the rows as they were.  A row changed concurrently (the
 * update finds TM_Updated / TM_Deleted / TM_SelfModified) is skipped and
 * not counted.  Moves take RowExclusiveLock, like UPDATE, and need UPDATE
 * privilege on the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "storage/lmgr.h"
#include "utils/hsearch.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "engram.h"
#include "shmem/engram_access_stats.h"
#include "shmem/engram_hot_tier.h"
#include "tam/engram_tam.h"

PG_FUNCTION_INFO_V1(engram_move_to_tier);
PG_FUNCTION_INFO_V1(engram_cold_vacuum);
PG_FUNCTION_INFO_V1(engram_collect_rewritten_cold_segments);

/* Executor state for inserting index entries (engram_tam.h). */
void
engram_index_inserter_begin(EngramIndexInserter *inserter, Relation rel)
{
	inserter->estate = CreateExecutorState();
	inserter->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(inserter->rri, rel, 1, NULL, 0);
	ExecOpenIndices(inserter->rri, false);
	inserter->slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
}

/*
 * Index entries for "row" (plain, detoasted values) at "new_tid".  With
 * "old_tid", the row is the new version of the row whose index entries
 * carry "old_tid" (its HOT chain root): the index AMs are told so while
 * they insert (src/engram.h).
 */
void
engram_index_inserter_insert(EngramIndexInserter *inserter, Relation rel, HeapTuple row,
							 ItemPointer new_tid, ItemPointer old_tid)
{
	if (inserter->rri->ri_NumIndices == 0)
		return;
	ExecStoreHeapTuple(row, inserter->slot, false);
	inserter->slot->tts_tid = *new_tid;
	inserter->slot->tts_tableOid = RelationGetRelid(rel);
	if (old_tid != NULL)
		engram_index_move_source_set(RelationGetRelid(rel), old_tid, new_tid);
	PG_TRY();
	{
		ExecInsertIndexTuples(inserter->rri, inserter->slot, inserter->estate,
							  false, false, NULL, NIL);
	}
	PG_FINALLY();
	{
		if (old_tid != NULL)
			engram_index_move_source_clear();
	}
	PG_END_TRY();
	ExecClearTuple(inserter->slot);
	ResetPerTupleExprContext(inserter->estate);
}

void
engram_index_inserter_end(EngramIndexInserter *inserter)
{
	ExecCloseIndices(inserter->rri);
	ExecDropSingleTupleTableSlot(inserter->slot);
	FreeExecutorState(inserter->estate);
}

/*
 * Replace the row at "tid" by "newtup"; true when done, false when the row
 * changed concurrently (then nothing happened).  newtup->t_self is the new
 * TID on success.  Hot tier and access statistics follow the row.
 *
 * Heap decides HOT by comparing the stored values of indexed columns,
 * and a stub keeps only its key: a move between warm and cold is kept from
 * being HOT ("allow_hot" false; see engram_tam_forbid_hot), so that it
 * always gets a new TID and index entries, whatever the row's values.  A
 * stub-to-stub update (repack) may be HOT ("allow_hot"): the new version
 * is then reached through its chain's root and must get no index entries
 * of its own (the caller checks HeapTupleIsHeapOnly(newtup), as the
 * executor does after an UPDATE).
 */
static bool
replace_row(Relation rel, ItemPointer tid, HeapTuple newtup, bool allow_hot)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	volatile TM_Result result;
	EngramHotBlock block = {NULL, NULL};

	newtup->t_tableOid = RelationGetRelid(rel);
	if (!allow_hot)
		engram_tam_forbid_hot(rel, &block);
	PG_TRY();
	{
		result = heap_update(rel, tid, newtup, GetCurrentCommandId(true), InvalidSnapshot,
							 true, &tmfd, &lockmode);
	}
	PG_FINALLY();
	{
		engram_tam_allow_hot(rel, &block);
	}
	PG_END_TRY();
	if (result != TM_Ok)
		return false;
	engram_tam_invalidate_row(rel, tid);
	engram_access_move(RelationGetRelid(rel), tid, &newtup->t_self);
	return true;
}

/*
 * Whether the moves in progress are counted in the tier-move metric here:
 * yes for engram_move_to_tier(); no for the background worker, which
 * counts the moves it asks for itself.
 */
static bool count_moves_here = true;

static void
count_moves(EngramTier from, EngramTier to, int64 count)
{
	if (count_moves_here)
		engram_metrics_tier_move(from, to, count);
}

typedef struct EngramPendingRow
{
	ItemPointerData tid;		/* the version to replace */
	ItemPointerData index_tid;	/* the TID its index entries carry */
} EngramPendingRow;

/*
 * The TID the index entries of the version at "tid" carry: the root of its
 * HOT chain.  "buffer" is pinned, not locked.
 */
static void
index_entry_tid(Buffer buffer, ItemPointer tid, ItemPointer index_tid)
{
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	engram_tam_chain_root(buffer, tid, index_tid);
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
}

/*
 * Store the builder's segment and turn its rows into stubs; returns rows
 * moved.  "repack": the rows are stubs already (HOT allowed).
 */
static int64
flush_cold_segment(Relation rel, EngramSegmentBuilder *builder, EngramPendingRow *pending,
				   EngramIndexInserter *inserter, bool repack)
{
	int			nrows = engram_segment_builder_nrows(builder);
	int64		segment_id;
	int64		moved = 0;
	Bitmapset  *key_attrs;

	if (nrows == 0)
		return 0;
	key_attrs = engram_tam_stub_key_attrs(rel);
	segment_id = engram_segment_builder_store(builder, RelationGetRelid(rel));
	for (int i = 0; i < nrows; i++)
	{
		HeapTuple	stub = engram_form_stub(RelationGetDescr(rel), key_attrs,
											engram_segment_builder_row(builder, i),
											segment_id, i);

		if (replace_row(rel, &pending[i].tid, stub, repack))
		{
			if (!HeapTupleIsHeapOnly(stub))
				engram_index_inserter_insert(inserter, rel, engram_segment_builder_row(builder, i),
									  &stub->t_self, &pending[i].index_tid);
			moved++;
		}
		heap_freetuple(stub);
	}
	engram_segment_builder_reset(builder);
	return moved;
}

/*
 * Fetch the version of row "tid" visible to "snapshot"; false when none.
 * On success the buffer is pinned (caller releases it).
 */
static bool
fetch_visible(Relation rel, ItemPointer tid, Snapshot snapshot, HeapTuple tuple, Buffer *buffer)
{
	tuple->t_self = *tid;
	if (!ItemPointerIsValid(tid))
		return false;
	if (ItemPointerGetBlockNumber(tid) >= RelationGetNumberOfBlocks(rel))
		return false;
	return heap_fetch(rel, snapshot, tuple, buffer, false);
}

/*
 * engram.collect_rewritten_cold_segments(rel): called at the end of an
 * ALTER TABLE of an engram table that has segments.  When the table's file
 * was replaced in this transaction (an ALTER TABLE rewrite writes every row
 * warm, so its old segments are unreferenced), delete the segments no stub
 * names, as VACUUM would; otherwise do nothing, so that ALTER TABLE commands
 * that do not rewrite (RENAME, SET STATISTICS, ...) never scan the table.
 * The collection itself is safe whatever happened before in the
 * transaction: it keeps every segment a stub on any page names.  Returns
 * the number of segments deleted.
 */
Datum
engram_collect_rewritten_cold_segments(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel = try_relation_open(relid, AccessShareLock);
	int64		dropped = 0;

	if (rel == NULL)
		PG_RETURN_INT64(0);
	if (engram_relation_is_engram(rel) &&
		(rel->rd_newRelfilenodeSubid != InvalidSubTransactionId ||
		 rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId))
		dropped = engram_tam_cold_collect_garbage(rel, relid, false);
	relation_close(rel, AccessShareLock);
	PG_RETURN_INT64(dropped);
}

static int64
move_to_cold(Relation rel, ItemPointer tids, int ntids, Snapshot snapshot)
{
	EngramSegmentBuilder *builder = engram_segment_builder_create(RelationGetDescr(rel));
	EngramPendingRow *pending = palloc(sizeof(EngramPendingRow) * ENGRAM_SEGMENT_MAX_ROWS);
	EngramIndexInserter inserter;
	int64		moved = 0;
	const char *refusal = engram_tam_cold_move_refusal(rel);

	if (refusal != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot move rows of \"%s\" to the cold tier: logical replication would publish wrong rows",
						RelationGetRelationName(rel)),
				 errdetail_internal("%s", refusal),
				 errhint("See \"Logical replication\" in the engram table access method's documentation.")));

	engram_index_inserter_begin(&inserter, rel);
	for (int i = 0; i < ntids; i++)
	{
		HeapTupleData tuple;
		Buffer		buffer;
		HeapTuple	copy;
		int			slot;
		ItemPointerData index_tid;

		CHECK_FOR_INTERRUPTS();
		if (!fetch_visible(rel, &tids[i], snapshot, &tuple, &buffer))
			continue;
		if (engram_tuple_is_stub(tuple.t_data, tuple.t_len))
		{
			ReleaseBuffer(buffer);
			continue;
		}
		copy = heap_copytuple(&tuple);
		index_entry_tid(buffer, &tuple.t_self, &index_tid);
		ReleaseBuffer(buffer);

		slot = engram_segment_builder_add(builder, copy);
		if (slot < 0)
		{
			moved += flush_cold_segment(rel, builder, pending, &inserter, false);
			slot = engram_segment_builder_add(builder, copy);
			Assert(slot == 0);
		}
		pending[slot].tid = tuple.t_self;
		pending[slot].index_tid = index_tid;
		heap_freetuple(copy);
	}
	moved += flush_cold_segment(rel, builder, pending, &inserter, false);
	engram_index_inserter_end(&inserter);
	count_moves(ENGRAM_TIER_WARM, ENGRAM_TIER_COLD, moved);
	return moved;
}

static int64
move_to_warm(Relation rel, ItemPointer tids, int ntids, Snapshot snapshot)
{
	EngramIndexInserter inserter;
	int64		from_cold = 0;
	int64		from_hot = 0;

	engram_index_inserter_begin(&inserter, rel);
	for (int i = 0; i < ntids; i++)
	{
		HeapTupleData tuple;
		Buffer		buffer;
		HeapTuple	row;
		HeapTuple	plain;
		ItemPointerData index_tid;

		CHECK_FOR_INTERRUPTS();
		if (!fetch_visible(rel, &tids[i], snapshot, &tuple, &buffer))
			continue;
		if (!engram_tuple_is_stub(tuple.t_data, tuple.t_len))
		{
			ReleaseBuffer(buffer);
			/* Leaving the hot tier is a move too. */
			if (engram_tam_invalidate_row(rel, &tids[i]))
				from_hot++;
			continue;
		}
		row = engram_tam_decode_stub(rel, &tuple);
		index_entry_tid(buffer, &tuple.t_self, &index_tid);
		ReleaseBuffer(buffer);
		plain = heap_copytuple(row);
		if (replace_row(rel, &tids[i], row, false))
		{
			if (!HeapTupleIsHeapOnly(row))
				engram_index_inserter_insert(&inserter, rel, plain, &row->t_self, &index_tid);
			from_cold++;
		}
		heap_freetuple(plain);
		heap_freetuple(row);
	}
	engram_index_inserter_end(&inserter);
	count_moves(ENGRAM_TIER_COLD, ENGRAM_TIER_WARM, from_cold);
	count_moves(ENGRAM_TIER_HOT, ENGRAM_TIER_WARM, from_hot);
	return from_cold + from_hot;
}

static int64
move_to_hot(Relation rel, ItemPointer tids, int ntids, Snapshot snapshot)
{
	int64		from_warm = 0;
	int64		from_cold = 0;

	engram_require_preload("the hot tier");
	if (!engram_hot_tier_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the hot tier is not available during recovery")));
	for (int i = 0; i < ntids; i++)
	{
		HeapTupleData tuple;
		Buffer		buffer;
		HeapTuple	row = NULL;
		ItemPointerData key_tid;

		CHECK_FOR_INTERRUPTS();
		if (!fetch_visible(rel, &tids[i], snapshot, &tuple, &buffer))
			continue;
		if (engram_tuple_is_stub(tuple.t_data, tuple.t_len))
			row = engram_tam_decode_stub(rel, &tuple);
		else
			row = engram_hot_tier_flatten(rel, &tuple);
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		/* Stored under the TID index entries carry (chain root if HOT). */
		engram_tam_chain_root(buffer, &tuple.t_self, &key_tid);
		if (engram_hot_tier_cacheable(tuple.t_data) &&
			engram_hot_tier_store(rel, &key_tid, row, tuple.t_data))
		{
			if (engram_tuple_is_stub(tuple.t_data, tuple.t_len))
				from_cold++;
			else
				from_warm++;
		}
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buffer);
		if (row != &tuple)
			heap_freetuple(row);
	}
	count_moves(ENGRAM_TIER_WARM, ENGRAM_TIER_HOT, from_warm);
	count_moves(ENGRAM_TIER_COLD, ENGRAM_TIER_HOT, from_cold);
	return from_warm + from_cold;
}

/*
 * Repack: rewrite the cold rows at "tids" (stubs visible to "snapshot")
 * into new segments, so that the segments they leave can be dropped by the
 * next VACUUM.  Returns the rows rewritten.
 */
static int64
repack_cold_rows(Relation rel, ItemPointer tids, int ntids, Snapshot snapshot)
{
	EngramSegmentBuilder *builder = engram_segment_builder_create(RelationGetDescr(rel));
	EngramPendingRow *pending = palloc(sizeof(EngramPendingRow) * ENGRAM_SEGMENT_MAX_ROWS);
	EngramIndexInserter inserter;
	int64		moved = 0;

	engram_index_inserter_begin(&inserter, rel);
	for (int i = 0; i < ntids; i++)
	{
		HeapTupleData tuple;
		Buffer		buffer;
		HeapTuple	row;
		int			slot;
		ItemPointerData index_tid;

		CHECK_FOR_INTERRUPTS();
		if (!fetch_visible(rel, &tids[i], snapshot, &tuple, &buffer))
			continue;
		if (!engram_tuple_is_stub(tuple.t_data, tuple.t_len))
		{
			ReleaseBuffer(buffer);
			continue;
		}
		row = engram_tam_decode_stub(rel, &tuple);
		index_entry_tid(buffer, &tuple.t_self, &index_tid);
		ReleaseBuffer(buffer);
		slot = engram_segment_builder_add(builder, row);
		if (slot < 0)
		{
			moved += flush_cold_segment(rel, builder, pending, &inserter, true);
			slot = engram_segment_builder_add(builder, row);
			Assert(slot == 0);
		}
		pending[slot].tid = tids[i];
		pending[slot].index_tid = index_tid;
		heap_freetuple(row);
	}
	moved += flush_cold_segment(rel, builder, pending, &inserter, true);
	engram_index_inserter_end(&inserter);
	return moved;
}

typedef struct EngramStubRef
{
	int64		segment_id;
	ItemPointerData tid;
} EngramStubRef;

static int
stub_ref_cmp(const void *a, const void *b)
{
	const EngramStubRef *x = a;
	const EngramStubRef *y = b;

	if (x->segment_id != y->segment_id)
		return x->segment_id < y->segment_id ? -1 : 1;
	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

/* The visible stubs of a table, as engram_tam_walk_visible finds them. */
typedef struct StubRefList
{
	EngramStubRef *refs;
	int			count;
	int			max;
} StubRefList;

static bool
collect_stub_ref(HeapTuple tuple, void *arg)
{
	StubRefList *list = (StubRefList *) arg;
	EngramColdStub stub;

	if (!engram_stub_payload(tuple->t_data, tuple->t_len, &stub))
		return true;
	if (list->count >= list->max)
	{
		list->max *= 2;
		list->refs = repalloc(list->refs, sizeof(EngramStubRef) * list->max);
	}
	list->refs[list->count].segment_id = stub.segment_id;
	list->refs[list->count].tid = tuple->t_self;
	list->count++;
	return true;
}

/*
 * engram_cold_vacuum(rel regclass, repack_below real, OUT segments_dropped
 * bigint, OUT rows_repacked bigint): drop the table's segments no stub
 * names (what VACUUM does after heap vacuum), then rewrite the live rows of
 * every segment whose live fraction is under "repack_below" into new
 * segments; the emptied segments go at the next VACUUM.  Transactional.
 * Takes ShareUpdateExclusiveLock (one at a time, like VACUUM) and needs
 * UPDATE privilege.
 */
Datum
engram_cold_vacuum(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	float4		repack_below = PG_GETARG_FLOAT4(1);
	Relation	rel;
	Snapshot	snapshot = GetActiveSnapshot();
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int64		dropped;
	int64		repacked = 0;

	if (isnan(repack_below) || repack_below < 0 || repack_below > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("repack_below must be between 0 and 1"),
				 errhint("It is the live fraction under which a segment is rewritten; 0 turns repacking off.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot vacuum cold segments during recovery")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	engram_require_row_columns(tupdesc, lengthof(values), "engram_cold_vacuum()");
	rel = engram_tam_open_for_move(relid, ShareUpdateExclusiveLock, ACL_UPDATE);
	LockRelationOid(relid, RowExclusiveLock);
	PreventCommandIfReadOnly("engram_cold_vacuum()");

	dropped = engram_tam_cold_collect_garbage(rel, relid, false);

	if (repack_below > 0)
	{
		StubRefList list = {palloc(sizeof(EngramStubRef) * 1024), 0, 1024};
		EngramStubRef *refs;
		int			nrefs;
		ItemPointer sparse;
		int			nsparse = 0;

		engram_tam_walk_visible(rel, snapshot, true, collect_stub_ref, &list);
		refs = list.refs;
		nrefs = list.count;
		qsort(refs, nrefs, sizeof(EngramStubRef), stub_ref_cmp);

		sparse = palloc(sizeof(ItemPointerData) * Max(nrefs, 1));
		if (nrefs > 0)
		{
			Oid			argtypes[1] = {OIDOID};
			Datum		args[1] = {ObjectIdGetDatum(relid)};
			HTAB	   *sizes;
			HASHCTL		hashctl;
			EngramSegmentsAccess access;

			memset(&hashctl, 0, sizeof(hashctl));
			hashctl.keysize = sizeof(int64);
			hashctl.entrysize = sizeof(int64) * 2;
			hashctl.hcxt = CurrentMemoryContext;
			sizes = hash_create("engram segment sizes", 256, &hashctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			engram_segments_spi_connect(&access);
			if (SPI_execute_with_args("SELECT segment_id, nrows FROM engram.cold_segments WHERE relid = $1",
									  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "could not read engram.cold_segments");
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;
				int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
				int64	   *entry = hash_search(sizes, &id, HASH_ENTER, NULL);

				entry[1] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
			}
			engram_segments_spi_finish(&access);

			for (int start = 0; start < nrefs;)
			{
				int			end = start;
				int64	   *entry;

				while (end < nrefs && refs[end].segment_id == refs[start].segment_id)
					end++;
				entry = hash_search(sizes, &refs[start].segment_id, HASH_FIND, NULL);
				if (entry != NULL && entry[1] > 0 &&
					(double) (end - start) / entry[1] < repack_below)
					for (int i = start; i < end; i++)
						sparse[nsparse++] = refs[i].tid;
				start = end;
			}
		}
		if (nsparse > 0 && engram_tam_cold_move_refusal(rel) == NULL)
			repacked = repack_cold_rows(rel, sparse, nsparse, snapshot);
	}

	table_close(rel, NoLock);
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int64GetDatum(dropped);
	values[1] = Int64GetDatum(repacked);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* Parse a tier name; ERROR on anything else. */
static EngramTier
parse_tier(const char *name)
{
	if (pg_strcasecmp(name, "hot") == 0)
		return ENGRAM_TIER_HOT;
	if (pg_strcasecmp(name, "warm") == 0)
		return ENGRAM_TIER_WARM;
	if (pg_strcasecmp(name, "cold") == 0)
		return ENGRAM_TIER_COLD;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown tier \"%s\"", name),
			 errhint("Valid tiers are \"hot\", \"warm\" and \"cold\".")));
	return ENGRAM_TIER_WARM;	/* keep compiler quiet */
}

/* Open an engram table for a tier operation, checking kind and privilege. */
Relation
engram_tam_open_for_move(Oid relid, LOCKMODE lockmode, AclMode required)
{
	Relation	rel = table_open(relid, lockmode);
	AclResult	aclresult;

	if (!engram_relation_is_engram(rel))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an engram table", RelationGetRelationName(rel)),
				 errhint("Create the table with USING engram.")));
	aclresult = pg_class_aclcheck(relid, GetUserId(), required);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(rel));
	return rel;
}

/*
 * Move the rows at "tids" of engram table "relid" to "tier"; returns how
 * many moved.  Checks the caller's privileges (UPDATE, or SELECT for the
 * hot tier), refuses during recovery (except hot, which then loads
 * nothing) and in read-only transactions.  "count_metrics": record the
 * moves in the tier-move metric.  Needs an active snapshot.
 */
int64
engram_tam_move_rows(Oid relid, ItemPointer tids, int ntids, EngramTier tier,
					 bool count_metrics)
{
	Relation	rel;
	int64		moved = 0;

	if (RecoveryInProgress() && tier != ENGRAM_TIER_HOT)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot move rows between tiers during recovery")));
	rel = engram_tam_open_for_move(relid, tier == ENGRAM_TIER_HOT ? AccessShareLock : RowExclusiveLock,
								   tier == ENGRAM_TIER_HOT ? ACL_SELECT : ACL_UPDATE);
	if (tier != ENGRAM_TIER_HOT)
		PreventCommandIfReadOnly("engram_move_to_tier()");

	/* Set on every call, so an error in a previous one leaves no trace. */
	count_moves_here = count_metrics;
	switch (tier)
	{
		case ENGRAM_TIER_COLD:
			moved = move_to_cold(rel, tids, ntids, GetActiveSnapshot());
			break;
		case ENGRAM_TIER_WARM:
			moved = move_to_warm(rel, tids, ntids, GetActiveSnapshot());
			break;
		case ENGRAM_TIER_HOT:
			if (RecoveryInProgress())
				moved = 0;		/* no hot tier on a standby */
			else
				moved = move_to_hot(rel, tids, ntids, GetActiveSnapshot());
			break;
		case ENGRAM_TIER_COUNT:
			elog(ERROR, "invalid tier");
			break;
	}
	count_moves_here = true;
	table_close(rel, NoLock);
	return moved;
}

/*
 * engram_move_to_tier(rel regclass, tids tid[], tier text) RETURNS bigint:
 * move the rows at "tids" (versions visible to the statement's snapshot) to
 * "tier"; returns how many moved.  Rows already in the tier, invisible or
 * concurrently changed are skipped.
 */
Datum
engram_move_to_tier(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *array = PG_GETARG_ARRAYTYPE_P(1);
	EngramTier	tier = parse_tier(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	ItemPointer tids;
	int			ntids = 0;

	if (RecoveryInProgress() && tier == ENGRAM_TIER_HOT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the hot tier is not available during recovery")));
	deconstruct_array(array, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT,
					  &elems, &nulls, &nelems);
	tids = palloc(sizeof(ItemPointerData) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
		if (!nulls[i])
			tids[ntids++] = *(ItemPointer) DatumGetPointer(elems[i]);
	PG_RETURN_INT64(engram_tam_move_rows(relid, tids, ntids, tier, true));
}
