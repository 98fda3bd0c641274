/*-------------------------------------------------------------------------
 *
 * engram_tam_codec.h
 *	  The cold-segment codec core: byte shuffle, checksum, decompression,
 *	  structural validation and row extraction of a segment image.
 *
 * These functions make no server calls (no palloc, no ereport, no catalog
 * access), so the same code runs in the backend (engram_tam_cold.c) and in
 * the fuzzing harness (tests/fuzz/fuzz_cold_segment.c).  Functions that can
 * meet damaged input return NULL on success or a constant string naming
 * the damage; the backend caller turns it into ERRCODE_DATA_CORRUPTED.
 * Buffers are the caller's.  The image layout is "Segments" in engram_tam.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_TAM_CODEC_H
#define ENGRAM_TAM_CODEC_H

#include "c.h"

/* Transpose n 4-byte elements into four byte planes, and back. */
extern void engram_segment_shuffle4(const char *in, char *out, Size n);
extern void engram_segment_unshuffle4(const char *in, char *out, Size n);

/* The checksum stored with a segment: a 64-bit hash seeded with its id. */
extern uint64 engram_segment_checksum(const char *data, Size len, int64 segment_id);

/*
 * Check a stored segment's checksum and zstd frame header against the
 * catalogued raw size, then decompress it into "raw" (raw_bytes bytes).
 */
extern const char *engram_segment_decompress(const char *data, Size clen, int64 segment_id,
											 int64 checksum, int32 raw_bytes, char *raw);

/*
 * Check the structure of a decompressed image of raw_len bytes: header,
 * row count (must equal nrows_expected), and every offset and length of
 * the row directory and float regions.
 */
extern const char *engram_segment_validate_image(const char *raw, Size raw_len,
												 int32 nrows_expected);

/*
 * The decoded form of a validated image, the one the decoded-segment cache
 * keeps: version 1 layout, float area unshuffled, binary16 regions widened
 * back to float32.  engram_segment_decoded_length gives its size (raw_len
 * for a version 1 image); engram_segment_decode_image writes it to "out".
 */
extern Size engram_segment_decoded_length(const char *raw, Size raw_len);
extern void engram_segment_decode_image(const char *raw, Size raw_len, char *out);

/* Transpose n 2-byte elements into two byte planes (low, then high). */
extern void engram_segment_shuffle2(const char *in, char *out, Size n);

/* binary32 <-> IEEE 754 binary16, round to nearest even; NaN/Inf kept. */
extern uint16 engram_float_to_half(float value);
extern float engram_half_to_float(uint16 half);
/* True when each of n float32 (any alignment) keeps its class as binary16. */
extern bool engram_floats_fit_half(const char *floats, Size n);

/* Length of row "slot" of a validated, unshuffled image; error past the end. */
extern const char *engram_segment_row_length(const char *image, uint32 slot, uint32 *len);

/*
 * Rebuild row "slot" (HeapTupleHeader + data, engram_segment_row_length
 * bytes) of a validated, unshuffled image into "dest", and check the
 * archived tuple header.
 */
extern const char *engram_segment_copy_row(const char *image, uint32 slot, char *dest);

#endif							/* ENGRAM_TAM_CODEC_H */
