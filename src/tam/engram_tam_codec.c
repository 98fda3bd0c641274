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

#include <math.h>
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

/*
 * Transpose n 2-byte elements into two byte planes (low bytes, then high
 * bytes; the high byte of a binary16 holds its sign and exponent).
 */
void
engram_segment_shuffle2(const char *in, char *out, Size n)
{
	uint8	   *b0 = (uint8 *) out;
	uint8	   *b1 = b0 + n;
	const uint8 *src = (const uint8 *) in;

	for (Size i = 0; i < n; i++)
	{
		b0[i] = src[i * 2];
		b1[i] = src[i * 2 + 1];
	}
}

/*
 * IEEE 754 binary32 -> binary16, rounding to nearest, ties to even.
 * Values past binary16's range become infinities, values of at most half
 * its smallest subnormal (2^-25) become signed zeros; NaN stays NaN (quiet,
 * top payload bits kept).
 */
uint16
engram_float_to_half(float value)
{
	uint32		bits;
	uint32		sign;
	uint32		magnitude;

	memcpy(&bits, &value, sizeof(bits));
	sign = (bits >> 16) & 0x8000;
	magnitude = bits & 0x7FFFFFFF;

	if (magnitude >= 0x7F800000)	/* infinity or NaN */
		return (uint16) (sign | 0x7C00 |
						 (magnitude > 0x7F800000 ? 0x0200 | ((magnitude >> 13) & 0x3FF) : 0));
	if (magnitude >= 0x477FF000)	/* rounds past 65504 */
		return (uint16) (sign | 0x7C00);
	if (magnitude < 0x38800000)		/* below 2^-14: binary16 subnormal */
	{
		int			shift = 126 - (int) (magnitude >> 23);
		uint32		mantissa = (magnitude & 0x7FFFFF) | 0x800000;
		uint32		half;
		uint32		rest;
		uint32		halfway;

		if (shift > 24)
			return (uint16) sign;
		half = mantissa >> shift;
		rest = mantissa & ((1U << shift) - 1);
		halfway = 1U << (shift - 1);
		if (rest > halfway || (rest == halfway && (half & 1)))
			half++;
		return (uint16) (sign | half);
	}
	else
	{
		uint32		half = ((((magnitude >> 23) - 127 + 15) << 10) |
							((magnitude & 0x7FFFFF) >> 13));
		uint32		rest = magnitude & 0x1FFF;

		/* A carry out of the mantissa correctly bumps the exponent. */
		if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
			half++;
		return (uint16) (sign | half);
	}
}

/* IEEE 754 binary16 -> binary32 (exact). */
float
engram_half_to_float(uint16 half)
{
	uint32		sign = ((uint32) half & 0x8000) << 16;
	uint32		exponent = (half >> 10) & 0x1F;
	uint32		mantissa = half & 0x3FF;
	uint32		bits;
	float		value;

	if (exponent == 0)
	{
		/* zero or subnormal: mantissa * 2^-24, exact in float32 */
		value = (float) mantissa * (1.0f / 16777216.0f);
		return sign ? -value : value;
	}
	if (exponent == 31)
		bits = sign | 0x7F800000 | (mantissa << 13);
	else
		bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
	memcpy(&value, &bits, sizeof(value));
	return value;
}

/*
 * True when every value of the n float32 at "floats" (any alignment) keeps
 * its class through binary16: finite values within +-65504, NaN, infinities.
 */
bool
engram_floats_fit_half(const char *floats, Size n)
{
	for (Size i = 0; i < n; i++)
	{
		float		value;

		memcpy(&value, floats + i * sizeof(float), sizeof(value));
		if (!isnan(value) && !isinf(value) && fabsf(value) > 65504.0f)
			return false;
	}
	return true;
}

/* A region of either image version, as the validator and decoder see it. */
typedef struct RegionView
{
	uint32		tuple_offset;
	uint32		length;			/* decoded bytes */
	uint32		stored_offset;
	uint32		encoding;
} RegionView;

static Size
region_size(uint16 version)
{
	return version == ENGRAM_SEGMENT_VERSION_FULL ? sizeof(EngramFloatRegion)
		: sizeof(EngramFloatRegionV2);
}

static void
region_view(const char *regions, uint16 version, uint32 g, RegionView *view)
{
	if (version == ENGRAM_SEGMENT_VERSION_FULL)
	{
		EngramFloatRegion region;

		memcpy(&region, regions + g * sizeof(EngramFloatRegion), sizeof(region));
		view->tuple_offset = region.tuple_offset;
		view->length = region.length;
		view->stored_offset = region.float_offset;
		view->encoding = ENGRAM_FLOAT_ENCODING_FULL;
	}
	else
	{
		EngramFloatRegionV2 region;

		memcpy(&region, regions + g * sizeof(EngramFloatRegionV2), sizeof(region));
		view->tuple_offset = region.tuple_offset;
		view->length = region.length;
		view->stored_offset = region.stored_offset;
		view->encoding = region.encoding;
	}
}

/*
 * Bytes of the full-precision section of a validated image's float area
 * (all of it in version 1).
 */
static Size
full_section_bytes(const char *raw)
{
	EngramSegmentHeader header;
	const char *regions;
	Size		full = 0;

	memcpy(&header, raw, sizeof(header));
	if (header.version == ENGRAM_SEGMENT_VERSION_FULL)
		return header.float_bytes;
	regions = raw + sizeof(EngramSegmentHeader) + sizeof(EngramSegmentRow) * (Size) header.nrows;
	for (uint32 g = 0; g < header.nregions; g++)
	{
		RegionView region;

		region_view(regions, header.version, g, &region);
		if (region.encoding == ENGRAM_FLOAT_ENCODING_FULL)
			full += region.length;
	}
	return full;
}

const char *
engram_segment_validate_image(const char *raw, Size raw_len, int32 nrows_expected)
{
	EngramSegmentHeader header;
	const EngramSegmentRow *rows;
	const char *regions;
	Size		dir_bytes;
	Size		full_bytes = 0;
	Size		half_bytes = 0;

	if (raw_len < sizeof(EngramSegmentHeader))
		return "image shorter than its header";
	memcpy(&header, raw, sizeof(header));
	if (header.magic != ENGRAM_SEGMENT_MAGIC ||
		(header.version != ENGRAM_SEGMENT_VERSION_FULL &&
		 header.version != ENGRAM_SEGMENT_VERSION_MIXED))
		return "bad magic number or version";
	if (header.nrows == 0 || header.nrows > ENGRAM_SEGMENT_MAX_ROWS ||
		header.nrows != (uint32) nrows_expected ||
		header.nregions > raw_len / region_size(header.version) ||
		header.float_bytes % 2 != 0)
		return "bad row or region count";
	dir_bytes = sizeof(EngramSegmentHeader) + sizeof(EngramSegmentRow) * (Size) header.nrows +
		region_size(header.version) * (Size) header.nregions;
	if (dir_bytes + (Size) header.tuple_bytes + (Size) header.float_bytes != raw_len)
		return "section sizes do not add up";
	rows = (const EngramSegmentRow *) (raw + sizeof(EngramSegmentHeader));
	regions = (const char *) (rows + header.nrows);

	if (header.version == ENGRAM_SEGMENT_VERSION_FULL)
	{
		/* One float32 section; regions are only bounded by it. */
		if (header.float_bytes % 4 != 0)
			return "bad row or region count";
		full_bytes = header.float_bytes;
	}
	else
	{
		/* Section sizes first: a region's bounds depend on its section. */
		for (uint32 g = 0; g < header.nregions; g++)
		{
			RegionView region;

			region_view(regions, header.version, g, &region);
			if (region.length % 4 != 0 || region.length > raw_len * 2)
				return "float region out of bounds";
			if (region.encoding == ENGRAM_FLOAT_ENCODING_FULL)
				full_bytes += region.length;
			else if (region.encoding == ENGRAM_FLOAT_ENCODING_HALF)
				half_bytes += region.length / 2;
			else
				return "unknown float encoding";
		}
		if (full_bytes + half_bytes != header.float_bytes)
			return "float sections do not add up";
	}

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
			RegionView region;
			bool		half;

			region_view(regions, header.version, g, &region);
			half = region.encoding == ENGRAM_FLOAT_ENCODING_HALF;
			if (region.tuple_offset < pos ||
				(Size) region.tuple_offset + region.length > row->tuple_len ||
				(Size) region.stored_offset + (half ? region.length / 2 : region.length) >
				(half ? half_bytes : full_bytes) ||
				region.length % 4 != 0)
				return "float region out of bounds";
			pos = region.tuple_offset + region.length;
			floats += region.length;
		}
		if (floats + row->stored_len != row->tuple_len)
			return "row sizes do not add up";
	}
	return NULL;
}

Size
engram_segment_decoded_length(const char *raw, Size raw_len)
{
	EngramSegmentHeader header;
	Size		full;

	memcpy(&header, raw, sizeof(header));
	if (header.version == ENGRAM_SEGMENT_VERSION_FULL)
		return raw_len;
	full = full_section_bytes(raw);
	return sizeof(EngramSegmentHeader) + sizeof(EngramSegmentRow) * (Size) header.nrows +
		sizeof(EngramFloatRegion) * (Size) header.nregions + header.tuple_bytes +
		full + (header.float_bytes - full) * 2;
}

void
engram_segment_decode_image(const char *raw, Size raw_len, char *out)
{
	EngramSegmentHeader header;
	EngramSegmentHeader decoded;
	const char *regions;
	EngramFloatRegion region_out;
	char	   *out_regions;
	Size		rows_bytes;
	const char *tuple_area;
	const uint8 *full_planes;
	const uint8 *half_planes;
	char	   *out_floats;
	Size		full;
	Size		nhalf;

	memcpy(&header, raw, sizeof(header));
	if (header.version == ENGRAM_SEGMENT_VERSION_FULL)
	{
		Size		float_start = raw_len - header.float_bytes;

		memcpy(out, raw, float_start);
		engram_segment_unshuffle4(raw + float_start, out + float_start, header.float_bytes / 4);
		return;
	}

	/* Version 2: rewrite as version 1, the half section widened after the full one. */
	full = full_section_bytes(raw);
	nhalf = (header.float_bytes - full) / 2;
	rows_bytes = sizeof(EngramSegmentRow) * (Size) header.nrows;
	regions = raw + sizeof(EngramSegmentHeader) + rows_bytes;
	tuple_area = regions + sizeof(EngramFloatRegionV2) * (Size) header.nregions;
	full_planes = (const uint8 *) tuple_area + header.tuple_bytes;
	half_planes = full_planes + full;

	decoded = header;
	decoded.version = ENGRAM_SEGMENT_VERSION_FULL;
	decoded.float_bytes = full + nhalf * 4;
	memcpy(out, &decoded, sizeof(decoded));
	memcpy(out + sizeof(EngramSegmentHeader), raw + sizeof(EngramSegmentHeader), rows_bytes);
	out_regions = out + sizeof(EngramSegmentHeader) + rows_bytes;
	for (uint32 g = 0; g < header.nregions; g++)
	{
		RegionView region;

		region_view(regions, header.version, g, &region);
		region_out.tuple_offset = region.tuple_offset;
		region_out.length = region.length;
		region_out.float_offset = region.encoding == ENGRAM_FLOAT_ENCODING_FULL
			? region.stored_offset : full + region.stored_offset * 2;
		memcpy(out_regions + g * sizeof(EngramFloatRegion), &region_out, sizeof(region_out));
	}
	out_floats = out_regions + sizeof(EngramFloatRegion) * (Size) header.nregions;
	memcpy(out_floats, tuple_area, header.tuple_bytes);
	out_floats += header.tuple_bytes;
	engram_segment_unshuffle4((const char *) full_planes, out_floats, full / 4);
	for (Size i = 0; i < nhalf; i++)
	{
		float		value = engram_half_to_float((uint16) (half_planes[i] |
														   (half_planes[nhalf + i] << 8)));

		memcpy(out_floats + full + i * 4, &value, sizeof(value));
	}
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
