/*-------------------------------------------------------------------------
 *
 * memory_reader.c
 *	  Read the state of memory rows by id without SQL: one scan of the
 *	  space's btree index on id per batch of ids, each row taken from the
 *	  hot tier when it is there, else from its heap page, embeddings never
 *	  read.
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
 *	- index: a unique btree index whose only key column is id, no predicate,
 *	  scanned once with "id = ANY (ids)" (SK_SEARCHARRAY);
 *	- row: for each index TID, the hot tier's entry when visible to the
 *	  snapshot (engram_hot_tier_lookup: same visibility answer as heap),
 *	  else the visible member of the heap HOT chain (heap_hot_search_buffer,
 *	  which also takes the serializable predicate lock), a cold stub
 *	  decoded from its segment.  Nothing is added to the hot tier and no
 *	  access is recorded (recall records only what it returns);
 *	- tier: as engram_recall_row_tier() reports it: hot when the hot tier
 *	  has an entry for the row's chain root or the row itself, else cold
 *	  for a stub, else warm; always warm for a heap table.
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
 * Locks: the table is locked by engram_space_resolve(); the index is
 * opened with AccessShareLock for the reader's lifetime; heap buffers are
 * share-locked one at a time while a HOT chain is searched and the needed
 * columns copied out; no hot-tier lock is held with a buffer lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "metrics/engram_metrics.h"
#include "recall_internal.h"
#include "shmem/engram_hot_tier.h"
#include "tam/engram_tam.h"

struct EngramMemoryReader
{
	Relation	table;			/* opened NoLock: locked by the space's resolve */
	Relation	index;			/* btree on id, AccessShareLock */
	Snapshot	snapshot;		/* the active snapshot */
	bool		is_engram;		/* hot tier and cold stubs apply */
	bool		use_hot_tier;	/* lookups enabled and the region present */
	RegProcedure id_equality;	/* int8 = int8 of the index's operator family */
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
	AttrNumber	attnum_content;
	AttrNumber	attnum_occurred_at;
	AttrNumber	attnum_metadata;
	const EngramSpace *space;
};

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
 * only one, and unique, when "unique_key"), with no predicate: opened with
 * AccessShareLock, its int8 equality procedure in *equality; NULL when
 * there is none.
 */
static Relation
open_int8_index(Relation table, AttrNumber attnum, bool unique_key, RegProcedure *equality)
{
	List	   *indexes = RelationGetIndexList(table);
	ListCell   *cell;

	foreach(cell, indexes)
	{
		Relation	index = index_open(lfirst_oid(cell), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (form->indisvalid && form->indislive && index->rd_rel->relam == BTREE_AM_OID &&
			(!unique_key || (form->indisunique && form->indnkeyatts == 1)) &&
			form->indkey.values[0] == attnum &&
			heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL))
		{
			Oid			operator = get_opfamily_member(index->rd_opfamily[0], INT8OID, INT8OID,
													   BTEqualStrategyNumber);

			if (OidIsValid(operator))
			{
				*equality = get_opcode(operator);
				list_free(indexes);
				return index;
			}
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
		(reader->index = open_int8_index(table, reader->attnum_id, true,
										  &reader->id_equality)) == NULL)
	{
		relation_close(table, NoLock);
		pfree(reader);
		return NULL;
	}
	return reader;
}

void
engram_memory_reader_end(EngramMemoryReader *reader)
{
	index_close(reader->index, AccessShareLock);
	relation_close(reader->table, NoLock);
	pfree(reader);
}

/*
 * Copy the state columns of "tuple" (a full row, not a stub) into "row";
 * false when the statement's "confidence > 0" would filter it out.
 */
static bool
row_state(EngramMemoryReader *reader, HeapTuple tuple, EngramMemoryRow *row)
{
	TupleDesc	desc = RelationGetDescr(reader->table);
	bool		isnull;
	Datum		value;

	value = heap_getattr(tuple, reader->attnum_confidence, desc, &isnull);
	if (isnull || !(DatumGetFloat4(value) > 0))
		return false;
	row->confidence = DatumGetFloat4(value);
	row->id = DatumGetInt64(heap_getattr(tuple, reader->attnum_id, desc, &isnull));
	value = heap_getattr(tuple, reader->attnum_created_at, desc, &isnull);
	row->created_at = isnull ? 0 : DatumGetTimestampTz(value);
	value = heap_getattr(tuple, reader->attnum_decay, desc, &isnull);
	row->decay_name = isnull ? NULL : TextDatumGetCString(value);
	row->tid = tuple->t_self;
	if (reader->want_output)
	{
		value = heap_getattr(tuple, reader->attnum_content, desc, &row->content_null);
		row->content = row->content_null ? (Datum) 0 : datumCopy(value, false, -1);
		value = heap_getattr(tuple, reader->attnum_occurred_at, desc, &row->occurred_at_null);
		row->occurred_at = row->occurred_at_null ? (Datum) 0 : value;
		value = heap_getattr(tuple, reader->attnum_metadata, desc, &row->metadata_null);
		row->metadata = row->metadata_null ? (Datum) 0 : datumCopy(value, false, -1);
	}
	row->has_distance = false;
	if (reader->have_cue)
	{
		value = heap_getattr(tuple, reader->attnum_embedding, desc, &isnull);
		if (!isnull && !VARATT_IS_EXTENDED(DatumGetPointer(value)))
		{
			row->distance = DatumGetFloat8(FunctionCall2Coll(&reader->distance, InvalidOid,
															 value, reader->cue));
			row->has_distance = true;
		}
	}
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
	if (prepare_distance(reader))
	{
		reader->have_cue = true;
		reader->cue = cue;
	}
}

bool
engram_memory_reader_distance(EngramMemoryReader *reader, ItemPointer index_tid,
							  ItemPointer tid, Datum cue, double *distance)
{
	HeapTuple	row = NULL;
	HeapTuple	stub = NULL;
	Datum		embedding;
	bool		isnull;

	if (!prepare_distance(reader))
		elog(ERROR, "engram: no distance operator for the memory space");
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
		*distance = DatumGetFloat8(FunctionCall2Coll(&reader->distance, InvalidOid,
													 embedding, cue));
	heap_freetuple(row);
	if (stub != NULL)
		heap_freetuple(stub);
	return !isnull;
}

/*
 * The row an index entry with "index_tid" leads to, visible to the
 * snapshot, from the heap: true with "row" filled when it exists and
 * passes the confidence filter.
 */
static bool
fetch_from_heap(EngramMemoryReader *reader, ItemPointer index_tid, EngramMemoryRow *row)
{
	ItemPointerData tid = *index_tid;
	HeapTupleData tuple;
	HeapTuple	copy = NULL;
	Buffer		buffer;
	bool		found;
	bool		stub = false;
	bool		hot = false;
	bool		passes = false;

	buffer = ReadBuffer(reader->table, ItemPointerGetBlockNumber(&tid));
	LockBuffer(buffer, BUFFER_LOCK_SHARE);
	found = heap_hot_search_buffer(&tid, reader->table, buffer, reader->snapshot, &tuple,
								   NULL, true);
	if (found)
	{
		stub = reader->is_engram && engram_tuple_is_stub(tuple.t_data, tuple.t_len);
		if (stub)
			copy = heap_copytuple(&tuple);
		else
			passes = row_state(reader, &tuple, row);
	}
	UnlockReleaseBuffer(buffer);
	if (!found)
		return false;
	if (stub)
	{
		HeapTuple	decoded = engram_tam_decode_stub(reader->table, copy);

		passes = row_state(reader, decoded, row);
		heap_freetuple(decoded);
		heap_freetuple(copy);
	}
	if (!passes)
		return false;

	/*
	 * A hot-tier entry this snapshot could not use (written by a
	 * transaction it does not see) still makes the row hot, as for
	 * engram_tam_row_tier().
	 */
	if (reader->use_hot_tier)
		hot = engram_hot_tier_has(reader->table, index_tid) ||
			(!ItemPointerEquals(index_tid, &tid) && engram_hot_tier_has(reader->table, &tid));
	row->tier = hot ? "hot" : (stub ? "cold" : "warm");
	return true;
}

int
engram_memory_reader_fetch(EngramMemoryReader *reader, const int64 *ids, int nids,
						   EngramMemoryRow *rows)
{
	Datum	   *elements = palloc(sizeof(Datum) * Max(nids, 1));
	ArrayType  *array;
	ScanKeyData key;
	IndexScanDesc scan;
	ItemPointer index_tid;
	int			nrows = 0;

	if (nids == 0)
		return 0;
	for (int i = 0; i < nids; i++)
		elements[i] = Int64GetDatum(ids[i]);
	array = construct_array(elements, nids, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							TYPALIGN_DOUBLE);
	ScanKeyEntryInitialize(&key, SK_SEARCHARRAY, 1, BTEqualStrategyNumber, INT8OID,
						   reader->index->rd_indcollation[0], reader->id_equality,
						   PointerGetDatum(array));

	scan = index_beginscan(reader->table, reader->index, reader->snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while ((index_tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		EngramMemoryRow row;
		HeapTuple	hit = NULL;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		if (reader->use_hot_tier)
		{
			hit = engram_hot_tier_lookup(reader->table, index_tid, reader->snapshot);
			engram_metrics_cache_lookup(ENGRAM_CACHE_ACTIVATION, hit != NULL);
			if (hit == NULL)
				engram_hot_tier_count_miss(reader->table);
		}
		if (hit != NULL)
		{
			found = row_state(reader, hit, &row);
			row.tier = "hot";
			heap_freetuple(hit);
		}
		else
			found = fetch_from_heap(reader, index_tid, &row);
		if (!found)
			continue;

		/* A unique index leads to one visible version per id at most. */
		if (nrows >= nids)
			elog(ERROR, "engram: more rows than ids in a memory read");
		row.index_tid = *index_tid;
		rows[nrows++] = row;
	}
	index_endscan(scan);
	pfree(array);
	pfree(elements);
	return nrows;
}

/* ---------------------------------------------------------------------
 * Associations
 * ---------------------------------------------------------------------
 */

static int
compare_edges(const void *a, const void *b)
{
	const EngramEdgeRow *ea = (const EngramEdgeRow *) a;
	const EngramEdgeRow *eb = (const EngramEdgeRow *) b;

	if (ea->dst != eb->dst)
		return ea->dst < eb->dst ? -1 : 1;
	if (ea->src != eb->src)
		return ea->src < eb->src ? -1 : 1;
	return 0;
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

/*
 * The associations leaving the given memories, as
 *		SELECT src, dst, weight FROM associations
 *		 WHERE src = ANY (srcs) ORDER BY dst, src
 * returns them, read with one scan of a btree index whose first key column
 * is src (the primary key (src, dst)), under the same conditions as the
 * memory reader (no row-level security, SELECT on the table, canonical
 * column types, a plain MVCC snapshot).  When the index also holds dst and
 * weight (engram_create_space makes the primary key
 * (src, dst) INCLUDE (weight)), an entry on a heap page that the
 * visibility map marks all-visible is read from the index alone, as an
 * index-only scan does (with the same predicate lock on the heap page);
 * otherwise, and for other pages, the row is fetched through the table AM.
 * Returns false, reading nothing, when the conditions do not hold: the
 * caller then runs the statement.  *edges is palloc'd in the current
 * memory context.
 */
bool
engram_association_reader_fetch(const EngramSpace *space, const int64 *srcs, int nsrcs,
								EngramEdgeRow **edges, int *nedges)
{
	Relation	table;
	Relation	index;
	AttrNumber	attnum_src;
	AttrNumber	attnum_dst;
	AttrNumber	attnum_weight;
	int			index_dst;
	int			index_weight;
	bool		index_only;
	RegProcedure equality;
	Datum	   *elements;
	ArrayType  *array;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Buffer		vmbuffer = InvalidBuffer;
	Snapshot	snapshot = GetActiveSnapshot();
	ItemPointer tid;
	int			capacity = Max(nsrcs * 8, 16);
	int			n = 0;
	EngramEdgeRow *rows;

	if (!directly_readable(space->assoc_relid))
		return false;
	table = relation_open(space->assoc_relid, AccessShareLock);
	attnum_src = column_of_type(table, "src", INT8OID);
	attnum_dst = column_of_type(table, "dst", INT8OID);
	attnum_weight = column_of_type(table, "weight", FLOAT4OID);
	if (table->rd_rel->relkind != RELKIND_RELATION || table->rd_rel->relhassubclass ||
		attnum_src == InvalidAttrNumber || attnum_dst == InvalidAttrNumber ||
		attnum_weight == InvalidAttrNumber ||
		(index = open_int8_index(table, attnum_src, false, &equality)) == NULL)
	{
		relation_close(table, AccessShareLock);
		return false;
	}
	index_dst = index_column_of(index, attnum_dst);
	index_weight = index_column_of(index, attnum_weight);
	index_only = index_dst > 0 && index_weight > 0 && index_column_of(index, attnum_src) == 1 &&
		table->rd_tableam == GetHeapamTableAmRoutine() &&
		index_can_return(index, index_dst) && index_can_return(index, index_weight);

	elements = palloc(sizeof(Datum) * Max(nsrcs, 1));
	for (int i = 0; i < nsrcs; i++)
		elements[i] = Int64GetDatum(srcs[i]);
	array = construct_array(elements, nsrcs, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							TYPALIGN_DOUBLE);
	ScanKeyEntryInitialize(&key, SK_SEARCHARRAY, 1, BTEqualStrategyNumber, INT8OID,
						   index->rd_indcollation[0], equality, PointerGetDatum(array));

	rows = palloc(sizeof(EngramEdgeRow) * capacity);
	slot = table_slot_create(table, NULL);
	scan = index_beginscan(table, index, snapshot, 1, 0);
	scan->xs_want_itup = index_only;
	index_rescan(scan, &key, 1, NULL, 0);
	while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		weight;

		CHECK_FOR_INTERRUPTS();
		if (n == capacity)
		{
			capacity *= 2;
			rows = repalloc(rows, sizeof(EngramEdgeRow) * capacity);
		}
		if (index_only && scan->xs_itup != NULL &&
			VM_ALL_VISIBLE(table, ItemPointerGetBlockNumber(tid), &vmbuffer))
		{
			IndexTuple	itup = scan->xs_itup;
			TupleDesc	desc = scan->xs_itupdesc;

			rows[n].src = DatumGetInt64(index_getattr(itup, 1, desc, &isnull));
			rows[n].dst = DatumGetInt64(index_getattr(itup, index_dst, desc, &isnull));
			weight = index_getattr(itup, index_weight, desc, &isnull);
			rows[n].weight = isnull ? 0.0 : DatumGetFloat4(weight);
			PredicateLockPage(table, ItemPointerGetBlockNumber(tid), snapshot);
			n++;
			continue;
		}
		if (!index_fetch_heap(scan, slot))
			continue;
		rows[n].src = DatumGetInt64(slot_getattr(slot, attnum_src, &isnull));
		rows[n].dst = DatumGetInt64(slot_getattr(slot, attnum_dst, &isnull));
		weight = slot_getattr(slot, attnum_weight, &isnull);
		rows[n].weight = isnull ? 0.0 : DatumGetFloat4(weight);
		n++;
	}
	if (BufferIsValid(vmbuffer))
		ReleaseBuffer(vmbuffer);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	relation_close(table, AccessShareLock);
	pfree(array);
	pfree(elements);

	qsort(rows, n, sizeof(EngramEdgeRow), compare_edges);
	*edges = rows;
	*nedges = n;
	return true;
}
