/*-------------------------------------------------------------------------
 *
 * btree_walk.c
 *	  Read the entries of many keys of a btree index on a bigint column in
 *	  one ordered walk, instead of one descent from the root per key.
 *
 * Spreading reads, per depth, the associations leaving a few hundred
 * memories (the association key (src, dst)) and then the rows of the
 * memories they reach (the space's key on id).  A btree scan with
 * "key = ANY (array)" in PostgreSQL 15 descends from the root for every
 * element of the array: three page visits (buffer mapping lookup, pin,
 * share lock, binary search) per key of a 100,000-row space.  Keys read in
 * ascending order share the upper levels of their paths, so this walk keeps
 * the pages of its current path pinned and, for each next key, goes back
 * up only to the lowest page of that path whose key range still covers it:
 * usually the leaf itself or its parent.  A visit of a leaf's parent also
 * notes the children of the next keys that parent covers (a plan), so that
 * the walk goes from one leaf to the next key's without locking and
 * searching the parent again.
 *
 * What it reads: for each key k of a sorted, duplicate-free array, every
 * leaf entry whose first column equals k, in index order, as a heap TID
 * (each TID of a posting list) and, when asked, a copy of the index tuple
 * (so that covered columns can be read as an index-only scan reads them).
 * No visibility is decided here: like an index scan, the walk returns
 * entries, and the caller fetches the rows with its snapshot.  An entry
 * marked dead (LP_DEAD) is returned too; the heap says it is not visible.
 *
 * Concurrency follows the Lehman and Yao protocol PostgreSQL's own btree
 * code uses (src/backend/access/nbtree/README), reimplemented on the page
 * format of access/nbtree.h:
 *	- one page is share-locked at a time; pages of the current path stay
 *	  pinned (not locked) between keys;
 *	- after locking a page, the walk moves right while the page is deleted
 *	  or half-dead, or its high key is below the key sought (a concurrent
 *	  split moved that key range to the right sibling);
 *	- a leaf's matching entries are copied out under its lock; the visit
 *	  callback runs with the leaf unlocked but still pinned, so that VACUUM
 *	  cannot remove an entry and let its heap TID be reused before the
 *	  caller has checked the visibility map (what index-only scans rely on);
 *	- entries of k that run past the end of a leaf whose high key's first
 *	  column is k continue on its right sibling, read after the leaf is
 *	  unlocked (its link was read under the lock, as _bt_readnextpage does);
 *	- a remembered page cannot be recycled while the walk runs: a deleted
 *	  page is recycled only when no running transaction can still reach it,
 *	  and the walker's transaction is running.
 * Each leaf read takes the same serializable predicate lock on the page as
 * a btree scan.  No other locks; never two page locks at once.  Pages are
 * pinned through engram_recall_read_buffer() (recent_buffers.c): a page
 * this backend met in an earlier walk is usually pinned without a lookup
 * in the buffer mapping table; and the buffers of the next few leaves the
 * plan leads to are requested ahead (hint_planned_leaves), and the line
 * pointers and tuples where the next two will be searched
 * (prefetch_planned_entries), without pin or lock.
 *
 * Usable only on a btree whose first key column is bigint with the
 * standard integer operator family, ascending, nulls last
 * (engram_btree_walk_usable): then the int64 order of the values is the
 * index's order, and no operator is called.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/nbtree.h"
#include "access/itup.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/rel.h"

#include "recall_internal.h"

/* Deeper than any btree of 8 kB pages can grow. */
#define WALK_MAX_LEVELS 32

/* A page of the current path, with what its last visit showed. */
typedef struct WalkLevel
{
	BlockNumber block;			/* InvalidBlockNumber: no page at this level yet */
	Buffer		buffer;			/* pinned when valid */
	bool		rightmost;		/* no right sibling at the last visit */
	int64		high_key;		/* first column of its high key then */
	bool		high_key_null;	/* that high key's first column was NULL */
} WalkLevel;

/* The matching entries of one leaf, copied out under its lock. */
typedef struct LeafBatch
{
	int			count;
	int64		keys[MaxIndexTuplesPerPage];
	Size		offsets[MaxIndexTuplesPerPage];
	Size		used;
	char		space[BLCKSZ];
} LeafBatch;

/*
 * The key range the parent gave the leaf the walk last descended to: the
 * first columns of the pivots around its downlink.  A guess of where a key
 * sits in that leaf, never a bound the search relies on (a concurrent
 * split may have moved part of the range to a right sibling).
 */
typedef struct LeafRange
{
	BlockNumber block;			/* InvalidBlockNumber: none */
	int64		low;
	int64		high;
} LeafRange;

/* Keys whose leaves one visit of a parent plans (plan_next_leaves). */
#define WALK_PLAN_KEYS 64

/*
 * The leaf a visit of its parent found for a later key: where the walk
 * starts for that key instead of visiting the parent again.
 */
typedef struct PlannedLeaf
{
	BlockNumber block;			/* the downlink followed */
	int			ordinal;		/* distinct leaves before it in the plan */
	LeafRange	range;			/* its key range in the parent */
} PlannedLeaf;

typedef struct Walk
{
	Relation	index;
	TupleDesc	desc;
	WalkLevel	levels[WALK_MAX_LEVELS];
	int			top;			/* level of the fast root */
	LeafBatch  *batch;
	int64		entries;
	int			hinted_upto;	/* keys before this one had their leaf hinted */
	LeafRange	leaf_range;
	int			plan_first;		/* plan[i] is the leaf of keys[plan_first + i] */
	int			plan_upto;		/* keys[plan_first .. plan_upto) are planned */
	PlannedLeaf plan[WALK_PLAN_KEYS];
} Walk;

/* Entries a guided search steps over before it falls back to bisection. */
#define WALK_GUIDED_STEPS 8

/* Leaves requested ahead of the one the walk reads (hint_planned_leaves). */
#define WALK_LEAF_LOOKAHEAD 8

/* Entries after the guided search's first probe whose tuples are prefetched. */
#define WALK_PREFETCH_ENTRIES 6

bool
engram_btree_walk_usable(Relation index)
{
	return index->rd_rel->relam == BTREE_AM_OID &&
		index->rd_opcintype[0] == INT8OID &&
		index->rd_opfamily[0] == INTEGER_BTREE_FAM_OID &&
		index->rd_indoption[0] == 0;	/* ASC, NULLS LAST */
}

/*
 * First column of an index tuple that has one (not a "minus infinity"
 * pivot); false when it is NULL (nulls sort after every value).
 */
static inline bool
tuple_key(Walk *walk, IndexTuple tuple, int64 *key)
{
	bool		isnull;
	Datum		value = index_getattr(tuple, 1, walk->desc, &isnull);

	if (isnull)
		return false;
	*key = DatumGetInt64(value);
	return true;
}

/* Is the key of "tuple" below "key"?  (NULL is above everything.) */
static inline bool
tuple_below(Walk *walk, Page page, OffsetNumber offset, int64 key)
{
	IndexTuple	tuple = (IndexTuple) PageGetItem(page, PageGetItemId(page, offset));
	int64		value;

	return tuple_key(walk, tuple, &value) && value < key;
}

/*
 * The first offset in [low, last] of a leaf whose key is not below "key"
 * (last + 1 when there is none).
 *
 * Each probe of a leaf first met by this walk is a cache miss (its line
 * pointer, then its tuple), and a binary search over a few hundred entries
 * makes eight or nine of them, one after the other.  Keys here are ids,
 * spread fairly evenly over a leaf, so the search guesses the position by
 * interpolating between the keys at the ends of the range, twice at most,
 * then finishes with a binary search: about four probes on a leaf of
 * consecutive ids.  A NULL key counts as above every value.
 */
static OffsetNumber
leaf_lower_bound(Walk *walk, Page page, OffsetNumber low, OffsetNumber last, int64 key)
{
	OffsetNumber high;
	int64		low_key;		/* key of the entry at low - 1: below "key" */
	int64		high_key;		/* key of the entry at high: not below */
	IndexTuple	tuple;

	if (low > last)
		return low;
	tuple = (IndexTuple) PageGetItem(page, PageGetItemId(page, low));
	if (!tuple_key(walk, tuple, &low_key) || low_key >= key)
		return low;
	tuple = (IndexTuple) PageGetItem(page, PageGetItemId(page, last));
	if (!tuple_key(walk, tuple, &high_key))
		high_key = PG_INT64_MAX;
	else if (high_key < key)
		return last + 1;
	low++;
	high = last;

	/* Invariant: entries before "low" are below key; "high" is not. */
	for (int guesses = 0; guesses < 2 && high - low > 4; guesses++)
	{
		double		fraction = ((double) key - (double) low_key) /
			((double) high_key - (double) low_key);
		int			span = high - low + 1;
		int			guess = (low - 1) + (int) (fraction * span);
		int64		value;

		guess = Max(guess, (int) low);
		guess = Min(guess, (int) high - 1);
		tuple = (IndexTuple) PageGetItem(page, PageGetItemId(page, (OffsetNumber) guess));
		if (tuple_key(walk, tuple, &value) && value < key)
		{
			low = guess + 1;
			low_key = value;
		}
		else
		{
			high = guess;
			high_key = tuple_key(walk, tuple, &value) ? value : PG_INT64_MAX;
		}
	}
	while (low < high)
	{
		OffsetNumber middle = low + (high - low) / 2;

		if (tuple_below(walk, page, middle, key))
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}

/*
 * Where "range" places "key" among the entries [first, last] of a leaf,
 * assuming its keys evenly spread: the offset to probe first, or 0 when
 * the range cannot place it.
 */
static inline int
guessed_offset(const LeafRange *range, int64 key, int first, int last)
{
	double		fraction;

	if (last < first || range->high <= range->low || key < range->low || key > range->high)
		return 0;
	fraction = ((double) key - (double) range->low) /
		((double) range->high - (double) range->low);
	return Min(first + (int) (fraction * (last - first + 1)), last);
}

/*
 * The first offset in [low, last] of a leaf whose key is not below "key",
 * as leaf_lower_bound() finds it, but starting from the position the
 * parent's key range for the leaf ("range": its pivots' keys around the
 * downlink) suggests: the entry there, then its neighbours one by one (on
 * a leaf of ids, or of a few entries per id, the answer is usually within
 * a step or two, on the cache lines the first probe already loaded),
 * instead of first loading the entries at both ends of the range.  After
 * WALK_GUIDED_STEPS neighbours it falls back to leaf_lower_bound() on what
 * is left, so a poor guess costs little more than the plain search.  The
 * range only places the first probe: the answer does not depend on it.
 */
static OffsetNumber
leaf_guided_lower_bound(Walk *walk, Page page, OffsetNumber low, OffsetNumber last, int64 key,
						const LeafRange *range)
{
	int			guess = guessed_offset(range, key, P_FIRSTDATAKEY(BTPageGetOpaque(page)), last);
	int			i;

	if (low > last || guess == 0)
		return leaf_lower_bound(walk, page, low, last, key);
	guess = Max(guess, (int) low);

	if (tuple_below(walk, page, (OffsetNumber) guess, key))
	{
		/* the answer is after the guess */
		for (i = guess + 1; i <= last && i <= guess + WALK_GUIDED_STEPS; i++)
			if (!tuple_below(walk, page, (OffsetNumber) i, key))
				return (OffsetNumber) i;
		if (i > last)
			return last + 1;
		return leaf_lower_bound(walk, page, (OffsetNumber) i, last, key);
	}
	/* the answer is the guess or before it */
	for (i = guess - 1; i >= low && i >= guess - WALK_GUIDED_STEPS; i--)
		if (tuple_below(walk, page, (OffsetNumber) i, key))
			return (OffsetNumber) (i + 1);
	if (i < low)
		return low;
	return leaf_lower_bound(walk, page, low, (OffsetNumber) i, key);
}

/* Remember the rightmost flag and high key of the locked page of "level". */
static void
note_high_key(Walk *walk, WalkLevel *level, Page page)
{
	BTPageOpaque opaque = BTPageGetOpaque(page);

	level->rightmost = P_RIGHTMOST(opaque);
	if (!level->rightmost)
	{
		IndexTuple	high = (IndexTuple) PageGetItem(page, PageGetItemId(page, P_HIKEY));

		level->high_key_null = !tuple_key(walk, high, &level->high_key);
	}
}

/* May the page last seen at "level" hold entries of "key"? */
static inline bool
level_covers(const WalkLevel *level, int64 key)
{
	if (level->block == InvalidBlockNumber)
		return false;
	return level->rightmost || level->high_key_null || key <= level->high_key;
}

/*
 * Pin (if not yet) and share-lock the page of "level", then move right
 * while it is deleted or half-dead or its high key is below "key".
 * Returns the locked page; level->block and level->buffer follow the moves.
 */
static Page
lock_level(Walk *walk, WalkLevel *level, int depth, int64 key)
{
	for (;;)
	{
		Page		page;
		BTPageOpaque opaque;

		if (!BufferIsValid(level->buffer))
			level->buffer = engram_recall_read_buffer(walk->index, level->block);
		LockBuffer(level->buffer, BUFFER_LOCK_SHARE);
		page = BufferGetPage(level->buffer);
		opaque = BTPageGetOpaque(page);
		if (PageIsNew(page) ||
			PageGetSpecialSize(page) != MAXALIGN(sizeof(BTPageOpaqueData)) ||
			(P_IGNORE(opaque) ? P_RIGHTMOST(opaque) : opaque->btpo_level != (uint32) depth))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg_internal("engram: unexpected page %u at level %d of index \"%s\"",
									 level->block, depth, RelationGetRelationName(walk->index))));
		if (!P_IGNORE(opaque) &&
			(P_RIGHTMOST(opaque) || !tuple_below(walk, page, P_HIKEY, key)))
		{
			note_high_key(walk, level, page);
			return page;
		}
		level->block = opaque->btpo_next;
		LockBuffer(level->buffer, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(level->buffer);
		level->buffer = InvalidBuffer;
	}
}

/*
 * The offset of the pivot of a locked internal page whose child to descend
 * to for "key": the last pivot whose first column is below "key" (the
 * first pivot, "minus infinity", when none is).  Entries equal to "key"
 * may start in that child or to its right; the leaf reading moves right as
 * needed.
 */
static OffsetNumber
internal_child_offset(Walk *walk, Page page, int64 key)
{
	BTPageOpaque opaque = BTPageGetOpaque(page);
	OffsetNumber low = P_FIRSTDATAKEY(opaque);
	OffsetNumber high = PageGetMaxOffsetNumber(page);

	if (high < low)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg_internal("engram: empty internal page in index \"%s\"",
								 RelationGetRelationName(walk->index))));

	/* Invariant: the pivot at "low" is below key (or minus infinity). */
	while (low < high)
	{
		OffsetNumber middle = low + (high - low + 1) / 2;

		if (tuple_below(walk, page, middle, key))
			low = middle;
		else
			high = middle - 1;
	}
	return low;
}

/* The block of the child under the pivot at "offset" of an internal page. */
static inline BlockNumber
child_at(Page page, OffsetNumber offset)
{
	return BTreeTupleGetDownLink((IndexTuple) PageGetItem(page, PageGetItemId(page, offset)));
}

/*
 * From the locked parent "page" of level "parent", the key range of the
 * child under the pivot at "position": from that pivot's key to the next
 * pivot's (or the parent's high key).  None (block InvalidBlockNumber)
 * when either end is unknown: the first pivot ("minus infinity"), a NULL
 * key, a rightmost parent.
 */
static void
leaf_range_at(Walk *walk, WalkLevel *parent, Page page, OffsetNumber position,
			  LeafRange *range)
{
	OffsetNumber last_offset = PageGetMaxOffsetNumber(page);
	IndexTuple	pivot;
	bool		known;

	range->block = InvalidBlockNumber;
	if (position <= P_FIRSTDATAKEY(BTPageGetOpaque(page)))
		return;
	pivot = (IndexTuple) PageGetItem(page, PageGetItemId(page, position));
	if (!tuple_key(walk, pivot, &range->low))
		return;
	if (position < last_offset)
	{
		pivot = (IndexTuple) PageGetItem(page, PageGetItemId(page, position + 1));
		known = tuple_key(walk, pivot, &range->high);
	}
	else
	{
		known = !parent->rightmost && !parent->high_key_null;
		range->high = parent->high_key;
	}
	if (known)
		range->block = child_at(page, position);
}

/*
 * Start loading the planned leaves of the keys after keys[next], up to
 * WALK_LEAF_LOOKAHEAD distinct leaves beyond that of keys[next] (planned,
 * or just found in the parent: ordinal 0), for keys not hinted yet: the
 * buffer header, page header and special space of the buffer each was last
 * found in (engram_recall_prefetch_page), so that
 * when the walk reaches them these first-touch misses are over, or under
 * way, instead of being met one leaf after the other.  A hint only: the
 * leaves are read as before, and a buffer since reused for another page
 * costs a useless prefetch.
 */
static void
hint_planned_leaves(Walk *walk, int next)
{
	int			ordinal = next >= walk->plan_first && next < walk->plan_upto ?
		walk->plan[next - walk->plan_first].ordinal : 0;
	int			i;

	for (i = Max(next + 1, walk->hinted_upto); i < walk->plan_upto; i++)
	{
		const PlannedLeaf *planned = &walk->plan[i - walk->plan_first];
		int			previous = i == walk->plan_first ? 0 : planned[-1].ordinal;

		if (planned->ordinal > ordinal + WALK_LEAF_LOOKAHEAD)
			break;
		if (planned->ordinal != previous)
			engram_recall_prefetch_page(walk->index, planned->block,
										BLCKSZ - sizeof(BTPageOpaqueData));
	}
	walk->hinted_upto = Max(walk->hinted_upto, i);
}

/*
 * Start loading what the guided search and the copy of the entries of
 * keys[i] will first touch in its planned leaf: the line pointers around
 * the offset the search probes first ("tuples" false), or the tuples those
 * line pointers point to ("tuples" true: a step later, the line pointers
 * then loaded).  Read from the page of the buffer that last held the leaf,
 * without pin or lock (its header was requested WALK_LEAF_LOOKAHEAD leaves
 * earlier): a hint only, every address derived from it kept inside the
 * page.  Not under Valgrind, which marks unpinned buffers inaccessible.
 */
static void
prefetch_leaf_entries(Walk *walk, const int64 *keys, int i, bool tuples)
{
#if defined(__GNUC__) && !defined(USE_VALGRIND)
	const PlannedLeaf *planned = &walk->plan[i - walk->plan_first];
	const char *page = engram_recall_remembered_page(walk->index, planned->block);
	uint16		lower;
	int			last;
	int			guess;

	if (page == NULL || planned->range.block != planned->block)
		return;
	lower = ((const volatile PageHeaderData *) page)->pd_lower;
	if (lower <= SizeOfPageHeaderData || lower > BLCKSZ)
		return;
	last = (lower - SizeOfPageHeaderData) / sizeof(ItemIdData);
	guess = guessed_offset(&planned->range, keys[i], P_FIRSTKEY, last);
	if (guess == 0)
		return;
	for (int offset = Max(guess - 1, P_FIRSTKEY);
		 offset <= Min(guess + WALK_PREFETCH_ENTRIES, last); offset++)
	{
		const char *item = page + SizeOfPageHeaderData + (offset - 1) * sizeof(ItemIdData);
		uint32		raw;
		ItemIdData	copy;

		if (!tuples)
		{
			__builtin_prefetch(item);
			continue;
		}
		raw = *(const volatile uint32 *) item;
		memcpy(&copy, &raw, sizeof(copy));
		if (ItemIdGetOffset(&copy) >= SizeOfPageHeaderData &&
			ItemIdGetOffset(&copy) < BLCKSZ)
			__builtin_prefetch(page + ItemIdGetOffset(&copy));
	}
	/* keep the prefetches (see engram_recent_buffers_prefetch) */
	pg_compiler_barrier();
#endif
}

/*
 * Moving to the planned leaf of keys[next]: the tuples of the next planned
 * leaf and the line pointers of the one after it (prefetch_leaf_entries),
 * so that each is loaded while the walk reads the leaves before it.
 */
static void
prefetch_planned_entries(Walk *walk, const int64 *keys, int next)
{
	int			ordinal = walk->plan[next - walk->plan_first].ordinal;

	for (int i = next + 1; i < walk->plan_upto; i++)
	{
		int			step = walk->plan[i - walk->plan_first].ordinal - ordinal;

		if (step > 2)
			break;
		if (step > 0 && walk->plan[i - 1 - walk->plan_first].ordinal != ordinal + step)
			prefetch_leaf_entries(walk, keys, i, step == 1);
	}
}

/*
 * From the locked parent of the leaf the walk is about to read for
 * keys[next] (the child under the pivot at "position"), plan the leaves of
 * the next keys this parent covers (up to WALK_PLAN_KEYS): the child each
 * one leads to, so that the walk goes there directly, without visiting
 * the parent again.  A downlink read earlier is as good a start as one
 * read now (Lehman and Yao): a key's entries only ever move right of the
 * child the parent gave, by splits and page deletions, and reading a leaf
 * moves right while its high key is below the key.
 */
static void
plan_next_leaves(Walk *walk, WalkLevel *parent, Page page, const int64 *keys, int nkeys,
				 int next, OffsetNumber position)
{
	OffsetNumber last_offset = PageGetMaxOffsetNumber(page);
	OffsetNumber planned_position = position;
	int			ordinal = 0;	/* distinct leaves after that of keys[next] */
	int			i;

	walk->plan_first = next + 1;

	/*
	 * Keys ascend, so each one's pivot is found by moving forward from the
	 * previous one's ("position": the last pivot below the key).
	 */
	for (i = next + 1; i < nkeys && i - walk->plan_first < WALK_PLAN_KEYS; i++)
	{
		PlannedLeaf *planned = &walk->plan[i - walk->plan_first];

		if (!level_covers(parent, keys[i]))
			break;
		while (position < last_offset && tuple_below(walk, page, position + 1, keys[i]))
			position++;
		if (position != planned_position)
			ordinal++;
		planned_position = position;
		planned->block = child_at(page, position);
		planned->ordinal = ordinal;
		leaf_range_at(walk, parent, page, position, &planned->range);
	}
	walk->plan_upto = i;
	hint_planned_leaves(walk, next);
}

/* Set "level" to "block", dropping the pin of the page it held before. */
static void
point_level(WalkLevel *level, BlockNumber block)
{
	if (level->block == block)
		return;
	if (BufferIsValid(level->buffer))
		ReleaseBuffer(level->buffer);
	level->buffer = InvalidBuffer;
	level->block = block;
	level->rightmost = false;
	level->high_key_null = false;
}

/* Copy the leaf entry at "offset" (key "key") into the batch. */
static void
batch_add(LeafBatch *batch, Page page, OffsetNumber offset, int64 key)
{
	ItemId		item = PageGetItemId(page, offset);
	Size		size = ItemIdGetLength(item);

	Assert(batch->used + size <= BLCKSZ && batch->count < MaxIndexTuplesPerPage);
	memcpy(batch->space + batch->used, PageGetItem(page, item), size);
	batch->keys[batch->count] = key;
	batch->offsets[batch->count] = batch->used;
	batch->count++;
	batch->used += MAXALIGN(size);
}

/*
 * Copy from the locked leaf the entries of keys[*next ..] that it holds,
 * advancing *next past every key finished.  Returns true when the entries
 * of keys[*next] continue on the right sibling; false when the leaf does
 * not cover keys[*next] (or every key is done).
 */
static bool
read_leaf(Walk *walk, WalkLevel *leaf, Page page, const int64 *keys, int nkeys, int *next)
{
	BTPageOpaque opaque = BTPageGetOpaque(page);
	OffsetNumber offset = P_FIRSTDATAKEY(opaque);
	OffsetNumber last = PageGetMaxOffsetNumber(page);
	const LeafRange *range = walk->leaf_range.block == leaf->block ? &walk->leaf_range : NULL;

	while (*next < nkeys && level_covers(leaf, keys[*next]))
	{
		int64		key = keys[*next];

		offset = range != NULL ?
			leaf_guided_lower_bound(walk, page, offset, last, key, range) :
			leaf_lower_bound(walk, page, offset, last, key);
		for (; offset <= last; offset++)
		{
			IndexTuple	tuple = (IndexTuple) PageGetItem(page, PageGetItemId(page, offset));
			int64		value;

			if (!tuple_key(walk, tuple, &value) || value != key)
				break;
			batch_add(walk->batch, page, offset, key);
		}
		if (offset > last && !leaf->rightmost && !leaf->high_key_null &&
			leaf->high_key == key)
			return true;
		(*next)++;
	}
	return false;
}

/* Hand the batch's entries to "visit", the leaf unlocked but pinned. */
static void
visit_batch(Walk *walk, bool want_tuples, EngramBtreeVisit visit, void *arg)
{
	LeafBatch  *batch = walk->batch;

	for (int i = 0; i < batch->count; i++)
	{
		IndexTuple	tuple = (IndexTuple) (batch->space + batch->offsets[i]);
		IndexTuple	given = want_tuples ? tuple : NULL;

		CHECK_FOR_INTERRUPTS();
		if (BTreeTupleIsPosting(tuple))
		{
			int			n = BTreeTupleGetNPosting(tuple);

			for (int j = 0; j < n; j++)
				visit(arg, batch->keys[i], BTreeTupleGetPostingN(tuple, j), given);
			walk->entries += n;
		}
		else
		{
			visit(arg, batch->keys[i], &tuple->t_tid, given);
			walk->entries++;
		}
	}
	batch->count = 0;
	batch->used = 0;
}

/* Pin the fast root; false when the index is empty. */
static bool
start_at_root(Walk *walk)
{
	Buffer		buffer = engram_recall_read_buffer(walk->index, BTREE_METAPAGE);
	Page		page;
	BTMetaPageData *meta;
	BlockNumber root;
	uint32		level;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buffer);
	meta = BTPageGetMeta(page);
	if (!P_ISMETA(BTPageGetOpaque(page)) || meta->btm_magic != BTREE_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg_internal("engram: index \"%s\" is not a btree",
								 RelationGetRelationName(walk->index))));
	root = meta->btm_fastroot;
	level = meta->btm_fastlevel;
	UnlockReleaseBuffer(buffer);
	if (root == P_NONE)
		return false;
	if (level >= WALK_MAX_LEVELS)
		elog(ERROR, "engram: btree \"%s\" has %u levels", RelationGetRelationName(walk->index),
			 level + 1);
	walk->top = (int) level;
	for (int i = 0; i < WALK_MAX_LEVELS; i++)
	{
		walk->levels[i].block = InvalidBlockNumber;
		walk->levels[i].buffer = InvalidBuffer;
	}
	walk->levels[level].block = root;
	walk->levels[level].rightmost = true;
	return true;
}

void
engram_btree_walk(Relation index, Snapshot snapshot, const int64 *keys, int nkeys,
				  bool want_tuples, EngramBtreeVisit visit, void *arg)
{
	Walk		walk;
	int			next = 0;

	Assert(engram_btree_walk_usable(index));
	if (nkeys == 0)
		return;
	memset(&walk, 0, sizeof(walk));
	walk.index = index;
	walk.desc = RelationGetDescr(index);
	walk.leaf_range.block = InvalidBlockNumber;
	pgstat_count_index_scan(index);
	if (!start_at_root(&walk))
	{
		PredicateLockRelation(index, snapshot);
		return;
	}
	walk.batch = palloc(sizeof(LeafBatch));
	walk.batch->count = 0;
	walk.batch->used = 0;

	while (next < nkeys)
	{
		int64		key = keys[next];
		int			depth = 0;
		WalkLevel  *leaf = &walk.levels[0];
		Page		page;
		bool		continues;

		CHECK_FOR_INTERRUPTS();
		if (next > 0 && keys[next] <= keys[next - 1])
			elog(ERROR, "engram: btree walk keys are not ascending");

		if (!level_covers(leaf, key) && next >= walk.plan_first && next < walk.plan_upto)
		{
			/* the leaf planned at the last visit of its parent */
			const PlannedLeaf *planned = &walk.plan[next - walk.plan_first];

			walk.leaf_range = planned->range;
			point_level(leaf, planned->block);
			hint_planned_leaves(&walk, next);
			prefetch_planned_entries(&walk, keys, next);
		}
		else
		{
			/* Up to the lowest page of the path that covers the key ... */
			while (depth < walk.top && !level_covers(&walk.levels[depth], key))
				depth++;
			/* ... and down from there to its leaf. */
			for (; depth > 0; depth--)
			{
				WalkLevel  *level = &walk.levels[depth];
				OffsetNumber position;
				BlockNumber child;

				page = lock_level(&walk, level, depth, key);
				position = internal_child_offset(&walk, page, key);
				child = child_at(page, position);
				if (depth == 1)
				{
					leaf_range_at(&walk, level, page, position, &walk.leaf_range);
					plan_next_leaves(&walk, level, page, keys, nkeys, next, position);
				}
				LockBuffer(level->buffer, BUFFER_LOCK_UNLOCK);
				point_level(&walk.levels[depth - 1], child);
			}
		}

		/* The leaf, and its right siblings while the key's entries go on. */
		for (;;)
		{
			page = lock_level(&walk, leaf, 0, keys[next]);
			PredicateLockPage(index, leaf->block, snapshot);
			continues = read_leaf(&walk, leaf, page, keys, nkeys, &next);
			if (continues)
			{
				BlockNumber right = BTPageGetOpaque(page)->btpo_next;

				LockBuffer(leaf->buffer, BUFFER_LOCK_UNLOCK);
				visit_batch(&walk, want_tuples, visit, arg);
				point_level(leaf, right);
				continue;
			}
			LockBuffer(leaf->buffer, BUFFER_LOCK_UNLOCK);
			visit_batch(&walk, want_tuples, visit, arg);
			break;
		}
	}

	for (int i = 0; i <= walk.top; i++)
		if (BufferIsValid(walk.levels[i].buffer))
			ReleaseBuffer(walk.levels[i].buffer);
	pgstat_count_index_tuples(index, walk.entries);
	pfree(walk.batch);
}
