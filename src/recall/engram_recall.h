/*-------------------------------------------------------------------------
 *
 * engram_recall.h
 *	  What other subsystems may call in the cognitive layer (src/recall/):
 *	  a memory's effective confidence exactly as recall computes it, the
 *	  tier recall reports for a row, and pins of pages through the buffers
 *	  that held them last (recent_buffers.c; engram_hnsw's scan reads the
 *	  heap rows of compact pending entries with them).
 *
 * The background worker's soft forgetting uses these so that a memory sinks
 * to the cold tier exactly when recall would rank it with an effective
 * confidence under engram.min_confidence_threshold: one formula, in
 * src/recall/decay.c, never a second copy.  Everything else of the layer
 * is private (recall_internal.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_RECALL_H
#define ENGRAM_RECALL_H

#include "postgres.h"

#include "storage/block.h"
#include "storage/buf.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

/* The forgetting curve of a space created without one (engram_create_space). */
#define ENGRAM_RECALL_DEFAULT_DECAY		"power_law"

/*
 * Effective confidence of row "tid" of memory table "relid" at "now":
 * stored confidence (clamped to [0,1]) x retention under the row's curve
 * "decay_function" (NULL or not a curve name: "default_decay", the space's
 * default, which may be 'none'; NULL: ENGRAM_RECALL_DEFAULT_DECAY) after
 * the time since its last access by the access statistics ("created_at"
 * when it has none), with the current engram.decay_* settings.  Reads the
 * shared-memory access statistics only; records nothing.
 */
extern double engram_recall_effective_confidence(Oid relid, ItemPointer tid,
												 double stored_confidence,
												 TimestampTz created_at,
												 const char *decay_function,
												 const char *default_decay,
												 TimestampTz now);

/*
 * The tier of row "tid" of "relid" for the active snapshot: "hot", "warm"
 * or "cold" (static string; "warm" for a table of another access method).
 * The caller holds a lock on the table.
 */
extern const char *engram_recall_row_tier(Oid relid, ItemPointer tid);

/*
 * A pin of block "block" of "rel" (main fork), no lock taken: from the
 * buffer that held that block when this backend last pinned it, if it
 * still does, else through ReadBuffer().  The caller releases it.
 */
extern Buffer engram_recall_read_buffer(Relation rel, BlockNumber block);

/*
 * Start loading, without pinning anything, the buffer header and the page
 * header of the buffer that last held "block" of "rel", and the line at
 * "offset" of that page (0: none): a hint before pinning a batch of pages,
 * so that their first-touch misses overlap.  A buffer since reused for
 * another page costs a useless prefetch.
 */
extern void engram_recall_prefetch_page(Relation rel, BlockNumber block, Size offset);

/*
 * The page of the buffer that last held "block" of "rel", neither pinned
 * nor locked (NULL: none): its contents may change, or become another
 * block's, at any moment, so only hints (prefetch addresses kept inside
 * the page) may be derived from them.
 */
extern const char *engram_recall_remembered_page(Relation rel, BlockNumber block);

#endif							/* ENGRAM_RECALL_H */
