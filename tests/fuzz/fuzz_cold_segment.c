/*-------------------------------------------------------------------------
 *
 * fuzz_cold_segment.c
 *	  libFuzzer harness for the cold-segment decoder: the codec core of
 *	  src/tam/engram_tam_codec.c, the very code load_segment() and
 *	  engram_segment_fetch_row() run in the backend.
 *
 * The first input byte picks what the rest is:
 *	bit 0 = 0	a raw segment image; the harness compresses it with zstd and
 *				stores it with a correct checksum, so the fuzzer explores the
 *				structural validation rather than the checksum;
 *	bit 0 = 1	a stored (compressed) segment, checksummed as is, so the
 *				fuzzer explores zstd frame handling;
 *	bit 1		catalogue the wrong row count;
 *	bit 2		corrupt the checksum (must be refused).
 * In image mode the byte shuffle and the binary16 conversions are also
 * checked (round trip, error bound).
 * Then every row, and one slot past the end, is extracted the way
 * engram_segment_fetch_row does.  Buffers are malloc'd with their exact
 * size so that AddressSanitizer sees any read or write outside them.
 * Properties: no crash, no sanitizer report; a damaged segment is refused
 * with a message; an accepted segment's rows are all extractable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <zstd.h>

#include "tam/engram_tam.h"
#include "tam/engram_tam_codec.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SEGMENT_ID		4242
#define FUZZ_MAX_RAW		(4 * 1024 * 1024)

static void
decode_all(const char *stored, size_t clen, int32 raw_bytes, int32 nrows, int64 checksum,
		   bool expect_refusal)
{
	char	   *raw;
	char	   *image;
	const char *damage;
	uint32		slots;

	if (raw_bytes <= 0 || raw_bytes > FUZZ_MAX_RAW)
		return;					/* the backend refuses these before allocating */
	raw = malloc(raw_bytes);
	damage = engram_segment_decompress(stored, clen, FUZZ_SEGMENT_ID, checksum, raw_bytes, raw);
	if (damage == NULL)
		damage = engram_segment_validate_image(raw, raw_bytes, nrows);
	if (expect_refusal && damage == NULL)
	{
		fprintf(stderr, "a segment with a wrong checksum was accepted\n");
		abort();
	}
	if (damage != NULL)
	{
		free(raw);
		return;
	}
	image = malloc(engram_segment_decoded_length(raw, raw_bytes));
	engram_segment_decode_image(raw, raw_bytes, image);
	free(raw);

	slots = (uint32) nrows;
	for (uint32 slot = 0; slot <= slots; slot++)
	{
		uint32		len;
		char	   *row;

		damage = engram_segment_row_length(image, slot, &len);
		if (damage != NULL)
		{
			if (slot < slots)
			{
				fprintf(stderr, "row %u of a validated segment has no length\n", slot);
				abort();
			}
			continue;
		}
		if (slot == slots)
		{
			fprintf(stderr, "a slot past the end was accepted\n");
			abort();
		}
		row = malloc(len);
		(void) engram_segment_copy_row(image, slot, row);
		free(row);
	}
	free(image);
}

/*
 * binary16 conversions: widening is exact, so narrowing a widened value
 * gives it back (NaN payloads aside), and every float32 keeps its class.
 */
static void
check_half_round_trip(const char *body, size_t len)
{
	for (size_t i = 0; i + 2 <= len; i += 2)
	{
		uint16		h;
		float		f;

		memcpy(&h, body + i, sizeof(h));
		f = engram_half_to_float(h);
		if (!isnan(f) && engram_float_to_half(f) != h)
		{
			fprintf(stderr, "binary16 %04x does not survive a round trip\n", h);
			abort();
		}
	}
	for (size_t i = 0; i + 4 <= len; i += 4)
	{
		float		f;
		float		back;

		memcpy(&f, body + i, sizeof(f));
		back = engram_half_to_float(engram_float_to_half(f));
		if (isnan(f) != isnan(back) || (isinf(f) && back != f) ||
			(!isnan(f) && fabsf(f) <= 65504.0f &&
			 fabsf(back - f) > fmaxf(fabsf(f) / 2048.0f, 1.0f / 33554432.0f)))
		{
			fprintf(stderr, "float %a rounds to %a\n", f, back);
			abort();
		}
	}
}

/* The encoder's byte shuffle and the decoder's unshuffle are inverses. */
static void
check_shuffle_round_trip(const char *body, size_t len)
{
	size_t		n = len / 4;
	char	   *shuffled = malloc(Max(n * 4, 1));
	char	   *back = malloc(Max(n * 4, 1));

	engram_segment_shuffle4(body, shuffled, n);
	engram_segment_unshuffle4(shuffled, back, n);
	if (memcmp(back, body, n * 4) != 0)
	{
		fprintf(stderr, "byte unshuffle does not invert the shuffle\n");
		abort();
	}
	free(shuffled);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8		mode;
	const char *body;
	size_t		body_len;
	char	   *stored;
	size_t		clen;
	int32		raw_bytes;
	int32		nrows = 0;
	int64		checksum;

	if (size < 1 || size > FUZZ_MAX_RAW)
		return 0;
	mode = data[0];
	body = (const char *) data + 1;
	body_len = size - 1;

	if ((mode & 1) == 0)
	{
		size_t		bound = ZSTD_compressBound(body_len);

		stored = malloc(bound);
		clen = ZSTD_compress(stored, bound, body, body_len, 1);
		if (ZSTD_isError(clen))
			abort();
		raw_bytes = (int32) body_len;
		check_shuffle_round_trip(body, body_len);
		check_half_round_trip(body, body_len);
		if (body_len >= offsetof(EngramSegmentHeader, nregions))
			memcpy(&nrows, body + offsetof(EngramSegmentHeader, nrows), sizeof(nrows));
	}
	else
	{
		unsigned long long content;
		EngramSegmentHeader header;

		stored = malloc(Max(body_len, 1));
		memcpy(stored, body, body_len);
		clen = body_len;
		content = ZSTD_getFrameContentSize(stored, clen);
		raw_bytes = (content < FUZZ_MAX_RAW) ? (int32) content : 1;
		/* Catalogue the row count the image announces, when it decodes. */
		if (raw_bytes >= (int32) sizeof(header))
		{
			char	   *probe = malloc(raw_bytes);
			size_t		dlen = ZSTD_decompress(probe, raw_bytes, stored, clen);

			if (!ZSTD_isError(dlen) && dlen >= sizeof(header))
			{
				memcpy(&header, probe, sizeof(header));
				nrows = (int32) header.nrows;
			}
			free(probe);
		}
	}
	if (mode & 2)				/* a wrong row count (no overflow at INT32_MAX) */
		nrows = (nrows == PG_INT32_MAX) ? nrows - 1 : nrows + 1;
	checksum = (int64) engram_segment_checksum(stored, clen, FUZZ_SEGMENT_ID);
	if (mode & 4)
		checksum ^= 1;
	decode_all(stored, clen, raw_bytes, nrows, checksum, (mode & 4) != 0);
	free(stored);
	return 0;
}
