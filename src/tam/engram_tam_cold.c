/*-------------------------------------------------------------------------
 *
 * engram_tam_cold.c
 *	  The cold tier: segment codec (byte shuffle, zstd, checksum), the
 *	  segment store in engram.cold_segments, stubs, the per-backend cache of
 *	  decoded segments and segment garbage collection.
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

#include "tam/engram_tam.h"

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
	int			nrows;
	EngramBuilderRow rows[ENGRAM_SEGMENT_MAX_ROWS];
	EngramFloatRegion *regions;
	int			nregions;
	int			max_regions;
	Size		tuple_bytes;	/* rows' full size */
	Size		float_bytes;
};

#define FLOAT_ATTR_NONE		0
#define FLOAT_ATTR_EVECTOR	1
#define FLOAT_ATTR_ARRAY	2

static char
float_attr_kind(Oid typid)
{
	HeapTuple	tp;
	char		kind = FLOAT_ATTR_NONE;

	if (typid == FLOAT4ARRAYOID || typid == FLOAT8ARRAYOID)
		return FLOAT_ATTR_ARRAY;
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
 * (a child of the current one).
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
	builder->float_attr = MemoryContextAllocZero(context, Max(tupdesc->natts, 1));
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped)
			builder->float_attr[i] = float_attr_kind(att->atttypid);
	}
	builder->max_regions = 64;
	builder->regions = MemoryContextAlloc(context, sizeof(EngramFloatRegion) * builder->max_regions);
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

/*
 * Add a row.  The tuple is detoasted and copied (with dropped columns set to
 * NULL) into the builder's context.  Returns the row's slot in the segment,
 * or -1 when the segment is full (the caller stores it and resets).
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

		if (builder->float_attr[i] == FLOAT_ATTR_NONE || isnull[i])
			continue;
		ptr = DatumGetPointer(values[i]);
		if (!float_region_of_value(builder->float_attr[i], ptr, &offset, &length))
			continue;
		if (builder->nregions >= builder->max_regions)
		{
			builder->max_regions *= 2;
			builder->regions = repalloc(builder->regions,
										sizeof(EngramFloatRegion) * builder->max_regions);
		}
		builder->regions[builder->nregions].tuple_offset =
			(ptr - (char *) plain->t_data) + offset;
		builder->regions[builder->nregions].length = length;
		builder->regions[builder->nregions].float_offset = builder->float_bytes;
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
 * Transpose "n" 4-byte elements: out[k * n + i] = in[i * 4 + k] (all first
 * bytes, then all second bytes, ...).  Written with the four planes
 * unrolled so that the compiler can vectorise it.
 */
static void
byte_shuffle4(const char *in, char *out, Size n)
{
	uint8	   *b0 = (uint8 *) out;
	uint8	   *b1 = b0 + n;
	uint8	   *b2 = b1 + n;
	uint8	   *b3 = b2 + n;
	const uint8 *src = (const uint8 *) in;

	for (Size i = 0; i < n; i++)
	{
		b0[i] = src[i * 4];
		b1[i] = src[i * 4 + 1];
		b2[i] = src[i * 4 + 2];
		b3[i] = src[i * 4 + 3];
	}
}

static void
byte_unshuffle4(const char *in, char *out, Size n)
{
	const uint8 *b0 = (const uint8 *) in;
	const uint8 *b1 = b0 + n;
	const uint8 *b2 = b1 + n;
	const uint8 *b3 = b2 + n;
	uint8	   *dest = (uint8 *) out;

	for (Size i = 0; i < n; i++)
	{
		dest[i * 4] = b0[i];
		dest[i * 4 + 1] = b1[i];
		dest[i * 4 + 2] = b2[i];
		dest[i * 4 + 3] = b3[i];
	}
}

/* The raw segment image of the builder's rows, palloc'd; sets *raw_len. */
static char *
builder_raw_image(EngramSegmentBuilder *builder, Size *raw_len)
{
	Size		stored_bytes = builder->tuple_bytes - builder->float_bytes;
	Size		dir_bytes = sizeof(EngramSegmentHeader) +
		sizeof(EngramSegmentRow) * builder->nrows +
		sizeof(EngramFloatRegion) * builder->nregions;
	Size		len = dir_bytes + stored_bytes + builder->float_bytes;
	char	   *raw = palloc0(len);
	EngramSegmentHeader *header = (EngramSegmentHeader *) raw;
	EngramSegmentRow *rows = (EngramSegmentRow *) (raw + sizeof(EngramSegmentHeader));
	EngramFloatRegion *regions = (EngramFloatRegion *) (rows + builder->nrows);
	char	   *tuple_area = raw + dir_bytes;
	char	   *floats = palloc(Max(builder->float_bytes, 1));
	Size		stored_pos = 0;

	header->magic = ENGRAM_SEGMENT_MAGIC;
	header->version = ENGRAM_SEGMENT_VERSION;
	header->nrows = builder->nrows;
	header->nregions = builder->nregions;
	header->tuple_bytes = stored_bytes;
	header->float_bytes = builder->float_bytes;
	memcpy(regions, builder->regions, sizeof(EngramFloatRegion) * builder->nregions);

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
			EngramFloatRegion *region = &builder->regions[g];
			Size		gap = region->tuple_offset - pos;

			memcpy(tuple_area + stored_pos, src + pos, gap);
			stored_pos += gap;
			memcpy(floats + region->float_offset, src + region->tuple_offset, region->length);
			pos = region->tuple_offset + region->length;
		}
		memcpy(tuple_area + stored_pos, src + pos, row->tuple->t_len - pos);
		stored_pos += row->tuple->t_len - pos;
		rows[r].stored_len = stored_pos - rows[r].tuple_offset;
	}
	Assert(stored_pos == stored_bytes);
	byte_shuffle4(floats, tuple_area + stored_bytes, builder->float_bytes / 4);
	pfree(floats);
	*raw_len = len;
	return raw;
}

static uint64
segment_checksum(const char *data, Size len, int64 segment_id)
{
	return hash_bytes_extended((const unsigned char *) data, (int) len, (uint64) segment_id);
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
	Oid			argtypes[8] = {INT8OID, OIDOID, INT4OID, INT4OID, INT4OID, INT4OID, INT8OID, BYTEAOID};
	Datum		args[8];
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
	checksum = segment_checksum(VARDATA(data), clen, segment_id);

	args[0] = Int64GetDatum(segment_id);
	args[1] = ObjectIdGetDatum(relid);
	args[2] = Int32GetDatum(builder->nrows);
	args[3] = Int32GetDatum((int32) builder->tuple_bytes);
	args[4] = Int32GetDatum((int32) raw_len);
	args[5] = Int32GetDatum((int32) clen);
	args[6] = Int64GetDatum((int64) checksum);
	args[7] = PointerGetDatum(data);
	ret = SPI_execute_with_args("INSERT INTO engram.cold_segments "
								"(segment_id, relid, nrows, row_bytes, raw_bytes, compressed_bytes, checksum, data) "
								"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
								8, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store cold segment " INT64_FORMAT, segment_id);
	engram_segments_spi_finish(&access);
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
 * tupdesc->natts NULL attributes, flagged, with the payload at t_hoff.
 */
HeapTuple
engram_form_stub(TupleDesc tupdesc, int64 segment_id, uint32 slot)
{
	int			natts = tupdesc->natts;
	Size		hoff = MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(natts));
	Size		len = hoff + sizeof(EngramColdStub);
	HeapTuple	tuple = (HeapTuple) palloc0(HEAPTUPLESIZE + len);
	HeapTupleHeader td;
	EngramColdStub stub;

	tuple->t_len = len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = td = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	HeapTupleHeaderSetDatumLength(td, len);
	HeapTupleHeaderSetTypeId(td, tupdesc->tdtypeid);
	HeapTupleHeaderSetTypMod(td, tupdesc->tdtypmod);
	HeapTupleHeaderSetNatts(td, natts);
	td->t_hoff = hoff;
	td->t_infomask = HEAP_HASNULL;	/* bitmap is all zero: every attribute NULL */
	td->t_infomask2 |= ENGRAM_STUB_INFOMASK2;

	stub.magic = ENGRAM_STUB_MAGIC;
	stub.slot = slot;
	stub.segment_id = segment_id;
	memcpy((char *) td + hoff, &stub, sizeof(stub));
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
	memcpy(stub, (char *) tuple + tuple->t_hoff, sizeof(EngramColdStub));
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
	char	   *raw;			/* validated raw image, float area unshuffled */
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
 * Check the structure of a decompressed image: every offset and length in
 * the directory must stay inside the image.  ERROR on any mismatch.
 */
static void
validate_raw_image(int64 segment_id, const char *raw, Size raw_len, int32 nrows_expected)
{
	const EngramSegmentHeader *header = (const EngramSegmentHeader *) raw;
	const EngramSegmentRow *rows;
	const EngramFloatRegion *regions;
	Size		dir_bytes;

	if (raw_len < sizeof(EngramSegmentHeader))
		segment_corrupted(segment_id, "image shorter than its header");
	if (header->magic != ENGRAM_SEGMENT_MAGIC || header->version != ENGRAM_SEGMENT_VERSION)
		segment_corrupted(segment_id, "bad magic number or version");
	if (header->nrows == 0 || header->nrows > ENGRAM_SEGMENT_MAX_ROWS ||
		header->nrows != (uint32) nrows_expected ||
		header->nregions > raw_len / sizeof(EngramFloatRegion) ||
		header->float_bytes % 4 != 0)
		segment_corrupted(segment_id, "bad row or region count");
	dir_bytes = sizeof(EngramSegmentHeader) + sizeof(EngramSegmentRow) * (Size) header->nrows +
		sizeof(EngramFloatRegion) * (Size) header->nregions;
	if (dir_bytes + (Size) header->tuple_bytes + (Size) header->float_bytes != raw_len)
		segment_corrupted(segment_id, "section sizes do not add up");
	rows = (const EngramSegmentRow *) (raw + sizeof(EngramSegmentHeader));
	regions = (const EngramFloatRegion *) (rows + header->nrows);
	for (uint32 r = 0; r < header->nrows; r++)
	{
		const EngramSegmentRow *row = &rows[r];

		Size		pos = 0;
		Size		floats = 0;

		if ((Size) row->tuple_offset + row->stored_len > header->tuple_bytes ||
			row->stored_len > row->tuple_len ||
			row->tuple_len < SizeofHeapTupleHeader ||
			(Size) row->first_region + row->nregions > header->nregions)
			segment_corrupted(segment_id, "row directory out of bounds");
		for (uint32 g = row->first_region; g < row->first_region + row->nregions; g++)
		{
			if (regions[g].tuple_offset < pos ||
				(Size) regions[g].tuple_offset + regions[g].length > row->tuple_len ||
				(Size) regions[g].float_offset + regions[g].length > header->float_bytes ||
				regions[g].length % 4 != 0)
				segment_corrupted(segment_id, "float region out of bounds");
			pos = regions[g].tuple_offset + regions[g].length;
			floats += regions[g].length;
		}
		if (floats + row->stored_len != row->tuple_len)
			segment_corrupted(segment_id, "row sizes do not add up");
	}
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
	unsigned long long content_size;
	char	   *raw;
	char	   *result;
	size_t		dlen;
	const EngramSegmentHeader *header;
	Size		float_start;

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
	if ((int64) segment_checksum(VARDATA_ANY(data), clen, segment_id) != checksum)
		segment_corrupted(segment_id, "checksum mismatch");
	content_size = ZSTD_getFrameContentSize(VARDATA_ANY(data), clen);
	if (content_size == ZSTD_CONTENTSIZE_ERROR || content_size == ZSTD_CONTENTSIZE_UNKNOWN ||
		raw_bytes <= 0 || content_size != (unsigned long long) raw_bytes)
		segment_corrupted(segment_id, "bad compressed frame size");
	raw = palloc(raw_bytes);
	dlen = ZSTD_decompress(raw, raw_bytes, VARDATA_ANY(data), clen);
	if (ZSTD_isError(dlen) || dlen != (size_t) raw_bytes)
		segment_corrupted(segment_id, "decompression failed");
	pfree(data);
	validate_raw_image(segment_id, raw, raw_bytes, nrows);

	/* Unshuffle the float area into the cached copy. */
	header = (const EngramSegmentHeader *) raw;
	float_start = raw_bytes - header->float_bytes;
	result = MemoryContextAlloc(context, raw_bytes);
	memcpy(result, raw, float_start);
	byte_unshuffle4(raw + float_start, result + float_start, header->float_bytes / 4);
	pfree(raw);
	*raw_len = raw_bytes;
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
	const char *raw = segment->raw;
	const EngramSegmentHeader *header = (const EngramSegmentHeader *) raw;
	const EngramSegmentRow *rows = (const EngramSegmentRow *) (raw + sizeof(EngramSegmentHeader));
	const EngramFloatRegion *regions = (const EngramFloatRegion *) (rows + header->nrows);
	const char *tuple_area = (const char *) (regions + header->nregions);
	const char *float_area = tuple_area + header->tuple_bytes;
	const EngramSegmentRow *row;
	HeapTuple	tuple;
	char	   *dest;

	if (slot >= header->nrows)
		segment_corrupted(segment_id, "stub names a row past the end of its segment");
	row = &rows[slot];
	tuple = (HeapTuple) palloc(HEAPTUPLESIZE + row->tuple_len);
	tuple->t_len = row->tuple_len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	dest = (char *) tuple->t_data;
	{
		const char *src = tuple_area + row->tuple_offset;
		Size		pos = 0;

		/* Validated at load: regions ascend and the pieces add up. */
		for (uint32 g = row->first_region; g < row->first_region + row->nregions; g++)
		{
			Size		gap = regions[g].tuple_offset - pos;

			memcpy(dest + pos, src, gap);
			src += gap;
			memcpy(dest + regions[g].tuple_offset, float_area + regions[g].float_offset,
				   regions[g].length);
			pos = regions[g].tuple_offset + regions[g].length;
		}
		memcpy(dest + pos, src, row->tuple_len - pos);
	}
	if (tuple->t_data->t_hoff > row->tuple_len ||
		(tuple->t_data->t_infomask2 & ENGRAM_STUB_INFOMASK2) != 0)
		segment_corrupted(segment_id, "archived row has a bad header");
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
