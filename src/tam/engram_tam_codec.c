/*-------------------------------------------------------------------------
 *
 * engram_tam_codec.c
 *	  The cold-segment codec core shared by the backend and the fuzzing
 *	  harness: byte shuffle, checksum, zstd decompression, validation of
 *	  the raw image and extraction of one row.
 *
 * Contract: see engram_tam_codec.h.  Nothing here allocates, raises an
 * error or touches shared state; every byte read from an image is bounds-
 * checked by engram_segment_validate_image before the row functions use
 * it.  The layout is described under "Segments" in engram_tam.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <zstd.h>

#include "access/htup_details.h"
#include "common/hashfn.h"

#include "tam/engram_tam.h"
#include "tam/engram_tam_codec.h"

/*
 * out[k * n + i] = in[i * 4 + k] (all first bytes, then all second bytes,
 * ...).  Written with the four planes unrolled so that the compiler can
 * vectorise it.
 */
void
engram_segment_shuffle4(const char *in, char *out, Size n)
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

void
engram_segment_unshuffle4(const char *in, char *out, Size n)
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

uint64
engram_segment_checksum(const char *data, Size len, int64 segment_id)
{
	return hash_bytes_extended((const unsigned char *) data, (int) len, (uint64) segment_id);
}

const char *
engram_segment_decompress(const char *data, Size clen, int64 segment_id,
						  int64 checksum, int32 raw_bytes, char *raw)
{
	unsigned long long content_size;
	size_t		dlen;

	if ((int64) engram_segment_checksum(data, clen, segment_id) != checksum)
		return "checksum mismatch";
	content_size = ZSTD_getFrameContentSize(data, clen);
	if (content_size == ZSTD_CONTENTSIZE_ERROR || content_size == ZSTD_CONTENTSIZE_UNKNOWN ||
		raw_bytes <= 0 || content_size != (unsigned long long) raw_bytes)
		return "bad compressed frame size";
	dlen = ZSTD_decompress(raw, raw_bytes, data, clen);
	if (ZSTD_isError(dlen) || dlen != (size_t) raw_bytes)
		return "decompression failed";
	return NULL;
}

const char *
engram_segment_validate_image(const char *raw, Size raw_len, int32 nrows_expected)
{
	EngramSegmentHeader header;
	const EngramSegmentRow *rows;
	const EngramFloatRegion *regions;
	Size		dir_bytes;

	if (raw_len < sizeof(EngramSegmentHeader))
		return "image shorter than its header";
	memcpy(&header, raw, sizeof(header));
	if (header.magic != ENGRAM_SEGMENT_MAGIC || header.version != ENGRAM_SEGMENT_VERSION)
		return "bad magic number or version";
	if (header.nrows == 0 || header.nrows > ENGRAM_SEGMENT_MAX_ROWS ||
		header.nrows != (uint32) nrows_expected ||
		header.nregions > raw_len / sizeof(EngramFloatRegion) ||
		header.float_bytes % 4 != 0)
		return "bad row or region count";
	dir_bytes = sizeof(EngramSegmentHeader) + sizeof(EngramSegmentRow) * (Size) header.nrows +
		sizeof(EngramFloatRegion) * (Size) header.nregions;
	if (dir_bytes + (Size) header.tuple_bytes + (Size) header.float_bytes != raw_len)
		return "section sizes do not add up";
	rows = (const EngramSegmentRow *) (raw + sizeof(EngramSegmentHeader));
	regions = (const EngramFloatRegion *) (rows + header.nrows);
	for (uint32 r = 0; r < header.nrows; r++)
	{
		const EngramSegmentRow *row = &rows[r];
		Size		pos = 0;
		Size		floats = 0;

		if ((Size) row->tuple_offset + row->stored_len > header.tuple_bytes ||
			row->stored_len > row->tuple_len ||
			row->tuple_len < SizeofHeapTupleHeader ||
			(Size) row->first_region + row->nregions > header.nregions)
			return "row directory out of bounds";
		for (uint32 g = row->first_region; g < row->first_region + row->nregions; g++)
		{
			if (regions[g].tuple_offset < pos ||
				(Size) regions[g].tuple_offset + regions[g].length > row->tuple_len ||
				(Size) regions[g].float_offset + regions[g].length > header.float_bytes ||
				regions[g].length % 4 != 0)
				return "float region out of bounds";
			pos = regions[g].tuple_offset + regions[g].length;
			floats += regions[g].length;
		}
		if (floats + row->stored_len != row->tuple_len)
			return "row sizes do not add up";
	}
	return NULL;
}

void
engram_segment_unshuffle_image(const char *raw, Size raw_len, char *out)
{
	const EngramSegmentHeader *header = (const EngramSegmentHeader *) raw;
	Size		float_start = raw_len - header->float_bytes;

	memcpy(out, raw, float_start);
	engram_segment_unshuffle4(raw + float_start, out + float_start, header->float_bytes / 4);
}

const char *
engram_segment_row_length(const char *image, uint32 slot, uint32 *len)
{
	const EngramSegmentHeader *header = (const EngramSegmentHeader *) image;
	const EngramSegmentRow *rows = (const EngramSegmentRow *) (image + sizeof(EngramSegmentHeader));

	if (slot >= header->nrows)
		return "stub names a row past the end of its segment";
	*len = rows[slot].tuple_len;
	return NULL;
}

const char *
engram_segment_copy_row(const char *image, uint32 slot, char *dest)
{
	const EngramSegmentHeader *header = (const EngramSegmentHeader *) image;
	const EngramSegmentRow *rows = (const EngramSegmentRow *) (image + sizeof(EngramSegmentHeader));
	const EngramFloatRegion *regions = (const EngramFloatRegion *) (rows + header->nrows);
	const char *tuple_area = (const char *) (regions + header->nregions);
	const char *float_area = tuple_area + header->tuple_bytes;
	const EngramSegmentRow *row;
	const char *src;
	Size		pos = 0;
	HeapTupleHeaderData archived;

	if (slot >= header->nrows)
		return "stub names a row past the end of its segment";
	row = &rows[slot];
	src = tuple_area + row->tuple_offset;

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

	memcpy(&archived, dest, SizeofHeapTupleHeader);
	if (archived.t_hoff < SizeofHeapTupleHeader || archived.t_hoff > row->tuple_len ||
		(archived.t_infomask2 & ENGRAM_STUB_INFOMASK2) != 0)
		return "archived row has a bad header";
	return NULL;
}
