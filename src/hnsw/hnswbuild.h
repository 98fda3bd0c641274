/*-------------------------------------------------------------------------
 *
 * hnswbuild.h
 *	  The in-memory graph of an engram_hnsw build, shared by the serial
 *	  and the parallel build (private to hnswbuild.c and
 *	  hnswbuildgraph.c).
 *
 * LAYOUT
 *
 * The graph lives in one contiguous arena: backend memory for a serial
 * build, a dynamic shared memory segment for a parallel one.  The arena
 * opens with EngramHnswBuildArena; the elements follow back to back in
 * the order they were allocated.  Nothing in the arena is a pointer: an
 * element is named by its byte offset from the start of the arena (an
 * EngramHnswRef), so every process may map the arena at its own address.
 * An element is
 *
 *	  EngramHnswBuildElement header   (lock, heap TID, level, list lengths)
 *	  EngramHnswInt8Vector code       (only with a compact search, MAXALIGNed)
 *	  float vector[dimensions]        (MAXALIGNed)
 *	  EngramHnswRef slots[ENGRAM_HNSW_TOTAL_SLOTS(m, level)]
 *	  float distances[ENGRAM_HNSW_TOTAL_SLOTS(m, level)]
 *	  uint8 states[ENGRAM_HNSW_TOTAL_SLOTS(m, level)]   (then MAXALIGNed)
 *
 * with the slots of each layer where the element tuple has them
 * (ENGRAM_HNSW_LAYER_FIRST_SLOT), and the distances and states of the
 * links at the same indexes (LINK STATES).  A search reads the slots
 * only; the distances and states lie after all of them, so they take no
 * cache line of a visit.
 *
 * LINK STATES.  Every link remembers the exact internal distance from its
 * element to the linked one, as the insert that made it computed it, and
 * the outcome of the neighbour selection heuristic that last examined it
 * (ENGRAM_HNSW_LINK_KEPT, _PRUNED, or _UNKNOWN for a link appended to a
 * list that had room).  Pruning a full list then computes no distance to
 * the list's element and checks again only the pairs whose outcome can
 * have changed (KNOWN OUTCOMES in hnswutils.c); it selects exactly the
 * links a selection from scratch would.  Both are written with the slots,
 * under the same lock, and read only by the writers of the list.
 *
 * COMPACT SEARCH (arena->compact_search: engram.hnsw_build_search =
 * 'int8', or 'auto' at ENGRAM_HNSW_BUILD_INT8_MIN_DIMS dimensions or more).  Each element also carries the 8-bit code of its vector
 * (hnswquant.c), next to its header.  An insert's search through the graph
 * estimates distances from those codes (the query's codes are those of
 * the element being inserted), so that a visit reads the header and the code -- a
 * quarter of the float vector's bytes -- and runs the int8 kernels; the
 * ef_construction candidates each layer's search returns are then
 * re-ranked with exact distances from the float vectors before the
 * neighbour selection heuristic, which, like the pruning of full lists,
 * uses exact distances only.  The graph's links therefore come from exact
 * distances among slightly differently found candidates; the pages
 * written are the same format either way.  Elements are allocated by advancing
 * arena->used with compare-and-swap, never past arena->size: the arena
 * holds no hole and can be walked element by element up to "used".  When
 * an element does not fit, arena->full is set and every later allocation
 * fails too; the build then writes the graph and goes on through the
 * on-disk insertion path.
 *
 * LOCKING (only when the graph is concurrent, i.e. a parallel build)
 *
 * - arena->entry_lock guards entry and entry_level.  An insert reads them
 *   in shared mode; an insert whose level is above the entry level holds
 *   it exclusively from before its search until it has become the entry
 *   point (rare: one element in m per layer).
 * - element->lock (exclusive) serialises the writers of that element's
 *   list lengths and slots: the owner filling its own lists, back-links
 *   rewriting a neighbour's list.  Readers take no lock (below).
 * - The vector, level and heap TID of an element never change once it is
 *   allocated, and nobody can reach an element before a list or the entry
 *   point refers to it (which happens after they are written, under a
 *   lock whose release orders the writes): they are read without a lock.
 *
 * READING LISTS.  A search reads a list without a lock, through a pointer
 * to the live slots, because every value a slot ever holds is a valid
 * element reference: a writer stores the slots first and the length after
 * them (pg_write_barrier), a reader loads the length first and the slots
 * after it (pg_read_barrier), so slots below the length it read have been
 * written; a slot rewritten meanwhile reads as its old or its new
 * reference (aligned 8-byte stores and loads are single-copy atomic,
 * PG_HAVE_8BYTE_SINGLE_COPY_ATOMICITY; without it, readers copy the list
 * under the element's shared lock).  A search may thus see a list halfway
 * through a prune, with a reference twice or a dropped one: harmless to a
 * search, whose visited set skips repeats.
 *
 * Lock order: entry_lock, then at most one element lock at a time.
 * Nothing else is locked while an element lock is held.  The allocation
 * counters are atomics.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_HNSW_BUILD_H
#define ENGRAM_HNSW_BUILD_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/rel.h"

#include "hnsw/hnsw.h"

typedef struct EngramHnswBuildArena
{
	Size		size;			/* bytes, this header included */
	int			metric;
	int			m;
	int			ef_construction;
	int			quantization;	/* ENGRAM_HNSW_QUANT_* of the pages written */
	uint32		version;		/* on-disk version of the pages written */
	int			lock_tranche;	/* LWLock tranche of the element locks */
	bool		compact_search; /* elements carry codes (COMPACT SEARCH) */
	pg_atomic_uint32 dimensions;	/* 0 until the first vector */
	pg_atomic_uint32 full;		/* an allocation failed: no more inserts */
	pg_atomic_uint64 used;		/* bytes allocated, this header included */
	pg_atomic_uint64 element_count;
	LWLock		entry_lock;		/* guards entry and entry_level */
	EngramHnswRef entry;		/* ENGRAM_HNSW_INVALID_REF: empty graph */
	int			entry_level;
} EngramHnswBuildArena;

typedef struct EngramHnswBuildElement
{
	LWLock		lock;			/* guards counts[] and the slots */
	ItemPointerData heaptid;
	uint8		level;
	bool		reached;		/* scratch of the reconnection pass */
	uint8		counts[ENGRAM_HNSW_MAX_LEVEL + 1];	/* list length per layer */
	uint32		size;			/* bytes this element takes in the arena */
	BlockNumber blkno;			/* position, assigned when written */
	OffsetNumber offno;
} EngramHnswBuildElement;

/* One process's handle on an arena. */
typedef struct EngramHnswBuildGraph
{
	EngramHnswGraph graph;		/* visit() for the search code */
	EngramHnswBuildArena *arena;
	bool		concurrent;		/* other processes insert: take the locks */
	int			max_level;		/* once the dimensions are known */
	/* element layout, once the dimensions are known */
	Size		vector_offset;	/* float vector, from the element's start */
	Size		slots_offset;	/* first slot, from the element's start */
	/* compact search: the current query's codes (in "context") */
	EngramHnswInt8Query query;
	const EngramHnswInt8Vector *query_code; /* code of the element searched for */
	/* scratch of add_backlink(), for a layer-0 list and one more link */
	EngramHnswCandidate *prune_candidates;
	uint8	   *prune_states;
	int		   *prune_order;
	int		   *prune_chosen;
	int64		checked_prunings;	/* engram.hnsw_build_check_selection */
	MemoryContext context;		/* the handle's lifetime */
} EngramHnswBuildGraph;

/*
 * Bytes an arena needs for a build of "heap" (an upper bound of its rows
 * times their expected size), capped at "limit" (maintenance_work_mem);
 * heap_attno: the indexed column of the heap (0 for an expression).
 */
extern Size engram_hnsw_build_arena_size(Relation heap, AttrNumber heap_attno, int dims,
										 int m, bool compact_search, Size limit);

/*
 * Initialise an arena of "size" bytes at "arena" (dims 0: not known yet)
 * for pages of the given quantization and on-disk version;
 * compact_search: elements carry codes (COMPACT SEARCH).
 */
extern void engram_hnsw_build_arena_init(EngramHnswBuildArena *arena, Size size,
										 int metric, int dims, int m, int ef_construction,
										 int quantization, uint32 version,
										 bool compact_search);

/*
 * Whether a build of "dims"-dimensional vectors (0: not known yet) searches
 * its graph with codes, as engram.hnsw_build_search says.
 */
extern bool engram_hnsw_build_compact_search(int dims);

/*
 * Attach a process-local handle to an initialised arena; the handle's
 * allocations live in the current memory context.
 */
extern void engram_hnsw_build_graph_attach(EngramHnswBuildGraph *graph,
										   EngramHnswBuildArena *arena, bool concurrent);

/*
 * Make the handle's dimensions agree with the arena's, fixing them from
 * "dims" when the arena has none yet (the first vector of a column without
 * a typmod).  Returns the arena's dimensions.
 */
extern int	engram_hnsw_build_graph_set_dimensions(EngramHnswBuildGraph *graph, int dims);

/*
 * Insert a prepared vector into the graph at a random level.  Returns
 * false, inserting nothing, when the arena is full.  Temporary memory goes
 * to the current memory context.
 */
extern bool engram_hnsw_build_graph_insert(EngramHnswBuildGraph *graph, const float *vector,
										   ItemPointer heaptid);

/* Elements in the graph. */
extern int64 engram_hnsw_build_graph_count(EngramHnswBuildGraph *graph);

/*
 * Link unreachable elements in, lay the graph out on new pages after the
 * metapage, write them and the metapage without WAL, and WAL-log the
 * whole index when it needs WAL.  Only once every insert has finished (no
 * concurrency).  Returns the number of elements written.
 */
extern int64 engram_hnsw_build_graph_write(EngramHnswBuildGraph *graph, Relation index);

/*
 * Set the build's subphase in pg_stat_progress_create_index (leader) and
 * echo what the view now shows at DEBUG1 (hnswbuild.c).
 */
extern void engram_hnsw_build_set_phase(int64 subphase);

#endif							/* ENGRAM_HNSW_BUILD_H */
