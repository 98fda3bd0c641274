/*-------------------------------------------------------------------------
 *
 * engram_tam_logical.c
 *	  Logical decoding and replication of engram tables with cold rows: the
 *	  filter that keeps tier moves out of logical decoding, and the checks
 *	  that refuse what would still publish wrong rows.
 *
 * What logical decoding sees (see "Logical decoding" in engram_tam.h):
 *	- a move to cold, or a repack, is a heap UPDATE whose new tuple is a
 *	  stub.  Heap's decode callback would queue it as an UPDATE to a row
 *	  that is NULL except for its key.  Our filter, installed in place of
 *	  heap's rm_decode in RmgrTable when the library is preloaded, drops
 *	  exactly those records (new tuple flagged ENGRAM_STUB_INFOMASK2 and
 *	  ending in the stub magic) and hands every other heap record to heap's
 *	  own callback.  The filter runs only in logical decoding (walsenders
 *	  and the SQL slot functions), never in redo: crash recovery and
 *	  streaming replicas replay the same heap records as before and need
 *	  nothing of ours.
 *	- a move to warm is a heap UPDATE whose new tuple is the whole row, with
 *	  the same key: it is decoded and published as an UPDATE that sets every
 *	  column to the value the subscriber already has (a no-op there).  It is
 *	  left alone because it may insert TOAST values, which decoding
 *	  reassembles for the UPDATE that follows them.
 *	- an UPDATE or DELETE of a cold row logs the old key from the stub,
 *	  which keeps the replica identity key (engram_form_stub): correct.
 *	  With REPLICA IDENTITY FULL the old tuple would be the stub itself, so
 *	  such a table may not have cold rows while published.
 *
 * Refusals (engram_tam_cold_move_refusal): a table published for inserts,
 * updates or deletes may have cold rows only when the filter runs in every
 * decoding process (library preloaded) and its replica identity is not
 * FULL.  CREATE / ALTER PUBLICATION and ALTER TABLE of a published table
 * with cold rows check the same, plus that every stub holds the current
 * replica identity key (stubs written before the key was kept, or before
 * the identity changed, do not).
 *
 * The segment store: a publication FOR ALL TABLES (or FOR TABLES IN SCHEMA
 * engram) includes engram.cold_segments.  Segment rows are inserted out of
 * logical decoding (engram_tam_cold.c), and a subscriber's replication
 * workers skip whatever still arrives for its own store (the initial copy,
 * deletes of segments): engram_ignore_replicated_segments.
 *
 * Locking: the checks take AccessShareLock on the tables they look at and a
 * share lock on one heap buffer at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/heapam_xlog.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog_internal.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/logicalworker.h"
#include "replication/reorderbuffer.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"

#include "tam/engram_tam.h"

PG_FUNCTION_INFO_V1(engram_refuse_publishing_cold_rows);
PG_FUNCTION_INFO_V1(engram_check_cold_rows_publishable);
PG_FUNCTION_INFO_V1(engram_ignore_replicated_segments);

/* Heap's decode callback, called for every record the filter keeps. */
static void (*heap_decode_next) (LogicalDecodingContext *ctx, XLogRecordBuffer *buf) = NULL;

/* True in processes forked from a postmaster that preloaded the library. */
static bool decode_filter_preloaded = false;

/*
 * True when "record" (a heap UPDATE or HOT_UPDATE) writes a stub: its new
 * tuple is flagged and ends in the stub magic.  Only records that carry
 * the whole new tuple (always so for a logically logged table) qualify.
 */
static bool
update_writes_stub(XLogReaderState *record)
{
	xl_heap_update *xlrec;
	xl_heap_header header;
	EngramColdStub stub;
	char	   *data;
	Size		len;

	if (XLogRecGetDataLen(record) < SizeOfHeapUpdate)
		return false;
	xlrec = (xl_heap_update *) XLogRecGetData(record);
	if (!(xlrec->flags & XLH_UPDATE_CONTAINS_NEW_TUPLE) ||
		(xlrec->flags & (XLH_UPDATE_PREFIX_FROM_OLD | XLH_UPDATE_SUFFIX_FROM_OLD)))
		return false;
	data = XLogRecGetBlockData(record, 0, &len);
	if (data == NULL || len < SizeOfHeapHeader + sizeof(EngramColdStub))
		return false;
	memcpy(&header, data, SizeOfHeapHeader);
	if (!(header.t_infomask2 & ENGRAM_STUB_INFOMASK2))
		return false;
	memcpy(&stub, data + len - sizeof(EngramColdStub), sizeof(EngramColdStub));
	return stub.magic == ENGRAM_STUB_MAGIC;
}

/*
 * Heap's rm_decode with tier moves to cold left out: such a record only
 * registers its transaction (as heap's callback does first for every
 * record), so that the transaction's other changes decode as usual.
 */
static void
engram_heap_decode(LogicalDecodingContext *ctx, XLogRecordBuffer *buf)
{
	uint8		info = XLogRecGetInfo(buf->record) & XLOG_HEAP_OPMASK;

	if ((info == XLOG_HEAP_UPDATE || info == XLOG_HEAP_HOT_UPDATE) &&
		update_writes_stub(buf->record))
	{
		ReorderBufferProcessXid(ctx->reorder, XLogRecGetXid(buf->record), buf->origptr);
		return;
	}
	heap_decode_next(ctx, buf);
}

/*
 * Install the filter (from _PG_init).  Preloaded by the postmaster, the
 * library gives it to every process, decoding ones included; loaded later
 * by one backend, only to that backend.
 */
void
engram_tam_logical_init(void)
{
	if (heap_decode_next == NULL)
	{
		heap_decode_next = RmgrTable[RM_HEAP_ID].rm_decode;
		RmgrTable[RM_HEAP_ID].rm_decode = engram_heap_decode;
	}
	decode_filter_preloaded = process_shared_preload_libraries_in_progress;
}

/* True when "rel" is in a publication of inserts, updates or deletes. */
static bool
relation_is_published(Relation rel, bool *keys_published)
{
	PublicationDesc pubdesc;

	RelationBuildPublicationDesc(rel, &pubdesc);
	if (keys_published)
		*keys_published = pubdesc.pubactions.pubupdate || pubdesc.pubactions.pubdelete;
	return pubdesc.pubactions.pubupdate || pubdesc.pubactions.pubinsert ||
		pubdesc.pubactions.pubdelete;
}

/*
 * The attributes a stub of "rel" keeps: its replica identity key and its
 * primary key (offset by FirstLowInvalidHeapAttributeNumber).  palloc'd.
 */
Bitmapset *
engram_tam_stub_key_attrs(Relation rel)
{
	return bms_union(RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY),
					 RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY));
}

/*
 * NULL when rows of "rel" may be cold as far as logical replication goes;
 * otherwise why not (an errdetail sentence).  "rel" is an engram table.
 */
const char *
engram_tam_cold_move_refusal(Relation rel)
{
	bool		keys_published;

	if (!relation_is_published(rel, &keys_published))
		return NULL;
	if (!decode_filter_preloaded)
		return "The table is published, and logical decoding leaves tier moves out only when engram is in shared_preload_libraries.";
	if (keys_published && rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		return "The table is published with REPLICA IDENTITY FULL: the old row of an update or delete of a cold row would be published without its values.";
	return NULL;
}

/*
 * True when a stub of "rel" visible to "snapshot" lacks a value of the
 * replica identity key "key_attrs" (written before stubs kept the key, or
 * before the identity changed).  Reads every page.
 */
static bool
has_stub_without_key(Relation rel, Bitmapset *key_attrs, Snapshot snapshot)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	BlockNumber nblocks = RelationGetNumberOfBlocks(rel);
	bool		found = false;

	for (BlockNumber blkno = 0; blkno < nblocks && !found; blkno++)
	{
		Buffer		buf = ReadBuffer(rel, blkno);
		Page		page;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff && !found; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;
			int			attidx = -1;

			if (!ItemIdIsNormal(lp))
				continue;
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blkno, off);
			if (!engram_tuple_is_stub(tuple.t_data, tuple.t_len) ||
				!HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
				continue;
			while ((attidx = bms_next_member(key_attrs, attidx)) >= 0)
			{
				bool		isnull;

				(void) heap_getattr(&tuple, attidx + FirstLowInvalidHeapAttributeNumber,
									tupdesc, &isnull);
				if (isnull)
					found = true;
			}
		}
		UnlockReleaseBuffer(buf);
	}
	return found;
}

/*
 * ERROR when engram table "relid", which has cold segments, is published
 * in a way that would publish wrong rows.  Nothing for other tables.
 */
static void
check_cold_rows_publishable(Oid relid)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	const char *refusal = NULL;
	bool		keys_published;

	if (rel == NULL)
		return;
	if (engram_relation_is_engram(rel) && relation_is_published(rel, &keys_published))
	{
		refusal = engram_tam_cold_move_refusal(rel);
		if (refusal == NULL && keys_published)
		{
			Bitmapset  *key_attrs = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);

			if (!bms_is_empty(key_attrs) &&
				has_stub_without_key(rel, key_attrs, GetTransactionSnapshot()))
				refusal = "Some of its cold rows were moved before they kept their replica identity key in the table, or before the replica identity changed.";
		}
		if (refusal != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot publish \"%s\": it has rows in the cold tier",
							RelationGetRelationName(rel)),
					 errdetail_internal("%s", refusal),
					 errhint("Move its cold rows to the warm tier with engram_move_to_tier() first; see \"Logical replication\" in the engram table access method's documentation.")));
	}
	relation_close(rel, AccessShareLock);
}

/*
 * Event trigger at the end of CREATE / ALTER PUBLICATION: check every
 * engram table that has cold segments (check_cold_rows_publishable).
 */
Datum
engram_refuse_publishing_cold_rows(PG_FUNCTION_ARGS)
{
	EngramSegmentsAccess access;
	Oid		   *relids;
	int64		nrelids;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "engram_refuse_publishing_cold_rows: not called by the event trigger manager");
	if (!OidIsValid(engram_cold_segments_relid(true)))
		PG_RETURN_VOID();

	engram_segments_spi_connect(&access);
	if (SPI_execute("SELECT DISTINCT relid FROM engram.cold_segments", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tables of cold segments");
	nrelids = SPI_processed;
	relids = palloc(sizeof(Oid) * Max(nrelids, 1));
	for (int64 i = 0; i < nrelids; i++)
	{
		bool		isnull;

		relids[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));
	}
	engram_segments_spi_finish(&access);

	for (int64 i = 0; i < nrelids; i++)
		check_cold_rows_publishable(relids[i]);
	PG_RETURN_VOID();
}

/*
 * engram.check_cold_rows_publishable(rel oid): the same check for one
 * table, called at the end of an ALTER TABLE of an engram table that has
 * cold segments (its replica identity may have changed).
 */
Datum
engram_check_cold_rows_publishable(PG_FUNCTION_ARGS)
{
	check_cold_rows_publishable(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

/*
 * Trigger function of engram.cold_segments (BEFORE INSERT, UPDATE or
 * DELETE, FOR EACH ROW, enabled for replica sessions only): a logical
 * replication worker (apply or initial table copy) skips the change; any
 * other session goes on.  A publication FOR ALL TABLES or FOR TABLES IN
 * SCHEMA engram publishes the segment store too, but a subscriber's store
 * holds the subscriber's own segments, named by its own stubs under its
 * own segment ids: the publisher's segments must never land there (cold
 * rows reach a subscriber decoded, as ordinary row changes).
 */
Datum
engram_ignore_replicated_segments(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "engram_ignore_replicated_segments: not called as a BEFORE ROW trigger");
	if (IsLogicalWorker())
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(trigdata->tg_trigtuple);
}
