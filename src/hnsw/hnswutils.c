/*-------------------------------------------------------------------------
 *
 * hnswutils.c
 *	  Pieces of engram_hnsw shared by build, insert, scan and vacuum:
 *	  pages and element tuples, vector preparation, distances, the visited
 *	  set, the layer search and the neighbour selection heuristic.
 *
 * The search code is written once against EngramHnswGraph, whose visit()
 * reads an element either from the in-memory build graph or from disk.
 * The disk reader here follows hnsw.h's contract: one buffer lock at a
 * time, share mode, held only while one element is read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/relation.h"
#include "access/xloginsert.h"
#include "catalog/pg_class.h"
#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "engram_recent_buffers.h"
#include "hnsw/hnsw.h"


/* ---------------------------------------------------------------------
 * Pages
 * ---------------------------------------------------------------------
 */

void
engram_hnsw_init_page(Page page, uint16 page_type)
{
	EngramHnswPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(EngramHnswPageOpaqueData));
	opaque = EngramHnswPageGetOpaque(page);
	opaque->page_type = page_type;
	opaque->page_id = ENGRAM_HNSW_PAGE_ID;
}

/*
 * ERROR (data corrupted) unless "page" carries this access method's special
 * space.  New all-zero pages (left by a crash during extension) are
 * accepted: they hold no elements.
 */
void
engram_hnsw_check_page(Relation index, Page page, BlockNumber blkno)
{
	EngramHnswPageOpaque opaque;

	if (PageIsNew(page))
		return;
	opaque = EngramHnswPageGetOpaque(page);
	if (PageGetSpecialSize(page) != MAXALIGN(sizeof(EngramHnswPageOpaqueData)) ||
		opaque->page_id != ENGRAM_HNSW_PAGE_ID)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_internal("engram_hnsw index \"%s\" has a corrupted page at block %u",
								 RelationGetRelationName(index), blkno),
				 errhint("Run engram_hnsw_verify() on the index, then REINDEX it.")));
}

/*
 * Open the index "indexoid" with "mode", erroring unless it is an
 * engram_hnsw index (for the SQL functions that take one).
 */
Relation
engram_hnsw_open_index(Oid indexoid, LOCKMODE mode)
{
	Relation	index = relation_open(indexoid, mode);

	if (index->rd_rel->relkind != RELKIND_INDEX ||
		index->rd_indam == NULL || index->rd_indam->ambuild != engram_hnsw_build)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an engram_hnsw index", RelationGetRelationName(index))));
	return index;
}

/* Copy the metapage contents into *meta, checking magic and version. */
void
engram_hnsw_read_meta(Relation index, EngramHnswMetaPageData *meta)
{
	Buffer		buf;
	Page		page;
	EngramHnswMetaPage stored;

	buf = ReadBuffer(index, ENGRAM_HNSW_METAPAGE_BLKNO);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	stored = EngramHnswPageGetMeta(page);
	if (PageIsNew(page) ||
		EngramHnswPageGetOpaque(page)->page_id != ENGRAM_HNSW_PAGE_ID ||
		EngramHnswPageGetOpaque(page)->page_type != ENGRAM_HNSW_PAGE_META ||
		stored->magic != ENGRAM_HNSW_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_internal("engram_hnsw index \"%s\" has a corrupted metapage",
								 RelationGetRelationName(index)),
				 errhint("REINDEX the index.")));
	/*
	 * Version 3 changed the element layout (hnsw.h, MOVED ROWS); version 4
	 * added link states, and version 3 indexes are read as they are.
	 */
	if (stored->version < ENGRAM_HNSW_MIN_VERSION || stored->version > ENGRAM_HNSW_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("engram_hnsw index \"%s\" has on-disk version %u, this library reads versions %d to %d",
						RelationGetRelationName(index), stored->version,
						ENGRAM_HNSW_MIN_VERSION, ENGRAM_HNSW_VERSION),
				 errhint("REINDEX the index.")));
	memcpy(meta, stored, sizeof(EngramHnswMetaPageData));
	UnlockReleaseBuffer(buf);
}

/*
 * Add a block to the index and return it pinned and exclusively locked,
 * all zeros (PageIsNew).  The caller initialises the page (through generic
 * WAL).  No other buffer lock of the index may be held, except by a
 * pending-list append (the metapage's and the tail page's, hnsw.h
 * LOCKING).
 *
 * The new block is visible to other backends from its extension on
 * (ReadBuffer(P_NEW) writes it out before returning), before our buffer
 * lock: an insert looking for a page with room (hnswinsert.c,
 * write_on_seed_page, which takes an all-zero page as room) may lock it
 * first and put an element on it.  Such a block is left to that insert
 * and another one added, so that no caller initialises a page over an
 * element.  (Until 2026-11-22 an append initialised it regardless, as a
 * pending page: the element was lost, its row missing from the index and
 * its neighbours' references to it dangling.)
 */
Buffer
engram_hnsw_new_buffer(Relation index)
{
	for (;;)
	{
		Buffer		buf;

		LockRelationForExtension(index, ExclusiveLock);
		buf = ReadBuffer(index, P_NEW);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		UnlockRelationForExtension(index, ExclusiveLock);
		if (PageIsNew(BufferGetPage(buf)))
			return buf;
		UnlockReleaseBuffer(buf);
	}
}

/*
 * Overwrite "length" bytes of the page of "buf" at byte offset "offset"
 * with "source" and WAL-log exactly those bytes.  The caller holds the
 * buffer pinned and exclusively locked; the bytes must lie in the page's
 * item space (at or above pd_upper, below the special space).
 *
 * The record is a generic WAL record (RM_GENERIC_ID) holding one delta
 * fragment in generic WAL's page-delta format: (OffsetNumber offset,
 * OffsetNumber length, bytes).  Replay is PostgreSQL's own generic_redo, so
 * a standby or crash recovery needs no engram code, exactly as with
 * GenericXLogFinish(); what is saved is GenericXLogFinish's work, which
 * copies the page twice and compares it byte by byte to find the change
 * that the caller knows already (hnsw.h, WAL).  A full-page image is taken
 * by XLogInsert when the page is first touched after a checkpoint.
 */
void
engram_hnsw_log_page_bytes(Relation index, Buffer buf, Size offset,
						   const void *source, Size length)
{
	EngramHnswPageFragment fragment;

	fragment.offset = offset;
	fragment.source = source;
	fragment.length = length;
	engram_hnsw_log_page_fragments(index, buf, &fragment, 1);
}

/*
 * engram_hnsw_log_page_bytes for several non-overlapping ranges of one
 * page, written and logged as one generic WAL record with one delta
 * fragment per range (generic_redo applies them in turn).
 */
void
engram_hnsw_log_page_fragments(Relation index, Buffer buf,
							   const EngramHnswPageFragment *fragments, int count)
{
	Page		page = BufferGetPage(buf);
	PageHeader	header = (PageHeader) page;
	char	   *delta;
	Size		delta_size = 0;
	Size		position = 0;

	Assert(count > 0 && count <= ENGRAM_HNSW_MAX_FRAGMENTS);
	for (int i = 0; i < count; i++)
	{
		if (fragments[i].length == 0 || fragments[i].offset < header->pd_upper ||
			fragments[i].offset + fragments[i].length > header->pd_special)
			elog(ERROR, "engram_hnsw: page write of %zu bytes at offset %zu outside the item space of index \"%s\"",
				 fragments[i].length, fragments[i].offset, RelationGetRelationName(index));
		delta_size += 2 * sizeof(OffsetNumber) + fragments[i].length;
	}

	/* The record is prepared before the critical section (no palloc there). */
	delta = palloc(delta_size);
	for (int i = 0; i < count; i++)
	{
		OffsetNumber fragment_offset = (OffsetNumber) fragments[i].offset;
		OffsetNumber fragment_length = (OffsetNumber) fragments[i].length;

		memcpy(delta + position, &fragment_offset, sizeof(OffsetNumber));
		memcpy(delta + position + sizeof(OffsetNumber), &fragment_length, sizeof(OffsetNumber));
		memcpy(delta + position + 2 * sizeof(OffsetNumber), fragments[i].source,
			   fragments[i].length);
		position += 2 * sizeof(OffsetNumber) + fragments[i].length;
	}

	START_CRIT_SECTION();
	for (int i = 0; i < count; i++)
		memcpy((char *) page + fragments[i].offset, fragments[i].source, fragments[i].length);
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	lsn;

		XLogBeginInsert();
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, delta, delta_size);
		lsn = XLogInsert(RM_GENERIC_ID, 0);
		PageSetLSN(page, lsn);
	}
	END_CRIT_SECTION();
	pfree(delta);
}

/* The element at "offno" of an element page, or NULL for no element. */
EngramHnswElementTuple
engram_hnsw_page_element(Page page, OffsetNumber offno)
{
	ItemId		itemid;

	if (PageIsNew(page) ||
		EngramHnswPageGetOpaque(page)->page_type != ENGRAM_HNSW_PAGE_ELEMENT ||
		offno < FirstOffsetNumber || offno > PageGetMaxOffsetNumber(page))
		return NULL;
	itemid = PageGetItemId(page, offno);
	if (!ItemIdIsUsed(itemid) || !ItemIdHasStorage(itemid))
		return NULL;
	return (EngramHnswElementTuple) PageGetItem(page, itemid);
}

/* ---------------------------------------------------------------------
 * Element tuples
 * ---------------------------------------------------------------------
 */

EngramHnswElementTuple
engram_hnsw_form_element(int dims, int quantization, int m, int level, int slot_level,
						 bool link_states, ItemPointer heaptid, const float *vector,
						 Size *size)
{
	Size		tuple_size = ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(dims, quantization, m,
																  slot_level, link_states);
	EngramHnswElementTuple element = palloc0(tuple_size);
	ItemPointer slots;

	element->level = level;
	element->slot_level = slot_level;
	element->heaptid = *heaptid;
	ItemPointerSetInvalid(&element->alias_tid);
	if (quantization == ENGRAM_HNSW_QUANT_INT8)
	{
		element->flags |= ENGRAM_HNSW_ELEMENT_INT8;
		engram_hnsw_int8_encode(vector, dims, (EngramHnswInt8Vector *) element->vector);
	}
	else
		memcpy(element->vector, vector, sizeof(float) * dims);
	slots = EngramHnswElementSlots(element, dims);
	for (int i = 0; i < ENGRAM_HNSW_TOTAL_SLOTS(m, slot_level); i++)
		ItemPointerSetInvalid(&slots[i]);
	/* link states: distances 0 and states UNKNOWN (= 0) from palloc0 */
	StaticAssertStmt(ENGRAM_HNSW_LINK_UNKNOWN == 0, "palloc0 leaves links unknown");
	if (link_states)
		element->flags |= ENGRAM_HNSW_ELEMENT_LINK_STATES;
	*size = tuple_size;
	return element;
}

void
engram_hnsw_element_get_layer_states(EngramHnswElementTuple element, int dims, int m,
									 int layer, int count, float *distances, uint8 *states)
{
	int			first = ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);

	Assert(element->flags & ENGRAM_HNSW_ELEMENT_LINK_STATES);
	memcpy(distances, EngramHnswElementLinkDistances(element, dims, m) + first,
		   sizeof(float) * count);
	memcpy(states, EngramHnswElementLinkStates(element, dims, m) + first, count);
}

void
engram_hnsw_element_set_layer_states(EngramHnswElementTuple element, int dims, int m,
									 int layer, int count, const float *distances,
									 const uint8 *states)
{
	int			first = ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);
	float	   *element_distances = EngramHnswElementLinkDistances(element, dims, m) + first;
	uint8	   *element_states = EngramHnswElementLinkStates(element, dims, m) + first;

	Assert(element->flags & ENGRAM_HNSW_ELEMENT_LINK_STATES);
	Assert(count <= capacity);
	for (int i = 0; i < capacity; i++)
	{
		element_distances[i] = i < count ? distances[i] : 0;
		element_states[i] = i < count ? states[i] : ENGRAM_HNSW_LINK_UNKNOWN;
	}
}

/* Copy the neighbour list of "layer" into refs[]; returns its length. */
int
engram_hnsw_element_get_layer(EngramHnswElementTuple element, int dims, int m,
							  int layer, EngramHnswRef *refs)
{
	ItemPointer slots;
	int			count = 0;

	if (layer > element->level)
		return 0;
	slots = EngramHnswElementSlots(element, dims) + ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);
	for (int i = 0; i < ENGRAM_HNSW_LAYER_SLOTS(m, layer); i++)
	{
		if (!ItemPointerIsValid(&slots[i]))
			break;
		refs[count++] = EngramHnswRefFromTid(ItemPointerGetBlockNumberNoCheck(&slots[i]),
											 ItemPointerGetOffsetNumberNoCheck(&slots[i]));
	}
	return count;
}

/* Replace the neighbour list of "layer" (count <= its slot count). */
void
engram_hnsw_element_set_layer(EngramHnswElementTuple element, int dims, int m,
							  int layer, const EngramHnswRef *refs, int count)
{
	ItemPointer slots = EngramHnswElementSlots(element, dims) +
		ENGRAM_HNSW_LAYER_FIRST_SLOT(m, layer);
	int			capacity = ENGRAM_HNSW_LAYER_SLOTS(m, layer);

	Assert(layer <= element->slot_level);
	Assert(count <= capacity);
	for (int i = 0; i < capacity; i++)
	{
		if (i < count)
			ItemPointerSet(&slots[i], EngramHnswRefBlock(refs[i]), EngramHnswRefOffset(refs[i]));
		else
			ItemPointerSetInvalid(&slots[i]);
	}
}

/* ---------------------------------------------------------------------
 * Vectors, levels, distances
 * ---------------------------------------------------------------------
 */

bool
engram_hnsw_prepare_vector(Relation index, int metric, int dims,
						   const EngramVector *vec, float *out)
{
	if (vec->dim != dims)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("expected %d dimensions, not %d", dims, vec->dim),
				 errdetail("Index \"%s\" holds vectors of %d dimensions.",
						   RelationGetRelationName(index), dims)));
	if (metric == ENGRAM_HNSW_METRIC_COSINE)
	{
		/* one pass for the norm, one to write: the source may be a cold heap page */
		float		norm = engram_inner_product(vec->x, vec->x, dims);

		if (!(norm > 0) || isinf(norm))
			return false;
		norm = 1.0f / sqrtf(norm);
		for (int i = 0; i < dims; i++)
			out[i] = vec->x[i] * norm;
	}
	else
		memcpy(out, vec->x, sizeof(float) * dims);
	return true;
}

double
engram_hnsw_distance_to_orderby(int metric, float distance)
{
	if (metric == ENGRAM_HNSW_METRIC_L2)
		return sqrt(Max(distance, 0.0f));
	return distance;
}

/* Largest level whose tuple fits a page, or -1 when none does. */
int
engram_hnsw_max_level(int dims, int quantization, int m, bool link_states)
{
	int			level = -1;

	while (level < ENGRAM_HNSW_MAX_LEVEL &&
		   ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(dims, quantization, m, level + 1,
												link_states) <=
		   ENGRAM_HNSW_MAX_ELEMENT_SIZE)
		level++;
	return level;
}

/* Level-0 elements of "size" bytes that fit an empty element page. */
static int
elements_per_page(Size size)
{
	return (BLCKSZ - SizeOfPageHeaderData - MAXALIGN(sizeof(EngramHnswPageOpaqueData))) /
		(size + sizeof(ItemIdData));
}

/*
 * Whether a level-0 element with link states takes as many to a page as
 * one without (so that keeping them costs no room).
 */
static bool
link_states_fit(int dims, int quantization, int m)
{
	if (quantization != ENGRAM_HNSW_QUANT_NONE || dims <= 0 ||
		engram_hnsw_max_level(dims, quantization, m, true) < 0)
		return false;
	return elements_per_page(ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(dims, quantization, m, 0, true)) ==
		elements_per_page(ENGRAM_HNSW_ELEMENT_TUPLE_SIZE(dims, quantization, m, 0));
}

bool
engram_hnsw_keeps_link_states(uint32 version, int dims, int quantization, int m)
{
	return version >= 4 && link_states_fit(dims, quantization, m);
}

bool
engram_hnsw_meta_link_states(const EngramHnswMetaPageData *meta)
{
	return engram_hnsw_keeps_link_states(meta->version, meta->dimensions, meta->quantization,
										 meta->m);
}

void
engram_hnsw_check_element_fits(int dims, int quantization, int m)
{
	if (engram_hnsw_max_level(dims, quantization, m, false) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("vectors of %d dimensions are too large for an engram_hnsw index with m = %d",
						dims, m),
				 errhint(quantization == ENGRAM_HNSW_QUANT_INT8 ?
						 "Lower m, or reduce the dimensions of the vectors." :
						 "Lower m, use quantization = 'int8', or reduce the dimensions of the vectors.")));
}

/* A level drawn from the geometric distribution with mL = 1 / ln(m). */
int
engram_hnsw_random_level(int m, int max_level)
{
	double		u = 1.0 - pg_prng_double(&pg_global_prng_state);	/* (0, 1] */
	int			level = (int) floor(-log(u) / log((double) m));

	return Min(level, max_level);
}

/* ---------------------------------------------------------------------
 * Set of refs: open addressing with linear probing
 * ---------------------------------------------------------------------
 */

#define REFSET_EMPTY PG_UINT64_MAX

static inline uint32
refset_hash(uint64 ref)
{
	ref ^= ref >> 33;
	ref *= UINT64CONST(0xff51afd7ed558ccd);
	ref ^= ref >> 33;
	return (uint32) ref;
}

void
engram_hnsw_refset_init(EngramHnswRefSet *set, uint32 expected)
{
	uint32		capacity = 64;

	while (capacity < expected * 2)
		capacity <<= 1;
	set->context = CurrentMemoryContext;
	set->capacity = capacity;
	set->count = 0;
	set->slots = MemoryContextAlloc(set->context, sizeof(uint64) * capacity);
	memset(set->slots, 0xFF, sizeof(uint64) * capacity);
}

void
engram_hnsw_refset_reset(EngramHnswRefSet *set)
{
	if (set->count <= ENGRAM_HNSW_REFSET_TOUCHED)
	{
		for (uint32 i = 0; i < set->count; i++)
			set->slots[set->touched[i]] = REFSET_EMPTY;
	}
	else
		memset(set->slots, 0xFF, sizeof(uint64) * set->capacity);
	set->count = 0;
}

static void
refset_grow(EngramHnswRefSet *set)
{
	uint64	   *old = set->slots;
	uint32		old_capacity = set->capacity;

	set->capacity *= 2;
	set->slots = MemoryContextAlloc(set->context, sizeof(uint64) * set->capacity);
	memset(set->slots, 0xFF, sizeof(uint64) * set->capacity);
	set->count = 0;
	for (uint32 i = 0; i < old_capacity; i++)
		if (old[i] != REFSET_EMPTY)
			engram_hnsw_refset_add(set, old[i]);
	pfree(old);
}

bool
engram_hnsw_refset_add(EngramHnswRefSet *set, EngramHnswRef ref)
{
	uint32		mask;
	uint32		i;

	if ((set->count + 1) * 2 > set->capacity)
		refset_grow(set);
	mask = set->capacity - 1;
	for (i = refset_hash(ref) & mask;; i = (i + 1) & mask)
	{
		if (set->slots[i] == ref)
			return false;
		if (set->slots[i] == REFSET_EMPTY)
		{
			set->slots[i] = ref;
			if (set->count < ENGRAM_HNSW_REFSET_TOUCHED)
				set->touched[set->count] = i;
			set->count++;
			return true;
		}
	}
}

bool
engram_hnsw_refset_contains(const EngramHnswRefSet *set, EngramHnswRef ref)
{
	uint32		mask = set->capacity - 1;

	for (uint32 i = refset_hash(ref) & mask;; i = (i + 1) & mask)
	{
		if (set->slots[i] == ref)
			return true;
		if (set->slots[i] == REFSET_EMPTY)
			return false;
	}
}

/* ---------------------------------------------------------------------
 * Binary heaps of candidate indexes (min-heap or max-heap on distance)
 * ---------------------------------------------------------------------
 */

/*
 * A heap entry carries its candidate's distance, so that sifting compares
 * entries in place instead of loading each candidate (a 64-byte struct,
 * one cache line per comparison); the comparisons, hence the order, are
 * those of a heap of indexes.
 */
typedef struct CandidateHeapEntry
{
	float		distance;
	int			item;			/* index into the candidate array */
} CandidateHeapEntry;

typedef struct CandidateHeap
{
	CandidateHeapEntry *entries;
	int			count;
	int			capacity;
	bool		max_heap;
} CandidateHeap;

static inline bool
heap_before(const CandidateHeap *heap, float da, float db)
{
	return heap->max_heap ? da > db : da < db;
}

static void
heap_init(CandidateHeap *heap, bool max_heap, int capacity)
{
	heap->capacity = Max(capacity, 16);
	heap->entries = palloc(sizeof(CandidateHeapEntry) * heap->capacity);
	heap->count = 0;
	heap->max_heap = max_heap;
}

/* Add candidate "item" at "distance". */
static void
heap_push(CandidateHeap *heap, int item, float distance)
{
	int			i;

	if (heap->count == heap->capacity)
	{
		heap->capacity *= 2;
		heap->entries = repalloc(heap->entries, sizeof(CandidateHeapEntry) * heap->capacity);
	}
	i = heap->count++;
	while (i > 0)
	{
		int			parent = (i - 1) / 2;

		if (!heap_before(heap, distance, heap->entries[parent].distance))
			break;
		heap->entries[i] = heap->entries[parent];
		i = parent;
	}
	heap->entries[i].distance = distance;
	heap->entries[i].item = item;
}

/* Remove the top entry; returns its candidate index. */
static int
heap_pop(CandidateHeap *heap)
{
	int			top = heap->entries[0].item;
	CandidateHeapEntry last = heap->entries[--heap->count];
	int			i = 0;

	while (true)
	{
		int			child = 2 * i + 1;

		if (child >= heap->count)
			break;
		if (child + 1 < heap->count &&
			heap_before(heap, heap->entries[child + 1].distance, heap->entries[child].distance))
			child++;
		if (!heap_before(heap, heap->entries[child].distance, last.distance))
			break;
		heap->entries[i] = heap->entries[child];
		i = child;
	}
	if (heap->count > 0)
		heap->entries[i] = last;
	return top;
}

/* The distance of the top entry (the heap must not be empty). */
static inline float
heap_top_distance(const CandidateHeap *heap)
{
	return heap->entries[0].distance;
}

static int
compare_candidates(const void *a, const void *b)
{
	float		da = ((const EngramHnswCandidate *) a)->distance;
	float		db = ((const EngramHnswCandidate *) b)->distance;

	if (da < db)
		return -1;
	if (da > db)
		return 1;
	return 0;
}

/*
 * Sort candidates by ascending distance.  Insertion sort for the short,
 * mostly sorted arrays of neighbour lists (no call per comparison, no
 * large-struct swaps through qsort); qsort beyond that.
 */
void
engram_hnsw_sort_candidates(EngramHnswCandidate *candidates, int count)
{
	if (count > 64)
	{
		qsort(candidates, count, sizeof(EngramHnswCandidate), compare_candidates);
		return;
	}
	for (int i = 1; i < count; i++)
	{
		EngramHnswCandidate moving = candidates[i];
		int			j = i;

		while (j > 0 && candidates[j - 1].distance > moving.distance)
		{
			candidates[j] = candidates[j - 1];
			j--;
		}
		candidates[j] = moving;
	}
}

/* ---------------------------------------------------------------------
 * Layer search (the HNSW paper's SEARCH-LAYER)
 * ---------------------------------------------------------------------
 */

/*
 * EARLY EXIT
 *
 * Once the search holds ef results, a neighbour is kept only when its
 * distance is below that of the furthest result, and most neighbours a
 * search meets are not.  visit() therefore gets that distance as its
 * threshold, and computes the distance with engram_hnsw_distance_below()
 * (hnsw.h): the bounded kernels (engram_simd.h) check their partial sum
 * every 64 floats and stop once it proves the neighbour is no nearer,
 * which also spares reading the rest of its vector (3 kB at 768
 * dimensions, half a page).  A distance below the threshold comes out bit
 * for bit as engram_hnsw_distance() computes it, and one at or above it is
 * discarded here whatever its value, so a search returns what it returned
 * without the early exit; engram.hnsw_early_exit = off computes every
 * distance whole (sql/hnsw_early_exit.sql compares both).  The build
 * graph's visits do the same.  How much it saves depends on how far the
 * rejected neighbours are: a partial sum of squares reaches a threshold t
 * after about t / d of a vector at distance d, so on data whose distances
 * concentrate (high dimensions, one cluster) it stops late.  On the
 * benchmark's clustered 30,000 x 768 set, 79 % of the rejected
 * neighbours had t / d >= 0.9 and no CPU was saved, hence the setting is
 * off by default (docs/reference/performance-baselines.md).
 */

int
engram_hnsw_search_layer(EngramHnswGraph *graph, const float *query,
						 const EngramHnswRef *entries, int entry_count,
						 int ef, int layer, bool want_vectors,
						 EngramHnswRefSet *visited,
						 EngramHnswCandidate **result)
{
	EngramHnswCandidate *all;	/* every element that became a candidate */
	int			all_count = 0;
	int			all_capacity = Max(ef * 4, 16);
	CandidateHeap candidates;	/* nearest first: what to expand next */
	CandidateHeap nearest;		/* furthest first: the best ef so far */
	EngramHnswCandidate *out;
	EngramHnswRef *fresh;		/* neighbours of the current candidate
								 * not visited yet */
	int			result_count;

	engram_hnsw_refset_reset(visited);
	all = palloc(sizeof(EngramHnswCandidate) * all_capacity);
	fresh = palloc(sizeof(EngramHnswRef) * ENGRAM_HNSW_LAYER_SLOTS(graph->m, 0));
	heap_init(&candidates, false, ef * 2);
	heap_init(&nearest, true, ef + 1);

	for (int i = 0; i < entry_count; i++)
	{
		if (!engram_hnsw_refset_add(visited, entries[i]))
			continue;
		if (all_count == all_capacity)
		{
			all_capacity *= 2;
			all = repalloc(all, sizeof(EngramHnswCandidate) * all_capacity);
		}
		if (!graph->visit(graph, entries[i], query, layer, INFINITY, want_vectors,
						  &all[all_count]))
			continue;
		heap_push(&candidates, all_count, all[all_count].distance);
		if (!all[all_count].deleted)
		{
			heap_push(&nearest, all_count, all[all_count].distance);
			if (nearest.count > ef)
				heap_pop(&nearest);
		}
		all_count++;
	}

	while (candidates.count > 0)
	{
		int			current = heap_pop(&candidates);
		EngramHnswRef *neighbours;
		int			neighbour_count;

		if (nearest.count >= ef &&
			all[current].distance > heap_top_distance(&nearest))
			break;

		CHECK_FOR_INTERRUPTS();
		neighbours = all[current].neighbours;
		neighbour_count = 0;
		/* the neighbours not visited yet, their memory prefetched */
		for (int i = 0; i < all[current].neighbour_count; i++)
		{
			if (engram_hnsw_refset_add(visited, neighbours[i]))
				fresh[neighbour_count++] = neighbours[i];
		}
		if (graph->prefetch_hint != NULL && neighbour_count > 0)
			graph->prefetch_hint(graph, fresh, neighbour_count);
		if (graph->prefetch != NULL)
		{
			for (int i = 0; i < neighbour_count; i++)
				graph->prefetch(graph, fresh[i]);
		}
		for (int i = 0; i < neighbour_count; i++)
		{
			EngramHnswRef ref = fresh[i];
			float		threshold;
			EngramHnswCandidate *found;

			threshold = nearest.count < ef ? INFINITY : heap_top_distance(&nearest);
			if (all_count == all_capacity)
			{
				all_capacity *= 2;
				all = repalloc(all, sizeof(EngramHnswCandidate) * all_capacity);
				/* "neighbours" points into the visit's memory, not "all" */
			}
			found = &all[all_count];
			if (!graph->visit(graph, ref, query, layer, threshold, want_vectors, found))
				continue;
			if (!(found->distance < threshold))
				continue;
			heap_push(&candidates, all_count, found->distance);
			if (!found->deleted)
			{
				heap_push(&nearest, all_count, found->distance);
				if (nearest.count > ef)
					heap_pop(&nearest);
			}
			all_count++;
		}
		if (graph->prefetch_end != NULL)
			graph->prefetch_end(graph);
	}

	out = palloc(sizeof(EngramHnswCandidate) * Max(nearest.count, 1));
	result_count = nearest.count;
	if (result_count > 64)
	{
		/* furthest first out of the heap: no sort of the large structs */
		for (int i = result_count - 1; i >= 0; i--)
			out[i] = all[heap_pop(&nearest)];
	}
	else
	{
		for (int i = 0; i < result_count; i++)
			out[i] = all[nearest.entries[i].item];
		engram_hnsw_sort_candidates(out, result_count);
	}
	*result = out;
	return result_count;
}

/* Most refs a search's visited set is sized for up front (1 MB of slots). */
#define VISITED_INITIAL_MAX		65536

void
engram_hnsw_search(EngramHnswGraph *graph, const float *query,
				   EngramHnswRef entry, int entry_level,
				   int ef, int full_from, bool want_vectors,
				   EngramHnswCandidate **layer_results, int *layer_counts)
{
	EngramHnswRefSet visited;
	EngramHnswRef *entries;
	int			entry_count = 1;

	for (int lc = 0; lc <= ENGRAM_HNSW_MAX_LEVEL; lc++)
	{
		layer_results[lc] = NULL;
		layer_counts[lc] = 0;
	}
	/*
	 * Room for what a layer-0 search visits, ef candidates' full lists (a
	 * build's search grew a set sized for ef x m nearly every time), up to
	 * VISITED_INITIAL_MAX: the set grows beyond that, so that the large ef
	 * of an iterative scan does not clear megabytes up front.
	 */
	engram_hnsw_refset_init(&visited,
							(uint32) Min((int64) ef * ENGRAM_HNSW_LAYER_SLOTS(graph->m, 0),
										 VISITED_INITIAL_MAX));
	entries = palloc(sizeof(EngramHnswRef) * Max(ef, 1));
	entries[0] = entry;
	/* once for all the layers: an int8 query is encoded in full each time */
	if (graph->prepare_query && query)
		graph->prepare_query(graph, query);
	if (graph->search_begin != NULL)
		graph->search_begin(graph);

	for (int lc = entry_level; lc >= 0; lc--)
	{
		EngramHnswCandidate *found;
		int			found_count;
		bool		full = lc <= full_from;

		found_count = engram_hnsw_search_layer(graph, query, entries, entry_count,
											   full ? ef : 1, lc,
											   want_vectors && full,
											   &visited, &found);
		if (full)
		{
			layer_results[lc] = found;
			layer_counts[lc] = found_count;
		}
		/* The next layer starts from what this one found (if anything). */
		if (found_count > 0)
		{
			entry_count = Min(found_count, ef);
			for (int i = 0; i < entry_count; i++)
				entries[i] = found[i].ref;
		}
	}
	if (graph->search_end != NULL)
		graph->search_end(graph);
}

/* ---------------------------------------------------------------------
 * Neighbour selection heuristic (the HNSW paper's SELECT-NEIGHBORS-
 * HEURISTIC) with "keep pruned connections" up to keep_at_least; see
 * ENGRAM_HNSW_BACKLINK_KEEP in hnsw.h for how full each caller keeps lists.
 * ---------------------------------------------------------------------
 */

/*
 * Floats per partial sum of closer_than(): the check after each chunk
 * costs little against the distance work it can skip.
 */
#define CLOSER_THAN_CHUNK	256

/*
 * Whether the internal distance between "a" and "b" is below "bound": the
 * heuristic's only question about a pair of candidates.  Under L2 the
 * squared distance is a sum of non-negative terms, so the sum stops as
 * soon as a partial sum reaches the bound; most pairs of a list's
 * neighbours are further apart than from the base, and at high dimensions
 * their sum stops about half way.  Cosine vectors are stored normalised
 * (1 - a.b = |a - b|^2 / 2), so they take the same path with twice the
 * bound; the two forms round differently, which can only flip a pair at a
 * tie.  Inner product has no such bound: one full product.
 */
static bool
closer_than(const EngramHnswGraph *graph, const float *a, const float *b, float bound)
{
	int			dims = graph->dimensions;
	float		limit;
	float		sum = 0;

	switch (graph->metric)
	{
		case ENGRAM_HNSW_METRIC_L2:
			limit = bound;
			break;
		case ENGRAM_HNSW_METRIC_COSINE:
			limit = 2.0f * bound;
			break;
		default:
			return engram_hnsw_distance(graph->metric, a, b, dims) < bound;
	}
	for (int from = 0; from < dims; from += CLOSER_THAN_CHUNK)
	{
		sum += engram_l2_squared_distance(a + from, b + from,
										  Min(CLOSER_THAN_CHUNK, dims - from));
		if (!(sum < limit))
			return false;
	}
	return true;
}

/* A candidate's vector, read through load_vector() on first need. */
static inline const float *
candidate_vector(const EngramHnswGraph *graph, const EngramHnswCandidate *candidate)
{
	if (candidate->vector == NULL && graph->load_vector != NULL)
		return graph->load_vector(graph, (EngramHnswCandidate *) candidate);
	return candidate->vector;
}

/*
 * Whether one of the candidates "by[0..by_count)" is closer to candidate
 * "i" than the base is (the heuristic's reason to prune "i").
 */
static bool
dominated(const EngramHnswGraph *graph, const EngramHnswCandidate *candidates, int i,
		  const int *by, int by_count)
{
	for (int j = 0; j < by_count; j++)
	{
		int			closer = -1;

		if (graph->pair_closer != NULL)
			closer = graph->pair_closer(graph, candidates[i].ref, candidates[by[j]].ref,
										candidates[i].distance);
		if (closer < 0)
		{
			const float *a = candidate_vector(graph, &candidates[i]);
			const float *b = candidate_vector(graph, &candidates[by[j]]);

			closer = a != NULL && b != NULL &&
				closer_than(graph, a, b, candidates[i].distance);
		}
		if (closer)
			return true;
	}
	return false;
}

int
engram_hnsw_select_neighbours(const EngramHnswGraph *graph,
							  EngramHnswCandidate *candidates, int count,
							  int max_count, int keep_at_least, int *chosen)
{
	return engram_hnsw_select_neighbours_known(graph, candidates, count, max_count,
											   keep_at_least, NULL, chosen);
}

/* Candidates a selection takes without allocating (ef_construction 64 + 1). */
#define SELECT_LOCAL_CANDIDATES 65

/*
 * KNOWN OUTCOMES
 *
 * The heuristic is a greedy pass in distance order: a candidate is kept
 * unless a candidate kept before it is closer to it than the base.  When
 * a list is pruned again after one more link came in, the outcome of its
 * previous pass mostly still holds, and "states" (ENGRAM_HNSW_LINK_*, one
 * per candidate, in and out) says what it was:
 *	- KEPT: no candidate kept before it in that pass was closer to it.
 *	  Those that are kept again still are not; only the candidates kept
 *	  now that were not kept then ("added") need checking against it.
 *	- PRUNED: some candidate kept before it in that pass was closer.  As
 *	  long as no candidate that was kept then has been dropped in this
 *	  pass, that one is still kept and it stays pruned, unchecked;
 *	  otherwise it is checked against all kept so far.
 *	- UNKNOWN (new links, or no earlier pass): checked against all kept.
 * This holds when every KEPT and PRUNED candidate comes from one earlier
 * pass over the same base with the same distances, in the same relative
 * order, and every candidate that pass kept is still among the
 * candidates; the outcome is then exactly that of a pass without states
 * (the pair test is a fixed function of the pair and the distance).  On
 * return states[i] is the outcome of this pass (UNKNOWN for candidates it
 * did not reach).
 */
int
engram_hnsw_select_neighbours_known(const EngramHnswGraph *graph,
									EngramHnswCandidate *candidates, int count,
									int max_count, int keep_at_least, uint8 *states,
									int *chosen)
{
	int			chosen_count = 0;
	int			local[2 * SELECT_LOCAL_CANDIDATES];
	int		   *pruned;
	int			pruned_count = 0;
	int		   *added;			/* kept now, not KEPT before */
	int			added_count = 0;
	bool		dropped_kept = false;	/* a KEPT candidate is pruned now */
	int			examined = 0;

	if (count <= max_count)
	{
		for (int i = 0; i < count; i++)
		{
			chosen[i] = i;
			if (states != NULL)
				states[i] = ENGRAM_HNSW_LINK_UNKNOWN;
		}
		return count;
	}

	pruned = count <= SELECT_LOCAL_CANDIDATES ? local : palloc(sizeof(int) * 2 * count);
	added = pruned + count;
	for (; examined < count && chosen_count < max_count; examined++)
	{
		int			i = examined;
		uint8		before = states != NULL ? states[i] : ENGRAM_HNSW_LINK_UNKNOWN;
		bool		keep;

		if (before == ENGRAM_HNSW_LINK_KEPT)
			keep = !dominated(graph, candidates, i, added, added_count);
		else if (before == ENGRAM_HNSW_LINK_PRUNED && !dropped_kept)
			keep = false;
		else
			keep = !dominated(graph, candidates, i, chosen, chosen_count);
		if (keep)
		{
			chosen[chosen_count++] = i;
			if (before != ENGRAM_HNSW_LINK_KEPT)
				added[added_count++] = i;
		}
		else
		{
			pruned[pruned_count++] = i;
			if (before == ENGRAM_HNSW_LINK_KEPT)
				dropped_kept = true;
		}
		if (states != NULL)
			states[i] = keep ? ENGRAM_HNSW_LINK_KEPT : ENGRAM_HNSW_LINK_PRUNED;
	}
	if (states != NULL)
		for (int i = examined; i < count; i++)
			states[i] = ENGRAM_HNSW_LINK_UNKNOWN;
	if (pruned_count > 0 && chosen_count < Min(keep_at_least, max_count))
	{
		for (int i = 0; i < pruned_count && chosen_count < Min(keep_at_least, max_count); i++)
			chosen[chosen_count++] = pruned[i];
		/* ascending index = ascending distance: lists stay sorted */
		for (int i = 1; i < chosen_count; i++)
		{
			int			moving = chosen[i];
			int			j = i;

			while (j > 0 && chosen[j - 1] > moving)
			{
				chosen[j] = chosen[j - 1];
				j--;
			}
			chosen[j] = moving;
		}
	}
	if (pruned != local)
		pfree(pruned);
	return chosen_count;
}

/* ---------------------------------------------------------------------
 * Vector cache (hnsw.h)
 * ---------------------------------------------------------------------
 */

void
engram_hnsw_vector_cache_init(EngramHnswVectorCache *cache, int expected)
{
	cache->capacity = 64;
	while (cache->capacity < (uint32) expected * 2)
		cache->capacity <<= 1;
	cache->count = 0;
	cache->keys = palloc(sizeof(EngramHnswRef) * cache->capacity);
	memset(cache->keys, 0xFF, sizeof(EngramHnswRef) * cache->capacity);
	cache->values = palloc(sizeof(float *) * cache->capacity);
}

static inline uint32
vector_cache_slot(const EngramHnswVectorCache *cache, EngramHnswRef ref)
{
	uint64		h = ref * UINT64CONST(0x9E3779B97F4A7C15);

	return (uint32) (h >> 32) & (cache->capacity - 1);
}

static void
vector_cache_grow(EngramHnswVectorCache *cache)
{
	EngramHnswRef *old_keys = cache->keys;
	float	  **old_values = cache->values;
	uint32		old_capacity = cache->capacity;

	cache->capacity *= 2;
	cache->count = 0;
	cache->keys = palloc(sizeof(EngramHnswRef) * cache->capacity);
	memset(cache->keys, 0xFF, sizeof(EngramHnswRef) * cache->capacity);
	cache->values = palloc(sizeof(float *) * cache->capacity);
	for (uint32 i = 0; i < old_capacity; i++)
		if (old_keys[i] != ENGRAM_HNSW_INVALID_REF)
			engram_hnsw_vector_cache_put(cache, old_keys[i], old_values[i]);
	pfree(old_keys);
	pfree(old_values);
}

void
engram_hnsw_vector_cache_put(EngramHnswVectorCache *cache, EngramHnswRef ref, float *vector)
{
	uint32		i;

	if ((cache->count + 1) * 2 > cache->capacity)
		vector_cache_grow(cache);
	i = vector_cache_slot(cache, ref);
	while (cache->keys[i] != ENGRAM_HNSW_INVALID_REF && cache->keys[i] != ref)
		i = (i + 1) & (cache->capacity - 1);
	if (cache->keys[i] == ENGRAM_HNSW_INVALID_REF)
		cache->count++;
	cache->keys[i] = ref;
	cache->values[i] = vector;
}

float *
engram_hnsw_vector_cache_get(const EngramHnswVectorCache *cache, EngramHnswRef ref)
{
	for (uint32 i = vector_cache_slot(cache, ref);; i = (i + 1) & (cache->capacity - 1))
	{
		if (cache->keys[i] == ref)
			return cache->values[i];
		if (cache->keys[i] == ENGRAM_HNSW_INVALID_REF)
			return NULL;
	}
}

/* ---------------------------------------------------------------------
 * Disk graph
 * ---------------------------------------------------------------------
 */

/*
 * DISK GRAPH PREFETCH
 *
 * A visit to an on-disk element is dominated by cache misses, each one
 * waited for in turn: the buffer mapping lookup, the buffer header, the
 * page header (PageIsNew), the special space (page id), the line pointer,
 * the element.  prefetch() takes the first two for every neighbour the
 * search is about to visit (ReadBuffer, a pin) and starts loading the page
 * header, line pointer and special space lines of each; once the line
 * pointer of one element is likely loaded (one prefetch later), the lines
 * of its header and vector are requested too.  The visits that follow
 * find their buffer pinned and their lines arriving or arrived, so the
 * misses of one batch overlap instead of adding up.
 *
 * The pins are transient: each visit releases the pin it consumes and
 * prefetch_end() releases those of refs not visited.  No buffer lock is
 * taken ahead, so the one-lock-at-a-time contract (hnsw.h) is unchanged;
 * a page may change between its prefetch and its visit, which reads it
 * under its share lock as before.  Line pointers are read without a lock
 * for the prefetch only: a torn or stale value just prefetches the wrong
 * lines of the same page.
 */

/*
 * KEPT PINS
 *
 * A search meets many pages more than once (several elements of a page, a
 * page holding one neighbourhood after a build: page_order in
 * hnswbuildgraph.c), and an insert locks for its back-links the pages its
 * search just visited.  While pins are kept, the disk graph holds on to
 * the pin of every page it visits in a direct-mapped table of
 * ENGRAM_HNSW_DISK_KEPT_PINS entries (a page evicts the one in its slot),
 * so that a page met again costs no buffer mapping lookup, no pin and no
 * unpin.  Pins are not locks: the lock contract is unchanged, and nothing
 * in this access method waits for another backend's pins (no cleanup
 * locks).  Pins still held at an error are released by the resource
 * owner.
 */

/*
 * UNPINNED SEARCH
 *
 * PostgreSQL counts a backend's pins in an array of 8 entries and, beyond
 * that, a hash table (and the resource owner's array turns into a hash
 * table beyond 64): the kept pins and the pins taken ahead put every pin
 * and unpin of a search into those tables.  That pays where a search meets
 * its pages several times, as at 128 dimensions (about ten elements a
 * page).  Where a page holds at most two elements (float vectors of about
 * 450 dimensions and more at m = 16), a search at 30,000 x 768 met a page
 * again in about a quarter of its visits, and the table lookups of the
 * other pins cost more than those visits saved (performance-baselines.md,
 * "Pins of searches over large elements").  A search of such an index
 * (not an insert's, whose back-links lock the pages its search pinned)
 * therefore keeps no pins, and prefetch() pins nothing when the block has
 * a recent buffer: it starts loading the lines of that buffer's page
 * unpinned (a buffer since reused for another page costs useless
 * prefetches, as for prefetch_hint()), and each visit pins its page, one
 * pin at a time.  A block without a recent buffer is pinned ahead as
 * before.
 */

/*
 * RECENT BUFFERS
 *
 * A search pins each page through the buffer in which this backend last
 * found it when that buffer still holds it, without the shared buffer
 * mapping table (src/engram_recent_buffers.c: the scheme; at 768
 * dimensions a search visits over a thousand pages and the lookups were a
 * quarter of its CPU time).  The array of an index lives in its
 * rd_amcache, in the relcache entry's memory: freed and rebuilt empty by
 * any relcache invalidation of the index.
 */
#define ENGRAM_HNSW_RECENT_MIN		1024	/* entries, a power of two */
#define ENGRAM_HNSW_RECENT_MAX		(1 << 20)	/* 4 MB per index and backend */

/*
 * The recent-buffer array of "index", allocated (empty) on first use with
 * room for every block the index has now, up to ENGRAM_HNSW_RECENT_MAX.
 * Only valid until the next relcache invalidation can be processed (no
 * heavyweight lock is taken while the caller uses it).
 */
static EngramRecentBuffers *
recent_buffers(Relation index)
{
	EngramRecentBuffers *recent = (EngramRecentBuffers *) index->rd_amcache;

	if (recent == NULL)
	{
		recent = engram_recent_buffers_create(index->rd_indexcxt, index, ENGRAM_HNSW_RECENT_MIN,
											  ENGRAM_HNSW_RECENT_MAX);
		index->rd_amcache = recent;
	}
	return recent;
}

/*
 * A new pin of block "blkno" of the disk graph's index, the caller's to
 * release: from the buffer that held it last when it still does, else
 * through ReadBuffer() (RECENT BUFFERS).  No lock is taken.
 */
static Buffer
disk_read_buffer(EngramHnswDiskGraph *disk, BlockNumber blkno)
{
	Relation	index = disk->index;
	EngramRecentBuffers *recent = recent_buffers(index);
	Buffer		buf;

	if (engram_recent_buffers_pin(recent, index, blkno))
		return *engram_recent_buffers_slot(recent, blkno);
	buf = ReadBuffer(index, blkno);
	/* look the array up again: nothing should have freed it, but be sure */
	recent = recent_buffers(index);
	*engram_recent_buffers_slot(recent, blkno) = buf;
	return buf;
}

static inline bool
keeping_pins(const EngramHnswDiskGraph *disk)
{
	return disk->keep_pins_depth > 0 && disk->kept_mask >= 0;
}

static inline int
kept_slot(const EngramHnswDiskGraph *disk, BlockNumber blkno)
{
	return (int) ((blkno * 0x9E3779B1U) >> 16) & disk->kept_mask;
}

Buffer
engram_hnsw_disk_graph_pin(EngramHnswDiskGraph *disk, BlockNumber blkno)
{
	int			slot;

	if (!keeping_pins(disk))
		return disk_read_buffer(disk, blkno);
	slot = kept_slot(disk, blkno);
	if (disk->kept_blocks[slot] == blkno)
		return disk->kept_buffers[slot];
	if (disk->kept_blocks[slot] != InvalidBlockNumber)
		ReleaseBuffer(disk->kept_buffers[slot]);
	disk->kept_blocks[slot] = InvalidBlockNumber;
	disk->kept_buffers[slot] = disk_read_buffer(disk, blkno);
	disk->kept_blocks[slot] = blkno;
	return disk->kept_buffers[slot];
}

Buffer
engram_hnsw_disk_graph_pin_own(EngramHnswDiskGraph *disk, BlockNumber blkno)
{
	if (keeping_pins(disk))
	{
		int			slot = kept_slot(disk, blkno);

		if (disk->kept_blocks[slot] == blkno)
		{
			IncrBufferRefCount(disk->kept_buffers[slot]);
			return disk->kept_buffers[slot];
		}
	}
	return disk_read_buffer(disk, blkno);
}

void
engram_hnsw_disk_graph_unpin(EngramHnswDiskGraph *disk, Buffer buf)
{
	if (!keeping_pins(disk))
		ReleaseBuffer(buf);
}

void
engram_hnsw_disk_graph_keep_pins(EngramHnswDiskGraph *disk)
{
	if (disk->keep_pins_depth++ > 0)
		return;
	for (int i = 0; i <= disk->kept_mask; i++)
		disk->kept_blocks[i] = InvalidBlockNumber;
}

void
engram_hnsw_disk_graph_release_pins(EngramHnswDiskGraph *disk)
{
	Assert(disk->keep_pins_depth > 0);
	Assert(disk->ahead_count == 0);
	if (--disk->keep_pins_depth > 0)
		return;
	for (int i = 0; i <= disk->kept_mask; i++)
	{
		if (disk->kept_blocks[i] != InvalidBlockNumber)
			ReleaseBuffer(disk->kept_buffers[i]);
		disk->kept_blocks[i] = InvalidBlockNumber;
	}
}

/*
 * Size what the disk graph pins beyond the one buffer it visits from the
 * backend's fair share of shared buffers (engram_backend_buffer_share): at
 * most a quarter of it pinned ahead and half of it kept.  A small
 * shared_buffers with many connections (1 MB in the TAP tests) pins
 * nothing ahead and keeps nothing: every visit reads its buffer as
 * before, and "no unpinned buffers available" cannot come from here.
 */
static void
disk_pin_budget(EngramHnswDiskGraph *disk)
{
	int			budget = engram_backend_buffer_share();
	int			kept = ENGRAM_HNSW_DISK_KEPT_PINS;

	disk->ahead_max = Min(ENGRAM_HNSW_DISK_PREFETCH_MAX, budget / 4);
	while (kept > budget / 2)
		kept /= 2;
	disk->kept_mask = kept >= 16 ? kept - 1 : -1;
}

static void
disk_search_begin(EngramHnswGraph *graph)
{
	EngramHnswDiskGraph *disk = (EngramHnswDiskGraph *) graph;

	/* an insert keeps the pins of its search for its back-links */
	disk->unpinned_search = disk->large_elements && disk->keep_pins_depth == 0;
	if (!disk->unpinned_search)
		engram_hnsw_disk_graph_keep_pins(disk);
}

static void
disk_search_end(EngramHnswGraph *graph)
{
	EngramHnswDiskGraph *disk = (EngramHnswDiskGraph *) graph;

	if (disk->unpinned_search)
		disk->unpinned_search = false;
	else
		engram_hnsw_disk_graph_release_pins(disk);
}

/*
 * Start loading the element lines of ahead_refs[i].  Its page is pinned,
 * by the prefetch or by the kept pins, or is the block's recent buffer
 * (UNPINNED SEARCH); when another page took that buffer meanwhile, the
 * address is still shared buffer memory and the worst outcome is a
 * useless prefetch.
 */
static void
disk_prefetch_element(EngramHnswDiskGraph *disk, int i)
{
#ifdef __GNUC__
	const char *page = (const char *) BufferGetPage(disk->ahead_buffers[i]);
	OffsetNumber offno = EngramHnswRefOffset(disk->ahead_refs[i]);
	ItemIdData	itemid;
	Size		length;

	if (offno < FirstOffsetNumber ||
		offsetof(PageHeaderData, pd_linp) + offno * sizeof(ItemIdData) > BLCKSZ)
		return;
	itemid = *(volatile const ItemIdData *) (page + offsetof(PageHeaderData, pd_linp) +
											 (offno - 1) * sizeof(ItemIdData));
	/*
	 * Header and vector, what the distance reads (the slots are read
	 * later), up to 12 lines: a 128-dimension float element whole; of a
	 * longer vector the hardware prefetcher streams the rest once the
	 * distance reads it, and more requests only fill the line fill buffers.
	 */
	length = Min((Size) itemid.lp_len,
				 offsetof(EngramHnswElementTupleData, vector) +
				 ENGRAM_HNSW_VECTOR_SIZE(disk->graph.dimensions, disk->quantization));
	length = Min(length, 12 * PG_CACHE_LINE_SIZE);
	if (itemid.lp_off < SizeOfPageHeaderData || itemid.lp_off + length > BLCKSZ)
		return;
	for (Size line = 0; line < length; line += PG_CACHE_LINE_SIZE)
		__builtin_prefetch(page + itemid.lp_off + line);
#endif
}

void
engram_hnsw_disk_graph_prefetch(EngramHnswDiskGraph *disk, EngramHnswRef ref)
{
	OffsetNumber offno = EngramHnswRefOffset(ref);
	const char *page;
	int			i;

	if (disk->ahead_count >= disk->ahead_max)
		return;					/* its visit reads the buffer itself */
	i = disk->ahead_count++;
	disk->ahead_refs[i] = ref;
	disk->ahead_buffers[i] = InvalidBuffer;
	if (disk->unpinned_search)
		disk->ahead_buffers[i] = *engram_recent_buffers_slot(recent_buffers(disk->index),
															 EngramHnswRefBlock(ref));
	disk->ahead_pinned[i] = disk->ahead_buffers[i] <= 0;	/* none, or local */
	if (disk->ahead_pinned[i])
		disk->ahead_buffers[i] = engram_hnsw_disk_graph_pin(disk, EngramHnswRefBlock(ref));
	page = (const char *) BufferGetPage(disk->ahead_buffers[i]);
#ifdef __GNUC__
	__builtin_prefetch(page);
	if (offno >= FirstOffsetNumber &&
		offsetof(PageHeaderData, pd_linp) + offno * sizeof(ItemIdData) <= BLCKSZ)
		__builtin_prefetch(page + offsetof(PageHeaderData, pd_linp) +
						   (offno - 1) * sizeof(ItemIdData));
	__builtin_prefetch(page + BLCKSZ - sizeof(EngramHnswPageOpaqueData));
#endif
	/* the previous one's line pointer has had a ReadBuffer's time to load */
	if (i > 0 && disk->ahead_prefetched == i - 1)
		disk_prefetch_element(disk, disk->ahead_prefetched++);
}

void
engram_hnsw_disk_graph_prefetch_end(EngramHnswDiskGraph *disk)
{
	for (int i = disk->ahead_next; i < disk->ahead_count; i++)
		if (disk->ahead_pinned[i])
			engram_hnsw_disk_graph_unpin(disk, disk->ahead_buffers[i]);
	disk->ahead_count = disk->ahead_next = disk->ahead_prefetched = 0;
}

/*
 * prefetch_hint() of the disk graph: for each ref whose block has a recent
 * buffer (RECENT BUFFERS), start loading that buffer's header (for the
 * pin) and the first and last lines of its page (page header, special
 * space), before any of them is pinned.  Each of these is a cache and,
 * without huge pages, a TLB miss; requested back to back they overlap,
 * where prefetch() alone met them one pin at a time.  A recent buffer that
 * no longer holds the block costs a useless prefetch of shared memory.
 */
static void
disk_prefetch_hint(EngramHnswGraph *graph, const EngramHnswRef *refs, int count)
{
#ifdef __GNUC__
	EngramHnswDiskGraph *disk = (EngramHnswDiskGraph *) graph;
	EngramRecentBuffers *recent = recent_buffers(disk->index);

	for (int i = 0; i < count; i++)
		engram_recent_buffers_prefetch(recent, EngramHnswRefBlock(refs[i]),
									   BLCKSZ - sizeof(EngramHnswPageOpaqueData));
#endif
}

static void
disk_prefetch(EngramHnswGraph *graph, EngramHnswRef ref)
{
	engram_hnsw_disk_graph_prefetch((EngramHnswDiskGraph *) graph, ref);
}

static void
disk_prefetch_end(EngramHnswGraph *graph)
{
	engram_hnsw_disk_graph_prefetch_end((EngramHnswDiskGraph *) graph);
}

/*
 * A pin of the page of "ref" for its visit (give it back with
 * engram_hnsw_disk_graph_unpin): the one prefetch() took when "ref" is the
 * next one it prefetched (then the elements of this one and the next are
 * prefetched if they are not yet) and pinned, else
 * engram_hnsw_disk_graph_pin().
 */
static Buffer
disk_pin(EngramHnswDiskGraph *disk, EngramHnswRef ref)
{
	int			i = disk->ahead_next;

	if (i < disk->ahead_count && disk->ahead_refs[i] == ref)
	{
		Buffer		buf = disk->ahead_buffers[i];
		bool		pinned = disk->ahead_pinned[i];

		disk->ahead_next++;
		while (disk->ahead_prefetched <= i + 1 && disk->ahead_prefetched < disk->ahead_count)
			disk_prefetch_element(disk, disk->ahead_prefetched++);
		if (disk->ahead_next == disk->ahead_count)
			disk->ahead_count = disk->ahead_next = disk->ahead_prefetched = 0;
		/* a kept pin may have made way for a later page since */
		if (!pinned || keeping_pins(disk))
			buf = engram_hnsw_disk_graph_pin(disk, EngramHnswRefBlock(ref));
		return buf;
	}
	return engram_hnsw_disk_graph_pin(disk, EngramHnswRefBlock(ref));
}

/*
 * visit() of the disk graph, on the pinned buffer of the element's page:
 * share-lock it, compute the distance, copy what was asked for into
 * graph->context, unlock (the pin stays).  disk_visit() pins and unpins.
 * query == NULL gives distance 0 (used to read an element); layer < 0
 * copies no neighbour list.  An int8
 * element's distance is estimated from the codes of the query that
 * prepare_query encoded (with the lower bound of the ORDER BY value), and
 * its vector is returned decoded.
 */
static bool
disk_visit_buffer(EngramHnswDiskGraph *disk, Buffer buf, EngramHnswRef ref,
				  const float *query, int layer, float threshold, bool want_vector,
				  EngramHnswCandidate *out)
{
	EngramHnswGraph *graph = &disk->graph;
	BlockNumber blkno = EngramHnswRefBlock(ref);
	Page		page;
	EngramHnswElementTuple element;
	int			dims = graph->dimensions;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	engram_hnsw_check_page(disk->index, page, blkno);
	element = engram_hnsw_page_element(page, EngramHnswRefOffset(ref));
	if (element == NULL)
	{
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		return false;
	}

	out->ref = ref;
	out->orderby_bound = 0;
	if (query == NULL)
		out->distance = 0;
	else if (element->flags & ENGRAM_HNSW_ELEMENT_INT8)
	{
		if (disk->quantization != ENGRAM_HNSW_QUANT_INT8)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg_internal("engram_hnsw index \"%s\" has an int8 element at (%u,%u) but its metapage says quantization none",
									 RelationGetRelationName(disk->index), blkno,
									 EngramHnswRefOffset(ref)),
					 errhint("Run engram_hnsw_verify() on the index, then REINDEX it.")));
		out->distance = engram_hnsw_int8_distance(graph->metric, &disk->query,
												  (EngramHnswInt8Vector *) element->vector,
												  dims, &out->orderby_bound);
	}
	else
		out->distance = engram_hnsw_distance_below(graph->metric, query, element->vector,
												   dims, threshold);
	out->deleted = (element->flags & ENGRAM_HNSW_ELEMENT_DELETED) != 0;
	out->heaptid = element->heaptid;
	out->alias_tid = element->alias_tid;
	out->level = element->level;
	out->neighbour_count = 0;
	out->neighbours = NULL;
	out->vector = NULL;
	if (out->distance < threshold)
	{
		MemoryContext old = MemoryContextSwitchTo(disk->context);

		if (layer >= 0 && layer <= element->level)
		{
			out->neighbours = palloc(sizeof(EngramHnswRef) *
									 ENGRAM_HNSW_LAYER_SLOTS(graph->m, layer));
			out->neighbour_count = engram_hnsw_element_get_layer(element, dims, graph->m,
																 layer, out->neighbours);
		}
		if (want_vector)
		{
			out->vector = palloc(sizeof(float) * dims);
			if (element->flags & ENGRAM_HNSW_ELEMENT_INT8)
				engram_hnsw_int8_decode((EngramHnswInt8Vector *) element->vector, dims,
										out->vector);
			else
				memcpy(out->vector, element->vector, sizeof(float) * dims);
			/* live only: a deleted element may be freed while we run */
			if (disk->vectors != NULL && !out->deleted)
				engram_hnsw_vector_cache_put(disk->vectors, ref, out->vector);
		}
		MemoryContextSwitchTo(old);
	}
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	return true;
}

static bool
disk_visit(EngramHnswGraph *graph, EngramHnswRef ref, const float *query,
		   int layer, float threshold, bool want_vector, EngramHnswCandidate *out)
{
	EngramHnswDiskGraph *disk = (EngramHnswDiskGraph *) graph;
	Buffer		buf = disk_pin(disk, ref);
	bool		found;

	found = disk_visit_buffer(disk, buf, ref, query, layer, threshold, want_vector, out);
	engram_hnsw_disk_graph_unpin(disk, buf);
	return found;
}

/* prepare_query() of the disk graph: encode the query for int8 elements. */
static void
disk_prepare_query(EngramHnswGraph *graph, const float *query)
{
	EngramHnswDiskGraph *disk = (EngramHnswDiskGraph *) graph;

	engram_hnsw_int8_prepare_query(&disk->query, query, graph->dimensions);
}

/*
 * load_vector() of the disk graph, for the selection heuristic of a
 * pruning that starts without vectors (hnswinsert.c): from the
 * operation's vector cache, else read from the element's page.
 */
static float *
disk_load_vector(const EngramHnswGraph *graph, EngramHnswCandidate *candidate)
{
	EngramHnswDiskGraph *disk = (EngramHnswDiskGraph *) graph;
	EngramHnswCandidate read;

	if (disk->vectors != NULL)
		candidate->vector = engram_hnsw_vector_cache_get(disk->vectors, candidate->ref);
	if (candidate->vector == NULL &&
		disk_visit(&disk->graph, candidate->ref, NULL, -1, INFINITY, true, &read))
		candidate->vector = read.vector;
	return candidate->vector;
}

void
engram_hnsw_disk_graph_init(EngramHnswDiskGraph *graph, Relation index,
							const EngramHnswMetaPageData *meta)
{
	graph->graph.visit = disk_visit;
	graph->graph.prepare_query = NULL;
	graph->graph.prefetch = disk_prefetch;
	graph->graph.prefetch_end = disk_prefetch_end;
	graph->graph.prefetch_hint = disk_prefetch_hint;
	graph->graph.search_begin = disk_search_begin;
	graph->graph.search_end = disk_search_end;
	graph->graph.pair_closer = NULL;
	graph->graph.load_vector = disk_load_vector;
	graph->graph.metric = meta->metric;
	graph->graph.dimensions = meta->dimensions;
	graph->graph.m = meta->m;
	graph->index = index;
	graph->context = CurrentMemoryContext;
	graph->vectors = NULL;
	graph->quantization = meta->quantization;
	graph->link_states = engram_hnsw_meta_link_states(meta);
	graph->ahead_count = graph->ahead_next = graph->ahead_prefetched = 0;
	graph->large_elements =
		elements_per_page(ENGRAM_HNSW_ELEMENT_TUPLE_SIZE_LINKS(meta->dimensions,
															   meta->quantization, meta->m, 0,
															   graph->link_states)) <= 2;
	graph->unpinned_search = false;
	graph->keep_pins_depth = 0;
	disk_pin_budget(graph);
	memset(&graph->query, 0, sizeof(graph->query));
	if (meta->quantization == ENGRAM_HNSW_QUANT_INT8 && meta->dimensions > 0)
	{
		graph->graph.prepare_query = disk_prepare_query;
		graph->query.codes = palloc0(meta->dimensions);
		graph->query.residual_codes = palloc0(meta->dimensions);
	}
}

bool
engram_hnsw_read_element(EngramHnswDiskGraph *graph, EngramHnswRef ref, int layer,
						 EngramHnswCandidate *out)
{
	return disk_visit(&graph->graph, ref, NULL, layer, INFINITY, true, out);
}

bool
engram_hnsw_read_element_pinned(EngramHnswDiskGraph *graph, Buffer buf, EngramHnswRef ref,
								int layer, EngramHnswCandidate *out)
{
	return disk_visit_buffer(graph, buf, ref, NULL, layer, INFINITY, true, out);
}
