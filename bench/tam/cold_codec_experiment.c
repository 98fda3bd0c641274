/*-------------------------------------------------------------------------
 *
 * cold_codec_experiment.c
 *	  Offline measurement of what the lossless cold-segment codec could
 *	  gain: zstd level, segment size, float layouts (plain, byte shuffle,
 *	  bit shuffle) and what binary16 / bfloat16 would give, on real raw
 *	  segment images (version 1, full precision) taken from a server.
 *
 * Build and run (raw images: zstd -d of engram.cold_segments.data, one
 * file per segment, in segment order; see bench/tam/cold_codec_experiment.sh):
 *	cc -O2 -o /tmp/cold_codec_experiment bench/tam/cold_codec_experiment.c -lzstd
 *	/tmp/cold_codec_experiment seg1.raw seg2.raw ...
 * Prints compressed bytes per variant, summed over all images.  Not part
 * of the extension; the layout it parses is "Segments" in
 * src/tam/engram_tam.h (header 24 bytes, row directory 20 bytes a row,
 * version 1 regions 12 bytes each).
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

typedef struct
{
	uint32_t	magic;
	uint16_t	version;
	uint16_t	flags;
	uint32_t	nrows;
	uint32_t	nregions;
	uint32_t	tuple_bytes;
	uint32_t	float_bytes;
} Header;

static size_t
zsize(const void *buf, size_t len, int level)
{
	size_t		bound = ZSTD_compressBound(len);
	void	   *out = malloc(bound);
	size_t		n = ZSTD_compress(out, bound, buf, len, level);

	free(out);
	if (ZSTD_isError(n))
	{
		fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n));
		exit(1);
	}
	return n;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		n;

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n);
	if (fread(buf, 1, n, f) != (size_t) n)
		exit(1);
	fclose(f);
	*len = n;
	return buf;
}

/* IEEE binary16, round to nearest even (finite, normal-range inputs suffice here). */
static uint16_t
to_half(float value)
{
	uint32_t	x;
	uint32_t	sign;
	uint32_t	mag;
	uint32_t	h;
	uint32_t	rest;

	memcpy(&x, &value, 4);
	sign = (x >> 16) & 0x8000;
	mag = x & 0x7FFFFFFF;
	if (mag < 0x38800000)
	{
		int			shift = 126 - (int) (mag >> 23);
		uint32_t	m = (mag & 0x7FFFFF) | 0x800000;

		if (shift > 24)
			return sign;
		h = m >> shift;
		rest = m & ((1u << shift) - 1);
		if (rest > (1u << (shift - 1)) || (rest == (1u << (shift - 1)) && (h & 1)))
			h++;
		return sign | h;
	}
	h = ((((mag >> 23) - 112) << 10) | ((mag & 0x7FFFFF) >> 13));
	rest = mag & 0x1FFF;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return sign | h;
}

int
main(int argc, char **argv)
{
	enum
	{
		RAW, WHOLE1, WHOLE3, WHOLE9, WHOLE19, TUPLES3, TUPLES19, FLOATS_PLAIN3,
		FLOATS_SHUF3, FLOATS_SHUF19, FLOATS_BITSHUF3, FLOATS_HALF3, FLOATS_BF16_3,
		CONCAT4_3, CONCAT16_3, CONCAT16_19, NVAR
	};
	static const char *names[NVAR] = {
		"raw image bytes", "whole image, zstd -1", "whole image, zstd -3 (today)",
		"whole image, zstd -9", "whole image, zstd -19", "tuple area alone, -3",
		"tuple area alone, -19", "float area unshuffled, -3", "float area byte-shuffled, -3",
		"float area byte-shuffled, -19", "float area bit-shuffled, -3",
		"float area as binary16 (lossy), 2-byte shuffle, -3",
		"float area as bfloat16 (lossy), 2-byte shuffle, -3",
		"4 images concatenated (1 MB segments), -3", "16 images concatenated (4 MB), -3",
		"16 images concatenated (4 MB), -19"
	};
	size_t		total[NVAR] = {0};
	char	   *concat = NULL;
	size_t		concat_len = 0;
	int			concat_n = 0;
	char	   *concat16 = NULL;
	size_t		concat16_len = 0;
	int			concat16_n = 0;

	for (int a = 1; a < argc; a++)
	{
		size_t		len;
		char	   *img = read_file(argv[a], &len);
		Header		h;
		size_t		dir;
		const unsigned char *fl;
		size_t		n;
		unsigned char *plain;
		unsigned char *bits;
		unsigned char *half;
		unsigned char *bf;

		memcpy(&h, img, sizeof(h));
		if (h.version != 1)
		{
			fprintf(stderr, "%s: not a version 1 image\n", argv[a]);
			return 1;
		}
		dir = 24 + 20 * (size_t) h.nrows + 12 * (size_t) h.nregions;
		fl = (const unsigned char *) img + dir + h.tuple_bytes;
		n = h.float_bytes / 4;

		total[RAW] += len;
		total[WHOLE1] += zsize(img, len, 1);
		total[WHOLE3] += zsize(img, len, 3);
		total[WHOLE9] += zsize(img, len, 9);
		total[WHOLE19] += zsize(img, len, 19);
		total[TUPLES3] += zsize(img, dir + h.tuple_bytes, 3);
		total[TUPLES19] += zsize(img, dir + h.tuple_bytes, 19);
		total[FLOATS_SHUF3] += zsize(fl, h.float_bytes, 3);
		total[FLOATS_SHUF19] += zsize(fl, h.float_bytes, 19);

		plain = malloc(h.float_bytes + 1);
		for (size_t i = 0; i < n; i++)
			for (int k = 0; k < 4; k++)
				plain[i * 4 + k] = fl[k * n + i];
		total[FLOATS_PLAIN3] += zsize(plain, h.float_bytes, 3);

		/* bit planes: plane b holds bit b of every value, n/8 bytes each */
		bits = calloc(h.float_bytes + 32, 1);
		for (size_t i = 0; i < n; i++)
		{
			uint32_t	v;

			memcpy(&v, plain + i * 4, 4);
			for (int b = 0; b < 32; b++)
				if (v & (1u << b))
					bits[(size_t) b * ((n + 7) / 8) + i / 8] |= 1 << (i % 8);
		}
		total[FLOATS_BITSHUF3] += zsize(bits, 32 * ((n + 7) / 8), 3);

		half = malloc(n * 2 + 1);
		bf = malloc(n * 2 + 1);
		for (size_t i = 0; i < n; i++)
		{
			float		f;
			uint32_t	u;
			uint16_t	hv;

			memcpy(&f, plain + i * 4, 4);
			memcpy(&u, plain + i * 4, 4);
			hv = to_half(f);
			half[i] = hv & 0xFF;
			half[n + i] = hv >> 8;
			/* bfloat16: round to nearest even on the top 16 bits */
			u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16;
			bf[i] = u & 0xFF;
			bf[n + i] = (u >> 8) & 0xFF;
		}
		total[FLOATS_HALF3] += zsize(half, n * 2, 3);
		total[FLOATS_BF16_3] += zsize(bf, n * 2, 3);

		concat = realloc(concat, concat_len + len);
		memcpy(concat + concat_len, img, len);
		concat_len += len;
		if (++concat_n == 4 || a == argc - 1)
		{
			total[CONCAT4_3] += zsize(concat, concat_len, 3);
			concat_len = 0;
			concat_n = 0;
		}
		concat16 = realloc(concat16, concat16_len + len);
		memcpy(concat16 + concat16_len, img, len);
		concat16_len += len;
		if (++concat16_n == 16 || a == argc - 1)
		{
			total[CONCAT16_3] += zsize(concat16, concat16_len, 3);
			total[CONCAT16_19] += zsize(concat16, concat16_len, 19);
			concat16_len = 0;
			concat16_n = 0;
		}
		free(plain);
		free(bits);
		free(half);
		free(bf);
		free(img);
	}
	for (int v = 0; v < NVAR; v++)
		printf("%-55s %12zu\n", names[v], total[v]);
	return 0;
}
