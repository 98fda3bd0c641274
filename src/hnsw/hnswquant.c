/*-------------------------------------------------------------------------
 *
 * hnswquant.c
 *	  The compact representation of engram_hnsw (quantization = 'int8'):
 *	  8-bit scalar quantization of element vectors and queries, distances
 *	  estimated from the codes with the SIMD int8 kernels, and the lower
 *	  bounds of the exact ORDER BY value that let the executor re-rank a
 *	  scan's rows at full precision.
 *
 * Format and the bounds' derivation: hnsw.h, COMPACT REPRESENTATION.
 * Everything here is pure computation on memory the caller owns: no
 * buffer, no lock, no allocation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "hnsw/hnsw.h"

#define INT8_CODE_MAX 127

/*
 * Relative margin for the float rounding of the exact distance operators
 * (float accumulation over "dims" terms, then a root or a division):
 * about twice the worst-case bound of recursive float summation.
 */
static inline double
rounding_margin(int dims)
{
	return (dims + 16) * ldexp(1.0, -22);
}

/*
 * Codes of "vector" for "scale" (codes all zero for scale 0); returns the
 * squared reconstruction error, computed in double, and the sum of the
 * squared codes.
 */
static double
encode_codes(const float *vector, int dims, float scale, int8 *codes, int32 *code_sumsq)
{
	double		error2 = 0;
	int32		sumsq = 0;

	for (int i = 0; i < dims; i++)
	{
		int			code = 0;
		double		diff;

		if (scale > 0)
		{
			double		scaled = rint((double) vector[i] / scale);

			code = (int) Max(Min(scaled, INT8_CODE_MAX), -INT8_CODE_MAX);
		}
		codes[i] = (int8) code;
		sumsq += code * code;
		diff = (double) vector[i] - (double) scale * code;
		error2 += diff * diff;
	}
	*code_sumsq = sumsq;
	return error2;
}

/* Scale mapping the largest magnitude of "vector" to code 127. */
static float
vector_scale(const float *vector, int dims)
{
	float		largest = 0;

	for (int i = 0; i < dims; i++)
		largest = Max(largest, fabsf(vector[i]));
	return largest / INT8_CODE_MAX;
}

void
engram_hnsw_int8_encode(const float *vector, int dims, EngramHnswInt8Vector *out)
{
	double		error;
	float		stored;

	out->scale = vector_scale(vector, dims);
	error = sqrt(encode_codes(vector, dims, out->scale, out->codes, &out->code_sumsq));
	/* the bound must never be smaller than the true error */
	stored = (float) error;
	if ((double) stored < error)
		stored = nextafterf(stored, INFINITY);
	out->error = stored;
	/* padding bytes after the codes stay zero (the tuple was zeroed) */
}

void
engram_hnsw_int8_decode(const EngramHnswInt8Vector *encoded, int dims, float *out)
{
	for (int i = 0; i < dims; i++)
		out[i] = encoded->scale * encoded->codes[i];
}

/*
 * The query is coded twice: codes for the vector, then residual codes for
 * what those leave out (with a scale about 1/254 of the first).  Every
 * distance then costs two int8 kernel calls instead of one, and the lower
 * bounds lose only the element's reconstruction error: the query's own
 * is about 250 times smaller.
 */
void
engram_hnsw_int8_prepare_query(EngramHnswInt8Query *query, const float *vector, int dims)
{
	double		norm2 = 0;
	double		decoded_norm2 = 0;
	double		error2 = 0;
	float		residual_scale = 0;
	int32		ignored_sumsq;

	query->scale = vector_scale(vector, dims);
	encode_codes(vector, dims, query->scale, query->codes, &ignored_sumsq);
	for (int i = 0; i < dims; i++)
	{
		float		residual = (float) ((double) vector[i] - (double) query->scale * query->codes[i]);

		residual_scale = Max(residual_scale, fabsf(residual) / INT8_CODE_MAX);
	}
	query->residual_scale = residual_scale;
	for (int i = 0; i < dims; i++)
	{
		double		first = (double) query->scale * query->codes[i];
		int			code = 0;
		double		decoded;

		if (residual_scale > 0)
		{
			double		scaled = rint(((double) vector[i] - first) / residual_scale);

			code = (int) Max(Min(scaled, INT8_CODE_MAX), -INT8_CODE_MAX);
		}
		query->residual_codes[i] = (int8) code;
		decoded = first + (double) residual_scale * code;
		decoded_norm2 += decoded * decoded;
		error2 += ((double) vector[i] - decoded) * ((double) vector[i] - decoded);
		norm2 += (double) vector[i] * vector[i];
	}
	query->norm2 = decoded_norm2;
	query->error = sqrt(error2);
	query->norm = sqrt(norm2);
}

/* q-hat . x-hat, exact up to double rounding (the code sums are integers). */
static inline double
decoded_dot(const EngramHnswInt8Query *query, const EngramHnswInt8Vector *element, int dims)
{
	double		dot = (double) query->scale *
		(double) engram_int8_inner_product(query->codes, element->codes, dims);

	if (query->residual_scale > 0)
		dot += (double) query->residual_scale *
			(double) engram_int8_inner_product(query->residual_codes, element->codes, dims);
	return dot * (double) element->scale;
}

static inline double
squared_norm(float scale, int32 code_sumsq)
{
	return (double) scale * (double) scale * (double) code_sumsq;
}

/*
 * The estimated internal distance (as engram_hnsw_distance) and, when
 * orderby_bound is not NULL, the lower bound of the exact ORDER BY value
 * (hnsw.h, COMPACT REPRESENTATION), both from one pass over the codes.
 * The bound is computed in double from the exact integer code sums, so
 * that no float rounding of the estimate can lift it above the exact
 * value; the margin covers the rounding of the exact operator itself.
 */
float
engram_hnsw_int8_distance(int metric, const EngramHnswInt8Query *query,
						  const EngramHnswInt8Vector *element, int dims,
						  double *orderby_bound)
{
	double		dot = decoded_dot(query, element, dims);
	double		element_norm2 = squared_norm(element->scale, element->code_sumsq);
	double		margin = rounding_margin(dims);
	double		element_norm;
	double		distance;
	double		bound;

	switch (metric)
	{
		case ENGRAM_HNSW_METRIC_L2:
			distance = query->norm2 + element_norm2 - 2 * dot;
			distance = Max(distance, 0.0);
			if (orderby_bound)
			{
				bound = sqrt(distance) - query->error - (double) element->error;
				*orderby_bound = bound > 0 ? bound * (1.0 - margin) : 0.0;
			}
			return (float) distance;
		case ENGRAM_HNSW_METRIC_INNER_PRODUCT:
			if (orderby_bound)
			{
				element_norm = sqrt(element_norm2);
				*orderby_bound = -dot - query->norm * element->error -
					query->error * element_norm -
					margin * query->norm * (element_norm + element->error);
			}
			return (float) -dot;
		default:
			if (orderby_bound)
			{
				/* unit vectors: ||q|| is 1 up to what the margin covers */
				element_norm = sqrt(element_norm2);
				*orderby_bound = 1.0 - dot - query->norm * element->error -
					query->error * element_norm -
					margin * (Max(query->norm, 1.0) * (element_norm + element->error) + 1.0);
			}
			return (float) (1.0 - dot);
	}
}
