/*-------------------------------------------------------------------------
 *
 * gen_dataset.c
 *	  Fixed-seed clustered vector data set for the engram_hnsw benchmark,
 *	  with exact top-10 ground truth.
 *
 * Usage: gen_dataset N DIMS QUERIES CENTRES SEED OUTDIR [NOISE]
 * Writes, in COPY text format:
 *	  OUTDIR/base.tsv     id <TAB> [x1,...,xd]      (ids 1..N)
 *	  OUTDIR/queries.tsv  id <TAB> [x1,...,xd]      (ids 1..QUERIES)
 *	  OUTDIR/gt.tsv       query id <TAB> {id1,...,id10}  exact nearest by L2
 *
 * Centres are uniform in [-1, 1]^d; every point (base and held-out query
 * alike) is a centre, chosen uniformly, plus Gaussian noise (sigma NOISE,
 * default 0.35) in every dimension.  At 0.35 two points of one centre have
 * a cosine of about 0.73 in many dimensions ((1/3) / (1/3 + sigma^2)), under
 * consolidation's 0.8 clustering threshold; at 0.2 about 0.89, so that
 * consolidation finds its clusters (bench/worker/worker_bench.sh).  The generator is xoshiro256** seeded through
 * splitmix64, so the same arguments give the same files on any machine.
 * Ground truth is brute force in double precision, ties to the lower id.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state[4];

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t	z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
next_u64(void)
{
	uint64_t	result = rotl(rng_state[1] * 5, 7) * 9;
	uint64_t	t = rng_state[1] << 17;

	rng_state[2] ^= rng_state[0];
	rng_state[3] ^= rng_state[1];
	rng_state[1] ^= rng_state[2];
	rng_state[0] ^= rng_state[3];
	rng_state[2] ^= t;
	rng_state[3] = rotl(rng_state[3], 45);
	return result;
}

/* Uniform in [0, 1). */
static double
next_double(void)
{
	return (next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

static double
next_gaussian(void)
{
	double		u1 = 1.0 - next_double();
	double		u2 = next_double();

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void
write_vectors(const char *path, const float *v, long count, int dims)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	for (long i = 0; i < count; i++)
	{
		fprintf(f, "%ld\t[", i + 1);
		for (int d = 0; d < dims; d++)
			fprintf(f, d ? ",%.6g" : "%.6g", v[i * dims + d]);
		fputs("]\n", f);
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	long		n;
	int			dims,
				queries,
				centres;
	uint64_t	seed;
	const char *outdir;
	double		noise = 0.35;
	float	   *centre,
			   *base,
			   *query;
	char		path[4096];
	FILE	   *gt;

	if (argc != 7 && argc != 8)
	{
		fprintf(stderr, "usage: %s N DIMS QUERIES CENTRES SEED OUTDIR [NOISE]\n", argv[0]);
		return 2;
	}
	if (argc == 8)
	{
		char	   *end;

		noise = strtod(argv[7], &end);
		if (*end != '\0' || !(noise >= 0.0 && noise <= 10.0))
		{
			fprintf(stderr, "%s: NOISE must be a number from 0 to 10\n", argv[0]);
			return 2;
		}
	}
	n = atol(argv[1]);
	dims = atoi(argv[2]);
	queries = atoi(argv[3]);
	centres = atoi(argv[4]);
	seed = strtoull(argv[5], NULL, 10);
	outdir = argv[6];
	for (int i = 0; i < 4; i++)
		rng_state[i] = splitmix64(&seed);

	centre = malloc(sizeof(float) * centres * dims);
	base = malloc(sizeof(float) * n * dims);
	query = malloc(sizeof(float) * queries * dims);
	for (long i = 0; i < (long) centres * dims; i++)
		centre[i] = (float) (next_double() * 2.0 - 1.0);
	for (long i = 0; i < n + queries; i++)
	{
		float	   *out = i < n ? base + i * dims : query + (i - n) * dims;
		int			c = (int) (next_u64() % (uint64_t) centres);

		for (int d = 0; d < dims; d++)
			out[d] = (float) (centre[c * dims + d] + noise * next_gaussian());
	}

	snprintf(path, sizeof(path), "%s/base.tsv", outdir);
	write_vectors(path, base, n, dims);
	snprintf(path, sizeof(path), "%s/queries.tsv", outdir);
	write_vectors(path, query, queries, dims);

	snprintf(path, sizeof(path), "%s/gt.tsv", outdir);
	gt = fopen(path, "w");
	if (gt == NULL)
	{
		perror(path);
		return 1;
	}
	for (int q = 0; q < queries; q++)
	{
		double		best[10];
		long		best_id[10];
		int			found = 0;
		const float *a = query + (long) q * dims;

		for (long i = 0; i < n; i++)
		{
			const float *b = base + i * dims;
			double		dist = 0;
			int			pos;

			for (int d = 0; d < dims; d++)
			{
				double		diff = (double) a[d] - (double) b[d];

				dist += diff * diff;
			}
			if (found == 10 && dist >= best[9])
				continue;
			pos = found < 10 ? found++ : 9;
			while (pos > 0 && best[pos - 1] > dist)
			{
				best[pos] = best[pos - 1];
				best_id[pos] = best_id[pos - 1];
				pos--;
			}
			best[pos] = dist;
			best_id[pos] = i + 1;
		}
		fprintf(gt, "%d\t{", q + 1);
		for (int k = 0; k < found; k++)
			fprintf(gt, k ? ",%ld" : "%ld", best_id[k]);
		fputs("}\n", gt);
	}
	fclose(gt);
	return 0;
}
