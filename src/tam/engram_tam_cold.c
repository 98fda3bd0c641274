/*-------------------------------------------------------------------------
 *
 * engram_tam_cold.c
 *	  The cold tier: segment codec (byte shuffle, zstd, checksum), the
 *	  segment store in engram.cold_segments, stubs, the per-backend cache of
 *	  decoded segments and segment garbage collection.
 *
 * The decoding core (checksum, decompression, validation, row extraction)
 * is engram_tam_codec.c, free of server calls so that it can be fuzzed.
 *
 * Responsibilities
 *	- build a segment from detoasted rows and store it (engram_segment_builder_*)
 *	- fetch, verify and decode a segment; hand out one row of it
 *	- form and recognise stubs
 *	- drop segments nobody references (engram_tam_cold_collect_garbage)
 *
 * Layout: see "Segments" in engram_tam.h.  Segment rows are read with
 * SnapshotSelf and are immutable, so a decoded segment is cached by id for
 * the life of the backend (ids are never reused).
 *
 * Locking: only relation locks (AccessShareLock to read segments,
 * RowExclusiveLock to write them) and, in the garbage collector, a share
 * lock on one heap buffer at a time.  A segment row's bytes are copied
 * while the index scan that found it still pins its page: an inline value
 * points into that shared buffer, which pruning may compact (or the buffer
 * manager reuse) as soon as the pin is released.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "access/detoast.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/vacuum.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "tam/engram_tam.h"
#include "tam/engram_tam_codec.h"

/* ------------------------------------------------------------------------
 * Segment builder
 * ------------------------------------------------------------------------
 */

typedef struct EngramBuilderRow
{
	HeapTuple	tuple;			/* detoasted copy */
	int			first_region;
	int			nregions;
} EngramBuilderRow;

struct EngramSegmentBuilder
{
	MemoryContext context;
	TupleDesc	tupdesc;
	char	   *float_attr;		/* per attribute: FLOAT_ATTR_* */
	EngramColdPrecision precision;	/* engram.cold_embedding_precision */
	int			nrows;
	EngramBuilderRow rows[ENGRAM_SEGMENT_MAX_ROWS];
	EngramFloatRegionV2 *regions;	/* stored_offset: into its section */
	int			nregions;
	int			max_regions;
	Size		tuple_bytes;	/* rows' full size */
	Size		float_bytes;	/* decoded bytes of all regions */
	Size		full_bytes;		/* stored bytes of the full section */
	Size		half_bytes;		/* stored bytes of the half section */
};

#define FLOAT_ATTR_NONE		0
#define FLOAT_ATTR_EVECTOR	1
#define FLOAT_ATTR_FLOAT4_ARRAY	2
#define FLOAT_ATTR_FLOAT8_ARRAY	3

static char
float_attr_kind(Oid typid)
{
	HeapTuple	tp;
	char		kind = FLOAT_ATTR_NONE;

	if (typid == FLOAT4ARRAYOID)
		return FLOAT_ATTR_FLOAT4_ARRAY;
	if (typid == FLOAT8ARRAYOID)
		return FLOAT_ATTR_FLOAT8_ARRAY;
	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (HeapTupleIsValid(tp))
	{
		Form_pg_type typ = (Form_pg_type) GETSTRUCT(tp);

		if (typ->typlen == -1 && strcmp(NameStr(typ->typname), "evector") == 0)
			kind = FLOAT_ATTR_EVECTOR;
		ReleaseSysCache(tp);
	}
	return kind;
}

/*
 * A builder for segments of rows of "tupdesc", in its own memory context
 * (a child of the current one).  The precision of its float32 regions is
 * engram.cold_embedding_precision at creation.
 */
EngramSegmentBuilder *
engram_segment_builder_create(TupleDesc tupdesc)
{
	MemoryContext context = AllocSetContextCreate(CurrentMemoryContext,
												  "engram segment builder",
												  ALLOCSET_DEFAULT_SIZES);
	EngramSegmentBuilder *builder;

	builder = MemoryContextAllocZero(context, sizeof(EngramSegmentBuilder));
	builder->context = context;
	builder->tupdesc = tupdesc;
	builder->precision = (EngramColdPrecision) engram_cold_embedding_precision;
	builder->float_attr = MemoryContextAllocZero(context, Max(tupdesc->natts, 1));
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped)
			builder->float_attr[i] = float_attr_kind(att->atttypid);
	}
	builder->max_regions = 64;
	builder->regions = MemoryContextAlloc(context, sizeof(EngramFloatRegionV2) * builder->max_regions);
	return builder;
}

void
engram_segment_builder_reset(EngramSegmentBuilder *builder)
{
	for (int i = 0; i < builder->nrows; i++)
		heap_freetuple(builder->rows[i].tuple);
	builder->nrows = 0;
	builder->nregions = 0;
	builder->tuple_bytes = 0;
	builder->float_bytes = 0;
	builder->full_bytes = 0;
	builder->half_bytes = 0;
}

HeapTuple
engram_segment_builder_row(EngramSegmentBuilder *builder, int slot)
{
	Assert(slot >= 0 && slot < builder->nrows);
	return builder->rows[slot].tuple;
}

int
engram_segment_builder_nrows(EngramSegmentBuilder *builder)
{
	return builder->nrows;
}

/*
 * Locate the float elements of a varlena value stored inside a tuple;
 * returns false when the value has none.  "ptr" points at the value's
 * varlena header (1- or 4-byte, never external or compressed here).
 */
static bool
float_region_of_value(char kind, const char *ptr, Size *offset, Size *length)
{
	Size		hdr = VARATT_IS_SHORT(ptr) ? VARHDRSZ_SHORT : VARHDRSZ;
	Size		total = VARSIZE_ANY(ptr);

	if (kind == FLOAT_ATTR_EVECTOR)
	{
		/* int16 dim, int16 unused, then the floats */
		*offset = hdr + 4;
	}
	else
	{
		int32		ndim;
		int32		dataoffset;

		/* ArrayType fields follow the header; unaligned when short */
		memcpy(&ndim, ptr + hdr, sizeof(int32));
		memcpy(&dataoffset, ptr + hdr + sizeof(int32), sizeof(int32));
		if (ndim <= 0 || ndim > MAXDIM)
			return false;
		if (dataoffset == 0)
			dataoffset = ARR_OVERHEAD_NONULLS(ndim);
		/* offsets inside ArrayType count a 4-byte header */
		*offset = hdr + dataoffset - VARHDRSZ;
	}
	if (*offset >= total)
		return false;
	*length = (total - *offset) & ~((Size) 3);
	return *length > 0;
}

/* Round n float32 at "floats" (any alignment) to binary16 precision. */
static void
round_to_half(char *floats, Size n)
{
	for (Size i = 0; i < n; i++)
	{
		float		value;

		memcpy(&value, floats + i * sizeof(float), sizeof(value));
		value = engram_half_to_float(engram_float_to_half(value));
		memcpy(floats + i * sizeof(float), &value, sizeof(value));
	}
}

/*
 * Add a row.  The tuple is detoasted and copied (with dropped columns set to
 * NULL) into the builder's context.  Returns the row's slot in the segment,
 * or -1 when the segment is full (the caller stores it and resets).  With
 * precision 'half', the float32 regions that fit binary16 are rounded in
 * the copy, so that engram_segment_builder_row returns exactly what reading
 * the stored row will return.
 */
int
engram_segment_builder_add(EngramSegmentBuilder *builder, HeapTuple tuple)
{
	TupleDesc	tupdesc = builder->tupdesc;
	int			natts = tupdesc->natts;
	MemoryContext oldcontext;
	Datum	   *values;
	bool	   *isnull;
	HeapTuple	plain;
	EngramBuilderRow *row;

	if (builder->nrows >= ENGRAM_SEGMENT_MAX_ROWS)
		return -1;

	oldcontext = MemoryContextSwitchTo(builder->context);
	values = palloc(sizeof(Datum) * Max(natts, 1));
	isnull = palloc(sizeof(bool) * Max(natts, 1));
	heap_deform_tuple(tuple, tupdesc, values, isnull);
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped)
			isnull[i] = true;
		else if (!isnull[i] && att->attlen == -1 &&
				 VARATT_IS_EXTENDED(DatumGetPointer(values[i])))
			values[i] = PointerGetDatum(detoast_attr((struct varlena *) DatumGetPointer(values[i])));
	}
	plain = heap_form_tuple(tupdesc, values, isnull);

	if (builder->nrows > 0 &&
		builder->tuple_bytes + plain->t_len > ENGRAM_SEGMENT_MAX_RAW)
	{
		MemoryContextSwitchTo(oldcontext);
		heap_freetuple(plain);
		return -1;
	}

	row = &builder->rows[builder->nrows];
	row->tuple = plain;
	row->first_region = builder->nregions;
	row->nregions = 0;

	/* Find the float regions of the formed tuple (values point into it). */
	heap_deform_tuple(plain, tupdesc, values, isnull);
	for (int i = 0; i < natts; i++)
	{
		Size		offset;
		Size		length;
		const char *ptr;
		EngramFloatRegionV2 *region;

		if (builder->float_attr[i] == FLOAT_ATTR_NONE || isnull[i])
			continue;
		ptr = DatumGetPointer(values[i]);
		if (!float_region_of_value(builder->float_attr[i], ptr, &offset, &length))
			continue;
		if (builder->nregions >= builder->max_regions)
		{
			builder->max_regions *= 2;
			builder->regions = repalloc(builder->regions,
										sizeof(EngramFloatRegionV2) * builder->max_regions);
		}
		region = &builder->regions[builder->nregions];
		region->tuple_offset = (ptr - (char *) plain->t_data) + offset;
		region->length = length;
		if (builder->precision == ENGRAM_COLD_PRECISION_HALF &&
			builder->float_attr[i] != FLOAT_ATTR_FLOAT8_ARRAY &&
			engram_floats_fit_half(ptr + offset, length / sizeof(float)))
		{
			/* ptr points into "plain", our own copy: round it in place. */
			round_to_half((char *) ptr + offset, length / sizeof(float));
			region->encoding = ENGRAM_FLOAT_ENCODING_HALF;
			region->stored_offset = builder->half_bytes;
			builder->half_bytes += length / 2;
		}
		else
		{
			region->encoding = ENGRAM_FLOAT_ENCODING_FULL;
			region->stored_offset = builder->full_bytes;
			builder->full_bytes += length;
		}
		builder->nregions++;
		row->nregions++;
		builder->float_bytes += length;
	}
	builder->tuple_bytes += plain->t_len;
	pfree(values);
	pfree(isnull);
	MemoryContextSwitchTo(oldcontext);
	return builder->nrows++;
}

/*
 * The raw segment image of the builder's rows, palloc'd; sets *raw_len.
 * Version 1 when every region is full precision (the layout segments had
 * before per-region encodings existed), version 2 otherwise.
 */
static char *
builder_raw_image(EngramSegmentBuilder *builder, Size *raw_len)
{
	bool		mixed = builder->half_bytes > 0;
	Size		region_size = mixed ? sizeof(EngramFloatRegionV2) : sizeof(EngramFloatRegion);
	Size		stored_bytes = builder->tuple_bytes - builder->float_bytes;
	Size		float_area = builder->full_bytes + builder->half_bytes;
	Size		dir_bytes = sizeof(EngramSegmentHeader) +
		sizeof(EngramSegmentRow) * builder->nrows + region_size * builder->nregions;
	Size		len = dir_bytes + stored_bytes + float_area;
	char	   *raw = palloc0(len);
	EngramSegmentHeader *header = (EngramSegmentHeader *) raw;
	EngramSegmentRow *rows = (EngramSegmentRow *) (raw + sizeof(EngramSegmentHeader));
	char	   *regions = (char *) (rows + builder->nrows);
	char	   *tuple_area = raw + dir_bytes;
	char	   *full = palloc(Max(builder->full_bytes, 1));
	char	   *half = palloc(Max(builder->half_bytes, 1));
	Size		stored_pos = 0;

	header->magic = ENGRAM_SEGMENT_MAGIC;
	header->version = mixed ? ENGRAM_SEGMENT_VERSION_MIXED : ENGRAM_SEGMENT_VERSION_FULL;
	header->nrows = builder->nrows;
	header->nregions = builder->nregions;
	header->tuple_bytes = stored_bytes;
	header->float_bytes = float_area;
	for (int g = 0; g < builder->nregions; g++)
	{
		EngramFloatRegionV2 *region = &builder->regions[g];

		if (mixed)
			memcpy(regions + g * region_size, region, sizeof(EngramFloatRegionV2));
		else
		{
			EngramFloatRegion v1;

			v1.tuple_offset = region->tuple_offset;
			v1.length = region->length;
			v1.float_offset = region->stored_offset;
			memcpy(regions + g * region_size, &v1, sizeof(v1));
		}
	}

	for (int r = 0; r < builder->nrows; r++)
	{
		EngramBuilderRow *row = &builder->rows[r];
		const char *src = (const char *) row->tuple->t_data;
		Size		pos = 0;

		rows[r].tuple_offset = stored_pos;
		rows[r].tuple_len = row->tuple->t_len;
		rows[r].first_region = row->first_region;
		rows[r].nregions = row->nregions;
		/* Bytes between the float regions go to the tuple area. */
		for (int g = row->first_region; g < row->first_region + row->nregions; g++)
		{
			EngramFloatRegionV2 *region = &builder->regions[g];
			Size		gap = region->tuple_offset - pos;

			memcpy(tuple_area + stored_pos, src + pos, gap);
			stored_pos += gap;
			if (region->encoding == ENGRAM_FLOAT_ENCODING_HALF)
			{
				for (Size k = 0; k < region->length / sizeof(float); k++)
				{
					float		value;
					uint16		h;

					memcpy(&value, src + region->tuple_offset + k * sizeof(float), sizeof(value));
					h = engram_float_to_half(value);
					memcpy(half + region->stored_offset + k * sizeof(uint16), &h, sizeof(h));
				}
			}
			else
				memcpy(full + region->stored_offset, src + region->tuple_offset, region->length);
			pos = region->tuple_offset + region->length;
		}
		memcpy(tuple_area + stored_pos, src + pos, row->tuple->t_len - pos);
		stored_pos += row->tuple->t_len - pos;
		rows[r].stored_len = stored_pos - rows[r].tuple_offset;
	}
	Assert(stored_pos == stored_bytes);
	engram_segment_shuffle4(full, tuple_area + stored_bytes, builder->full_bytes / 4);
	engram_segment_shuffle2(half, tuple_area + stored_bytes + builder->full_bytes,
							builder->half_bytes / 2);
	pfree(full);
	pfree(half);
	*raw_len = len;
	return raw;
}

/*
 * Insert one row into engram.cold_segments, with its index entries, as heap
 * records that logical decoding skips (HEAP_INSERT_NO_LOGICAL, passed on to
 * the TOAST rows of "data" too): a segment is storage, never a change to
 * publish, and a publication FOR ALL TABLES would otherwise send every
 * segment's bytes to subscribers that ignore them
 * (engram_ignore_replicated_segments).  Column order as in
 * sql/install/30_tam.sql.
 */
static void
insert_segment_row(int64 segment_id, Oid relid, int32 nrows, int32 row_bytes, int32 raw_bytes,
				   int32 compressed_bytes, uint64 checksum, bytea *data)
{
	Relation	segrel = table_open(engram_cold_segments_relid(false), RowExclusiveLock);
	TupleDesc	tupdesc = RelationGetDescr(segrel);
	Datum		values[9];
	bool		isnull[9] = {false, false, false, false, false, false, false, false, false};
	HeapTuple	tuple;
	EngramIndexInserter inserter;

	if (tupdesc->natts != lengthof(values))
		elog(ERROR, "engram.cold_segments has %d columns, expected %d",
			 tupdesc->natts, (int) lengthof(values));
	values[0] = Int64GetDatum(segment_id);
	values[1] = ObjectIdGetDatum(relid);
	values[2] = Int32GetDatum(nrows);
	values[3] = Int32GetDatum(row_bytes);
	values[4] = Int32GetDatum(raw_bytes);
	values[5] = Int32GetDatum(compressed_bytes);
	values[6] = Int64GetDatum((int64) checksum);
	values[7] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	values[8] = PointerGetDatum(data);
	tuple = heap_form_tuple(tupdesc, values, isnull);
	heap_insert(segrel, tuple, GetCurrentCommandId(true), HEAP_INSERT_NO_LOGICAL, NULL);

	engram_index_inserter_begin(&inserter, segrel);
	engram_index_inserter_insert(&inserter, segrel, tuple, &tuple->t_self, NULL);
	engram_index_inserter_end(&inserter);
	heap_freetuple(tuple);
	table_close(segrel, RowExclusiveLock);
}

/*
 * Compress the builder's rows into one segment of table "relid", insert it
 * into engram.cold_segments (in the current transaction) and return its id.
 * The builder keeps its rows; reset it before adding the next segment's.
 */
int64
engram_segment_builder_store(EngramSegmentBuilder *builder, Oid relid)
{
	Size		raw_len;
	char	   *raw;
	Size		bound;
	bytea	   *data;
	size_t		clen;
	int64		segment_id;
	uint64		checksum;
	int			ret;
	EngramSegmentsAccess access;

	Assert(builder->nrows > 0);
	raw = builder_raw_image(builder, &raw_len);
	bound = ZSTD_compressBound(raw_len);
	data = palloc(VARHDRSZ + bound);
	clen = ZSTD_compress(VARDATA(data), bound, raw, raw_len, engram_cold_compression_level);
	if (ZSTD_isError(clen))
		elog(ERROR, "zstd compression failed: %s", ZSTD_getErrorName(clen));
	SET_VARSIZE(data, VARHDRSZ + clen);

	engram_segments_spi_connect(&access);
	ret = SPI_execute("SELECT nextval('engram.cold_segment_id_seq')", false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not allocate a cold segment id");
	{
		bool		isnull;

		segment_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1, &isnull));
	}
	engram_segments_spi_finish(&access);
	checksum = engram_segment_checksum(VARDATA(data), clen, segment_id);
	insert_segment_row(segment_id, relid, builder->nrows, (int32) builder->tuple_bytes,
					   (int32) raw_len, (int32) clen, checksum, data);
	pfree(raw);
	pfree(data);
	return segment_id;
}

/* ------------------------------------------------------------------------
 * Stubs
 * ------------------------------------------------------------------------
 */

/*
 * The stub that stands for row "slot" of segment "segment_id": a tuple of
 * tupdesc->natts attributes, flagged, in which the attributes of
 * "key_attrs" (the replica identity key, attribute numbers offset by
 * FirstLowInvalidHeapAttributeNumber as relcache bitmaps are) keep their
 * values from "row" (the detoasted row) and every other one is NULL; the
 * payload follows the attribute data and ends the tuple.  Stubs written
 * before the key was kept have no attribute data: their payload, at t_hoff,
 * also ends the tuple.  Keeping the key lets heap log the right old key
 * when a cold row is updated or deleted (see "Logical decoding" in
 * engram_tam.h).  The key must be small: a stub is never toasted (heap's
 * toaster would re-form it and drop the payload), so a key that would make
 * the stub larger than ENGRAM_STUB_MAX_SIZE is refused.
 */
HeapTuple
engram_form_stub(TupleDesc tupdesc, Bitmapset *key_attrs, HeapTuple row,
				 int64 segment_id, uint32 slot)
{
	int			natts = tupdesc->natts;
	Datum	   *values = palloc0(sizeof(Datum) * Max(natts, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(natts, 1));
	HeapTuple	keys;
	HeapTuple	tuple;
	HeapTupleHeader td;
	Size		len;
	EngramColdStub stub;

	for (int i = 0; i < natts; i++)
		isnull[i] = true;
	if (!bms_is_empty(key_attrs))
	{
		Datum	   *row_values = palloc(sizeof(Datum) * Max(natts, 1));
		bool	   *row_isnull = palloc(sizeof(bool) * Max(natts, 1));

		heap_deform_tuple(row, tupdesc, row_values, row_isnull);
		for (int i = 0; i < natts; i++)
			if (bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, key_attrs))
			{
				values[i] = row_values[i];
				isnull[i] = row_isnull[i];
			}
	}
	keys = heap_form_tuple(tupdesc, values, isnull);
	len = keys->t_len + sizeof(EngramColdStub);
	if (len > ENGRAM_STUB_MAX_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("cannot move a row to the cold tier: its replica identity key takes %zu bytes",
						(Size) (keys->t_len - keys->t_data->t_hoff)),
				 errdetail("A cold row keeps its replica identity key in the table, in at most %d bytes.",
						   (int) ENGRAM_STUB_MAX_SIZE),
				 errhint("Use a smaller primary key or replica identity index.")));

	tuple = (HeapTuple) palloc0(HEAPTUPLESIZE + len);
	tuple->t_len = len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = td = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	memcpy(td, keys->t_data, keys->t_len);
	HeapTupleHeaderSetDatumLength(td, len);
	td->t_infomask2 |= ENGRAM_STUB_INFOMASK2;

	stub.magic = ENGRAM_STUB_MAGIC;
	stub.slot = slot;
	stub.segment_id = segment_id;
	memcpy((char *) td + len - sizeof(EngramColdStub), &stub, sizeof(stub));
	heap_freetuple(keys);
	pfree(values);
	pfree(isnull);
	return tuple;
}

/* True when the tuple carries the stub flag (cheap; no validation). */
bool
engram_tuple_is_stub(HeapTupleHeader tuple, uint32 len)
{
	return (tuple->t_infomask2 & ENGRAM_STUB_INFOMASK2) != 0;
}

/*
 * Read a stub's payload; false (after no error) when the flagged tuple is
 * malformed, which callers report as corruption.
 */
bool
engram_stub_payload(HeapTupleHeader tuple, uint32 len, EngramColdStub *stub)
{
	if (tuple->t_hoff + sizeof(EngramColdStub) > len)
		return false;
	memcpy(stub, (char *) tuple + len - sizeof(EngramColdStub), sizeof(EngramColdStub));
	return stub->magic == ENGRAM_STUB_MAGIC && stub->segment_id > 0;
}

/* ------------------------------------------------------------------------
 * Segment store and decoded-segment cache
 * ------------------------------------------------------------------------
 */

typedef struct EngramDecodedSegment
{
	int64		segment_id;		/* 0 = empty cache slot */
	uint64		last_use;
	char	   *raw;			/* validated image in decoded form (codec.h) */
	Size		raw_len;
} EngramDecodedSegment;

static EngramDecodedSegment segment_cache[ENGRAM_SEGMENT_CACHE_SIZE];
static uint64 segment_cache_clock = 0;
static MemoryContext segment_cache_context = NULL;

/* The OID of engram.cold_segments, or InvalidOid when missing and missing_ok. */
Oid
engram_cold_segments_relid(bool missing_ok)
{
	Oid			nsp = get_namespace_oid("engram", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("cold_segments", nsp) : InvalidOid;

	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("engram.cold_segments does not exist"),
				 errhint("Create the engram extension in this database.")));
	return relid;
}

/*
 * Connect to SPI as the owner of engram.cold_segments, search_path pinned
 * (see engram_tam.h).  An error in between is cleaned up by transaction
 * abort, which restores the user and the settings.
 */
void
engram_segments_spi_connect(EngramSegmentsAccess *access)
{
	Oid			segrelid = engram_cold_segments_relid(false);
	HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(segrelid));
	Oid			owner;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", segrelid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);

	GetUserIdAndSecContext(&access->saved_userid, &access->saved_sec_context);
	SetUserIdAndSecContext(owner, access->saved_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	access->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
engram_segments_spi_finish(EngramSegmentsAccess *access)
{
	SPI_finish();
	AtEOXact_GUC(true, access->guc_nestlevel);
	SetUserIdAndSecContext(access->saved_userid, access->saved_sec_context);
}

/* When the segment being loaded started loading (for the cold-read metric). */
static instr_time cold_read_started;

static double
cold_read_seconds(void)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, cold_read_started);
	return INSTR_TIME_GET_DOUBLE(now);
}

static void
segment_corrupted(int64 segment_id, const char *what)
{
	engram_metrics_record(ENGRAM_OP_COLD_READ, cold_read_seconds(), -1, false, NULL);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg_internal("engram cold segment " INT64_FORMAT " is corrupted: %s",
							 segment_id, what)));
}

/*
 * Fetch segment "segment_id" from engram.cold_segments, verify its checksum
 * and structure, and return its raw image with the float area unshuffled,
 * allocated in "context".
 */
static char *
load_segment(int64 segment_id, MemoryContext context, Size *raw_len)
{
	Oid			segrelid = engram_cold_segments_relid(false);
	Relation	segrel;
	Oid			pkindex;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	Datum		datum;
	bool		isnull;
	int32		nrows;
	int32		raw_bytes;
	int64		checksum;
	bytea	   *data;
	Size		clen;
	char	   *raw;
	char	   *result;
	Size		decoded_len;
	const char *damage;

	INSTR_TIME_SET_CURRENT(cold_read_started);
	segrel = table_open(segrelid, AccessShareLock);
	RelationGetIndexList(segrel);
	pkindex = segrel->rd_pkindex;
	if (!OidIsValid(pkindex))
		elog(ERROR, "engram.cold_segments has no primary key");
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(segment_id));
	scan = systable_beginscan(segrel, pkindex, true, SnapshotSelf, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg_internal("engram cold segment " INT64_FORMAT " is missing", segment_id)));
	tupdesc = RelationGetDescr(segrel);
	nrows = DatumGetInt32(heap_getattr(tuple, 3, tupdesc, &isnull));
	raw_bytes = DatumGetInt32(heap_getattr(tuple, 5, tupdesc, &isnull));
	checksum = DatumGetInt64(heap_getattr(tuple, 7, tupdesc, &isnull));
	datum = heap_getattr(tuple, 9, tupdesc, &isnull);
	if (isnull)
		segment_corrupted(segment_id, "no data");

	/*
	 * Copy the value out while the scan still pins the segment's page.  A
	 * segment small enough to be stored inline points into that shared
	 * buffer, and once the pin is gone another backend may prune and
	 * compact the page (segments are deleted all the time) or evict it:
	 * reading it afterwards decodes other bytes.  DatumGetByteaPCopy always
	 * returns a private copy, detoasted when stored out of line.
	 */
	data = DatumGetByteaPCopy(datum);
	systable_endscan(scan);
	table_close(segrel, AccessShareLock);

	clen = VARSIZE_ANY_EXHDR(data);
	if (raw_bytes <= 0 || !AllocSizeIsValid(raw_bytes))
		segment_corrupted(segment_id, "bad raw size");
	raw = palloc(raw_bytes);
	damage = engram_segment_decompress(VARDATA_ANY(data), clen, segment_id, checksum,
									   raw_bytes, raw);
	pfree(data);
	if (damage == NULL)
		damage = engram_segment_validate_image(raw, raw_bytes, nrows);
	if (damage != NULL)
		segment_corrupted(segment_id, damage);

	/* Unshuffle (and widen binary16) into the cached copy. */
	decoded_len = engram_segment_decoded_length(raw, raw_bytes);
	if (!AllocSizeIsValid(decoded_len))
		segment_corrupted(segment_id, "bad decoded size");
	result = MemoryContextAlloc(context, decoded_len);
	engram_segment_decode_image(raw, raw_bytes, result);
	pfree(raw);
	*raw_len = decoded_len;
	engram_metrics_record(ENGRAM_OP_COLD_READ, cold_read_seconds(), -1, true, NULL);
	return result;
}

/* The cached decoded segment, loading it (and evicting the LRU one) if needed. */
static EngramDecodedSegment *
decoded_segment(int64 segment_id)
{
	EngramDecodedSegment *victim = NULL;

	if (segment_cache_context == NULL)
		segment_cache_context = AllocSetContextCreate(TopMemoryContext,
													  "engram cold segment cache",
													  ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < ENGRAM_SEGMENT_CACHE_SIZE; i++)
	{
		EngramDecodedSegment *entry = &segment_cache[i];

		if (entry->segment_id == segment_id)
		{
			entry->last_use = ++segment_cache_clock;
			return entry;
		}
		if (victim == NULL || entry->segment_id == 0 ||
			(victim->segment_id != 0 && entry->last_use < victim->last_use))
			victim = entry;
	}
	if (victim->segment_id != 0)
	{
		pfree(victim->raw);
		victim->segment_id = 0;
	}
	victim->raw = load_segment(segment_id, segment_cache_context, &victim->raw_len);
	victim->segment_id = segment_id;
	victim->last_use = ++segment_cache_clock;
	return victim;
}

/*
 * Row "slot" of segment "segment_id" as a palloc'd HeapTuple (current
 * context).  Its header is the archived one; callers overwrite the
 * transaction fields.  ERROR (ERRCODE_DATA_CORRUPTED) on any damage.
 */
HeapTuple
engram_segment_fetch_row(int64 segment_id, uint32 slot)
{
	EngramDecodedSegment *segment = decoded_segment(segment_id);
	uint32		tuple_len;
	HeapTuple	tuple;
	const char *damage;

	damage = engram_segment_row_length(segment->raw, slot, &tuple_len);
	if (damage != NULL)
		segment_corrupted(segment_id, damage);
	tuple = (HeapTuple) palloc(HEAPTUPLESIZE + tuple_len);
	tuple->t_len = tuple_len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	damage = engram_segment_copy_row(segment->raw, slot, (char *) tuple->t_data);
	if (damage != NULL)
		segment_corrupted(segment_id, damage);
	return tuple;
}

/* ------------------------------------------------------------------------
 * Garbage collection
 * ------------------------------------------------------------------------
 */

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Delete the segments of table "relid" that no stub on any page of "rel"
 * names (rel is the table itself, or the new file of a rewrite), and
 * return how many were deleted.  Must run in a transaction that may take a
 * transaction id; when "clear_in_vacuum" (called at the end of lazy VACUUM)
 * PROC_IN_VACUUM is cleared first, heap vacuum being over.  See "Garbage
 * collection" in engram_tam.h for why this is safe against concurrent moves.
 */
int64
engram_tam_cold_collect_garbage(Relation rel, Oid relid, bool clear_in_vacuum)
{
	int64	   *candidates;
	int64		ncandidates;
	int64	   *garbage;
	int64		ngarbage = 0;
	bool	   *referenced;
	BlockNumber nblocks;
	int			ret;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	BufferAccessStrategy strategy;
	EngramSegmentsAccess access;

	if (!OidIsValid(engram_cold_segments_relid(true)))
		return 0;

	/* 1. Candidates, from a snapshot taken before the heap scan. */
	engram_segments_spi_connect(&access);
	args[0] = ObjectIdGetDatum(relid);
	ret = SPI_execute_with_args("SELECT segment_id FROM engram.cold_segments WHERE relid = $1 "
								"ORDER BY segment_id",
								1, argtypes, args, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not list cold segments");
	ncandidates = SPI_processed;
	if (ncandidates == 0)
	{
		engram_segments_spi_finish(&access);
		return 0;
	}
	candidates = palloc(sizeof(int64) * ncandidates);
	for (int64 i = 0; i < ncandidates; i++)
	{
		bool		isnull;

		candidates[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 1, &isnull));
	}
	referenced = palloc0(sizeof(bool) * ncandidates);

	/* 2. Every stub on every page, whatever its visibility. */
	strategy = GetAccessStrategy(BAS_BULKREAD);
	nblocks = RelationGetNumberOfBlocks(rel);
	for (BlockNumber blkno = 0; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		OffsetNumber maxoff;

		/* Honours vacuum_cost_delay when called by (auto)vacuum. */
		vacuum_delay_point();
		buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		maxoff = PageIsNew(page) ? 0 : PageGetMaxOffsetNumber(page);
		for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++)
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleHeader td;
			EngramColdStub stub;
			int64	   *hit;

			if (!ItemIdIsNormal(lp))
				continue;
			td = (HeapTupleHeader) PageGetItem(page, lp);
			if (!engram_tuple_is_stub(td, ItemIdGetLength(lp)) ||
				!engram_stub_payload(td, ItemIdGetLength(lp), &stub))
				continue;
			hit = bsearch(&stub.segment_id, candidates, ncandidates, sizeof(int64), int64_cmp);
			if (hit != NULL)
				referenced[hit - candidates] = true;
		}
		UnlockReleaseBuffer(buf);
	}
	FreeAccessStrategy(strategy);

	garbage = palloc(sizeof(int64) * ncandidates);
	for (int64 i = 0; i < ncandidates; i++)
		if (!referenced[i])
			garbage[ngarbage++] = candidates[i];

	/* 3. Delete the unreferenced ones. */
	if (ngarbage > 0)
	{
		Datum	   *elems = palloc(sizeof(Datum) * ngarbage);
		ArrayType  *array;
		Oid			delete_types[1] = {INT8ARRAYOID};
		Datum		delete_args[1];

		if (clear_in_vacuum && (MyProc->statusFlags & PROC_IN_VACUUM))
		{
			LWLockAcquire(ProcArrayLock, LW_EXCLUSIVE);
			MyProc->statusFlags &= ~PROC_IN_VACUUM;
			ProcGlobal->statusFlags[MyProc->pgxactoff] = MyProc->statusFlags;
			LWLockRelease(ProcArrayLock);
		}
		for (int64 i = 0; i < ngarbage; i++)
			elems[i] = Int64GetDatum(garbage[i]);
		array = construct_array(elems, ngarbage, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
		delete_args[0] = PointerGetDatum(array);
		ret = SPI_execute_with_args("DELETE FROM engram.cold_segments WHERE segment_id = ANY ($1)",
									1, delete_types, delete_args, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "could not delete cold segments");
	}
	engram_segments_spi_finish(&access);
	return ngarbage;
}

/* Delete every segment of table "relid" (TRUNCATE), in this transaction. */
void
engram_tam_cold_drop_all(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	EngramSegmentsAccess access;

	if (!OidIsValid(engram_cold_segments_relid(true)))
		return;
	engram_segments_spi_connect(&access);
	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("DELETE FROM engram.cold_segments WHERE relid = $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete cold segments");
	engram_segments_spi_finish(&access);
}
