/*-------------------------------------------------------------------------
 *
 * hnsw.h
 *	  Private header of the engram_hnsw index access method: on-disk
 *	  layout, locking contract, WAL approach and the prototypes shared by
 *	  the files of src/hnsw/.
 *
 * Files, one per callback group:
 *	  hnsw.c          handler, reloptions, engram.ef_search, cost estimate
 *	  hnswbuild.c     ambuild / ambuildempty: serial and parallel build
 *	                  (parallel context, worker entry point, spill)
 *	  hnswbuildgraph.c the in-memory build graph (arena in backend or
 *	                  dynamic shared memory, concurrent insertion) and
 *	                  the page writer; hnswbuild.h states its layout and
 *	                  locks
 *	  hnswinsert.c    aminsert and the on-disk insertion algorithm
 *	  hnswscan.c      ambeginscan / amrescan / amgettuple / amendscan,
 *	                  with the iterative scan for filtered queries
 *	  hnswvacuum.c    ambulkdelete / amvacuumcleanup, in named phases
 *	                  (mark, repair, free; reconnect unreachable elements)
 *	  hnswutils.c     pages, element tuples, distances, heaps, visited set,
 *	                  the layer search and the neighbour selection
 *	                  heuristic shared by build, insert, scan and vacuum
 *	  hnswquant.c     the compact representation (quantization = 'int8'):
 *	                  encoding, decoding, query codes, estimated distances
 *	                  and the lower bounds used for exact re-ranking
 *	  hnswvalidate.c  amvalidate (operator class checks)
 *	  hnswverify.c    engram_hnsw_verify(regclass): structural check;
 *	                  engram_hnsw_index_tids(regclass): heap TIDs held
 *	  hnswretarget.c  tier moves: the new TID of a moved row attached to
 *	                  the element of its old TID (MOVED ROWS below), and
 *	                  what vacuum does with an element's two TIDs
 *	  hnswpending.c   the pending list of deferred inserts (reloption
 *	                  deferred_insert): append, read by scans, merge
 *	                  into the graph, verify (see PENDING LIST below)
 *
 * ON-DISK LAYOUT
 *
 * Block 0 is the metapage (EngramHnswMetaPageData right after the page
 * header, pd_lower set past it so that generic WAL logs it).  Every other
 * block is an element page holding element tuples as ordinary line-pointer
 * items.  Every page, the metapage included, ends in an
 * EngramHnswPageOpaqueData special space carrying ENGRAM_HNSW_PAGE_ID and
 * the page type; readers check both before trusting a page.
 *
 * An element tuple is one graph node and holds everything a search needs
 * from it, so that visiting a node costs one buffer access:
 *
 *	  EngramHnswElementTupleData header   (flags, level, slot_level, heap TID,
 *	                                       second heap TID)
 *	  vector                              (cosine: stored normalised)
 *	  ItemPointerData slots[2m + slot_level * m]
 *
 * The vector is float4[dimensions] in an index with quantization = 'none'
 * (the default), and an EngramHnswInt8Vector (scale, reconstruction error
 * bound, sum of squared codes, int8 codes[dimensions], padded to 4 bytes)
 * with quantization = 'int8'; the element's ENGRAM_HNSW_ELEMENT_INT8 flag
 * says which, so that the slots can be found from the tuple alone (see
 * COMPACT REPRESENTATION below).  The metapage records the index's
 * quantization; every element of an index has the same format.
 *
 * Slots of layer 0 come first (2m of them), then m slots for each layer
 * 1..slot_level.  A layer's list is packed from its first slot; the first
 * invalid item pointer ends it.  A neighbour is referenced by the
 * (block, offset) of its element tuple.  Tuple size depends only on
 * (dimensions, m, slot_level), so neighbour lists are updated in place and
 * never move an element.  slot_level >= level: a slot freed by vacuum may
 * be reused by an element of a lower level (the unused upper slots stay
 * invalid).  The element level is capped so that the tuple fits a page
 * (engram_hnsw_max_level); a vector too large for level 0 is an error.
 *
 * An element indexes one heap TID, or two while a moved row's old and new
 * versions both exist (MOVED ROWS below); duplicates of a vector are
 * separate elements.  An element whose heap tuples are dead is first marked
 * ENGRAM_HNSW_ELEMENT_DELETED by vacuum (it stays navigable but is never
 * returned by a scan nor chosen as a neighbour), then, once no neighbour
 * list refers to it any more, its line pointer is freed
 * (PageIndexTupleDeleteNoCompact) so that later inserts reuse the space.
 * A reader that follows a reference to an unused or out-of-range line
 * pointer (a reference it read before vacuum repaired the list) skips it;
 * one that lands on a reused slot just sees another valid element.
 *
 * The metapage records the entry point (highest-level live element), its
 * level (-1: the graph is empty), the dimensions (0 until the first vector
 * when the column has no declared dimensions), m, ef_construction, the
 * metric, the quantization (0, none, in indexes built before it existed),
 * and insert_blkno, the first block worth trying for a new element that
 * finds no room near its neighbours (vacuum lowers it to the first block
 * where it freed space).
 *
 * A build writes the elements breadth first over layer 0 from the entry
 * point (hnswbuildgraph.c, page_order), so that a page holds elements of
 * one neighbourhood and a search meets far fewer distinct pages than
 * elements.  An insert puts its element on the page of one of the nearest
 * elements its search found when that page has room, else on a "seed
 * page" that keeps room for the neighbours that follow (hnswinsert.c,
 * PLACEMENT), so that an index grown row by row gets pages of one
 * neighbourhood too.  Nothing depends on either order: placement only
 * decides where an element goes, never what it links to.
 *
 * LINK STATES ON DISK (metapage version 4)
 *
 * Where it costs no room, an element also keeps, after its slots, the
 * exact internal distance of each link (float, at the slot's index) and
 * the outcome of the selection heuristic that last examined the link
 * (uint8: ENGRAM_HNSW_LINK_KEPT, _PRUNED or _UNKNOWN), as the build's
 * arena does (hnswbuild.h, LINK STATES), and carries the flag
 * ENGRAM_HNSW_ELEMENT_LINK_STATES:
 *
 *	  ... vector, ItemPointerData slots[T] (padded to 4 bytes),
 *	  float distances[T], uint8 states[T]          T = 2m + slot_level * m
 *
 * An index keeps them when its metapage is of version 4 and a level-0
 * element with them takes as many elements per page as one without
 * (engram_hnsw_link_states_fit: float elements of 384, 512, 768 or 1,024
 * dimensions at m = 16, not 128 or 256; never int8 elements, whose search
 * distances are estimates), so the
 * index is not larger; then every element of the index has them.  Pruning
 * a full list on insert (hnswinsert.c, PRUNING FROM KEPT OUTCOMES) then
 * reads no distance from the list's element to its neighbours and tests
 * again only the pairs whose outcome can have changed: a pruning reads a
 * few neighbours' vectors instead of all of them.  Every writer of a list
 * writes its distances and states with it, under the same exclusive lock
 * and in the same WAL record (the insert's appends and prunings, vacuum's
 * repairs, which reset the states to UNKNOWN, the build's page writer).
 * Searches read the slots only.  Indexes of version 3 are read and
 * written as before (no link states) until a REINDEX; a library of
 * version 3 refuses an index of version 4.  Every reader and writer
 * decides from the metapage (engram_hnsw_meta_link_states) and the build
 * from the version it writes, engram.hnsw_build_version (default 4; 3
 * writes the earlier layout, which tests/t/032_hnsw_version3.pl uses to
 * run a version 3 index under this library).
 *
 * MOVED ROWS (hnswretarget.c)
 *
 * A tier move writes a new version of a row whose indexed values do not
 * change, so the executor inserts it into every index under a new TID.
 * While the table AM inserts those index entries it names the TID the
 * new version replaces (engram_index_move_source_set, src/engram.h).
 * Seeing that, aminsert looks for the element holding the old TID (a
 * small-ef search for the row's own vector, matched by TID, vector bytes
 * compared) and writes the new TID into that element's second heap-TID
 * slot (alias_tid): one 6-byte change of one page, WAL-logged as a
 * one-fragment generic record; no search at ef_construction and no
 * neighbour-list change.  A second move before VACUUM finds the old TID in
 * either slot and writes the new TID over the other one when no snapshot
 * can see that TID's tuple any more (an aborted insert, or a dead line
 * pointer after heap pruning, which the move triggers on that page;
 * hnswretarget.c).  When the element is not found or that slot cannot be
 * reused, the row is inserted as usual.  Scans return both TIDs of an
 * element, at the same distance;
 * heap visibility hides the version the snapshot does not see.  VACUUM
 * (phase 1) asks about both TIDs: it clears a dead second TID, moves the
 * second TID into the first when the first is dead, and marks the
 * element deleted only when both are.  The move is an ordinary heap update
 * in the caller's transaction: an abort leaves the old TID indexed and a
 * second TID pointing to an aborted tuple, which vacuum clears before the
 * heap can reuse its line pointer.  Metapage version 3 introduced the
 * second slot (elements of versions 1 and 2 had 2 bytes of padding there,
 * and a 12-byte header): indexes of earlier versions must be REINDEXed.
 *
 * COMPACT REPRESENTATION (quantization = 'int8')
 *
 * Each vector x (after cosine normalisation) is stored as codes
 * c_i = round(x_i / s), s = max|x_i| / 127 (a symmetric scale per vector:
 * no per-index ranges, so inserts after the build need nothing but the
 * vector itself), together with e = ||x - s c|| rounded up to a float
 * (the reconstruction error) and sum c_i^2.  A 128-dimension element
 * shrinks from 720 to 348 bytes at m = 16, so about twice as many fit a
 * page.
 *
 * Searches (scan, insert, vacuum) encode the query once at the start of a
 * search (EngramHnswGraph.prepare_query) the same way, plus a second
 * code array for what the first leaves out (EngramHnswInt8Query), and
 * estimate every distance from the codes with two calls of the SIMD int8
 * inner-product kernel, exact in integers, rescaled in double.  The
 * query's error e_q is then about 1/250 of an element's e_x, which
 * matters for the bounds below (measured on 100,000 x 128: rows a LIMIT 10
 * scan hands to the executor went from about 20 to about 15).  Where a
 * search needs a candidate's vector (the neighbour selection heuristic,
 * neighbour-list pruning) it gets the decoded vector s c.  The in-memory build keeps
 * full-precision vectors and distances (the graph is the same as the
 * float index's); only the vectors written to pages are encoded.
 *
 * Exact re-ranking goes through the executor's reorder queue
 * (IndexNextWithReorder): the scan returns its candidates sorted by a
 * LOWER BOUND of the true ORDER BY value, with xs_recheckorderby set; the
 * executor recomputes each row's distance from the heap tuple and returns
 * rows in exact order once the index's bound passes them.  With q-hat and
 * x-hat the decoded query and element and e_q, e_x their errors:
 *	  L2:      ||q - x||  >= ||q-hat - x-hat|| - e_q - e_x
 *	  IP:      -q.x       >= -q-hat.x-hat - ||q|| e_x - e_q ||x-hat||
 *	  cosine:  1 - q.x    >= 1 - q-hat.x-hat - e_x - e_q ||x-hat||
 * each then lowered by a margin for the float rounding of the exact
 * operator, (dimensions + 16) * 2^-22 relative to the magnitudes involved,
 * since the executor raises an ERROR when an index value exceeds the
 * recomputed one.  The bound is loose by about e_q + e_x, so a LIMIT k
 * scan returns rows beyond k to the executor (about 15 for k = 10 on
 * 100,000 x 128: five more heap fetches and distances per query).
 *
 * PENDING LIST (deferred_insert = on)
 *
 * An index with deferred_insert = on does not insert a new row into the
 * graph: aminsert appends an EngramHnswPendingEntryData (heap TID, the
 * prepared float4 vector whatever the quantization, or no vector in a
 * compact entry: COMPACT ENTRIES below) to the tail of a
 * singly linked list of pending pages (page type ENGRAM_HNSW_PAGE_PENDING,
 * special space EngramHnswPendingPageOpaqueData: the page type and id of
 * every page plus the next block, in the same 8 bytes).  The metapage
 * (version 2) records pending_head, pending_tail, pending_count and
 * pending_pages.  Scans read the whole list first, compute every entry's
 * distance and merge those entries into the graph's result stream by
 * distance.  A merge moves entries into the graph, head page first, and
 * then deletes them from their page; an emptied page is unlinked and
 * becomes an empty element page that later graph inserts fill.  A heap
 * TID may briefly be both in the graph and in the list (between a merge's
 * graph insert and the deletion, or after a crash between them): scans
 * return each heap TID once, and a merge skips an entry whose own graph
 * search meets an element of the same heap TID.  (Version 1 metapages,
 * before the pending list, were read as "list empty" and upgraded in place
 * by the first append; since version 3 changed the element layout, only
 * versions 3 and 4 are read.)
 *
 * COMPACT ENTRIES (hnswpending.c)
 *
 * An entry whose row already holds the vector in the heap page need not
 * repeat it: a compact entry (ENGRAM_HNSW_PENDING_COMPACT, 8 bytes: heap
 * TID and flags; ENGRAM_HNSW_PENDING_MAX_ENTRIES, 408, a page) makes
 * scans, merges and verify read the vector from the
 * row and prepare it as aminsert does (engram_hnsw_prepare_vector: cosine
 * normalises; an int8 index keeps exact pending vectors either way).
 * aminsert writes one only when it checked, on the heap page, that:
 *	  - the index key is a plain column (no expression) of a heap or
 *	    engram-AM table (whose warm rows are heap tuples; a cold stub holds
 *	    NULL there and gets a full entry, so do TOASTed or compressed
 *	    values: the entry is made only for an uncompressed inline value);
 *	  - the line pointer at the TID is a normal tuple, not a heap-only one
 *	    and not HOT-updated (a fresh row; not the root of an older chain,
 *	    which CREATE INDEX CONCURRENTLY's validation indexes with a later
 *	    member's value), and its stored value is byte for byte the value
 *	    being indexed.
 * A later HOT update of that row keeps the indexed column's bytes (heap
 * decides HOT on them, and the index exists by then), so every member of
 * the row's HOT chain holds the entry's vector: a reader takes the tuple
 * at the TID, or the one its redirect names (possibly stored differently
 * then: compressed or TOASTed values are detoasted).  A line pointer
 * without storage (dead, unused, beyond the page or the table), a
 * heap-only tuple at the root TID, a NULL value or one of other dimensions
 * means the row the entry was made for is gone: the entry is skipped
 * (scans do not return it, a merge drops it).  The TID cannot hold another
 * row meanwhile: heap reuses a line pointer only in VACUUM's second heap
 * pass, after every index's bulk delete, and ours removes every pending
 * entry of a dead TID (waiting for a running merge first, so no merge
 * still holds a copied TID); a scan that copied a TID before such a VACUUM
 * and reads a newer row there returns a TID that its MVCC snapshot does
 * not see (neither the dead row nor one inserted after the scan began), so
 * the executor drops it.  Crash recovery and standbys read compact entries
 * alike: the heap record of a row precedes its index records in WAL.
 * Readers read heap pages with one share lock at a time, never while
 * holding a lock of the index.  A scan keeps a page's lock across the
 * consecutive entries on it, computes distances on the page (the prepared
 * vector is the stored one but under cosine, normalised from the page
 * into a buffer: the same distances bit for bit), pins pages through the
 * buffers that held them last and prefetches the rows a few entries
 * ahead: about a full entry's cost.  Full entries (flags 0) stay readable and
 * are still written where a compact one is not allowed, so no version
 * change: an index may hold both.  (A library before compact entries
 * would misread them: run engram_hnsw_flush_pending() before going back
 * to one.)
 *
 * pending_list_limit bounds the work of a scan, which still reads every
 * entry's vector: the list counts as the larger of its pages and the
 * pages its entries would take as full entries (so a compact list of N
 * entries triggers merges where a full one of N entries did).
 *
 * LOCKING
 *
 * Buffer content locks: a backend holds at most ONE buffer lock of this
 * index at a time (the metapage included).  Every multi-page change is a
 * sequence of single-page changes, each consistent on its own; optimistic
 * read-compute-lock-recheck replaces lock coupling (see
 * engram_hnsw_update_neighbour_list).  Relation extension takes the
 * relation extension lock, locks the new buffer, then releases the
 * extension lock; no other buffer lock is held at that moment (but by an
 * append to the pending list, below).  The new block is visible to other
 * backends before that buffer lock, and an insert looking for room takes
 * an all-zero page: engram_hnsw_new_buffer() hands out only a block that
 * is still all zeros under its lock, adding another one when an insert
 * took the first.
 *
 * The heavyweight "update lock" (LockPage on pseudo-block
 * ENGRAM_HNSW_UPDATE_LOCK, never a buffer lock) orders inserts against
 * vacuum: every insert holds it in ShareLock for its whole duration, or in
 * ExclusiveLock when it will change the entry point (empty graph, or a new
 * element above the current top level).  Vacuum takes it in ExclusiveLock
 * once, right after marking deleted elements (phase 1), and releases it at
 * once: a barrier guaranteeing that every insert that may have seen a
 * just-deleted element as live has finished before vacuum repairs the
 * neighbour lists (phase 2) and frees the elements (phase 3); inserts that
 * start later see the deleted flag and never link to those elements.
 * Scans take no heavyweight lock.
 *
 * Lock order: update lock, then buffer locks (one at a time).
 *
 * Pins are not locks and may be held several at a time: a disk search pins
 * the pages of the neighbours it is about to visit ahead of their visits,
 * and a search or an insert keeps the pins of the pages it visited, so
 * that a page met again needs no buffer lookup (hnswutils.c, DISK GRAPH
 * PREFETCH and KEPT PINS).  Both are bounded by the backend's share of
 * shared_buffers.  A page not pinned is pinned again through the buffer
 * that last held it in this backend when that buffer still holds it
 * (ReadRecentBuffer; RECENT BUFFERS in hnswutils.c: a per-backend table
 * in the index's rd_amcache), else through ReadBuffer.  Nothing ever waits for a pin of an index page (no
 * cleanup lock is taken on one), so pins held while waiting for a lock
 * (an insert's kept pins across the relation extension lock) cannot take
 * part in a deadlock.
 *
 * The pending list is the one exception to "one buffer lock at a time":
 * an append locks the metapage exclusively, then the tail page (and a new
 * page from relation extension), and logs them in one generic WAL record;
 * a merge's deletion locks the metapage, then the head page.  Nothing that
 * holds a pending page's lock or the metapage's lock waits for any other
 * buffer lock of the index, so this cannot deadlock.  Merges are
 * serialised by the heavyweight "merge lock", a tuple lock (LockTuple) on
 * the pseudo item pointer ENGRAM_HNSW_PENDING_MERGE_LOCK of the index: a
 * merge takes the update lock for each graph insert while holding it, and
 * PostgreSQL forbids acquiring any heavyweight lock but relation extension
 * while holding a page lock (LockPage), so the merge lock is not one.  Scans read pending pages under share locks,
 * one at a time, and start again from the metapage's head when the page
 * they reach is no longer a pending page (a merge unlinked it after moving
 * its entries into the graph, which the scan searches afterwards).
 *
 * WAL
 *
 * Generic WAL records (resource manager RM_GENERIC_ID) for every change
 * after the build: no redo code of ours, so crash recovery and streaming
 * standbys replay the index without the engram library loaded.  A custom
 * resource manager would make every standby and every crash recovery
 * depend on the library being preloaded.
 *
 * Most changes go through the generic WAL API (GenericXLogStart ...
 * GenericXLogFinish), which copies the page, lets the caller change the
 * copy, then compares the whole page byte by byte to compute the delta.
 * The most frequent change, a neighbour-list update (an insert makes one
 * per back-link, vacuum one per repaired list), instead writes the changed
 * slots in place and logs them itself as a generic WAL record of one delta
 * fragment (engram_hnsw_log_page_bytes: the first to the last changed
 * slot of that layer), a record of the same format as GenericXLogFinish's,
 * without the page copies and the comparison (which took about a fifth of
 * an insert's time under perf).  Replay is PostgreSQL's generic_redo in
 * both cases; tests/t/024_hnsw_wal.pl replays both kinds with
 * wal_consistency_checking = 'generic'.  The build writes its pages
 * without WAL and then logs them all with log_newpage_range() when the
 * relation needs WAL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_HNSW_H
#define ENGRAM_HNSW_H

#include "postgres.h"

#include <math.h>

#include "access/amapi.h"
#include "access/genam.h"
#include "access/generic_xlog.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/guc.h"
#include "utils/relcache.h"

#include "engram_simd.h"
#include "vector/engram_vector.h"

/* ---- identity and limits ---- */

#define ENGRAM_HNSW_MAGIC			0x454E4857	/* "ENHW" */
#define ENGRAM_HNSW_VERSION			4	/* 2: pending list fields; 3: second heap
									 * TID (MOVED ROWS); 4: link states (LINK
									 * STATES ON DISK) */
#define ENGRAM_HNSW_MIN_VERSION		3	/* oldest version this library reads */
#define ENGRAM_HNSW_PAGE_ID			0xFE47
#define ENGRAM_HNSW_METAPAGE_BLKNO	0
#define ENGRAM_HNSW_UPDATE_LOCK		0	/* pseudo-block for LockPage */
/* Pseudo item pointer (block, offset) for the merge lock (LockTuple). */
#define ENGRAM_HNSW_PENDING_MERGE_LOCK_BLOCK	0
#define ENGRAM_HNSW_PENDING_MERGE_LOCK_OFFSET	1

#define ENGRAM_HNSW_PAGE_META		1
#define ENGRAM_HNSW_PAGE_ELEMENT	2
#define ENGRAM_HNSW_PAGE_PENDING	3

#define ENGRAM_HNSW_DEFAULT_M				16
#define ENGRAM_HNSW_MIN_M					2
#define ENGRAM_HNSW_MAX_M					100
#define ENGRAM_HNSW_DEFAULT_EF_CONSTRUCTION	64
#define ENGRAM_HNSW_MIN_EF_CONSTRUCTION		4
#define ENGRAM_HNSW_MAX_EF_CONSTRUCTION		1000
#define ENGRAM_HNSW_DEFAULT_EF_SEARCH		40
#define ENGRAM_HNSW_MIN_EF_SEARCH			1
#define ENGRAM_HNSW_MAX_EF_SEARCH			1000
#define ENGRAM_HNSW_DEFAULT_MAX_SCAN_TUPLES	20000
#define ENGRAM_HNSW_MIN_MAX_SCAN_TUPLES		1
#define ENGRAM_HNSW_MAX_MAX_SCAN_TUPLES		INT_MAX

/* Dimensions the cost estimate assumes for a column without a typmod. */
#define ENGRAM_HNSW_COST_DEFAULT_DIMS	128

/* Highest level an element may get, whatever its size. */
#define ENGRAM_HNSW_MAX_LEVEL		15

/* Operator class support procedure 1 returns the metric code. */
#define ENGRAM_HNSW_METRIC_PROC		1
#define ENGRAM_HNSW_NPROCS			1

typedef enum EngramHnswMetric
{
	ENGRAM_HNSW_METRIC_L2 = 1,	/* order by <->, internal: squared L2 */
	ENGRAM_HNSW_METRIC_INNER_PRODUCT = 2,	/* order by <#>: -a.b */
	ENGRAM_HNSW_METRIC_COSINE = 3	/* order by <=>: 1 - a.b, normalised */
} EngramHnswMetric;

/* Build sub-phases shown in pg_stat_progress_create_index. */
#define ENGRAM_HNSW_PHASE_LOAD		2
#define ENGRAM_HNSW_PHASE_WRITE		3

/* ---- pages ---- */

typedef struct EngramHnswPageOpaqueData
{
	uint16		page_type;		/* ENGRAM_HNSW_PAGE_META or _ELEMENT */
	uint16		page_id;		/* ENGRAM_HNSW_PAGE_ID */
} EngramHnswPageOpaqueData;

typedef EngramHnswPageOpaqueData *EngramHnswPageOpaque;

/*
 * Special space of a pending page: the common fields, then the next page
 * of the list, in the MAXALIGN'd 8 bytes every page's special space takes.
 */
typedef struct EngramHnswPendingPageOpaqueData
{
	uint16		page_type;		/* ENGRAM_HNSW_PAGE_PENDING */
	uint16		page_id;		/* ENGRAM_HNSW_PAGE_ID */
	BlockNumber next;			/* next pending page, or Invalid */
} EngramHnswPendingPageOpaqueData;

StaticAssertDecl(MAXALIGN(sizeof(EngramHnswPendingPageOpaqueData)) ==
				 MAXALIGN(sizeof(EngramHnswPageOpaqueData)),
				 "pending page special space must have the common size");

#define EngramHnswPendingPageGetOpaque(page) \
	((EngramHnswPendingPageOpaqueData *) PageGetSpecialPointer(page))

/*
 * One deferred insert: heap TID and the prepared (cosine: normalised)
 * vector, or, in a compact entry (flag ENGRAM_HNSW_PENDING_COMPACT), the
 * heap TID alone: readers take the vector from the heap row (PENDING LIST,
 * COMPACT ENTRIES).
 */
typedef struct EngramHnswPendingEntryData
{
	ItemPointerData heaptid;
	uint16		flags;			/* ENGRAM_HNSW_PENDING_*; 0: full entry */
	float		vector[FLEXIBLE_ARRAY_MEMBER];	/* absent in a compact entry */
} EngramHnswPendingEntryData;

typedef EngramHnswPendingEntryData *EngramHnswPendingEntry;

#define ENGRAM_HNSW_PENDING_COMPACT		0x0001	/* no vector: read the heap row */

#define ENGRAM_HNSW_PENDING_ENTRY_SIZE(dims) \
	(offsetof(EngramHnswPendingEntryData, vector) + sizeof(float) * (dims))
#define ENGRAM_HNSW_PENDING_COMPACT_SIZE	offsetof(EngramHnswPendingEntryData, vector)
/*
 * Entries a pending page holds at most: what a merge's
 * PageIndexMultiDelete() can delete in one call (its work array has
 * MaxIndexTuplesPerPage slots); 8-byte compact entries would fit 680.
 */
#define ENGRAM_HNSW_PENDING_MAX_ENTRIES		MaxIndexTuplesPerPage

#define EngramHnswPageGetOpaque(page) \
	((EngramHnswPageOpaque) PageGetSpecialPointer(page))

typedef struct EngramHnswMetaPageData
{
	uint32		magic;
	uint32		version;
	uint16		dimensions;		/* 0: not known yet */
	uint16		m;
	uint16		ef_construction;
	uint16		metric;			/* EngramHnswMetric */
	BlockNumber entry_blkno;	/* entry point element, or Invalid */
	OffsetNumber entry_offno;
	int16		entry_level;	/* -1 when the graph is empty */
	BlockNumber insert_blkno;	/* first block to try for new elements */
	uint16		quantization;	/* ENGRAM_HNSW_QUANT_*, fixed at build */
	/* version 2: the pending list (PENDING LIST above) */
	BlockNumber pending_head;	/* first pending page, or Invalid */
	BlockNumber pending_tail;	/* last pending page, or Invalid */
	uint32		pending_count;	/* entries on the list */
	uint32		pending_pages;	/* pages on the list */
} EngramHnswMetaPageData;

typedef EngramHnswMetaPageData *EngramHnswMetaPage;

#define EngramHnswPageGetMeta(page) \
	((EngramHnswMetaPage) PageGetContents(page))

/* ---- element tuples ---- */

#define ENGRAM_HNSW_ELEMENT_DELETED	0x01
#define ENGRAM_HNSW_ELEMENT_INT8	0x02	/* vector is an EngramHnswInt8Vector */
#define ENGRAM_HNSW_ELEMENT_LINK_STATES	0x04	/* link distances and states
												 * follow the slots (LINK
												 * STATES ON DISK) */

/* How an index stores vectors (reloption quantization, metapage). */
#define ENGRAM_HNSW_QUANT_NONE		0	/* float4[dimensions] */
#define ENGRAM_HNSW_QUANT_INT8		1	/* EngramHnswInt8Vector */

/* Compact vector of quantization = 'int8' (COMPACT REPRESENTATION). */
typedef struct EngramHnswInt8Vector
{
	float		scale;			/* x_i ~= scale * codes[i]; 0 for a zero vector */
	float		error;			/* >= ||x - scale * codes||, rounded up */
	int32		code_sumsq;		/* sum of codes[i]^2, exact */
	int8		codes[FLEXIBLE_ARRAY_MEMBER];
} EngramHnswInt8Vector;

/* Bytes of an element's vector in an index of the given quantization. */
#define ENGRAM_HNSW_VECTOR_SIZE(dims, quantization) \
	((quantization) == ENGRAM_HNSW_QUANT_INT8 ? \
	 TYPEALIGN(sizeof(float), offsetof(EngramHnswInt8Vector, codes) + (dims)) : \
	 sizeof(float) * (dims))

typedef struct EngramHnswElementTupleData
{
	uint8		flags;			/* ENGRAM_HNSW_ELEMENT_* */
	uint8		level;			/* top layer of this element */
	uint8		slot_level;		/* slots exist for layers 0..slot_level */
	uint8		unused;
	ItemPointerData heaptid;	/* the heap tuple it indexes */
	ItemPointerData alias_tid;	/* invalid, or a second heap tuple: the
								 * other version of a moved row (MOVED ROWS) */
	float		vector[FLEXIBLE_ARRAY_MEMBER];	/* or an EngramHnswInt8Vector */
	/* then ItemPointerData slots[ENGRAM_HNSW_TOTAL_SLOTS(m, slot_level)] */
} EngramHnswElementTupleData;

typedef EngramHnswElementTupleData *EngramHnswElementTuple;

#define ENGRAM_HNSW_LAYER_SLOTS(m, layer)	((layer) == 0 ? 2 * (m) : (m))
#define ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer) \
	((layer) == 0 ? 0 : 2 * (m) + ((layer) - 1) * (m))
#define ENGRAM_HNSW_TOTAL_SLOTS(m, level)	(2 * (m) + (level) * (m))
/* Bytes of the slots, and where the link distances start after them. */
#define ENGRAM_HNSW_SLOTS_SIZE(m, slot_level) \
	TYPEALIGN(sizeof(float), sizeof(ItemPointerData) * ENGRAM_HNSW_TOTAL_SLOTS(m, slot_level))
/* Bytes of the link distances and states (LINK STATES ON DISK). */
#define ENGRAM_HNSW_LINK_STATES_SIZE(m, slot_level) \
	((sizeof(float) + sizeof(uint8)) * ENGRAM_HNSW_TOTAL_SLOTS(m, slot_level))
#define ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(dims, quantization, m, slot_level, link_states) \
	MAXALIGN(offsetof(EngramHnswElementTupleData, vector) + \
			 ENGRAM_HNSW_VECTOR_SIZE(dims, quantization) + \
			 ((link_states) ? \
			  ENGRAM_HNSW_SLOTS_SIZE(m, slot_level) + ENGRAM_HNSW_LINK_STATES_SIZE(m, slot_level) : \
			  sizeof(ItemPointerData) * ENGRAM_HNSW_TOTAL_SLOTS(m, slot_level)))
#define ENGRAM_HNSW_ELEMENT_TUPLE_SIZE(dims, quantization, m, slot_level) \
	ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(dims, quantization, m, slot_level, false)
#define EngramHnswElementQuantization(tuple) \
	(((tuple)->flags & ENGRAM_HNSW_ELEMENT_INT8) ? \
	 ENGRAM_HNSW_QUANT_INT8 : ENGRAM_HNSW_QUANT_NONE)
#define EngramHnswElementSlots(tuple, dims) \
	((ItemPointer) ((char *) (tuple)->vector + \
					ENGRAM_HNSW_VECTOR_SIZE(dims, EngramHnswElementQuantization(tuple))))

/*
 * The link distances of an element with ENGRAM_HNSW_ELEMENT_LINK_STATES
 * (one float per slot, at the slot's index), then the states (one byte per
 * slot, ENGRAM_HNSW_LINK_*).
 */
#define EngramHnswElementLinkDistances(tuple, dims, m) \
	((float *) ((char *) EngramHnswElementSlots(tuple, dims) + \
				ENGRAM_HNSW_SLOTS_SIZE(m, (tuple)->slot_level)))
#define EngramHnswElementLinkStates(tuple, dims, m) \
	((uint8 *) (EngramHnswElementLinkDistances(tuple, dims, m) + \
				ENGRAM_HNSW_TOTAL_SLOTS(m, (tuple)->slot_level)))

/* Largest element tuple that fits an element page. */
#define ENGRAM_HNSW_MAX_ELEMENT_SIZE \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) - \
	 MAXALIGN(sizeof(EngramHnswPageOpaqueData)))

/*
 * An element reference packs (block, offset) into 64 bits for hashing; the
 * in-memory build graph uses array indexes in the same type.
 */
typedef uint64 EngramHnswRef;

#define ENGRAM_HNSW_INVALID_REF		PG_UINT64_MAX
#define EngramHnswRefFromTid(blk, off)	(((uint64) (blk) << 16) | (uint64) (off))
#define EngramHnswRefBlock(ref)		((BlockNumber) ((ref) >> 16))
#define EngramHnswRefOffset(ref)	((OffsetNumber) ((ref) & 0xFFFF))

/* ---- search machinery (hnswutils.c) ---- */

/*
 * One element met during a search.  neighbours / vector are filled only
 * when the search asked for them and the element came close enough to be
 * a candidate; they live in the search's memory context.
 */
typedef struct EngramHnswCandidate
{
	EngramHnswRef ref;
	float		distance;		/* internal distance to the query */
	bool		deleted;
	ItemPointerData heaptid;
	ItemPointerData alias_tid;	/* disk elements: second heap TID or invalid */
	int			level;
	int			neighbour_count;
	EngramHnswRef *neighbours;	/* at the searched layer */
	float	   *vector;			/* copy (disk) or pointer (memory) */
	double		orderby_bound;	/* int8 disk elements only: lower bound of
								 * the ORDER BY value (COMPACT REPRESENTATION) */
} EngramHnswCandidate;

/*
 * How a search reads the graph.  visit() computes the distance from
 * "query" to element "ref" and, when that distance is below "threshold",
 * also fills the neighbours at "layer" (and the vector when want_vector).
 * It returns false when the element does not exist (a freed slot).
 * prefetch(), when set, is called for each element the search is about to
 * visit, before the visits: memory latency overlaps instead of stalling
 * every distance computation.
 */
typedef struct EngramHnswGraph EngramHnswGraph;
struct EngramHnswGraph
{
	bool		(*visit) (EngramHnswGraph *graph, EngramHnswRef ref,
						  const float *query, int layer, float threshold,
						  bool want_vector, EngramHnswCandidate *out);
	/* optional: called with the query once before a search's layers */
	void		(*prepare_query) (EngramHnswGraph *graph, const float *query);
	/*
	 * optional: start loading what visit() will read.  A run of prefetch()
	 * calls is followed by the visits of those refs in the same order and
	 * then by prefetch_end() (when set), which releases what prefetch()
	 * held for refs that were not visited.
	 */
	void		(*prefetch) (EngramHnswGraph *graph, EngramHnswRef ref);
	void		(*prefetch_end) (EngramHnswGraph *graph);
	/*
	 * optional: called with all the refs of such a run before its first
	 * prefetch(): start loading, without pinning or locking anything, the
	 * memory that prefetch() itself will wait for, so that those misses
	 * overlap too.
	 */
	void		(*prefetch_hint) (EngramHnswGraph *graph, const EngramHnswRef *refs,
								  int count);
	/* optional: called at the start and the end of engram_hnsw_search */
	void		(*search_begin) (EngramHnswGraph *graph);
	void		(*search_end) (EngramHnswGraph *graph);
	/*
	 * optional: for the neighbour selection heuristic, decide without the
	 * float vectors, where bounds allow, whether the internal distance
	 * between elements "a" and "b" is below "bound": 1 (it is), 0 (it is
	 * not) or -1 (undecided: the float vectors decide).  Must agree with
	 * the float comparison except at ties within float rounding.
	 */
	int			(*pair_closer) (const EngramHnswGraph *graph, EngramHnswRef a,
								EngramHnswRef b, float bound);
	/*
	 * optional: the vector of a candidate of the selection heuristic whose
	 * vector is NULL (read when a pair test first needs it), or NULL when
	 * the element is gone (its pairs then count as not closer).  Without
	 * it every candidate must come with its vector.
	 */
	float	   *(*load_vector) (const EngramHnswGraph *graph, EngramHnswCandidate *candidate);
	int			metric;
	int			dimensions;
	int			m;
};

/*
 * A set of refs (open addressing), for "visited" and "deleted" sets.  The
 * positions of the first ENGRAM_HNSW_REFSET_TOUCHED refs added are noted,
 * so that emptying a set that holds no more than that clears those slots
 * instead of the whole array (a search's upper layers visit a few
 * elements each, and empty the set of layer 0's size every time).
 */
#define ENGRAM_HNSW_REFSET_TOUCHED 64

typedef struct EngramHnswRefSet
{
	uint64	   *slots;
	uint32		capacity;		/* power of two */
	uint32		count;
	MemoryContext context;
	uint32		touched[ENGRAM_HNSW_REFSET_TOUCHED];	/* slots of the first refs */
} EngramHnswRefSet;

extern void engram_hnsw_refset_init(EngramHnswRefSet *set, uint32 expected);
extern bool engram_hnsw_refset_add(EngramHnswRefSet *set, EngramHnswRef ref);	/* true if new */
extern bool engram_hnsw_refset_contains(const EngramHnswRefSet *set, EngramHnswRef ref);
extern void engram_hnsw_refset_reset(EngramHnswRefSet *set);

/*
 * Search one layer from the given entry elements; returns the (up to) ef
 * nearest live elements sorted by ascending distance in *result (a
 * palloc'd array in the current memory context) and their number.
 * Deleted elements are traversed but never returned.  "visited" is reset
 * first.  With want_vectors, the result carries a copy of each vector.
 */
extern int	engram_hnsw_search_layer(EngramHnswGraph *graph, const float *query,
									 const EngramHnswRef *entries, int entry_count,
									 int ef, int layer, bool want_vectors,
									 EngramHnswRefSet *visited,
									 EngramHnswCandidate **result);

/*
 * The neighbour selection heuristic: from "candidates" (sorted by
 * ascending distance to the base element, vectors filled), keep at most
 * "max_count": a candidate is kept when it is closer to the base than to
 * every candidate already kept; then, while fewer than "keep_at_least"
 * are kept, the nearest pruned candidates are added back.  Writes the chosen indexes into "chosen" and
 * returns their count.
 */
extern int	engram_hnsw_select_neighbours(const EngramHnswGraph *graph,
										  EngramHnswCandidate *candidates, int count,
										  int max_count, int keep_at_least, int *chosen);

/*
 * The same selection, given the outcome of an earlier selection over the
 * same base for each candidate ("states", ENGRAM_HNSW_LINK_*, NULL: none
 * known): candidates whose outcome cannot have changed are not checked
 * again, and the result is the one engram_hnsw_select_neighbours gives
 * (KNOWN OUTCOMES in hnswutils.c).  On return "states" holds this
 * selection's outcome per candidate.  The build keeps them with each link.
 */
#define ENGRAM_HNSW_LINK_UNKNOWN	0	/* not examined by the last selection */
#define ENGRAM_HNSW_LINK_KEPT		1	/* kept by the heuristic */
#define ENGRAM_HNSW_LINK_PRUNED		2	/* pruned (perhaps added back) */

extern int	engram_hnsw_select_neighbours_known(const EngramHnswGraph *graph,
												EngramHnswCandidate *candidates, int count,
												int max_count, int keep_at_least,
												uint8 *states, int *chosen);

/*
 * How full the selection heuristic leaves a list ("keep pruned
 * connections" up to this many).  A new element's own lists are filled
 * completely from its candidates.  When a back-link overflows a list, the
 * heuristic re-selects and the list keeps at least half its capacity: the
 * diverse links the heuristic picks, topped up with the nearest pruned
 * ones.  Measured on SIFT 4,500 x 128 (m = 16, ef_construction = 64),
 * recall@10 at ef_search 40: 0.980 keeping only the heuristic's choice
 * (hnswlib's way), 0.986 at half, 0.989 keeping lists full, for build times
 * of 1 : 1 : 3-4.  Keeping more links also fragments layer 0 more on
 * degenerate data (points on a few planes); the build and VACUUM
 * reconnect whatever layer 0 cannot reach.
 */
#define ENGRAM_HNSW_BACKLINK_KEEP(capacity)	((capacity) / 2)

/* Sort candidates by ascending distance (stable for short arrays). */
extern void engram_hnsw_sort_candidates(EngramHnswCandidate *candidates, int count);

/* Distance in the index's internal form (smaller is nearer). */
static inline float
engram_hnsw_distance(int metric, const float *a, const float *b, int dims)
{
	switch (metric)
	{
		case ENGRAM_HNSW_METRIC_L2:
			return engram_l2_squared_distance(a, b, dims);
		case ENGRAM_HNSW_METRIC_INNER_PRODUCT:
			return -engram_inner_product(a, b, dims);
		default:
			return 1.0f - engram_inner_product(a, b, dims);
	}
}

extern bool engram_hnsw_early_exit;

/*
 * engram_hnsw_distance when that is below "bound", bit for bit; otherwise
 * some value >= bound.  A search discards every element at or beyond the
 * furthest of its current results, so it passes that distance and the
 * kernel stops reading the element's vector as soon as its partial sum
 * proves the element cannot get in (EARLY EXIT in hnswutils.c).  Under L2
 * the partial sum of squares is a lower bound; under cosine both vectors
 * are normalised (the query by the scan, elements when stored), which
 * gives the bound of unit_cosine_bounded (engram_simd.h).  Inner product
 * has no such bound and is computed whole, as is every distance when
 * engram.hnsw_early_exit is off or the bound is infinite or NaN.
 */
static inline float
engram_hnsw_distance_below(int metric, const float *a, const float *b, int dims, float bound)
{
	if (!engram_hnsw_early_exit || !(bound < INFINITY))
		return engram_hnsw_distance(metric, a, b, dims);
	switch (metric)
	{
		case ENGRAM_HNSW_METRIC_L2:
			return engram_l2_squared_distance_bounded(a, b, dims, bound);
		case ENGRAM_HNSW_METRIC_INNER_PRODUCT:
			return -engram_inner_product(a, b, dims);
		default:
			return engram_unit_cosine_distance_bounded(a, b, dims, bound);
	}
}

/* Internal distance to the value of the ORDER BY operator. */
extern double engram_hnsw_distance_to_orderby(int metric, float distance);

/*
 * Check a vector against the index and copy it into "out" (dims floats),
 * normalised under cosine; under L2 and inner product the copy is the
 * vector unchanged (a scan of compact pending entries uses the stored
 * vector in place then).  Returns false for a vector that cannot be
 * indexed (a zero vector under cosine); errors on a dimension mismatch.
 */
extern bool engram_hnsw_prepare_vector(Relation index, int metric, int dims,
									   const EngramVector *vec, float *out);

extern int	engram_hnsw_random_level(int m, int max_level);
extern int	engram_hnsw_max_level(int dims, int quantization, int m, bool link_states);
extern void engram_hnsw_check_element_fits(int dims, int quantization, int m);

/*
 * Whether elements of an index of this on-disk version and format keep
 * link states (LINK STATES ON DISK): version 4, float elements whose
 * level-0 tuples take as many to a page with them as without (false while
 * the dimensions are unknown).  engram_hnsw_meta_link_states() applies it
 * to a metapage.
 */
extern bool engram_hnsw_keeps_link_states(uint32 version, int dims, int quantization, int m);
extern bool engram_hnsw_meta_link_states(const EngramHnswMetaPageData *meta);

/* ---- pages (hnswutils.c) ---- */

extern void engram_hnsw_init_page(Page page, uint16 page_type);
extern void engram_hnsw_check_page(Relation index, Page page, BlockNumber blkno);
extern Relation engram_hnsw_open_index(Oid indexoid, LOCKMODE mode);
extern void engram_hnsw_read_meta(Relation index, EngramHnswMetaPageData *meta);
extern Buffer engram_hnsw_new_buffer(Relation index);

/*
 * Overwrite bytes of an exclusively locked page's item space and log them
 * as a one-fragment generic WAL record (see WAL above).
 */
extern void engram_hnsw_log_page_bytes(Relation index, Buffer buf, Size offset,
									   const void *source, Size length);

/* The same for up to ENGRAM_HNSW_MAX_FRAGMENTS ranges, in one record. */
#define ENGRAM_HNSW_MAX_FRAGMENTS	3
typedef struct EngramHnswPageFragment
{
	Size		offset;			/* byte offset in the page */
	const void *source;
	Size		length;
} EngramHnswPageFragment;

extern void engram_hnsw_log_page_fragments(Relation index, Buffer buf,
										   const EngramHnswPageFragment *fragments,
										   int count);

/* Element tuple on "page" at "offno", or NULL when the slot is free. */
extern EngramHnswElementTuple engram_hnsw_page_element(Page page, OffsetNumber offno);

/*
 * Vectors an insert has already copied, by element ref (open addressing,
 * grows; lives in the insert's memory context).  While a disk graph has
 * one attached, its visits add every vector they copy, so that pruning a
 * full neighbour list finds most of the vectors it needs without reading
 * the elements again.  An element an insert has seen live cannot be freed
 * before the insert ends (the update lock), and an element's vector never
 * changes, so a cached vector is never stale.
 */
typedef struct EngramHnswVectorCache
{
	EngramHnswRef *keys;
	float	  **values;
	uint32		capacity;		/* power of two, at least twice the count */
	uint32		count;
} EngramHnswVectorCache;

extern void engram_hnsw_vector_cache_init(EngramHnswVectorCache *cache, int expected);
/* Remember "vector" (kept by reference) for "ref". */
extern void engram_hnsw_vector_cache_put(EngramHnswVectorCache *cache, EngramHnswRef ref,
										 float *vector);
/* The vector remembered for "ref", or NULL. */
extern float *engram_hnsw_vector_cache_get(const EngramHnswVectorCache *cache,
										   EngramHnswRef ref);

/* Disk graph accessor (scan, insert, vacuum). */

/*
 * A query encoded for int8 elements (hnswquant.c): two code arrays, the
 * second one coding what the first leaves out, q-hat = scale * codes +
 * residual_scale * residual_codes, so that the query's own error is about
 * 1/250 of an element's.
 */
typedef struct EngramHnswInt8Query
{
	float		scale;
	float		residual_scale;
	double		norm2;			/* ||q-hat||^2 */
	double		error;			/* ||q - q-hat|| */
	double		norm;			/* ||q|| */
	int8	   *codes;			/* dimensions codes */
	int8	   *residual_codes; /* dimensions codes */
} EngramHnswInt8Query;

/* Most elements the disk graph pins ahead of their visits (a layer-0 list). */
#define ENGRAM_HNSW_DISK_PREFETCH_MAX	(2 * ENGRAM_HNSW_MAX_M)
/* Pages whose pins a search or an insert keeps (a power of two). */
#define ENGRAM_HNSW_DISK_KEPT_PINS		256

typedef struct EngramHnswDiskGraph
{
	EngramHnswGraph graph;
	Relation	index;
	MemoryContext context;		/* where neighbour lists / vectors go */
	EngramHnswVectorCache *vectors; /* optional: vectors this operation has
									 * already read (an insert's candidates);
									 * visits add the vectors they copy */
	int			quantization;	/* ENGRAM_HNSW_QUANT_*, from the metapage */
	bool		link_states;	/* elements keep link states (LINK STATES ON DISK) */
	EngramHnswInt8Query query;	/* int8: the query of the current search */

	/*
	 * Elements pinned ahead of their visit by prefetch() (DISK GRAPH
	 * PREFETCH in hnswutils.c): ahead_refs[ahead_next .. ahead_count) are
	 * pinned in ahead_buffers and not visited yet; the elements of
	 * [0, ahead_prefetched) have had their lines prefetched.
	 */
	int			ahead_max;		/* most pinned ahead (pin budget) */
	int			ahead_count;
	int			ahead_next;
	int			ahead_prefetched;
	EngramHnswRef ahead_refs[ENGRAM_HNSW_DISK_PREFETCH_MAX];
	Buffer		ahead_buffers[ENGRAM_HNSW_DISK_PREFETCH_MAX];
	/* false: ahead_buffers[i] is the block's recent buffer, not pinned */
	bool		ahead_pinned[ENGRAM_HNSW_DISK_PREFETCH_MAX];

	/*
	 * UNPINNED SEARCH (hnswutils.c): set for a search of an index whose
	 * elements take half a page or more, outside an insert; it then keeps
	 * no pins and prefetch() pins nothing where a recent buffer is known.
	 */
	bool		large_elements; /* at most two level-0 elements a page */
	bool		unpinned_search;	/* the current search runs so */

	/*
	 * Pins kept for the pages visited last (KEPT PINS in hnswutils.c),
	 * while keep_pins_depth > 0: direct-mapped by block number.
	 */
	int			keep_pins_depth;
	int			kept_mask;		/* slots - 1 (pin budget); -1: none kept */
	BlockNumber kept_blocks[ENGRAM_HNSW_DISK_KEPT_PINS];
	Buffer		kept_buffers[ENGRAM_HNSW_DISK_KEPT_PINS];
} EngramHnswDiskGraph;

extern void engram_hnsw_disk_graph_init(EngramHnswDiskGraph *graph, Relation index,
										const EngramHnswMetaPageData *meta);

/*
 * Pin the page of "ref" and start loading its lines, for a visit (or
 * engram_hnsw_read_element) that follows soon, in the order of the
 * prefetch calls; engram_hnsw_disk_graph_prefetch_end() releases the pins
 * of refs that were not visited.  No buffer lock is held or taken.
 */
extern void engram_hnsw_disk_graph_prefetch(EngramHnswDiskGraph *graph, EngramHnswRef ref);
extern void engram_hnsw_disk_graph_prefetch_end(EngramHnswDiskGraph *graph);

/*
 * Keep the pins of visited pages from now until the matching
 * engram_hnsw_disk_graph_release_pins() (calls nest; the outermost release
 * drops them all): a page visited again, or locked for a write, then needs
 * no buffer lookup.  engram_hnsw_search() does this for its own duration.
 * No buffer lock may be held across either call.
 */
extern void engram_hnsw_disk_graph_keep_pins(EngramHnswDiskGraph *graph);
extern void engram_hnsw_disk_graph_release_pins(EngramHnswDiskGraph *graph);

/*
 * A pin of "blkno" for the caller: from the kept pins while they are kept,
 * else a new one.  Give it back with engram_hnsw_disk_graph_unpin(), which
 * releases it unless it belongs to the kept pins.  No lock is taken.
 */
extern Buffer engram_hnsw_disk_graph_pin(EngramHnswDiskGraph *graph, BlockNumber blkno);
extern void engram_hnsw_disk_graph_unpin(EngramHnswDiskGraph *graph, Buffer buf);

/*
 * A pin of "blkno" that is the caller's own (ReleaseBuffer it), taken
 * without a buffer lookup when the page's pin is kept: for a buffer the
 * caller holds across other visits, which may evict a kept pin.
 */
extern Buffer engram_hnsw_disk_graph_pin_own(EngramHnswDiskGraph *graph, BlockNumber blkno);

/* Read one element's full state (under a share lock) into "out". */
extern bool engram_hnsw_read_element(EngramHnswDiskGraph *graph, EngramHnswRef ref,
									 int layer, EngramHnswCandidate *out);
/* The same from "buf", the caller's pinned buffer of its page (kept pinned). */
extern bool engram_hnsw_read_element_pinned(EngramHnswDiskGraph *graph, Buffer buf,
											EngramHnswRef ref, int layer,
											EngramHnswCandidate *out);

/*
 * Search the whole graph from the entry point: ef = 1 on the layers above
 * "full_from", ef = "ef" on layers full_from..0.  For each layer lc <=
 * min(full_from, entry_level) the nearest live elements are stored in
 * layer_results[lc] / layer_counts[lc] (arrays of ENGRAM_HNSW_MAX_LEVEL + 1
 * entries supplied by the caller; other entries are set to NULL / 0).
 */
extern void engram_hnsw_search(EngramHnswGraph *graph, const float *query,
							   EngramHnswRef entry, int entry_level,
							   int ef, int full_from, bool want_vectors,
							   EngramHnswCandidate **layer_results,
							   int *layer_counts);

/*
 * Build an element tuple (palloc'd, invalid slots) holding "vector" in the
 * given quantization's format, and read/write its layers.
 */
extern EngramHnswElementTuple engram_hnsw_form_element(int dims, int quantization, int m,
													   int level, int slot_level,
													   bool link_states,
													   ItemPointer heaptid,
													   const float *vector, Size *size);
extern int	engram_hnsw_element_get_layer(EngramHnswElementTuple element, int dims, int m,
										  int layer, EngramHnswRef *refs);
extern void engram_hnsw_element_set_layer(EngramHnswElementTuple element, int dims, int m,
										  int layer, const EngramHnswRef *refs, int count);
/*
 * The distances and states of the first "count" links of "layer" of an
 * element with ENGRAM_HNSW_ELEMENT_LINK_STATES (set: the others become
 * 0 / UNKNOWN).
 */
extern void engram_hnsw_element_get_layer_states(EngramHnswElementTuple element, int dims,
												 int m, int layer, int count,
												 float *distances, uint8 *states);
extern void engram_hnsw_element_set_layer_states(EngramHnswElementTuple element, int dims,
												 int m, int layer, int count,
												 const float *distances, const uint8 *states);

/* ---- compact representation (hnswquant.c) ---- */

/* Encode "vector" (dims floats) into "out" (ENGRAM_HNSW_VECTOR_SIZE bytes). */
extern void engram_hnsw_int8_encode(const float *vector, int dims,
									EngramHnswInt8Vector *out);
/* Decode into "out" (dims floats): the vector the codes stand for. */
extern void engram_hnsw_int8_decode(const EngramHnswInt8Vector *encoded, int dims,
									float *out);
/* Encode a query for int8 searches; both code arrays hold dims bytes. */
extern void engram_hnsw_int8_prepare_query(EngramHnswInt8Query *query,
										   const float *vector, int dims);
/*
 * Estimated internal distance (as engram_hnsw_distance) from the codes;
 * with orderby_bound, also a value <= the exact ORDER BY value the
 * operator computes for the query and the element's original vector.
 */
extern float engram_hnsw_int8_distance(int metric, const EngramHnswInt8Query *query,
									   const EngramHnswInt8Vector *element, int dims,
									   double *orderby_bound);

/* ---- insert (hnswinsert.c) ---- */

/*
 * Insert one vector (already checked and prepared by
 * engram_hnsw_prepare_vector) for heap tuple "heaptid" into the on-disk
 * graph: takes the update lock, searches, writes the element, links it.
 */
extern void engram_hnsw_insert_vector(Relation index, const float *vector,
									  ItemPointer heaptid);

/*
 * The same, for a pending-list merge: does nothing and returns false when
 * the insert's own search meets a live element of the same heap TID (left
 * by a merge that a crash interrupted).
 */
extern bool engram_hnsw_insert_vector_unless_present(Relation index, const float *vector,
													 ItemPointer heaptid);

/*
 * The prepared vector (palloc'd) of a heap value for an insert into
 * "index", setting the metapage's dimensions on the first vector; NULL
 * when the value is not indexed (a zero vector under cosine).  *dims gets
 * the index's dimensions.
 */
extern float *engram_hnsw_vector_for_insert(Relation index, Datum value, int *dims);

/* Insert a heap value (detoasted here); NULL-free, may set the dimensions. */
extern void engram_hnsw_insert_value(Relation index, Datum value, ItemPointer heaptid);

/*
 * How engram_hnsw_update_neighbour_list merges new candidates into a list.
 */
typedef enum EngramHnswLinkMode
{
	/*
	 * Insert back-link: append while there is room; when full, prune the
	 * current list plus the extras with the selection heuristic, and add an
	 * extra the heuristic rejects anyway when the pruned list has room (a
	 * new element gets its in-links).
	 */
	ENGRAM_HNSW_LINK_PRUNE,
	/*
	 * Vacuum repair / reconnection: keep every current live neighbour,
	 * fill the free slots with the nearest extras.  Never drops a live
	 * link, so repairing one element cannot orphan another.
	 */
	ENGRAM_HNSW_LINK_FILL,
	/*
	 * Reconnection of an unreachable element: as FILL, but when the list
	 * has no room its last link makes way for the nearest extra.
	 */
	ENGRAM_HNSW_LINK_FORCE
} EngramHnswLinkMode;

/*
 * Rewrite the neighbour list of element "base" on "layer": drop the refs in
 * "exclude" (may be NULL) and merge the "extras" (vectors may be NULL) as
 * "mode" says.  An insert's back-link (PRUNE, one extra) passes the exact
 * distance between the extra and "base" in extras[0].distance, which an
 * append keeps when the index keeps link states.  Optimistic: reads without holding locks across pages, then
 * writes only if the list did not change meanwhile (a few retries).  An
 * insert's back-link (PRUNE, one extra, no exclusions) into a list with
 * room is appended under one exclusive lock of the base's page instead.
 * Returns true when it changed the list; false when there was nothing to
 * change, it gave up, or the base element is gone.  No buffer lock held on
 * entry or exit.
 */
extern bool engram_hnsw_update_neighbour_list(EngramHnswDiskGraph *graph,
											  EngramHnswRef base, int layer,
											  const EngramHnswCandidate *extras, int extra_count,
											  EngramHnswLinkMode mode,
											  const EngramHnswRefSet *exclude);

/*
 * Changes to the metapage made by inserts and vacuum, applied under the
 * metapage's exclusive lock with generic WAL.
 */
typedef struct EngramHnswMetaUpdate
{
	int			dimensions;		/* > 0: set when not known yet */
	bool		set_entry;
	bool		entry_only_if_higher;	/* insert: only raise the top level */
	EngramHnswRef entry;		/* ENGRAM_HNSW_INVALID_REF: empty graph */
	int			entry_level;
	BlockNumber insert_blkno;	/* InvalidBlockNumber: leave */
	bool		insert_only_if_higher;	/* insert: only raise; vacuum: only lower */
} EngramHnswMetaUpdate;

extern void engram_hnsw_meta_update_init(EngramHnswMetaUpdate *update);
extern void engram_hnsw_update_meta(Relation index, const EngramHnswMetaUpdate *update);

/* ---- moved rows (hnswretarget.c) ---- */

/*
 * aminsert's hook: when the table AM named "heaptid" as the new version of
 * a moved row of this index's table, attach it to the element of the old
 * version and return true; false: insert as usual.  "vector" is prepared
 * (engram_hnsw_prepare_vector).  No lock held on entry or exit.
 */
extern bool engram_hnsw_retarget_moved_row(Relation index, const float *vector,
										   ItemPointer heaptid);

/*
 * Vacuum phase 1 for one element: ask "callback" about both heap TIDs.
 * Returns the number of live TIDs (0: mark the element deleted) and adds
 * the dead ones to *removed.  When the element's TIDs must change (a dead
 * second TID cleared, or the second moved into the first), sets
 * *new_heaptid / *new_alias_tid and *change.
 */
extern int	engram_hnsw_vacuum_element_tids(EngramHnswElementTuple element,
											IndexBulkDeleteCallback callback,
											void *callback_state, double *removed,
											bool *change, ItemPointer new_heaptid,
											ItemPointer new_alias_tid);

extern bool engram_hnsw_move_retarget;
extern void engram_hnsw_retarget_init(void);

/* ---- pending list (hnswpending.c) ---- */

/*
 * Entries an inserter merges when it finds the list over its limit
 * (bounded work per insert: the list shrinks by this many minus one per
 * insert while it is over).  Over the limit an inserter merges only if no
 * merge runs; over twice the limit it waits for the merge lock, so that
 * many concurrent inserters cannot outgrow the merges.
 */
#define ENGRAM_HNSW_PENDING_INSERT_MERGE	4

#define ENGRAM_HNSW_DEFAULT_PENDING_LIST_LIMIT	4096	/* kB */
#define ENGRAM_HNSW_MIN_PENDING_LIST_LIMIT		64		/* kB */
#define ENGRAM_HNSW_MAX_PENDING_LIST_LIMIT		MAX_KILOBYTES

/* An empty pending list in a (new or version 1) metapage image. */
extern void engram_hnsw_pending_init_meta(EngramHnswMetaPageData *meta);

/*
 * Append a prepared vector for "heaptid" (the row that aminsert got with
 * index value "value" from "heap") to the pending list, as a compact entry
 * where the row allows it (COMPACT ENTRIES); when the list is over its
 * limit, merge a bounded batch
 * (ENGRAM_HNSW_PENDING_INSERT_MERGE).  No lock held on entry or exit.
 */
extern void engram_hnsw_pending_insert(Relation index, Relation heap, Datum value,
									   const float *vector, int dims, ItemPointer heaptid);

/* A pending entry met by a scan. */
typedef struct EngramHnswPendingRow
{
	double		key;			/* distance, or the ORDER BY lower bound */
	float		distance;		/* internal distance to the query */
	ItemPointerData heaptid;
} EngramHnswPendingRow;

/* A scan's pending rows: a min-heap on key; rows[0] is the nearest. */
typedef struct EngramHnswPendingRows
{
	EngramHnswPendingRow *rows;
	int			count;
} EngramHnswPendingRows;

/*
 * Every entry of the pending list with its distance to "query" (NULL
 * query: 0) and, with want_bounds, key = a lower bound of its ORDER BY
 * value (int8 index; else key = distance), into *out (palloc'd in the
 * current context).  engram_hnsw_pending_pop() removes rows[0].
 */
extern void engram_hnsw_pending_collect(Relation index, const EngramHnswMetaPageData *meta,
										const float *query, bool want_bounds,
										EngramHnswPendingRows *out);
extern void engram_hnsw_pending_pop(EngramHnswPendingRows *rows);

/*
 * Merge up to max_entries entries, head first, into the graph, stopping
 * at what was the tail when the merge began (pages join the list by
 * relation extension, so block numbers ascend along it).  The merge lock
 * is released and taken again between pages (without "wait", a merge
 * that cannot take it again stops there).  Entries whose heap TID
 * "dead" reports dead (may be NULL) are dropped instead (*removed counts
 * them).  Takes the merge lock, waiting for it when "wait", else returns
 * 0 at once when another merge holds it.  Returns the entries merged.
 */
extern int64 engram_hnsw_pending_merge(Relation index, int64 max_entries, bool wait,
									   IndexBulkDeleteCallback dead, void *dead_state,
									   int64 *removed);

/* The entry at "offno" of a pending page, or NULL. */
extern EngramHnswPendingEntry engram_hnsw_pending_page_entry(Page page, OffsetNumber offno);

/* engram_hnsw_verify's report function (hnswverify.c). */
typedef void (*EngramHnswVerifyReport) (void *arg, const char *severity,
										const char *problem, BlockNumber blkno,
										OffsetNumber offno, const char *detail);

/*
 * Check the pending list, starting from the metapage copy "meta": every
 * page on it is a pending page, block numbers ascend along it, the chain
 * ends at the tail, entries have the right size, and every pending page
 * of seen[] (those a pass over the whole index met before) is on it or
 * was merged since.  Concurrent appends and merges make no error (the
 * walk follows them); counts are compared, as a warning, only when the
 * list did not change during the walk.  Takes no heavyweight lock and
 * one buffer share lock at a time.
 */
extern void engram_hnsw_pending_verify(Relation index, const EngramHnswMetaPageData *meta,
									   const BlockNumber *seen, int seen_count,
									   EngramHnswVerifyReport report, void *arg);

/* ---- callbacks ---- */

extern IndexBuildResult *engram_hnsw_build(Relation heap, Relation index,
										   IndexInfo *indexInfo);
extern void engram_hnsw_buildempty(Relation index);
extern bool engram_hnsw_insert(Relation index, Datum *values, bool *isnull,
							   ItemPointer heap_tid, Relation heap,
							   IndexUniqueCheck checkUnique, bool indexUnchanged,
							   IndexInfo *indexInfo);
extern IndexBulkDeleteResult *engram_hnsw_bulkdelete(IndexVacuumInfo *info,
													 IndexBulkDeleteResult *stats,
													 IndexBulkDeleteCallback callback,
													 void *callback_state);
extern IndexBulkDeleteResult *engram_hnsw_vacuumcleanup(IndexVacuumInfo *info,
														IndexBulkDeleteResult *stats);
extern IndexScanDesc engram_hnsw_beginscan(Relation index, int nkeys, int norderbys);
extern void engram_hnsw_rescan(IndexScanDesc scan, ScanKey keys, int nkeys,
							   ScanKey orderbys, int norderbys);
extern bool engram_hnsw_gettuple(IndexScanDesc scan, ScanDirection dir);
extern void engram_hnsw_endscan(IndexScanDesc scan);
extern bool engram_hnsw_validate(Oid opclassoid);

/* ---- settings (hnsw.c) ---- */

typedef struct EngramHnswOptions
{
	int32		vl_len_;		/* varlena header */
	int			m;
	int			ef_construction;
	int			quantization;	/* ENGRAM_HNSW_QUANT_* */
	bool		deferred_insert;	/* append new rows to the pending list */
	int			pending_list_limit; /* kB; -1: engram.hnsw_pending_list_limit */
} EngramHnswOptions;

extern int	engram_hnsw_ef_search;
extern bool engram_hnsw_iterative_scan;
extern int	engram_hnsw_max_scan_tuples;
extern int	engram_hnsw_pending_list_limit;
extern int	engram_hnsw_build_search;
extern bool engram_hnsw_build_check_selection;
/* the metapage version a build writes (engram.hnsw_build_version) */
extern int	engram_hnsw_build_version;

/*
 * How a build's inserts search its in-memory graph (engram.hnsw_build_search,
 * COMPACT SEARCH in hnswbuild.h): exact float distances, distances
 * estimated from 8-bit codes with the results re-ranked exactly, or (auto)
 * the codes from ENGRAM_HNSW_BUILD_INT8_MIN_DIMS dimensions on, where they
 * measured faster (docs/reference/performance-baselines.md, "Builds: the
 * search with 8-bit codes").
 */
#define ENGRAM_HNSW_BUILD_SEARCH_EXACT		0
#define ENGRAM_HNSW_BUILD_SEARCH_INT8		1
#define ENGRAM_HNSW_BUILD_SEARCH_AUTO		2
#define ENGRAM_HNSW_DEFAULT_BUILD_SEARCH	ENGRAM_HNSW_BUILD_SEARCH_AUTO
#define ENGRAM_HNSW_BUILD_INT8_MIN_DIMS		512

extern int	engram_hnsw_get_m(Relation index);
extern int	engram_hnsw_get_ef_construction(Relation index);
extern int	engram_hnsw_get_quantization(Relation index);
extern bool engram_hnsw_get_deferred_insert(Relation index);
extern int	engram_hnsw_get_pending_list_limit(Relation index);	/* kB */
extern int	engram_hnsw_get_metric_from_opclass(Relation index);

#endif							/* ENGRAM_HNSW_H */
