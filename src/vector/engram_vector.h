/*-------------------------------------------------------------------------
 *
 * engram_vector.h
 *	  The evector type: a varlena array of float4 with its dimension count.
 *
 * On-disk layout (never change without a version bump of the extension):
 *	  int32 vl_len_;  int16 dim;  int16 unused (0);  float4 x[dim]
 * The typmod, when present, is the declared dimension count.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_VECTOR_H
#define ENGRAM_VECTOR_H

#include "postgres.h"
#include "fmgr.h"

#define ENGRAM_VECTOR_MAX_DIM 16000

typedef struct EngramVector
{
	int32		vl_len_;		/* varlena header (do not touch directly) */
	int16		dim;			/* number of dimensions */
	int16		unused;			/* reserved, always 0 */
	float		x[FLEXIBLE_ARRAY_MEMBER];
} EngramVector;

#define ENGRAM_VECTOR_SIZE(dim)		(offsetof(EngramVector, x) + sizeof(float) * (dim))
#define DatumGetEngramVector(d)		((EngramVector *) PG_DETOAST_DATUM(d))
#define PG_GETARG_ENGRAM_VECTOR_P(n)	DatumGetEngramVector(PG_GETARG_DATUM(n))
#define PG_RETURN_ENGRAM_VECTOR_P(v)	PG_RETURN_POINTER(v)

/* A zeroed vector of "dim" dimensions, palloc'd in the current context. */
extern EngramVector *engram_vector_new(int dim);

/* ERROR (ERRCODE_DATA_EXCEPTION) unless a and b have the same dimensions. */
extern void engram_vector_check_same_dims(const EngramVector *a, const EngramVector *b);

/* ERROR unless every element is finite and dim is in 1..ENGRAM_VECTOR_MAX_DIM. */
extern void engram_vector_check_elements(const float *x, int dim);

#endif							/* ENGRAM_VECTOR_H */
