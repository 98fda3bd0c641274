/*-------------------------------------------------------------------------
 *
 * simd_bench.c
 *	  Micro-benchmark of the distance kernels: nanoseconds per distance for
 *	  every kernel table this CPU runs, at 128, 768 and 1536 dimensions,
 *	  and the speedup over the scalar reference.  Run with make simd-bench.
 *
 * What is measured: one query against a pool of 4 base vectors, taken in
 * turn, all resident in the L1 data cache (5 x 1536 floats = 30 KiB), so
 * the figures are the kernels' compute cost, not memory bandwidth or cache
 * misses (an index scan pays those on top).  The arrays start 8 bytes past
 * a cache-line boundary, as vectors in the server do (BENCH_FLOAT_OFFSET).
 * Every call goes through a function pointer read from a volatile
 * variable, as the extension's calls go through engram_simd, so nothing is
 * inlined or hoisted; the results are summed and stored to a volatile sink
 * so no call can be dropped.  Time is the thread's CPU time (the machine
 * is shared; time spent preempted is not the kernels' cost).  Each figure
 * is the median of 21 runs of at least 2 ms each, after a warm-up; the
 * variants run in interleaved rounds so that whatever else the machine
 * does falls on every column alike.
 *
 * The scalar column is the reference kernel as the extension builds it:
 * plain loops kept scalar on purpose (see ENGRAM_SCALAR_FUNCTION in
 * simd/simd_internal.h; float reductions are not auto-vectorised without
 * -ffast-math anyway), so the speedup is SIMD over one element at a time.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engram_simd.h"
#include "simd_internal.h"

#define BENCH_POOL			4
#define BENCH_RUNS			21
#define BENCH_MIN_RUN_NS	2000000.0	/* 2 ms */
#define BENCH_MAX_VARIANTS	8

/*
 * Where the arrays start relative to a 64-byte boundary.  An evector's
 * floats follow its 8-byte header in a tuple that is itself only 8-byte
 * aligned, so in the server they are rarely on a cache-line boundary; the
 * benchmark uses 8 bytes past one, like a vector at the start of a line.
 * Int8 codes: 4 bytes past, a 4-byte header in front of them.
 */
#define BENCH_FLOAT_OFFSET	8
#define BENCH_CODE_OFFSET	4

typedef enum BenchKernel
{
	B_L2,
	B_IP,
	B_COSINE,
	B_INT8_IP,
	B_INT8_L2,
	B_COUNT
} BenchKernel;

static const char *const bench_kernel_names[B_COUNT] = {
	"l2_squared", "inner_product", "cosine_distance",
	"int8_inner_product", "int8_l2_squared"
};

static const int bench_dims[] = {128, 768, 1536};

static volatile float float_sink;
static volatile int32_t int_sink;
static EngramDistanceKernel volatile float_kernel;
static EngramInt8Kernel volatile int8_kernel;

/*
 * CPU time of this thread, in ns: the machine is shared, and time spent
 * preempted by other processes is not the kernels' cost.
 */
static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static uint64_t bench_rng = 0x853C49E6748FEA9Bull;

static uint32_t
bench_random(void)
{
	bench_rng = bench_rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t) (bench_rng >> 33);
}

typedef struct BenchData
{
	int			dims;
	float	   *query;
	float	   *pool;			/* BENCH_POOL x dims */
	int8_t	   *query_codes;
	int8_t	   *pool_codes;		/* BENCH_POOL x dims */
} BenchData;

/* Run "calls" distances with the kernel in float_kernel / int8_kernel; returns ns. */
static double
timed_run(const BenchData *data, BenchKernel kernel, long calls)
{
	double		start = now_ns();
	float		float_total = 0.0f;
	int32_t		int_total = 0;
	int			dims = data->dims;

	if (kernel <= B_COSINE)
	{
		for (long c = 0; c < calls; c++)
			float_total += float_kernel(data->query,
										data->pool + (size_t) (c % BENCH_POOL) * dims, dims);
	}
	else
	{
		for (long c = 0; c < calls; c++)
			int_total += int8_kernel(data->query_codes,
									 data->pool_codes + (size_t) (c % BENCH_POOL) * dims, dims);
	}
	float_sink = float_total;
	int_sink = int_total;
	return now_ns() - start;
}

/*
 * An array of "bytes" starting "offset" bytes past a 64-byte boundary.
 * Never freed: the benchmark allocates a few hundred KiB in all.
 */
static void *
bench_array(size_t bytes, size_t offset)
{
	unsigned char *base = aligned_alloc(64, (bytes + offset + 63) / 64 * 64);

	if (base == NULL)
	{
		fprintf(stderr, "simd_bench: out of memory\n");
		exit(2);
	}
	return base + offset;
}

static int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* Point float_kernel or int8_kernel at the table's function for "kernel". */
static void
use_kernel(BenchKernel kernel, const EngramSimdKernels *table)
{
	switch (kernel)
	{
		case B_L2:
			float_kernel = table->l2_squared;
			break;
		case B_IP:
			float_kernel = table->inner_product;
			break;
		case B_COSINE:
			float_kernel = table->cosine_distance;
			break;
		case B_INT8_IP:
			int8_kernel = table->int8_inner_product;
			break;
		default:
			int8_kernel = table->int8_l2_squared;
			break;
	}
}

/* Calls of the current kernel that take at least BENCH_MIN_RUN_NS (warms up too). */
static long
calibrate(const BenchData *data, BenchKernel kernel)
{
	long		calls = 1000;

	for (;;)
	{
		double		elapsed = timed_run(data, kernel, calls);

		if (elapsed >= BENCH_MIN_RUN_NS)
			return calls;
		calls = (elapsed > BENCH_MIN_RUN_NS / 64) ?
			(long) (calls * 1.2 * BENCH_MIN_RUN_NS / elapsed) : calls * 8;
	}
}

/*
 * Median ns per distance of "count" kernel functions, measured in
 * interleaved rounds (each round runs every function once) so that load
 * from other processes falls on all of them alike.
 */
static void
measure(const BenchData *data, BenchKernel kernel, const EngramSimdKernels **tables,
		int count, double *ns)
{
	long		calls[BENCH_MAX_VARIANTS];
	double		per_call[BENCH_MAX_VARIANTS][BENCH_RUNS];

	for (int t = 0; t < count; t++)
	{
		use_kernel(kernel, tables[t]);
		calls[t] = calibrate(data, kernel);
	}
	for (int r = 0; r < BENCH_RUNS; r++)
		for (int t = 0; t < count; t++)
		{
			use_kernel(kernel, tables[t]);
			per_call[t][r] = timed_run(data, kernel, calls[t]) / (double) calls[t];
		}
	for (int t = 0; t < count; t++)
	{
		qsort(per_call[t], BENCH_RUNS, sizeof(double), compare_doubles);
		ns[t] = per_call[t][BENCH_RUNS / 2];
	}
}

/* The kernel function a table uses, to measure shared functions only once. */
static void *
kernel_function(const EngramSimdKernels *table, BenchKernel kernel)
{
	switch (kernel)
	{
		case B_L2:
			return (void *) table->l2_squared;
		case B_IP:
			return (void *) table->inner_product;
		case B_COSINE:
			return (void *) table->cosine_distance;
		case B_INT8_IP:
			return (void *) table->int8_inner_product;
		default:
			return (void *) table->int8_l2_squared;
	}
}

static void
print_cpu_model(void)
{
	FILE	   *cpuinfo = fopen("/proc/cpuinfo", "r");
	char		line[256];

	if (cpuinfo == NULL)
		return;
	while (fgets(line, sizeof(line), cpuinfo) != NULL)
	{
		char	   *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL)
		{
			printf("cpu:      %s", colon + 2);
			break;
		}
	}
	fclose(cpuinfo);
}

int
main(void)
{
	const EngramSimdKernels *tables[BENCH_MAX_VARIANTS];
	int			table_count = 0;
	int			scalar_index = -1;

	for (int v = 0; v < engram_simd_variant_count() && table_count < BENCH_MAX_VARIANTS; v++)
	{
		bool		supported;
		const EngramSimdKernels *table = engram_simd_variant(v, &supported);

		if (!supported)
			continue;
		if (table == &engram_simd_scalar_kernels)
			scalar_index = table_count;
		tables[table_count++] = table;
	}

	print_cpu_model();
#if defined(__clang__)
	printf("compiler: clang %s\n", __clang_version__);
#elif defined(__GNUC__)
	printf("compiler: gcc %s\n", __VERSION__);
#endif
	printf("method:   thread CPU ns per distance, median of %d runs of >= %.0f ms, %d base vectors in L1,\n"
		   "          arrays %d bytes past a 64-byte boundary, calls through a function pointer\n",
		   BENCH_RUNS, BENCH_MIN_RUN_NS / 1e6, BENCH_POOL, BENCH_FLOAT_OFFSET);
	printf("          (x N.N = speedup over scalar; \"=\" = same function as the column to its left)\n\n");

	printf("%-19s %5s", "kernel", "dims");
	for (int t = 0; t < table_count; t++)
		printf(" %19s", tables[t]->variant);
	printf("\n");

	for (BenchKernel kernel = B_L2; kernel < B_COUNT; kernel++)
	{
		for (size_t d = 0; d < sizeof(bench_dims) / sizeof(bench_dims[0]); d++)
		{
			BenchData	data;
			double		ns[BENCH_MAX_VARIANTS];

			data.dims = bench_dims[d];
			data.query = bench_array(sizeof(float) * data.dims, BENCH_FLOAT_OFFSET);
			data.pool = bench_array(sizeof(float) * data.dims * BENCH_POOL, BENCH_FLOAT_OFFSET);
			data.query_codes = bench_array(data.dims, BENCH_CODE_OFFSET);
			data.pool_codes = bench_array((size_t) data.dims * BENCH_POOL, BENCH_CODE_OFFSET);
			for (int i = 0; i < data.dims; i++)
			{
				data.query[i] = (float) bench_random() / 4294967296.0f - 0.25f;
				data.query_codes[i] = (int8_t) (int) (bench_random() % 256 - 128);
			}
			for (int i = 0; i < data.dims * BENCH_POOL; i++)
			{
				data.pool[i] = (float) bench_random() / 4294967296.0f - 0.25f;
				data.pool_codes[i] = (int8_t) (int) (bench_random() % 256 - 128);
			}

			{
				/* Measure each distinct function once, all in the same rounds. */
				const EngramSimdKernels *distinct[BENCH_MAX_VARIANTS];
				int			distinct_of[BENCH_MAX_VARIANTS];
				double		distinct_ns[BENCH_MAX_VARIANTS];
				int			distinct_count = 0;

				for (int t = 0; t < table_count; t++)
				{
					if (t > 0 && kernel_function(tables[t], kernel) == kernel_function(tables[t - 1], kernel))
						distinct_of[t] = distinct_of[t - 1];
					else
					{
						distinct_of[t] = distinct_count;
						distinct[distinct_count++] = tables[t];
					}
				}
				measure(&data, kernel, distinct, distinct_count, distinct_ns);
				for (int t = 0; t < table_count; t++)
					ns[t] = distinct_ns[distinct_of[t]];
			}
			printf("%-19s %5d", bench_kernel_names[kernel], data.dims);
			for (int t = 0; t < table_count; t++)
			{
				bool		same_as_previous = t > 0 &&
					kernel_function(tables[t], kernel) == kernel_function(tables[t - 1], kernel);

				if (same_as_previous)
					printf(" %19s", "=");
				else if (t == scalar_index || scalar_index < 0)
					printf(" %10.1f ns       ", ns[t]);
				else
					printf(" %10.1f ns x%4.1f", ns[t], ns[scalar_index] / ns[t]);
			}
			printf("\n");
			fflush(stdout);
		}
	}
	return 0;
}
