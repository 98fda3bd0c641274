/*-------------------------------------------------------------------------
 *
 * access.c
 *	  The single integration point between recall and the per-row access
 *	  statistics and tiers that the engram table AM keeps in shared memory.
 *
 * Recall needs, per memory row (relation, TID): the time of last access
 * and the access count (for decay, the two-component curve and the recency
 * boost) and the tier the row lives in; and it records an access for each
 * memory it returns.  DESIGN section 3 forbids storing these as columns
 * updated per recall, so they come from the table AM's C API:
 *	  lookup     engram_access_lookup() (src/shmem/engram_access_stats.h):
 *	             last access = Max(recorded last access, created_at), count =
 *	             recorded count; a row never accessed (or not tracked: a
 *	             table of another access method, a standby, statistics
 *	             full) decays from created_at with 0 accesses
 *	  record     engram_access_record_at(), at engram_now(): the clock decay
 *	             and recency are computed with, so under engram.pinned_now a
 *	             memory returned by one recall is fresh in the next one
 *	             (retention 1, recency boost engram.recency_boost)
 *	  tier       engram_tam_row_tier() (src/tam/engram_tam.h): "hot" when
 *	             the hot tier caches the row, else "cold" for a row stored
 *	             in a compressed segment, "warm" otherwise
 *	  forgotten  engram_tam_move_rows(.., ENGRAM_TIER_COLD): a soft-forgotten
 *	             memory sinks to the cold tier in the forgetting transaction
 *	  reads      index fetches count as accesses in the table AM; recall's
 *	             own reads (seed candidates, spreading, output rows) must
 *	             not, or every candidate examined would look used: the SQL
 *	             entry points switch fetch tracking off around their work
 *	             (engram_recall_call_untracked) and record only what they
 *	             return.
 * No other file of src/recall/ reads or writes access state.  For a table
 * of another access method (a hand-made space need not use engram), tier is
 * "warm" and nothing is moved.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "metrics/engram_metrics.h"
#include "recall_internal.h"
#include "shmem/engram_access_stats.h"
#include "tam/engram_tam.h"

/*
 * Fill "state" with the access statistics of row "tid" of "relid".
 * "created_at" is the row's creation time, the fallback for last access.
 */
void
engram_recall_access_lookup(Oid relid, ItemPointer tid, TimestampTz created_at,
							EngramRecallAccess *state)
{
	EngramAccessInfo info;

	state->last_access = created_at;
	state->access_count = 0;
	if (!engram_access_lookup(relid, tid, &info))
		return;
	if (info.last_access != 0 && info.last_access > created_at)
		state->last_access = info.last_access;
	state->access_count = info.count;
}

/* A hint that the statistics of rows "tids" of "relid" are looked up next. */
void
engram_recall_access_prefetch(Oid relid, const ItemPointerData *tids, int ntids)
{
	engram_access_prefetch(relid, tids, ntids);
}

/* Record one access to each of the "ntids" rows of "relid", now. */
void
engram_recall_access_record(Oid relid, ItemPointer tids, int ntids)
{
	TimestampTz now = engram_now();

	for (int i = 0; i < ntids; i++)
		engram_access_record_at(relid, &tids[i], now);
}

/*
 * The tier of row "tid" of "relid" for the active snapshot: "hot", "warm"
 * or "cold" (static string).  The caller holds a lock on the table.
 */
const char *
engram_recall_row_tier(Oid relid, ItemPointer tid)
{
	Relation	rel = relation_open(relid, NoLock);
	EngramTier	tier = ENGRAM_TIER_WARM;

	if (!engram_relation_is_engram(rel) ||
		!engram_tam_row_tier(rel, tid, GetActiveSnapshot(), &tier))
		tier = ENGRAM_TIER_WARM;
	relation_close(rel, NoLock);
	switch (tier)
	{
		case ENGRAM_TIER_HOT:
			return "hot";
		case ENGRAM_TIER_COLD:
			return "cold";
		default:
			return "warm";
	}
}

/*
 * Row "tid" of "relid" was soft-forgotten by the current command (its
 * confidence is now 0): move it to the cold tier in this transaction.  The
 * new version is seen through a snapshot taken after the update.  Nothing
 * happens for a table of another access method, one whose rows may not be
 * cold while it is published (engram_tam_cold_move_refusal), or when the
 * caller may update only some columns (a move needs UPDATE on the table).
 */
void
engram_recall_access_forgotten(Oid relid, ItemPointer tid)
{
	Relation	rel = relation_open(relid, NoLock);
	bool		movable = engram_relation_is_engram(rel) && engram_tam_cold_move_refusal(rel) == NULL &&
		pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE) == ACLCHECK_OK;

	relation_close(rel, NoLock);
	if (!movable)
		return;
	CommandCounterIncrement();
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	(void) engram_tam_move_rows(relid, tid, 1, ENGRAM_TIER_COLD, true);
	PopActiveSnapshot();
}

/*
 * Call "body" with access counting by index fetches switched off, for the
 * SQL entry points' own reads; the previous setting is restored also when
 * "body" raises an error.  Returns what "body" returns.
 */
Datum
engram_recall_call_untracked(PGFunction body, FunctionCallInfo fcinfo)
{
	bool		previous = engram_access_set_fetch_tracking(false);
	Datum		result = (Datum) 0;

	PG_TRY();
	{
		result = body(fcinfo);
	}
	PG_FINALLY();
	{
		(void) engram_access_set_fetch_tracking(previous);
	}
	PG_END_TRY();
	return result;
}
