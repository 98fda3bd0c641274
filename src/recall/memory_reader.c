/*-------------------------------------------------------------------------
 *
 * memory_reader.c
 *	  Read the state of memory rows by id, and the associations leaving
 *	  memories, without SQL: one ordered walk of the space's btree index on
 *	  id (of the association key) per batch of ids, each row taken from the
 *	  hot tier when it is there, else from its heap page.
 *
 * Spreading activation reads, at every depth, the state of the memories it
 * reaches: confidence, created_at, decay_function, the row's TID (access
 * statistics are keyed by it) and its tier.  Through SQL that was one SPI
 * statement per depth whose index fetches went through the table AM, which
 * copies every row it misses into the hot tier and so detoasts its
 * embedding (3 kB at 768 dimensions) although spreading never looks at it.
 * This reader returns exactly the rows that statement,
 *		SELECT id, ctid, confidence, created_at, decay_function
 *		  FROM space WHERE id = ANY ($1) AND confidence > 0
 * returns, under the same (active) snapshot:
 *	- index: a unique btree index whose only key column is id (bigint,
 *	  standard operators, ascending), no predicate, read for the sorted,
 *	  distinct ids with one engram_btree_walk() (btree_walk.c): the
 *	  entries "id = ANY (ids)" finds, without a descent from the root per
 *	  id;
 *	- row: for each index TID, the hot tier's entry when visible to the
 *	  snapshot (engram_hot_tier_read, in place: same visibility answer as heap),
 *	  else the visible member of the heap HOT chain (heap_hot_search_buffer,
 *	  which also takes the serializable predicate lock), a cold stub
 *	  decoded from its segment.  A row read from the heap is kept in the
 *	  hot tier as a cached copy (engram_hot_tier_store_copy: only in room no
 *	  resident entry uses; the row keeps its tier), and no access is
 *	  recorded (recall records only what it returns).  Where only the
 *	  state is wanted (no cue distance, no output columns: spreading's
 *	  targets and relays) and the hot tier holds nothing under the index
 *	  TID, the relay state cache (engram_relay_state.h) answers before the
 *	  heap, and a row read from the heap fills it;
 *	- tier: as engram_recall_row_tier() reports it: hot when the hot tier
 *	  has a resident entry for the row's chain root or the row itself, else
 *	  cold for a stub, else warm (a cached copy says which); always warm for
 *	  a heap table.
 *
 * It is used only where that statement could not see or do anything else:
 * the table is a plain heap or engram table, without inheritance children
 * (whose rows the statement would include), without row-level security
 * for the current user, the user holds SELECT on the whole table, the
 * columns have their canonical types, and the snapshot is a plain MVCC
 * one.  Otherwise engram_memory_reader_begin() returns NULL and the caller
 * runs the SQL statement (which then applies the policies, or raises the
 * privilege error).
 *
 * The rows' embeddings are read only when asked (engram_memory_reader_set_cue:
 * the distance to a cue computed from the row read, when the embedding is
 * in it); engram_memory_reader_distances() computes it later for row
 * versions found before, in batches read the same way.
 *
 * Reads in batches: the walk of the id index first collects the entries
 * of every id; their rows are then read a batch at a time (up to
 * MEMORY_BATCH_MAX entries): hot-tier lookups for the batch, then every
 * heap page still needed is pinned and its buffer header, page header,
 * line pointer and tuple lines requested (__builtin_prefetch) before any
 * of them is read, so that the cache misses of a batch overlap; the pages
 * are pinned through recent_buffers.c (ReadRecentBuffer: no buffer mapping
 * lookup for a page this backend met before).
 *
 * Locks: the table is locked by engram_space_resolve(); the index is
 * opened with AccessShareLock for the reader's lifetime; index pages are
 * pinned and share-locked by the walk, which is over before any row is
 * read (see engram_memory_reader_fetch for why an entry stays valid for
 * an MVCC snapshot without its leaf's pin); heap buffers of a batch are
 * pinned together, each share-locked alone while its HOT chain is
 * searched and the needed columns copied out; no hot-tier lock is held
 * with a buffer lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "nodes/pg_list.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "metrics/engram_metrics.h"
#include "engram_recent_buffers.h"
#include "recall_internal.h"
#include "shmem/engram_hot_tier.h"
#include "shmem/engram_relay_state.h"
#include "tam/engram_tam.h"

struct EngramMemoryReader
{
	Relation	table;			/* opened NoLock: locked by the space's resolve */
	Relation	index;			/* btree on id, AccessShareLock */
	Snapshot	snapshot;		/* the active snapshot */
	bool		is_engram;		/* hot tier and cold stubs apply */
	bool		use_hot_tier;	/* lookups enabled and the region present */
	BufferAccessStrategy heap_strategy; /* engram_recall_heap_strategy() */
	AttrNumber	attnum_id;
	AttrNumber	attnum_confidence;
	AttrNumber	attnum_created_at;
	AttrNumber	attnum_decay;
	AttrNumber	attnum_embedding;	/* InvalidAttrNumber: no such column */
	FmgrInfo	distance;		/* the space's distance operator's function */
	bool		have_distance;
	bool		have_cue;		/* fetch computes distances to "cue" */
	Datum		cue;
	bool		want_output;	/* fetch copies the output columns */
	bool		admit_hot_tier; /* keep heap rows read in the hot tier, as
								 * the table AM's index fetch does (else as
								 * cached copies) */
	bool		use_relay_state;	/* relay state cache lookups and fills
									 * allowed (engram_relay_state.h) */
	AttrNumber	attnum_content;
	AttrNumber	attnum_occurred_at;
	AttrNumber	attnum_metadata;
	const EngramSpace *space;
	Datum	   *values;			/* a row's columns, deformed by row_state() */
	bool	   *nulls;
};

static double embedding_distance(EngramMemoryReader *reader, Datum embedding, Datum cue);

/* Attribute number of column "name" if it has type "type", else InvalidAttrNumber. */
static AttrNumber
column_of_type(Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr->atttypid == type ? attr->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/*
 * A valid btree index of "table" whose first key column is "attnum" (its
 * only one, and unique, when "unique_key"), with no predicate, that
 * engram_btree_walk() can read (bigint, standard operators, ascending):
 * opened with AccessShareLock; NULL when there is none.
 */
static Relation
open_walkable_index(Relation table, AttrNumber attnum, bool unique_key)
{
	List	   *indexes = RelationGetIndexList(table);
	ListCell   *cell;

	foreach(cell, indexes)
	{
		Relation	index = index_open(lfirst_oid(cell), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (form->indisvalid && form->indislive && engram_btree_walk_usable(index) &&
			(!unique_key || (form->indisunique && form->indnkeyatts == 1)) &&
			form->indkey.values[0] == attnum &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		{
			list_free(indexes);
			return index;
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return NULL;
}

/*
 * May "relid" be read without SQL for the active snapshot: a plain MVCC
 * snapshot, no row-level security for the current user, SELECT on the
 * whole table?
 */
static bool
directly_readable(Oid relid)
{
	Snapshot	snapshot = GetActiveSnapshot();

	return snapshot != NULL && IsMVCCSnapshot(snapshot) &&
		check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

EngramMemoryReader *
engram_memory_reader_begin(const EngramSpace *space)
{
	Snapshot	snapshot = GetActiveSnapshot();
	Relation	table;
	EngramMemoryReader *reader;

	if (!directly_readable(space->relid))
		return NULL;

	table = relation_open(space->relid, NoLock);
	reader = palloc0(sizeof(EngramMemoryReader));
	reader->table = table;
	reader->snapshot = snapshot;
	reader->is_engram = engram_relation_is_engram(table);
	reader->use_hot_tier = reader->is_engram && engram_hot_tier_lookups &&
		engram_hot_tier_available();
	/* no predicate locks are taken for its hits: not for serializable */
	reader->use_relay_state = reader->is_engram && engram_hot_tier_available() &&
		engram_relay_state_lookups && engram_relay_state_available() &&
		!IsolationIsSerializable();
	reader->attnum_id = column_of_type(table, "id", INT8OID);
	reader->attnum_confidence = column_of_type(table, "confidence", FLOAT4OID);
	reader->attnum_created_at = column_of_type(table, "created_at", TIMESTAMPTZOID);
	reader->attnum_decay = column_of_type(table, "decay_function", TEXTOID);
	reader->attnum_embedding = column_of_type(table, "embedding", space->embedding_type);
	reader->attnum_content = column_of_type(table, "content", TEXTOID);
	reader->attnum_occurred_at = column_of_type(table, "occurred_at", TIMESTAMPTZOID);
	reader->attnum_metadata = column_of_type(table, "metadata", JSONBOID);
	reader->space = space;
	if (table->rd_rel->relkind != RELKIND_RELATION || table->rd_rel->relhassubclass ||
		(!reader->is_engram && table->rd_tableam != GetHeapamTableAmRoutine()) ||
		reader->attnum_id == InvalidAttrNumber ||
		reader->attnum_confidence == InvalidAttrNumber ||
		reader->attnum_created_at == InvalidAttrNumber ||
		reader->attnum_decay == InvalidAttrNumber ||
		(reader->index = open_walkable_index(table, reader->attnum_id, true)) == NULL)
	{
		relation_close(table, NoLock);
		pfree(reader);
		return NULL;
	}
	reader->heap_strategy = engram_recall_heap_strategy(table);
	reader->values = palloc(sizeof(Datum) * RelationGetDescr(table)->natts);
	reader->nulls = palloc(sizeof(bool) * RelationGetDescr(table)->natts);
	return reader;
}

bool
engram_memory_reader_usable(EngramMemoryReader *reader)
{
	return GetActiveSnapshot() == reader->snapshot &&
		directly_readable(RelationGetRelid(reader->table));
}

void
engram_memory_reader_end(EngramMemoryReader *reader)
{
	index_close(reader->index, AccessShareLock);
	relation_close(reader->table, NoLock);
	pfree(reader->values);
	pfree(reader->nulls);
	pfree(reader);
}

/*
 * Copy the state columns of "tuple" (a full row, not a stub) into "row",
 * its columns left deformed in reader->values and reader->nulls; false
 * when the statement's "confidence > 0" would filter it out.  No distance.
 */
static bool
row_columns(EngramMemoryReader *reader, HeapTuple tuple, EngramMemoryRow *row)
{
	Datum	   *values = reader->values;
	bool	   *nulls = reader->nulls;

	/* One pass over the row instead of a walk from its start per column. */
	heap_deform_tuple(tuple, RelationGetDescr(reader->table), values, nulls);
	if (nulls[reader->attnum_confidence - 1] ||
		!(DatumGetFloat4(values[reader->attnum_confidence - 1]) > 0))
		return false;
	row->confidence = DatumGetFloat4(values[reader->attnum_confidence - 1]);
	row->id = DatumGetInt64(values[reader->attnum_id - 1]);
	row->created_at = nulls[reader->attnum_created_at - 1] ? 0 :
		DatumGetTimestampTz(values[reader->attnum_created_at - 1]);
	row->decay_name = nulls[reader->attnum_decay - 1] ? NULL :
		TextDatumGetCString(values[reader->attnum_decay - 1]);
	row->tid = tuple->t_self;
	if (reader->want_output)
	{
		row->content_null = nulls[reader->attnum_content - 1];
		row->content = row->content_null ? (Datum) 0 :
			datumCopy(values[reader->attnum_content - 1], false, -1);
		row->occurred_at_null = nulls[reader->attnum_occurred_at - 1];
		row->occurred_at = row->occurred_at_null ? (Datum) 0 :
			values[reader->attnum_occurred_at - 1];
		row->metadata_null = nulls[reader->attnum_metadata - 1];
		row->metadata = row->metadata_null ? (Datum) 0 :
			datumCopy(values[reader->attnum_metadata - 1], false, -1);
	}
	row->has_distance = false;
	return true;
}

/*
 * The embedding row_columns() left deformed when a distance to the cue is
 * to be computed from it (a cue is set, the embedding is stored in the row
 * uncompressed), else (Datum) 0.
 */
static Datum
row_embedding(EngramMemoryReader *reader)
{
	Datum		embedding;

	/* have_cue implies an embedding column (prepare_distance) */
	if (!reader->have_cue || reader->nulls[reader->attnum_embedding - 1])
		return (Datum) 0;
	embedding = reader->values[reader->attnum_embedding - 1];
	return VARATT_IS_EXTENDED(DatumGetPointer(embedding)) ? (Datum) 0 : embedding;
}

/* The distance from "embedding" (an evector datum) to the cue, into "row". */
static void
set_row_distance(EngramMemoryReader *reader, EngramMemoryRow *row, Datum embedding)
{
	row->distance = embedding_distance(reader, embedding, reader->cue);
	row->has_distance = true;
}

/* row_columns(), and the distance to the cue when row_embedding() has one. */
static bool
row_state(EngramMemoryReader *reader, HeapTuple tuple, EngramMemoryRow *row)
{
	Datum		embedding;

	if (!row_columns(reader, tuple, row))
		return false;
	embedding = row_embedding(reader);
	if (embedding != (Datum) 0)
		set_row_distance(reader, row, embedding);
	return true;
}

/*
 * Set up the space's distance function ("embedding OPERATOR(schema.op)
 * cue" resolves to it): false when there is no such operator.
 */
static bool
prepare_distance(EngramMemoryReader *reader)
{
	const EngramSpace *space = reader->space;
	Oid			operator;

	if (reader->have_distance)
		return true;
	if (reader->attnum_embedding == InvalidAttrNumber)
		return false;
	operator = OpernameGetOprid(list_make2(makeString(get_namespace_name(space->operator_namespace)),
										   makeString(pstrdup(engram_distance_operator(space->distance)))),
								space->embedding_type, space->embedding_type);
	if (!OidIsValid(operator))
		return false;
	fmgr_info(get_opcode(operator), &reader->distance);
	reader->have_distance = true;
	return true;
}

bool
engram_memory_reader_want_output(EngramMemoryReader *reader)
{
	if (reader->attnum_content == InvalidAttrNumber ||
		reader->attnum_occurred_at == InvalidAttrNumber ||
		reader->attnum_metadata == InvalidAttrNumber)
		return false;
	reader->want_output = true;
	return true;
}

void
engram_memory_reader_set_cue(EngramMemoryReader *reader, Datum cue)
{
	reader->have_cue = false;
	if (cue != (Datum) 0 && prepare_distance(reader))
	{
		reader->have_cue = true;
		reader->cue = cue;
	}
}

/* The distance from "embedding" (a column value) to "cue". */
static double
embedding_distance(EngramMemoryReader *reader, Datum embedding, Datum cue)
{
	return DatumGetFloat8(FunctionCall2Coll(&reader->distance, InvalidOid, embedding, cue));
}

/*
 * The distance to "cue" of row version "tid" read on its own (hot tier
 * entry under "index_tid" when it is that version, else heap_fetch, a cold
 * stub decoded): false when the embedding is NULL or the version is not
 * visible.  The slow path of engram_memory_reader_distances().
 */
static bool
version_distance(EngramMemoryReader *reader, ItemPointer index_tid, ItemPointer tid, Datum cue,
				 double *distance)
{
	HeapTuple	row = NULL;
	HeapTuple	stub = NULL;
	Datum		embedding;
	bool		isnull;

	if (reader->use_hot_tier && ItemPointerIsValid(index_tid))
	{
		row = engram_hot_tier_lookup(reader->table, index_tid, reader->snapshot);
		if (row != NULL && !ItemPointerEquals(&row->t_self, tid))
		{
			heap_freetuple(row);
			row = NULL;
		}
	}
	if (row == NULL)
	{
		HeapTupleData tuple;
		Buffer		buffer;

		tuple.t_self = *tid;
		if (!heap_fetch(reader->table, reader->snapshot, &tuple, &buffer, false))
			return false;
		row = heap_copytuple(&tuple);
		ReleaseBuffer(buffer);
		if (reader->is_engram && engram_tuple_is_stub(row->t_data, row->t_len))
		{
			stub = row;
			row = engram_tam_decode_stub(reader->table, stub);
		}
	}
	embedding = heap_getattr(row, reader->attnum_embedding, RelationGetDescr(reader->table),
							 &isnull);
	if (!isnull)
		*distance = embedding_distance(reader, embedding, cue);
	heap_freetuple(row);
	if (stub != NULL)
		heap_freetuple(stub);
	return !isnull;
}

/*
 * Does this read want no more of a row than its state (no distance to a
 * cue, no output columns, not the seed search's rows): then the relay
 * state cache may answer it, and rows read from the heap fill it.
 */
static bool
reads_relay_state(EngramMemoryReader *reader)
{
	return reader->use_relay_state && !reader->have_cue && !reader->want_output &&
		!reader->admit_hot_tier;
}

/*
 * Keep in the relay state cache, under "index_tid", the state of the row
 * whose columns row_columns() left deformed in reader->values and
 * reader->nulls: the tuple "on_page", or its decoded row when it is a
 * stub ("home_cold"), just found visible to the reader's snapshot.  Caller
 * holds the share lock of on_page's buffer.  Only a tuple whose inserter
 * committed and that has no deleter is kept (engram_relay_state_fillable);
 * a decay_function stored compressed or out of line, or longer than
 * ENGRAM_RELAY_DECAY_NAME_MAX, is not.
 */
static void
fill_relay_state(EngramMemoryReader *reader, ItemPointer index_tid, HeapTuple on_page,
				 bool home_cold)
{
	Datum	   *values = reader->values;
	bool	   *nulls = reader->nulls;
	EngramRelayState state;

	if (!engram_relay_state_fillable(on_page->t_data) || nulls[reader->attnum_id - 1])
		return;
	memset(&state, 0, sizeof(state));
	state.id = DatumGetInt64(values[reader->attnum_id - 1]);
	state.tid = on_page->t_self;
	state.confidence_null = nulls[reader->attnum_confidence - 1];
	if (!state.confidence_null)
		state.confidence = DatumGetFloat4(values[reader->attnum_confidence - 1]);
	state.created_at_null = nulls[reader->attnum_created_at - 1];
	if (!state.created_at_null)
		state.created_at = DatumGetTimestampTz(values[reader->attnum_created_at - 1]);
	state.decay_null = nulls[reader->attnum_decay - 1];
	if (!state.decay_null)
	{
		struct varlena *decay = (struct varlena *) DatumGetPointer(values[reader->attnum_decay - 1]);

		if (VARATT_IS_EXTERNAL(decay) || VARATT_IS_COMPRESSED(decay) ||
			VARSIZE_ANY_EXHDR(decay) > ENGRAM_RELAY_DECAY_NAME_MAX)
			return;
		memcpy(state.decay_name, VARDATA_ANY(decay), VARSIZE_ANY_EXHDR(decay));
	}
	state.home_cold = home_cold;
	engram_relay_state_store(reader->table, index_tid, on_page->t_data, &state);
}

/*
 * Is the version at "version_tid", reached through an index entry with
 * "index_tid", in the hot tier as a resident row?  "root_cached": a lookup
 * under "index_tid" just found a resident entry (when lookups are on, the
 * caller's lookup answers for "index_tid").  A hot-tier entry this
 * snapshot could not use (written by a transaction it does not see) still
 * makes the row hot, as for engram_tam_row_tier(), which looks whether or
 * not lookups are on.
 */
static bool
version_is_hot(EngramMemoryReader *reader, ItemPointer index_tid, ItemPointer version_tid,
			   bool root_cached)
{
	if (!reader->is_engram || !engram_hot_tier_available())
		return false;
	return (reader->use_hot_tier ? root_cached : engram_hot_tier_has(reader->table, index_tid)) ||
		(!ItemPointerEquals(index_tid, version_tid) &&
		 engram_hot_tier_has(reader->table, version_tid));
}

/*
 * The row a relay state cache hit "state" for an index entry with
 * "index_tid" stands for, into "row", as fetch_from_heap() reads it (the
 * hot tier's lookup, when made, found nothing under "index_tid"): false
 * when the statement's "confidence > 0" would filter it out.
 */
static bool
relay_state_row(EngramMemoryReader *reader, ItemPointer index_tid,
				const EngramRelayState *state, EngramMemoryRow *row)
{
	if (state->confidence_null || !(state->confidence > 0))
		return false;
	row->id = state->id;
	row->tid = state->tid;
	row->confidence = state->confidence;
	row->created_at = state->created_at_null ? 0 : state->created_at;
	row->decay_name = state->decay_null ? NULL : pstrdup(state->decay_name);
	row->has_distance = false;
	row->tier = version_is_hot(reader, index_tid, &row->tid, false) ? "hot" :
		(state->home_cold ? "cold" : "warm");
	return true;
}

/*
 * The row an index entry with "index_tid" leads to, visible to the
 * snapshot, from its heap page, pinned in "buffer" (the pin is released
 * here): true with "row" filled when it exists and passes the confidence
 * filter.  "root_cached": the hot tier was just found to hold a resident
 * entry under "index_tid" (one the snapshot cannot use).  The version found
 * is then kept in the hot tier, filter or not: resident with
 * admit_hot_tier, else as a cached copy; and its state in the relay state
 * cache when the read wants no more (reads_relay_state).
 */
static bool
fetch_from_heap(EngramMemoryReader *reader, ItemPointer index_tid, Buffer buffer,
				bool root_cached, EngramMemoryRow *row)
{
	ItemPointerData tid = *index_tid;
	HeapTupleData tuple;
	HeapTuple	copy = NULL;
	HeapTuple	decoded = NULL;
	bool		found;
	bool		stub = false;
	bool		passes = false;
	bool		fill = reads_relay_state(reader);

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	found = heap_hot_search_buffer(&tid, reader->table, buffer, reader->snapshot, &tuple,
								   NULL, true);
	if (found)
	{
		stub = reader->is_engram && engram_tuple_is_stub(tuple.t_data, tuple.t_len);
		if (stub)
			copy = heap_copytuple(&tuple);
		else
		{
			passes = row_state(reader, &tuple, row);
			if (fill)
				fill_relay_state(reader, index_tid, &tuple, false);
		}
	}
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	if (!found)
	{
		ReleaseBuffer(buffer);
		return false;
	}
	if (stub)
	{
		decoded = engram_tam_decode_stub(reader->table, copy);
		passes = row_state(reader, decoded, row);
		if (fill)
		{
			/* the stub's header decides, under its buffer's lock again */
			LockBuffer(buffer, BUFFER_LOCK_SHARE);
			fill_relay_state(reader, index_tid, &tuple, true);
			LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
		}
	}
	/* the tuple stays in place while its page is pinned */
	if (reader->use_hot_tier)
		engram_tam_admit_hot(reader->table, index_tid, &tuple, decoded, buffer,
							 !reader->admit_hot_tier);
	ReleaseBuffer(buffer);
	if (stub)
	{
		heap_freetuple(decoded);
		heap_freetuple(copy);
	}
	if (!passes)
		return false;

	row->tier = version_is_hot(reader, index_tid, &tid, root_cached) ? "hot" :
		(stub ? "cold" : "warm");
	return true;
}

/*
 * An entry of the id index met by the walk, and, while its batch is read,
 * what the hot tier said and the pin of its heap page.
 */
typedef struct MemoryEntry
{
	int64		id;				/* the key it was found under, if id_known */
	bool		id_known;
	ItemPointerData index_tid;
	bool		hot_hit;		/* read from the hot tier's visible copy */
	bool		relay_hit;		/* ... else from the relay state cache */
	bool		cached_passes;	/* the row read from either passed the
								 * confidence filter */
	EngramHotResidency held;	/* what the hot tier held under index_tid */
	Buffer		buffer;			/* heap page pinned ahead, or InvalidBuffer */
} MemoryEntry;

/* Where engram_memory_reader_fetch() collects the entries of the walk. */
typedef struct MemoryEntries
{
	MemoryEntry *entries;
	int			count;
	int			capacity;
} MemoryEntries;

/*
 * The tier of a row read from the hot tier's entry of "residency": hot
 * when resident, else the home tier its cached copy recorded.
 */
static const char *
residency_tier(EngramHotResidency residency)
{
	switch (residency)
	{
		case ENGRAM_HOT_CACHED_WARM:
			return "warm";
		case ENGRAM_HOT_CACHED_COLD:
			return "cold";
		default:
			return "hot";
	}
}

/* Ascending order of int64 values. */
static int
compare_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/*
 * A copy of "values" sorted ascending without duplicates (what a btree
 * scan with "= ANY (array)" does to its array); its length in *n.
 */
static int64 *
sorted_distinct(const int64 *values, int count, int *n)
{
	int64	   *sorted = palloc(sizeof(int64) * Max(count, 1));
	int			kept = 0;

	memcpy(sorted, values, sizeof(int64) * count);
	qsort(sorted, count, sizeof(int64), compare_int64);
	for (int i = 0; i < count; i++)
		if (kept == 0 || sorted[kept - 1] != sorted[i])
			sorted[kept++] = sorted[i];
	*n = kept;
	return sorted;
}

/* A visit of the id index's walk: remember the entry, read it later. */
static void
collect_entry(void *arg, int64 id, ItemPointer index_tid, IndexTuple tuple)
{
	MemoryEntries *collected = (MemoryEntries *) arg;

	if (collected->count == collected->capacity)
	{
		collected->capacity *= 2;
		collected->entries = repalloc(collected->entries,
									  sizeof(MemoryEntry) * collected->capacity);
	}
	collected->entries[collected->count].id = id;
	collected->entries[collected->count].id_known = true;
	collected->entries[collected->count].index_tid = *index_tid;
	collected->count++;
}

/*
 * How many heap pages a memory read pins ahead of reading them: at most a
 * quarter of the backend's fair share of shared buffers
 * (engram_backend_buffer_share, as the engram_hnsw search sizes its own),
 * and MEMORY_BATCH_MAX; 1 (nothing ahead) with a small
 * shared_buffers, so that "no unpinned buffers available" cannot come
 * from here.
 */
#define MEMORY_BATCH_MAX 32

static int
memory_batch_size(void)
{
	return Max(1, Min(MEMORY_BATCH_MAX, engram_backend_buffer_share() / 4));
}

/* Byte offset, in a heap page, of the line pointer of "tid". */
static inline Size
line_pointer_offset(ItemPointer tid)
{
	return offsetof(PageHeaderData, pd_linp) +
		(ItemPointerGetOffsetNumber(tid) - 1) * sizeof(ItemIdData);
}

/*
 * Start loading the first two and the last two lines of the tuple the
 * line pointer of "tid" points to, on the page pinned in "buffer" (the
 * header, the columns before the embedding, and the columns after it,
 * which often straddle a line boundary: what row_state() reads; when a
 * distance is computed, the hardware prefetcher streams the embedding
 * once the distance reads it).  The line pointer is
 * read without the buffer lock, for this hint only: a stale or torn value
 * just prefetches other lines of the same page.
 */
static void
prefetch_tuple(Buffer buffer, ItemPointer tid)
{
#ifdef __GNUC__
	const char *page = (const char *) BufferGetPage(buffer);
	Size		offset = line_pointer_offset(tid);
	ItemIdData	item;

	if (ItemPointerGetOffsetNumber(tid) < FirstOffsetNumber ||
		offset + sizeof(ItemIdData) > BLCKSZ)
		return;
	item = *(volatile const ItemIdData *) (page + offset);
	if (item.lp_flags != LP_NORMAL || item.lp_len == 0 ||
		item.lp_off < SizeOfPageHeaderData || item.lp_off + item.lp_len > BLCKSZ)
		return;
	__builtin_prefetch(page + item.lp_off);
	if (item.lp_len > PG_CACHE_LINE_SIZE)
		__builtin_prefetch(page + item.lp_off + PG_CACHE_LINE_SIZE);
	__builtin_prefetch(page + item.lp_off + item.lp_len - 1);
	if (item.lp_len > 3 * PG_CACHE_LINE_SIZE)
		__builtin_prefetch(page + item.lp_off + item.lp_len - 1 - PG_CACHE_LINE_SIZE);
#endif
}

/* What read_hot_row() takes from the hot tier's copy of a row. */
typedef struct HotRowRead
{
	EngramMemoryReader *reader;
	EngramMemoryRow *row;
	bool		passes;			/* the row passed the confidence filter */
} HotRowRead;

/*
 * engram_hot_tier_read() callback: row_state() of the hot tier's copy, read
 * in place under the shard's share lock, the distance to the cue included
 * (the space's distance operator, a function of this library, over the
 * embedding stored in the row uncompressed), so that the embedding (3 kB
 * at 768 dimensions) is never copied out.
 */
static void
read_hot_row(void *arg, HeapTuple tuple)
{
	HotRowRead *read = (HotRowRead *) arg;

	read->passes = row_state(read->reader, tuple, read->row);
}

/*
 * Look up in the relay state cache the entries of a batch the hot tier
 * held nothing for: a hit's row (relay_state_row) into rows[i], with
 * relay_hit and cached_passes set.  Rows the hot tier holds, visible or
 * not, are read as before.  A hit is not copied into the hot tier (there
 * is no row to copy): the hot tier keeps fewer cached copies than without
 * this cache, and which rows it holds, so which tiers recall reports,
 * follows from that.
 */
static void
read_relay_states(EngramMemoryReader *reader, MemoryEntry *batch, int n, EngramMemoryRow *rows)
{
	int			hits = 0;
	int			lookups = 0;

	for (int i = 0; i < n; i++)
	{
		MemoryEntry *entry = &batch[i];
		EngramRelayState state;

		if (entry->hot_hit || entry->held != ENGRAM_HOT_ABSENT)
			continue;
		lookups++;
		if (!engram_relay_state_lookup(reader->table, &entry->index_tid, reader->snapshot,
									   &state))
			continue;
		hits++;
		entry->relay_hit = true;
		entry->cached_passes = relay_state_row(reader, &entry->index_tid, &state, &rows[i]);
	}
	engram_relay_state_count_lookups(hits, lookups - hits);
}

/*
 * Read the rows of a batch of entries of the id index into "rows":
 * each from the hot tier when it holds a version visible to the snapshot
 * (read in place), else from the heap.  The hot tier's buckets and entries
 * of the batch are requested before it is searched; the pages still to be
 * read from the heap are pinned, their buffer headers, page headers, line
 * pointers and tuples requested ahead of reading any, so that their
 * first-touch cache misses overlap instead of being met one row after the
 * other.  Prefetches are only hints: each row is then read as before,
 * under its shard's or its buffer's share lock.  The rows are stored in
 * the order of the batch.
 */
static void
read_batch(EngramMemoryReader *reader, MemoryEntry *batch, int n, EngramMemoryRow *rows,
		   int *nrows, int capacity)
{
	Relation	table = reader->table;
	EngramMemoryRow hot_rows[MEMORY_BATCH_MAX];
	int			hits = 0;

	if (reader->use_hot_tier)
	{
		ItemPointerData index_tids[MEMORY_BATCH_MAX] = {{{0}}};

		for (int i = 0; i < n; i++)
			index_tids[i] = batch[i].index_tid;
		engram_hot_tier_prefetch_rows(table, index_tids, n);
	}
	for (int i = 0; i < n; i++)
	{
		MemoryEntry *entry = &batch[i];
		HotRowRead	read;

		entry->hot_hit = false;
		entry->relay_hit = false;
		entry->held = ENGRAM_HOT_ABSENT;
		entry->buffer = InvalidBuffer;
		if (!reader->use_hot_tier)
			continue;
		read.reader = reader;
		read.row = &hot_rows[i];
		entry->hot_hit = engram_hot_tier_read(table, &entry->index_tid, reader->snapshot,
											  &entry->held, read_hot_row, &read);
		if (!entry->hot_hit)
			continue;
		hits++;
		entry->cached_passes = read.passes;
	}
	if (reader->use_hot_tier)
	{
		/* one update of the shared counters per batch, not per row */
		engram_metrics_cache_lookups(ENGRAM_CACHE_ACTIVATION, n, hits);
		engram_hot_tier_count_lookups(table, hits, n - hits);
	}
	if (reads_relay_state(reader))
		read_relay_states(reader, batch, n, hot_rows);
	for (int i = 0; i < n; i++)
		if (!batch[i].hot_hit && !batch[i].relay_hit)
			engram_recall_prefetch_page(table, ItemPointerGetBlockNumber(&batch[i].index_tid),
										line_pointer_offset(&batch[i].index_tid));
	for (int i = 0; i < n; i++)
	{
		if (batch[i].hot_hit || batch[i].relay_hit)
			continue;
		batch[i].buffer = engram_recall_read_buffer_with(table,
														 ItemPointerGetBlockNumber(&batch[i].index_tid),
														 reader->heap_strategy);
#ifdef __GNUC__
		__builtin_prefetch((const char *) BufferGetPage(batch[i].buffer) +
						   line_pointer_offset(&batch[i].index_tid));
#endif
	}
	for (int i = 0; i < n; i++)
		if (!batch[i].hot_hit && !batch[i].relay_hit)
			prefetch_tuple(batch[i].buffer, &batch[i].index_tid);

	for (int i = 0; i < n; i++)
	{
		MemoryEntry *entry = &batch[i];
		EngramMemoryRow row;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (entry->hot_hit)
		{
			found = entry->cached_passes;
			row = hot_rows[i];
			row.tier = residency_tier(entry->held);
			/* a seed row is kept in the hot tier, as from the heap */
			if (reader->admit_hot_tier && entry->held != ENGRAM_HOT_RESIDENT)
				engram_hot_tier_make_resident(table, &entry->index_tid);
		}
		else if (entry->relay_hit)
		{
			found = entry->cached_passes;
			row = hot_rows[i];
		}
		else
		{
			found = fetch_from_heap(reader, &entry->index_tid, entry->buffer,
									entry->held == ENGRAM_HOT_RESIDENT, &row);
			entry->buffer = InvalidBuffer;
		}
		if (!found)
			continue;

		/*
		 * An index entry leads only to versions of its own key (HOT chains
		 * keep indexed columns), and a unique index to one visible version
		 * per id.
		 */
		if (entry->id_known && row.id != entry->id)
			elog(ERROR, "engram: index entry of id " INT64_FORMAT " led to row " INT64_FORMAT,
				 entry->id, row.id);
		if (*nrows >= capacity)
			elog(ERROR, "engram: more rows than ids in a memory read");
		row.index_tid = entry->index_tid;
		rows[(*nrows)++] = row;
	}
}

/*
 * Read the rows of "entries" into "rows" (room for "capacity"), batch by
 * batch (read_batch); returns how many were stored.
 */
static int
read_entries(EngramMemoryReader *reader, MemoryEntry *entries, int n, EngramMemoryRow *rows,
			 int capacity)
{
	int			nrows = 0;
	int			batch_size = memory_batch_size();

	for (int start = 0; start < n; start += batch_size)
		read_batch(reader, &entries[start], Min(batch_size, n - start), rows, &nrows, capacity);
	return nrows;
}

/*
 * The walk of the id index collects the entries of every id first, and the
 * rows are read afterwards, batch by batch, with the leaves no longer
 * pinned.  That is safe for the MVCC snapshots the reader serves (as
 * PostgreSQL's own index scans drop a leaf's pin under one): an entry's
 * heap TID can be reused only after VACUUM removed both the entry and a
 * row that every snapshot, ours included, sees as dead, and a row then
 * stored at that TID was inserted after our snapshot was taken, so it is
 * invisible to it (and a row of another id would raise the error above).
 */
int
engram_memory_reader_fetch(EngramMemoryReader *reader, const int64 *ids, int nids,
						   EngramMemoryRow *rows)
{
	MemoryEntries collected;
	int64	   *keys;
	int			nkeys;
	int			nrows;

	if (nids == 0)
		return 0;
	keys = sorted_distinct(ids, nids, &nkeys);
	collected.capacity = Max(nkeys, 16);
	collected.count = 0;
	collected.entries = palloc(sizeof(MemoryEntry) * collected.capacity);
	engram_btree_walk(reader->index, reader->snapshot, keys, nkeys, false, collect_entry,
					  &collected);
	nrows = read_entries(reader, collected.entries, collected.count, rows, nids);
	pfree(collected.entries);
	pfree(keys);
	return nrows;
}

int
engram_memory_reader_fetch_tids(EngramMemoryReader *reader, const ItemPointerData *index_tids,
								int n, EngramMemoryRow *rows)
{
	MemoryEntry *entries = palloc(sizeof(MemoryEntry) * Max(n, 1));
	int			nrows;

	for (int i = 0; i < n; i++)
	{
		entries[i].id_known = false;
		entries[i].index_tid = index_tids[i];
	}
	reader->admit_hot_tier = true;
	nrows = read_entries(reader, entries, n, rows, n);
	reader->admit_hot_tier = false;
	pfree(entries);
	return nrows;
}

/* What read_hot_distance() takes from the hot tier's copy of a row. */
typedef struct HotDistanceRead
{
	EngramMemoryReader *reader;
	ItemPointer tid;			/* the version wanted */
	Datum		cue;
	bool		same_version;	/* the copy is that version */
	bool		found;			/* its embedding is not NULL: distance set */
	double		distance;
	Datum		embedding;		/* a compressed or external embedding, copied */
} HotDistanceRead;

/*
 * engram_hot_tier_read() callback of distance_batch(): the distance to the
 * cue of the hot tier's copy of a row when it is the version wanted,
 * computed in place under the shard's share lock (as read_hot_row() does)
 * from an embedding stored in the row uncompressed; any other embedding is
 * copied, to be decompressed or fetched after the lock is released.
 */
static void
read_hot_distance(void *arg, HeapTuple tuple)
{
	HotDistanceRead *read = (HotDistanceRead *) arg;
	EngramMemoryReader *reader = read->reader;
	bool		isnull;
	Datum		embedding;

	read->found = false;
	read->embedding = (Datum) 0;
	read->same_version = ItemPointerEquals(&tuple->t_self, read->tid);
	if (!read->same_version)
		return;
	embedding = heap_getattr(tuple, reader->attnum_embedding, RelationGetDescr(reader->table),
							 &isnull);
	if (isnull)
		return;
	if (VARATT_IS_EXTENDED(DatumGetPointer(embedding)))
	{
		read->embedding = datumCopy(embedding, false, -1);
		return;
	}
	read->distance = embedding_distance(reader, embedding, read->cue);
	read->found = true;
}

/*
 * The distance to "cue" of row version "tid" whose heap page is pinned in
 * "buffer" (the pin is released here), found through an index entry
 * carrying "index_tid": the visible member of that HOT chain is searched
 * under the buffer's share lock (heap_hot_search_buffer, which also takes
 * the serializable predicate lock), and its embedding is then read with
 * the pin alone (a tuple does not move while its page is pinned).  Returns
 * 1 with *distance set; 0 when no version is visible or the embedding is
 * NULL; -1 when the visible version is not "tid" or is a cold stub, which
 * the caller reads on its own (version_distance).
 */
static int
pinned_version_distance(EngramMemoryReader *reader, ItemPointer index_tid, ItemPointer tid,
						Buffer buffer, Datum cue, double *distance)
{
	ItemPointerData member = *index_tid;
	HeapTupleData tuple;
	bool		found;
	bool		isnull = true;
	int			result = 0;

	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	found = heap_hot_search_buffer(&member, reader->table, buffer, reader->snapshot, &tuple,
								   NULL, true);
	LockBuffer(buffer, BUFFER_LOCK_UNLOCK);
	if (found)
	{
		if (!ItemPointerEquals(&member, tid) ||
			(reader->is_engram && engram_tuple_is_stub(tuple.t_data, tuple.t_len)))
			result = -1;
		else
		{
			Datum		embedding = heap_getattr(&tuple, reader->attnum_embedding,
												 RelationGetDescr(reader->table), &isnull);

			if (!isnull)
			{
				*distance = embedding_distance(reader, embedding, cue);
				result = 1;
			}
		}
	}
	ReleaseBuffer(buffer);
	return result;
}

/*
 * One batch of engram_memory_reader_distances() (n <= MEMORY_BATCH_MAX):
 * the hot tier's buckets requested, the versions it holds read from it,
 * then the heap pages of the others pinned, their headers, line pointers
 * and tuple headers requested before any is read (as read_batch does).
 */
static void
distance_batch(EngramMemoryReader *reader, ItemPointerData *index_tids, ItemPointerData *tids,
			   int n, Datum cue, double *distances, bool *found)
{
	Relation	table = reader->table;
	bool		from_heap[MEMORY_BATCH_MAX];
	Buffer		buffers[MEMORY_BATCH_MAX];
	int			hits = 0;

	if (reader->use_hot_tier)
		engram_hot_tier_prefetch_rows(table, index_tids, n);
	for (int i = 0; i < n; i++)
	{
		HotDistanceRead read;

		found[i] = false;
		from_heap[i] = ItemPointerIsValid(&index_tids[i]);
		if (!reader->use_hot_tier || !from_heap[i])
			continue;
		read.reader = reader;
		read.tid = &tids[i];
		read.cue = cue;
		if (!engram_hot_tier_read(table, &index_tids[i], reader->snapshot, NULL,
								  read_hot_distance, &read))
			continue;
		hits++;
		if (!read.same_version)
			continue;
		from_heap[i] = false;
		if (read.embedding != (Datum) 0)
		{
			read.distance = embedding_distance(reader, read.embedding, cue);
			read.found = true;
			pfree(DatumGetPointer(read.embedding));
		}
		if (read.found)
		{
			distances[i] = read.distance;
			found[i] = true;
		}
	}
	engram_hot_tier_count_lookups(table, hits, 0);
	for (int i = 0; i < n; i++)
		if (from_heap[i])
			engram_recall_prefetch_page(table, ItemPointerGetBlockNumber(&tids[i]),
										line_pointer_offset(&tids[i]));
	for (int i = 0; i < n; i++)
	{
		if (!from_heap[i])
			continue;
		buffers[i] = engram_recall_read_buffer_with(table, ItemPointerGetBlockNumber(&tids[i]),
													reader->heap_strategy);
#ifdef __GNUC__
		__builtin_prefetch((const char *) BufferGetPage(buffers[i]) +
						   line_pointer_offset(&tids[i]));
#endif
	}
	for (int i = 0; i < n; i++)
		if (from_heap[i])
			prefetch_tuple(buffers[i], &tids[i]);
	for (int i = 0; i < n; i++)
	{
		int			result;

		if (!from_heap[i])
			continue;
		CHECK_FOR_INTERRUPTS();
		result = pinned_version_distance(reader, &index_tids[i], &tids[i], buffers[i], cue,
										 &distances[i]);
		if (result < 0)
			found[i] = version_distance(reader, &index_tids[i], &tids[i], cue, &distances[i]);
		else
			found[i] = result > 0;
	}
	for (int i = 0; i < n; i++)
		if (!ItemPointerIsValid(&index_tids[i]))
			found[i] = version_distance(reader, &index_tids[i], &tids[i], cue, &distances[i]);
}

/*
 * Where the hot tier holds the version (under its index TID), its distance
 * costs no heap page; the others are read from their pinned heap pages,
 * a batch at a time.  A version read without its index TID (a seed read
 * through SQL) is fetched on its own.
 */
void
engram_memory_reader_distances(EngramMemoryReader *reader, ItemPointerData *index_tids,
							   ItemPointerData *tids, int n, Datum cue, double *distances,
							   bool *found)
{
	int			batch_size = memory_batch_size();

	if (!prepare_distance(reader))
		elog(ERROR, "engram: no distance operator for the memory space");
	for (int start = 0; start < n; start += batch_size)
		distance_batch(reader, index_tids + start, tids + start, Min(batch_size, n - start),
					   cue, distances + start, found + start);
}

/* ---------------------------------------------------------------------
 * Associations
 * ---------------------------------------------------------------------
 */

/*
 * Sort the associations "rows" by dst, keeping the order of rows of equal
 * dst (a least-significant-digit radix sort, one pass per byte of the
 * range of dst).  The walk returns them ascending by src, so the result is
 * ordered by (dst, src); a recall sorts about 500 per depth, where a
 * comparison sort's mispredicted branches cost several times more.
 */
static void
sort_edges_by_dst(EngramEdgeRow *rows, int n)
{
	EngramEdgeRow *from = rows;
	EngramEdgeRow *to;
	EngramEdgeRow *spare;
	uint64		lowest;
	uint64		range;
	int64		min_dst;
	int64		max_dst;

	if (n < 2)
		return;
	min_dst = max_dst = rows[0].dst;
	for (int i = 1; i < n; i++)
	{
		min_dst = Min(min_dst, rows[i].dst);
		max_dst = Max(max_dst, rows[i].dst);
	}
	lowest = (uint64) min_dst;
	range = (uint64) max_dst - lowest;
	spare = to = palloc(sizeof(EngramEdgeRow) * n);
	for (int shift = 0; shift < 64 && (range >> shift) != 0; shift += 8)
	{
		int			start[256] = {0};
		int			total = 0;

		for (int i = 0; i < n; i++)
			start[(((uint64) from[i].dst - lowest) >> shift) & 0xFF]++;
		for (int digit = 0; digit < 256; digit++)
		{
			int			count = start[digit];

			start[digit] = total;
			total += count;
		}
		for (int i = 0; i < n; i++)
			to[start[(((uint64) from[i].dst - lowest) >> shift) & 0xFF]++] = from[i];
		/* the sorted rows are now in "to": the next pass reads them */
		to = from;
		from = (to == rows) ? spare : rows;
	}
	if (from != rows)
		memcpy(rows, from, sizeof(EngramEdgeRow) * n);
	pfree(spare);
}

/* Position of table column "attnum" among the index's columns, or 0. */
static int
index_column_of(Relation index, AttrNumber attnum)
{
	for (int i = 0; i < index->rd_index->indnatts; i++)
		if (index->rd_index->indkey.values[i] == attnum)
			return i + 1;
	return 0;
}

/* Where engram_association_reader_fetch() collects the associations. */
typedef struct EdgeFetch
{
	Relation	table;
	Snapshot	snapshot;
	TupleDesc	index_desc;
	bool		index_only;		/* dst and weight are index columns */
	int			index_dst;
	int			index_weight;
	AttrNumber	attnum_src;
	AttrNumber	attnum_dst;
	AttrNumber	attnum_weight;
	IndexFetchTableData *heap_fetch;
	TupleTableSlot *slot;
	Buffer		vmbuffer;
	const int64 *srcs;			/* the keys walked, ascending */
	int			source;			/* position in srcs of the key being visited */
	EngramEdgeRow *rows;
	int			nrows;
	int			capacity;
} EdgeFetch;

/*
 * One entry of the association key: from the index tuple when its heap
 * page is all-visible and the index holds dst and weight (the predicate
 * lock an index-only scan takes on the heap page), else from the visible
 * version of its row.
 */
static void
visit_edge(void *arg, int64 src, ItemPointer tid, IndexTuple tuple)
{
	EdgeFetch  *fetch = (EdgeFetch *) arg;
	EngramEdgeRow *row;
	bool		isnull;
	Datum		weight;

	if (fetch->nrows == fetch->capacity)
	{
		fetch->capacity *= 2;
		fetch->rows = repalloc(fetch->rows, sizeof(EngramEdgeRow) * fetch->capacity);
	}
	row = &fetch->rows[fetch->nrows];
	/* the walk visits the keys in ascending order */
	while (fetch->srcs[fetch->source] != src)
		fetch->source++;
	row->source = fetch->source;
	if (fetch->index_only &&
		VM_ALL_VISIBLE(fetch->table, ItemPointerGetBlockNumber(tid), &fetch->vmbuffer))
	{
		row->src = src;
		row->dst = DatumGetInt64(index_getattr(tuple, fetch->index_dst, fetch->index_desc,
											   &isnull));
		weight = index_getattr(tuple, fetch->index_weight, fetch->index_desc, &isnull);
		row->weight = isnull ? 0.0 : DatumGetFloat4(weight);
		PredicateLockPage(fetch->table, ItemPointerGetBlockNumber(tid), fetch->snapshot);
		fetch->nrows++;
		return;
	}
	{
		bool		call_again = false;
		bool		all_dead = false;

		if (!table_index_fetch_tuple(fetch->heap_fetch, tid, fetch->snapshot, fetch->slot,
									 &call_again, &all_dead))
			return;
	}
	row->src = DatumGetInt64(slot_getattr(fetch->slot, fetch->attnum_src, &isnull));
	row->dst = DatumGetInt64(slot_getattr(fetch->slot, fetch->attnum_dst, &isnull));
	weight = slot_getattr(fetch->slot, fetch->attnum_weight, &isnull);
	row->weight = isnull ? 0.0 : DatumGetFloat4(weight);
	ExecClearTuple(fetch->slot);
	fetch->nrows++;
}

/*
 * Walk the association key for "keys" (ascending, distinct) into
 * fetch->rows (ascending src, then dst), each with the position of its src
 * in "keys".
 */
static void
walk_associations(EdgeFetch *fetch, Relation index, const int64 *keys, int nkeys)
{
	Relation	table = fetch->table;

	fetch->index_desc = RelationGetDescr(index);
	fetch->index_dst = index_column_of(index, fetch->attnum_dst);
	fetch->index_weight = index_column_of(index, fetch->attnum_weight);
	fetch->index_only = fetch->index_dst > 0 && fetch->index_weight > 0 &&
		table->rd_tableam == GetHeapamTableAmRoutine() &&
		index_can_return(index, fetch->index_dst) && index_can_return(index, fetch->index_weight);
	fetch->vmbuffer = InvalidBuffer;
	fetch->capacity = Max(nkeys * 8, 16);
	fetch->rows = palloc(sizeof(EngramEdgeRow) * fetch->capacity);
	fetch->slot = table_slot_create(table, NULL);
	fetch->heap_fetch = table_index_fetch_begin(table);
	fetch->srcs = keys;

	/* the walk checks that the keys ascend */
	engram_btree_walk(index, fetch->snapshot, keys, nkeys, true, visit_edge, fetch);

	if (BufferIsValid(fetch->vmbuffer))
		ReleaseBuffer(fetch->vmbuffer);
	table_index_fetch_end(fetch->heap_fetch);
	ExecDropSingleTupleTableSlot(fetch->slot);
}

/*
 * The associations of "srcs" in src order, from the cache's lists where it
 * has them and from a walk of the others (whose lists it then keeps when
 * still valid): what walk_associations() would have read for all of them.
 * False, reading nothing, when a walk is needed and the table has no
 * walkable index.
 */
static bool
cached_associations(EdgeFetch *fetch, EngramAssociationCacheRead *cache, Relation *index,
					const int64 *srcs, int nsrcs)
{
	const EngramCachedEdge **lists = palloc(sizeof(EngramCachedEdge *) * nsrcs);
	int		   *lengths = palloc(sizeof(int) * nsrcs);
	int64	   *missing = palloc(sizeof(int64) * nsrcs);
	int			nmissing = 0;
	int			total = 0;
	EngramEdgeRow *walked = NULL;
	int			nwalked = 0;
	int			next_walked = 0;
	EngramEdgeRow *rows;
	int			nrows = 0;

	for (int i = 0; i < nsrcs; i++)
	{
		if (cache->lookup && engram_association_cache_lookup(cache, srcs[i], &lists[i], &lengths[i]))
			total += lengths[i];
		else
		{
			lengths[i] = -1;	/* a miss; a hit may be an empty list */
			missing[nmissing++] = srcs[i];
		}
	}
	if (nmissing > 0)
	{
		*index = open_walkable_index(fetch->table, fetch->attnum_src, false);
		if (*index == NULL)
			return false;
		walk_associations(fetch, *index, missing, nmissing);
		walked = fetch->rows;
		nwalked = fetch->nrows;
		total += nwalked;
		if (!engram_association_cache_may_keep(cache))
			cache->usable = false;
	}

	rows = palloc(sizeof(EngramEdgeRow) * Max(total, 1));
	for (int i = 0, m = 0; i < nsrcs; i++)
	{
		if (lengths[i] >= 0)
		{
			for (int e = 0; e < lengths[i]; e++, nrows++)
			{
				rows[nrows].src = srcs[i];
				rows[nrows].dst = lists[i][e].dst;
				rows[nrows].weight = lists[i][e].weight;
				rows[nrows].source = i;
			}
			continue;
		}
		/* the walked rows of missing[m] (= srcs[i]) follow those of missing[m - 1] */
		while (next_walked < nwalked && walked[next_walked].source == m)
		{
			rows[nrows] = walked[next_walked++];
			rows[nrows++].source = i;
		}
		m++;
	}

	/* Keep the walked lists, once the cache's own lists were copied (storing may empty it). */
	for (int m = 0, first = 0; cache->usable && m < nmissing; m++)
	{
		int			last = first;

		while (last < nwalked && walked[last].source == m)
			last++;
		engram_association_cache_store(cache, missing[m], &walked[first], last - first);
		first = last;
	}
	if (walked != NULL)
		pfree(walked);
	pfree(lists);
	pfree(lengths);
	pfree(missing);
	fetch->rows = rows;
	fetch->nrows = nrows;
	return true;
}

/*
 * The associations leaving the given memories ("srcs": ascending, distinct),
 * as
 *		SELECT src, dst, weight FROM associations
 *		 WHERE src = ANY (srcs) ORDER BY dst, src
 * returns them, each with the position of its src in "srcs", read with one
 * ordered walk (engram_btree_walk) of a btree index whose first key column
 * is src (the primary key (src, dst)), under the same conditions as the
 * memory reader (no row-level security, SELECT
 * on the table, canonical column types, a plain MVCC snapshot).  When the
 * index also holds dst and weight (engram_create_space makes the primary
 * key (src, dst) INCLUDE (weight)), an entry on a heap page that the
 * visibility map marks all-visible is read from the index alone, as an
 * index-only scan does (with the same predicate lock on the heap page);
 * otherwise, and for other pages, the row is fetched through the table AM.
 * The lists of the backend's association cache stand in for the walk of
 * the srcs they hold when association_cache.c allows it.
 * Returns false, reading nothing, when the conditions do not hold: the
 * caller then runs the statement.  *edges is palloc'd in the current
 * memory context.
 */
bool
engram_association_reader_fetch(const EngramSpace *space, const int64 *srcs, int nsrcs,
								EngramEdgeRow **edges, int *nedges)
{
	Relation	table;
	Relation	index = NULL;
	EdgeFetch	fetch;
	EngramAssociationCacheRead cache;
	bool		read;

	if (!directly_readable(space->assoc_relid))
		return false;
	table = relation_open(space->assoc_relid, AccessShareLock);
	memset(&fetch, 0, sizeof(fetch));
	fetch.attnum_src = column_of_type(table, "src", INT8OID);
	fetch.attnum_dst = column_of_type(table, "dst", INT8OID);
	fetch.attnum_weight = column_of_type(table, "weight", FLOAT4OID);
	if (table->rd_rel->relkind != RELKIND_RELATION || table->rd_rel->relhassubclass ||
		fetch.attnum_src == InvalidAttrNumber || fetch.attnum_dst == InvalidAttrNumber ||
		fetch.attnum_weight == InvalidAttrNumber)
	{
		relation_close(table, AccessShareLock);
		return false;
	}
	fetch.table = table;
	fetch.snapshot = GetActiveSnapshot();
	/*
	 * Cached lists were walked with this table's walkable index: any change
	 * of its indexes invalidates the relation, and so the lists.
	 */
	read = true;
	if (engram_association_cache_begin(table, fetch.snapshot, &cache))
		read = cached_associations(&fetch, &cache, &index, srcs, nsrcs);
	else if ((index = open_walkable_index(table, fetch.attnum_src, false)) != NULL)
		walk_associations(&fetch, index, srcs, nsrcs);
	else
		read = false;
	if (!read)
	{
		relation_close(table, AccessShareLock);
		return false;
	}
	if (index != NULL)
		index_close(index, AccessShareLock);
	relation_close(table, AccessShareLock);

	sort_edges_by_dst(fetch.rows, fetch.nrows);
	*edges = fetch.rows;
	*nedges = fetch.nrows;
	return true;
}
