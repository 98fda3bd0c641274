/*-------------------------------------------------------------------------
 *
 * engram_vector.h
 *	  The evector type: a varlena array of float4 with its dimension count.
 *
 * On-disk layout (never change without a version bump of the extension):
 *	  int32 vl_len_;  int16 dim;  int16 unused (0);  float4 x[dim]
 * The typmod, when present, is the declared dimension count.
 *
 * Invariants of every evector value built by this code (input, receive,
 * casts, arithmetic, aggregates): 1 <= dim <= ENGRAM_VECTOR_MAX_DIM, every
 * element finite, unused == 0.  Functions reading an evector may rely on
 * them.  The C files of this subsystem:
 *	  vector_io.c		text and binary I/O, typmod, length coercion, helpers
 *	  vector_cast.c		casts from and to SQL arrays
 *	  vector_distance.c	distances, norm, normalisation, arithmetic
 *	  vector_compare.c	btree ordering and hashing
 *	  vector_aggregate.c	sum() and avg()
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

/*
 * ERROR (ERRCODE_DATA_EXCEPTION) when typmod declares a dimension count
 * (typmod >= 0) different from dim; typmod -1 accepts any dimension.
 */
extern void engram_vector_check_typmod(int dim, int32 typmod);

#endif							/* ENGRAM_VECTOR_H */
