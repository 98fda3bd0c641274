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
 * updated per recall, so they come from the table AM's shared-memory
 * statistics.
 *
 * That C API (src/shmem/engram_access_stats.h: engram_access_lookup(),
 * engram_access_record(), and engram_row_tier() / engram_move_to_tier()
 * of the table AM) has not landed on main yet.  The functions here carry
 * an engram_recall_ prefix so they never collide with it.  Until it lands:
 *	  - engram_recall_access_lookup() derives "last access" from the row's
 *	    created_at and reports 0 accesses;
 *	  - engram_recall_access_record() records nothing;
 *	  - engram_recall_row_tier() reports "warm" (every row is in ordinary
 *	    heap or engram-AM pages);
 *	  - engram_recall_access_forgotten() (soft forget) does not move the
 *	    row to the cold tier.
 * Wiring the table AM in means replacing the four bodies below; no other
 * file of src/recall/ reads or writes access state.  Checked against the
 * table AM branch (not merged when this was written), lookup and record
 * become:
 *	  lookup:  if engram_access_lookup(relid, tid, &info): last_access =
 *	           Max(info.last_access, created_at), access_count = info.count
 *	  record:  engram_access_record(relid, &tids[i]) for each row
 * (with them a memory returned by one recall is fresh, retention 1 and
 * recency boost 1.2, in the next).  The tier and the move to cold need C
 * entry points the table AM exposes only through SQL so far
 * (engram_row_tier, engram_hot_tier_contains, engram_move_to_tier).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "recall_internal.h"

/*
 * Fill "state" with the access statistics of row "tid" of "relid".
 * "created_at" is the row's creation time, the fallback for last access.
 */
void
engram_recall_access_lookup(Oid relid, ItemPointer tid, TimestampTz created_at,
							EngramRecallAccess *state)
{
	state->last_access = created_at;
	state->access_count = 0;
}

/* Record one access to each of the "ntids" rows of "relid". */
void
engram_recall_access_record(Oid relid, ItemPointer tids, int ntids)
{
}

/* The tier of row "tid" of "relid": "hot", "warm" or "cold" (static string). */
const char *
engram_recall_row_tier(Oid relid, ItemPointer tid)
{
	return "warm";
}

/*
 * Row "tid" of "relid" was soft-forgotten (its confidence is now 0): the
 * place to send it to the cold tier.
 */
void
engram_recall_access_forgotten(Oid relid, ItemPointer tid)
{
}
