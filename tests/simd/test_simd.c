/*-------------------------------------------------------------------------
 *
 * test_simd.c
 *	  Checks every kernel table this CPU can run against the scalar
 *	  reference, and the scalar reference against a double-precision
 *	  oracle.  Standalone program (make simd-test), no server needed.
 *
 * Inputs: a fixed-seed generator, every length 0..64 and a spread of
 * lengths up to 4096 (powers of two, their neighbours, the common
 * embedding sizes, and random odd and even lengths), three value
 * distributions (uniform [-1, 1]; magnitudes spread over six decades; all
 * positive), and three placements of the arrays: 64-byte aligned, one
 * element past an aligned address, and ending flush against a PROT_NONE
 * guard page (so a kernel that reads even one element past the end dies
 * with SIGSEGV instead of passing by luck).  Every float kernel must also
 * return bit-identical results for the same values at every float offset
 * from a 64-byte boundary (check_float_placements).
 *
 * Error bound for the float kernels.  Each kernel rounds every product
 * and every addition to float (unit roundoff u = 2^-24 ~ 6e-8), in its
 * own summation order.  Rounding errors of random sign grow like
 * sqrt(n) u times the sum of the magnitudes of the terms, S = sum |t_i|
 * (t_i = (a_i - b_i)^2 or a_i b_i): for n <= 4096 that is about 4e-6 S.
 * We allow each kernel EPS = 1e-5 of S from the exact value (the double
 * oracle), and so a variant 2 EPS from the scalar reference, plus 1e-6
 * absolute for sums that cancel to nearly nothing:
 *		|d - ref| <= 2e-5 * S + 1e-6	(ref: scalar reference)
 *		|d - exact| <= 1e-5 * S + 1e-6	(every kernel, the reference too)
 * (the second keeps the reference's own rounding from masking a variant's).
 * For cosine distance, S/(|a| |b|) <= 1 (Cauchy-Schwarz), so the dot
 * product moves the similarity by at most EPS and each norm by EPS/2:
 *		|d - ref| <= 4e-5 + 1e-6, |d - exact| <= 2e-5 + 1e-6
 * (absolute; distances lie in [0, 2]).
 * The bound is tight enough to catch a lost element: dropping one of n
 * comparable terms moves the result by about S/n, 2.4e-4 S at n = 4096.
 * Both cosine results must be NaN together (zero vectors, n = 0).
 * The int8 kernels compute exact integer sums: every variant must equal
 * the scalar reference, which must equal a 64-bit oracle.
 *
 * Bounded kernels (engram_simd.h): for every length, value distribution
 * and a ladder of bounds around the variant's own unbounded result d
 * (d itself, the floats just above and below it, fractions and multiples
 * of it, 0, negative, infinite, NaN), the result must be d bit for bit
 * when d < bound (or the bound is NaN) and >= bound otherwise.  unit_cosine_bounded gets vectors
 * normalised in float as the index normalises them (and a vector against
 * itself and against a near copy, where 1 - a.b is a few roundings), and
 * d = 1.0f - inner_product.  A variant with an early exit must also take
 * it: some cases with bounds well below d must return before the end
 * (l2: a partial sum below d; cosine: the bound itself).
 *
 * Output: one line per variant and kernel, then "N passed, N failed";
 * the exit status is non-zero when anything failed.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engram_simd.h"
#include "simd_internal.h"

#define TEST_MAX_FLOATS		4096
#define TEST_MAX_CODES		ENGRAM_SIMD_INT8_MAX_DIM
#define EPS_PER_KERNEL		1e-5
#define TOLERANCE_ABSOLUTE	1e-6
#define RANDOM_LENGTHS		60

typedef enum Kernel
{
	K_L2,
	K_IP,
	K_COSINE,
	K_INT8_IP,
	K_INT8_L2,
	K_L2_BOUNDED,
	K_UNIT_COSINE_BOUNDED,
	K_COUNT
} Kernel;

static const char *const kernel_names[K_COUNT] = {
	"l2_squared", "inner_product", "cosine_distance",
	"int8_inner_product", "int8_l2_squared",
	"l2_squared_bounded", "unit_cosine_bounded"
};

typedef enum Placement
{
	PLACE_ALIGNED,
	PLACE_OFFSET_ONE,
	PLACE_AT_GUARD,
	PLACE_COUNT
} Placement;

static const char *const placement_names[PLACE_COUNT] = {
	"aligned", "offset+1", "at-guard-page"
};

/* Per variant and kernel: cases run, failures, worst error / tolerance. */
typedef struct KernelResult
{
	long		cases;
	long		failures;
	double		worst_ratio;
	char		first_failure[256];
} KernelResult;

/* Lines reported so far, and the case running now (for the SIGSEGV report). */
static int	lines_passed = 0;
static int	lines_failed = 0;
static char current_case[320];

/* ---- fixed-seed generator (xorshift64*) ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t
rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, 1). */
static double
rng_unit(void)
{
	return (double) (rng_next() >> 11) / 9007199254740992.0;
}

static void
fill_floats(float *x, int n, int distribution)
{
	for (int i = 0; i < n; i++)
	{
		double		v = 2.0 * rng_unit() - 1.0;

		if (distribution == 1)
			v *= pow(10.0, 6.0 * rng_unit() - 3.0);
		else if (distribution == 2)
			v = fabs(v) + 0.01;
		x[i] = (float) v;
	}
}

static void
fill_codes(int8_t *x, int n, int distribution)
{
	for (int i = 0; i < n; i++)
	{
		if (distribution == 0)
			x[i] = (int8_t) (int) (rng_next() % 256 - 128);
		else if (distribution == 1)
			x[i] = -128;
		else
			x[i] = 127;
	}
}

/* ---- guarded buffers ---- */

/*
 * A buffer of "bytes" usable bytes, page aligned, followed by a PROT_NONE
 * page.  Returns the first usable byte; the guard starts at base + bytes
 * rounded up to a page.  Exits on failure (a broken test environment).
 */
static unsigned char *
guarded_buffer(size_t bytes, unsigned char **guard)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	size_t		usable = (bytes + page - 1) / page * page;
	unsigned char *base;

	base = mmap(NULL, usable + page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + usable, page, PROT_NONE) != 0)
	{
		perror("test_simd: guarded buffer");
		exit(2);
	}
	*guard = base + usable;
	return base;
}

typedef struct Buffers
{
	unsigned char *base[2];
	unsigned char *guard[2];
} Buffers;

/* Where operand "which" of "bytes" bytes goes for a placement. */
static void *
place(const Buffers *buffers, int which, Placement placement, size_t bytes, size_t element)
{
	switch (placement)
	{
		case PLACE_ALIGNED:
			return buffers->base[which];
		case PLACE_OFFSET_ONE:
			return buffers->base[which] + element;
		case PLACE_AT_GUARD:
			return buffers->guard[which] - bytes;
		default:
			return NULL;
	}
}

/* ---- oracles ---- */

typedef struct FloatOracle
{
	double		value;			/* exact-ish value, in double */
	double		magnitude;		/* S = sum |terms| (cosine: unused) */
} FloatOracle;

static FloatOracle
float_oracle(Kernel kernel, const float *a, const float *b, int n)
{
	FloatOracle result = {0.0, 0.0};
	double		dot = 0.0,
				norm_a = 0.0,
				norm_b = 0.0;

	for (int i = 0; i < n; i++)
	{
		double		diff = (double) a[i] - (double) b[i];
		double		product = (double) a[i] * (double) b[i];

		if (kernel == K_L2)
		{
			result.value += diff * diff;
			result.magnitude += diff * diff;
		}
		else
		{
			result.value += product;
			result.magnitude += fabs(product);
		}
		dot += product;
		norm_a += (double) a[i] * a[i];
		norm_b += (double) b[i] * b[i];
	}
	if (kernel == K_COSINE)
		result.value = (norm_a == 0.0 || norm_b == 0.0) ? NAN :
			1.0 - fmax(-1.0, fmin(1.0, dot / sqrt(norm_a * norm_b)));
	return result;
}

static int64_t
int8_oracle(Kernel kernel, const int8_t *a, const int8_t *b, int n)
{
	int64_t		sum = 0;

	for (int i = 0; i < n; i++)
		sum += (kernel == K_INT8_IP) ? (int64_t) a[i] * b[i] :
			((int64_t) a[i] - b[i]) * ((int64_t) a[i] - b[i]);
	return sum;
}

static float
run_float(const EngramSimdKernels *k, Kernel kernel, const float *a, const float *b, int n)
{
	switch (kernel)
	{
		case K_L2:
			return k->l2_squared(a, b, n);
		case K_IP:
			return k->inner_product(a, b, n);
		default:
			return k->cosine_distance(a, b, n);
	}
}

static int32_t
run_int8(const EngramSimdKernels *k, Kernel kernel, const int8_t *a, const int8_t *b, int n)
{
	return kernel == K_INT8_IP ? k->int8_inner_product(a, b, n) : k->int8_l2_squared(a, b, n);
}

/* ---- checks ---- */

static void
record(KernelResult *result, double error, double tolerance, const char *what)
{
	double		ratio = (tolerance > 0.0) ? error / tolerance : (error > 0.0 ? INFINITY : 0.0);

	result->cases++;
	if (ratio > result->worst_ratio || isnan(error))
		result->worst_ratio = isnan(error) ? INFINITY : ratio;
	if (isnan(error) || error > tolerance)
	{
		if (result->failures++ == 0)
			snprintf(result->first_failure, sizeof(result->first_failure), "%s", what);
	}
}

/*
 * One float case: "variant" against the scalar reference (or, when
 * variant is the scalar table, the reference against the oracle).
 */
static void
check_float_case(const EngramSimdKernels *variant, Kernel kernel, const float *a,
				 const float *b, int n, const char *label, KernelResult *result)
{
	FloatOracle oracle = float_oracle(kernel, a, b, n);
	bool		is_reference = (variant == &engram_simd_scalar_kernels);
	double		got;
	double		ref;
	double		factor = is_reference ? 1.0 : 2.0;
	double		tolerance;
	double		error;
	char		what[256];

	snprintf(current_case, sizeof(current_case), "%s %s n=%d %s",
			 variant->variant, kernel_names[kernel], n, label);
	got = run_float(variant, kernel, a, b, n);
	ref = is_reference ? oracle.value : run_float(&engram_simd_scalar_kernels, kernel, a, b, n);
	if (kernel == K_COSINE)
		tolerance = factor * 2.0 * EPS_PER_KERNEL + TOLERANCE_ABSOLUTE;
	else
		tolerance = factor * EPS_PER_KERNEL * oracle.magnitude + TOLERANCE_ABSOLUTE;
	if (isnan(got) && isnan(ref))
		error = 0.0;
	else
		error = fabs(got - ref);	/* NaN when only one side is NaN */
	snprintf(what, sizeof(what), "n=%d %s: got %.9g, %s %.9g, tolerance %.3g",
			 n, label, got, is_reference ? "oracle" : "scalar", ref, tolerance);
	record(result, error, tolerance, what);

	/*
	 * A variant must also meet the reference's own bound against the
	 * oracle, so that the reference's rounding cannot mask a variant's.
	 */
	if (!is_reference)
	{
		tolerance /= factor;
		tolerance += TOLERANCE_ABSOLUTE / 2;	/* keep the absolute term whole */
		if (isnan(got) && isnan(oracle.value))
			error = 0.0;
		else
			error = fabs(got - oracle.value);
		snprintf(what, sizeof(what), "n=%d %s: got %.9g, oracle %.9g, tolerance %.3g",
				 n, label, got, oracle.value, tolerance);
		record(result, error, tolerance, what);
	}
}

static void
check_int8_case(const EngramSimdKernels *variant, Kernel kernel, const int8_t *a,
				const int8_t *b, int n, const char *label, KernelResult *result)
{
	bool		is_reference = (variant == &engram_simd_scalar_kernels);
	int64_t		got;
	int64_t		ref;
	char		what[256];

	snprintf(current_case, sizeof(current_case), "%s %s n=%d %s",
			 variant->variant, kernel_names[kernel], n, label);
	got = run_int8(variant, kernel, a, b, n);
	ref = is_reference ? int8_oracle(kernel, a, b, n) :
		run_int8(&engram_simd_scalar_kernels, kernel, a, b, n);
	snprintf(what, sizeof(what), "n=%d %s: got %lld, %s %lld", n, label,
			 (long long) got, is_reference ? "oracle" : "scalar", (long long) ref);
	record(result, (double) llabs(got - ref), 0.0, what);
}

/* Async-signal-safe decimal of a small non-negative int into buf; returns its length. */
static size_t
format_count(char *buf, int value)
{
	char		digits[16];
	size_t		count = 0;
	size_t		length = 0;

	do
	{
		digits[count++] = (char) ('0' + value % 10);
		value /= 10;
	} while (value > 0 && count < sizeof(digits));
	while (count > 0)
		buf[length++] = digits[--count];
	return length;
}

/*
 * A kernel touched memory outside its arrays (the guard page): report the
 * case as a failure, with the summary line, instead of dying silently.
 */
static void
report_segfault(int signo)
{
	static const char segfault_note[] = ": SIGSEGV, read outside the arrays\n";
	char		summary[64];
	size_t		length;
	ssize_t		ignored;

	ignored = write(STDOUT_FILENO, "FAIL ", 5);
	ignored = write(STDOUT_FILENO, current_case, strlen(current_case));
	ignored = write(STDOUT_FILENO, segfault_note, strlen(segfault_note));
	length = format_count(summary, lines_passed);
	memcpy(summary + length, " passed, ", 9);
	length += 9;
	length += format_count(summary + length, lines_failed + 1);
	memcpy(summary + length, " failed\n", 8);
	length += 8;
	ignored = write(STDOUT_FILENO, summary, length);
	(void) ignored;
	(void) signo;
	_exit(1);
}

/* Lengths: all of 0..64, the usual suspects up to 4096, random ones. */
static int
float_lengths(int *lengths)
{
	static const int fixed[] = {
		65, 79, 95, 96, 97, 100, 127, 128, 129, 191, 255, 256, 257, 300, 383,
		384, 385, 511, 512, 513, 767, 768, 769, 1023, 1024, 1025, 1535, 1536,
		1537, 2047, 2048, 2049, 3071, 3072, 4095, 4096
	};
	int			count = 0;

	for (int n = 0; n <= 64; n++)
		lengths[count++] = n;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		lengths[count++] = fixed[i];
	for (int i = 0; i < RANDOM_LENGTHS; i++)
		lengths[count++] = 65 + (int) (rng_next() % (TEST_MAX_FLOATS - 64));
	return count;
}

/*
 * Placement invariance: a kernel must return the same bits for the same
 * values wherever they sit (a primary and a replica, or two backends,
 * hold a vector at different addresses and must rank ties alike).  The
 * aligned result is compared with a at every float offset 1..15 from a
 * 64-byte boundary, b at another.
 */
static void
check_float_placements(const EngramSimdKernels *variant, const Buffers *buffers,
					   const float *source_a, const float *source_b, int n,
					   KernelResult *results)
{
	size_t		bytes = sizeof(float) * (size_t) n;
	float		aligned[K_COUNT];

	memcpy(buffers->base[0], source_a, bytes);
	memcpy(buffers->base[1], source_b, bytes);
	for (Kernel k = K_L2; k <= K_COSINE; k++)
		aligned[k] = run_float(variant, k, (const float *) buffers->base[0],
							   (const float *) buffers->base[1], n);
	for (int offset = 1; offset < 16; offset++)
	{
		float	   *a = (float *) buffers->base[0] + offset;
		float	   *b = (float *) buffers->base[1] + (offset * 7) % 16;

		memcpy(a, source_a, bytes);
		memcpy(b, source_b, bytes);
		for (Kernel k = K_L2; k <= K_COSINE; k++)
		{
			float		got = run_float(variant, k, a, b, n);

			results[k].cases++;
			if (memcmp(&got, &aligned[k], sizeof(float)) != 0 &&
				!(isnan(got) && isnan(aligned[k])))
			{
				if (results[k].failures++ == 0)
					snprintf(results[k].first_failure, sizeof(results[k].first_failure),
							 "n = %d: result at float offset %d differs from the aligned one "
							 "(%.9g vs %.9g)", n, offset, got, aligned[k]);
			}
		}
	}
}

static void
test_float_kernels(const EngramSimdKernels *variant, const Buffers *buffers,
				   const int *lengths, int length_count, KernelResult *results)
{
	rng_state = 0x9E3779B97F4A7C15ull;
	for (int l = 0; l < length_count; l++)
	{
		int			n = lengths[l];
		size_t		bytes = sizeof(float) * (size_t) n;

		for (int distribution = 0; distribution < 3; distribution++)
		{
			float		source_a[TEST_MAX_FLOATS];
			float		source_b[TEST_MAX_FLOATS];

			fill_floats(source_a, n, distribution);
			fill_floats(source_b, n, distribution);
			check_float_placements(variant, buffers, source_a, source_b, n, results);
			for (Placement p = 0; p < PLACE_COUNT; p++)
			{
				float	   *a = place(buffers, 0, p, bytes, sizeof(float));
				float	   *b = place(buffers, 1, p, bytes, sizeof(float));
				char		label[96];

				memcpy(a, source_a, bytes);
				memcpy(b, source_b, bytes);
				snprintf(label, sizeof(label), "distribution %d, %s",
						 distribution, placement_names[p]);
				for (Kernel k = K_L2; k <= K_COSINE; k++)
					check_float_case(variant, k, a, b, n, label, &results[k]);

				/* Special inputs: identical vectors, and a zero vector. */
				if (distribution == 0 && n <= 64)
				{
					snprintf(label, sizeof(label), "a = b, %s", placement_names[p]);
					for (Kernel k = K_L2; k <= K_COSINE; k++)
						check_float_case(variant, k, a, a, n, label, &results[k]);
					if (variant->l2_squared(a, a, n) != 0.0f)
						record(&results[K_L2], 1.0, 0.0, "l2_squared(a, a) is not exactly 0");
					memset(a, 0, bytes);
					snprintf(label, sizeof(label), "a = 0, %s", placement_names[p]);
					for (Kernel k = K_L2; k <= K_COSINE; k++)
						check_float_case(variant, k, a, b, n, label, &results[k]);
				}
			}
		}
	}
}

static void
test_int8_kernels(const EngramSimdKernels *variant, const Buffers *buffers,
				  const int *lengths, int length_count, KernelResult *results)
{
	static int8_t source_a[TEST_MAX_CODES];
	static int8_t source_b[TEST_MAX_CODES];

	rng_state = 0x2545F4914F6CDD1Dull;
	for (int l = 0; l <= length_count; l++)
	{
		/* The last round is the longest array the contract allows. */
		int			n = (l < length_count) ? lengths[l] : TEST_MAX_CODES;

		/* Distributions: random codes; -128 against -128; -128 against 127. */
		for (int distribution = 0; distribution < 3; distribution++)
		{
			fill_codes(source_a, n, distribution == 0 ? 0 : 1);
			fill_codes(source_b, n, distribution);
			for (Placement p = 0; p < PLACE_COUNT; p++)
			{
				int8_t	   *a = place(buffers, 0, p, (size_t) n, 1);
				int8_t	   *b = place(buffers, 1, p, (size_t) n, 1);
				char		label[96];

				memcpy(a, source_a, (size_t) n);
				memcpy(b, source_b, (size_t) n);
				snprintf(label, sizeof(label), "codes %s, %s",
						 distribution == 0 ? "random" : distribution == 1 ? "-128/-128" : "-128/127",
						 placement_names[p]);
				check_int8_case(variant, K_INT8_IP, a, b, n, label, &results[K_INT8_IP]);
				check_int8_case(variant, K_INT8_L2, a, b, n, label, &results[K_INT8_L2]);
			}
		}
	}
}

/* Normalise x (n floats) as engram_hnsw_prepare_vector does; false for 0. */
static bool
normalise_like_index(const EngramSimdKernels *variant, float *x, int n)
{
	float		norm = variant->inner_product(x, x, n);

	if (!(norm > 0) || isinf(norm))
		return false;
	norm = 1.0f / sqrtf(norm);
	for (int i = 0; i < n; i++)
		x[i] *= norm;
	return true;
}

/*
 * One bounded case: "got" from the bounded kernel for "bound", "full" the
 * variant's unbounded result.  Returns true when the kernel stopped early
 * (a result that only an exit gives).
 */
static bool
check_bounded_result(KernelResult *result, Kernel kernel, float got, float full,
					 float bound, int n, const char *label)
{
	char		what[256];
	bool		ok;

	if (full < bound || isnan(bound))
		ok = memcmp(&got, &full, sizeof(float)) == 0;
	else
		ok = got >= bound;
	snprintf(what, sizeof(what), "n=%d %s: bound %.9g, got %.9g, unbounded %.9g",
			 n, label, bound, got, full);
	record(result, ok ? 0.0 : 1.0, 0.0, what);
	if (kernel == K_L2_BOUNDED)
		return got < full;
	return got == bound && bound != full;
}

static void
test_bounded_kernels(const EngramSimdKernels *variant, const Buffers *buffers,
					 const int *lengths, int length_count, KernelResult *results)
{
	long		exits[K_COUNT] = {0};

	rng_state = 0x6A09E667F3BCC909ull;
	for (int l = 0; l < length_count; l++)
	{
		int			n = lengths[l];
		size_t		bytes = sizeof(float) * (size_t) n;

		for (int distribution = 0; distribution < 5; distribution++)
		{
			float		source_a[TEST_MAX_FLOATS];
			float		source_b[TEST_MAX_FLOATS];

			fill_floats(source_a, n, distribution % 3);
			if (distribution == 3)
				memcpy(source_b, source_a, bytes);	/* a against itself */
			else if (distribution == 4)
			{
				/* a near copy: one element in 64 moved by 1 % */
				memcpy(source_b, source_a, bytes);
				for (int i = 0; i < n; i += 64)
					source_b[i] *= 1.01f;
			}
			else
				fill_floats(source_b, n, distribution);
			for (Placement p = 0; p < PLACE_COUNT; p++)
			{
				float	   *a = place(buffers, 0, p, bytes, sizeof(float));
				float	   *b = place(buffers, 1, p, bytes, sizeof(float));
				char		label[96];

				for (Kernel k = K_L2_BOUNDED; k <= K_UNIT_COSINE_BOUNDED; k++)
				{
					float		full;
					float		bounds[16];
					int			bound_count = 0;

					memcpy(a, source_a, bytes);
					memcpy(b, source_b, bytes);
					if (k == K_UNIT_COSINE_BOUNDED &&
						(!normalise_like_index(variant, a, n) ||
						 !normalise_like_index(variant, b, n)))
						continue;
					full = (k == K_L2_BOUNDED) ? variant->l2_squared(a, b, n) :
						1.0f - variant->inner_product(a, b, n);
					bounds[bound_count++] = full;
					bounds[bound_count++] = nextafterf(full, INFINITY);
					bounds[bound_count++] = nextafterf(full, -INFINITY);
					bounds[bound_count++] = full * 0.25f;
					bounds[bound_count++] = full * 0.5f;
					bounds[bound_count++] = full * 0.9f;
					bounds[bound_count++] = full * 0.999f;
					bounds[bound_count++] = full * 1.001f;
					bounds[bound_count++] = full * 2.0f;
					bounds[bound_count++] = 0.0f;
					bounds[bound_count++] = -1.0f;
					bounds[bound_count++] = INFINITY;
					bounds[bound_count++] = NAN;
					snprintf(label, sizeof(label), "distribution %d, %s",
							 distribution, placement_names[p]);
					snprintf(current_case, sizeof(current_case), "%s %s n=%d %s",
							 variant->variant, kernel_names[k], n, label);
					for (int i = 0; i < bound_count; i++)
					{
						float		got = (k == K_L2_BOUNDED) ?
							variant->l2_squared_bounded(a, b, n, bounds[i]) :
							variant->unit_cosine_bounded(a, b, n, bounds[i]);

						if (check_bounded_result(&results[k], k, got, full, bounds[i], n, label))
							exits[k]++;
					}
				}
			}
		}
	}
	for (Kernel k = K_L2_BOUNDED; k <= K_UNIT_COSINE_BOUNDED; k++)
	{
		/* NEON has no early exit yet (simd_neon.c) */
		if (exits[k] == 0 && variant->level != ENGRAM_SIMD_NEON)
			record(&results[k], 1.0, 0.0, "never stopped early, even for bounds far below the distance");
	}
}

int
main(void)
{
	static int	lengths[65 + 64 + RANDOM_LENGTHS];
	Buffers		buffers;
	int			length_count;
	size_t		buffer_bytes = sizeof(float) * (TEST_MAX_FLOATS + 16);

	if (buffer_bytes < TEST_MAX_CODES + 64)
		buffer_bytes = TEST_MAX_CODES + 64;
	for (int i = 0; i < 2; i++)
		buffers.base[i] = guarded_buffer(buffer_bytes, &buffers.guard[i]);
	length_count = float_lengths(lengths);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGSEGV, report_segfault);

	printf("float tolerance: |d - scalar| <= %.0e * sum|terms| + %.0e (cosine: %.0e absolute), "
		   "|d - double oracle| half that; int8: exact\n",
		   2 * EPS_PER_KERNEL, TOLERANCE_ABSOLUTE, 4 * EPS_PER_KERNEL + TOLERANCE_ABSOLUTE);
	for (int v = 0; v < engram_simd_variant_count(); v++)
	{
		bool		supported;
		const EngramSimdKernels *variant = engram_simd_variant(v, &supported);
		KernelResult results[K_COUNT];

		if (!supported)
		{
			printf("skip %-12s (this CPU cannot run it)\n", variant->variant);
			continue;
		}
		memset(results, 0, sizeof(results));
		test_float_kernels(variant, &buffers, lengths, length_count, results);
		test_int8_kernels(variant, &buffers, lengths, length_count, results);
		test_bounded_kernels(variant, &buffers, lengths, length_count, results);
		for (Kernel k = 0; k < K_COUNT; k++)
		{
			KernelResult *r = &results[k];

			if (r->failures == 0)
			{
				lines_passed++;
				printf("ok   %-12s %-19s %6ld cases, worst error %.2f of tolerance%s\n",
					   variant->variant, kernel_names[k], r->cases, r->worst_ratio,
					   variant == &engram_simd_scalar_kernels ? " (vs double oracle)" : "");
			}
			else
			{
				lines_failed++;
				printf("FAIL %-12s %-19s %ld of %ld cases; first: %s\n",
					   variant->variant, kernel_names[k], r->failures, r->cases,
					   r->first_failure);
			}
		}
	}
	printf("%d passed, %d failed\n", lines_passed, lines_failed);
	return lines_failed == 0 ? 0 : 1;
}
