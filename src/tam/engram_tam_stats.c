/*-------------------------------------------------------------------------
 *
 * engram_tam_stats.c
 *	  SQL functions that report on tiers: engram_tier_stats_for(regclass)
 *	  (behind the engram_tier_stats view) and engram_row_tier(regclass, tid).
 *
 * engram_tier_stats_for scans the table's pages (share-locking one buffer
 * at a time) and counts the row versions visible to the statement's
 * snapshot: plain tuples are warm (bytes = tuple length on the page, TOAST
 * not included), stubs are cold.  A cold row's bytes are its share of its
 * segment's row bytes (row_bytes / nrows: the decoded rows' own size), its compressed_bytes its
 * share of the compressed size plus the stub on the page.  Hot rows are the
 * table's entries in the hot tier (a cache: they are counted in their
 * storage tier as well); hits, misses and evictions are the hot tier's
 * counters for the table since server start (NULL for warm and cold).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "engram.h"
#include "shmem/engram_hot_tier.h"
#include "tam/engram_tam.h"

PG_FUNCTION_INFO_V1(engram_tier_stats_for);
PG_FUNCTION_INFO_V1(engram_row_tier);

typedef struct EngramSegmentUse
{
	int64		segment_id;
	int64		live_rows;
} EngramSegmentUse;

Datum
engram_tier_stats_for(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Relation	rel = engram_tam_open_for_move(relid, AccessShareLock, ACL_SELECT);
	Snapshot	snapshot = GetActiveSnapshot();
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	BufferAccessStrategy strategy = GetAccessStrategy(BAS_BULKREAD);
	HASHCTL		hashctl;
	HTAB	   *segments;
	int64		warm_rows = 0;
	int64		warm_bytes = 0;
	int64		cold_rows = 0;
	int64		stub_bytes = 0;
	double		cold_raw = 0;
	double		cold_compressed = 0;
	EngramHotTierRelStats hot;
	Datum		values[7];
	bool		nulls[7];

	InitMaterializedSRF(fcinfo, 0);
	engram_require_result_columns(fcinfo, lengthof(values), "engram_tier_stats_for()");
	memset(&hashctl, 0, sizeof(hashctl));
	hashctl.keysize = sizeof(int64);
	hashctl.entrysize = sizeof(EngramSegmentUse);
	hashctl.hcxt = CurrentMemoryContext;
	segments = hash_create("engram segment use", 256, &hashctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;
			EngramColdStub stub;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = relid;
			ItemPointerSet(&tuple.t_self, blkno, off);
			if (!HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
				continue;
			if (engram_tuple_is_stub(tuple.t_data, tuple.t_len) &&
				engram_stub_payload(tuple.t_data, tuple.t_len, &stub))
			{
				bool		found;
				EngramSegmentUse *use = hash_search(segments, &stub.segment_id, HASH_ENTER, &found);

				/* dynahash sets only the key of a new entry */
				if (!found)
					use->live_rows = 0;
				cold_rows++;
				stub_bytes += tuple.t_len;
				use->live_rows++;
			}
			else
			{
				warm_rows++;
				warm_bytes += tuple.t_len;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);

	if (cold_rows > 0)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		args[1] = {ObjectIdGetDatum(relid)};
		EngramSegmentsAccess access;

		engram_segments_spi_connect(&access);
		if (SPI_execute_with_args("SELECT segment_id, nrows, row_bytes, compressed_bytes "
								  "FROM engram.cold_segments WHERE relid = $1",
								  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read engram.cold_segments");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	row = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		segment_id = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
			int32		nrows = DatumGetInt32(SPI_getbinval(row, desc, 2, &isnull));
			int32		raw = DatumGetInt32(SPI_getbinval(row, desc, 3, &isnull));
			int32		compressed = DatumGetInt32(SPI_getbinval(row, desc, 4, &isnull));
			EngramSegmentUse *use = hash_search(segments, &segment_id, HASH_FIND, NULL);

			if (use == NULL || nrows <= 0)
				continue;
			cold_raw += (double) raw * use->live_rows / nrows;
			cold_compressed += (double) compressed * use->live_rows / nrows;
		}
		engram_segments_spi_finish(&access);
	}
	engram_hot_tier_relation_stats(relid, &hot);

	/* hot */
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum("hot");
	values[1] = Int64GetDatum(hot.rows);
	values[2] = Int64GetDatum(hot.bytes);
	nulls[3] = true;
	values[4] = Int64GetDatum(hot.hits);
	values[5] = Int64GetDatum(hot.misses);
	values[6] = Int64GetDatum(hot.evictions);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

	/* warm */
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum("warm");
	values[1] = Int64GetDatum(warm_rows);
	values[2] = Int64GetDatum(warm_bytes);
	nulls[3] = nulls[4] = nulls[5] = nulls[6] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

	/* cold */
	memset(nulls, 0, sizeof(nulls));
	values[0] = CStringGetTextDatum("cold");
	values[1] = Int64GetDatum(cold_rows);
	values[2] = Int64GetDatum((int64) (cold_raw + 0.5));
	values[3] = Int64GetDatum((int64) (cold_compressed + 0.5) + stub_bytes);
	nulls[4] = nulls[5] = nulls[6] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);

	table_close(rel, AccessShareLock);
	return (Datum) 0;
}

/*
 * The tier of row "tid" of "rel" as recall reports it: ENGRAM_TIER_HOT when
 * the hot tier holds the version visible to "snapshot" (under its own TID
 * or its HOT chain's root, the key index fetches use), else
 * ENGRAM_TIER_COLD for a stub and ENGRAM_TIER_WARM for a plain tuple.
 * False when no version at "tid" is visible.  The caller holds a lock on
 * "rel"; takes a share lock on the tuple's page (then hot-tier shard locks,
 * the documented order).
 */
bool
engram_tam_row_tier(Relation rel, ItemPointer tid, Snapshot snapshot, EngramTier *tier)
{
	HeapTupleData tuple;
	Buffer		buffer;
	ItemPointerData root;

	tuple.t_self = *tid;
	if (!ItemPointerIsValid(tid) ||
		ItemPointerGetBlockNumber(tid) >= RelationGetNumberOfBlocks(rel) ||
		!heap_fetch(rel, snapshot, &tuple, &buffer, false))
		return false;
	*tier = engram_tuple_is_stub(tuple.t_data, tuple.t_len) ? ENGRAM_TIER_COLD : ENGRAM_TIER_WARM;
	if (engram_hot_tier_available())
	{
		LockBuffer(buffer, BUFFER_LOCK_SHARE);
		engram_tam_chain_root(buffer, &tuple.t_self, &root);
		if (engram_hot_tier_has(rel, &root) ||
			(!ItemPointerEquals(&root, &tuple.t_self) && engram_hot_tier_has(rel, &tuple.t_self)))
			*tier = ENGRAM_TIER_HOT;
		LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	}
	ReleaseBuffer(buffer);
	return true;
}

/*
 * engram_row_tier(regclass, tid) RETURNS text: 'warm' or 'cold' for the
 * version at tid visible to the statement's snapshot, NULL when none.
 */
Datum
engram_row_tier(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ItemPointer tid = (ItemPointer) PG_GETARG_POINTER(1);
	Relation	rel = engram_tam_open_for_move(relid, AccessShareLock, ACL_SELECT);
	HeapTupleData tuple;
	Buffer		buffer;
	const char *tier = NULL;

	tuple.t_self = *tid;
	if (ItemPointerIsValid(tid) &&
		ItemPointerGetBlockNumber(tid) < RelationGetNumberOfBlocks(rel) &&
		heap_fetch(rel, GetActiveSnapshot(), &tuple, &buffer, false))
	{
		tier = engram_tuple_is_stub(tuple.t_data, tuple.t_len) ? "cold" : "warm";
		ReleaseBuffer(buffer);
	}
	table_close(rel, AccessShareLock);
	if (tier == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(tier));
}
