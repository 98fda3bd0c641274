/*-------------------------------------------------------------------------
 *
 * engram_consolidate.h
 *	  Consolidation of episodes into semantic memories: the pure algorithm
 *	  (consolidate_cluster.c) and the run over a memory space
 *	  (consolidate_run.c).
 *
 * ALGORITHM (DESIGN section 4), deterministic for the same input:
 *	1. Candidates: score = prediction error x confidence, where prediction
 *	   error = 1 - max(0, best cosine similarity to an existing semantic
 *	   memory) (1 when there is none): episodes the current semantic
 *	   knowledge explains worst, weighted by how much we believe them.
 *	   Ranked by score (ties: lower id), the batch ("batch_size") is filled
 *	   seed by seed: the best episode not yet taken, then every pool episode
 *	   with cosine >= cluster_threshold to it, in rank order.  (The top
 *	   scores alone would pick one episode per topic when topics outnumber
 *	   the batch, and never form a cluster.)
 *	2. Clustering: agglomerative over the candidates sorted by id; the pair
 *	   of clusters with the highest centroid cosine merges while that cosine
 *	   is >= cluster_threshold (0.8); equal cosines merge the pair with the
 *	   lowest (first, second) cluster positions.  A centroid is the mean of
 *	   its members' raw embeddings, summed in id order.
 *	3. Clusters of >= min_cluster_size (3) become patterns: embedding =
 *	   centroid, cohesion = mean cosine of members to the centroid,
 *	   representative = member closest to the centroid (ties: lower id),
 *	   confidence = clamp(cohesion, 0, 1) x mean member confidence.
 *	4. A pattern whose centroid has cosine > merge_threshold (0.9) with an
 *	   existing semantic memory merges into the most similar one (ties:
 *	   lower id): its embedding becomes the member-weighted mean, its
 *	   confidence the member-weighted mean confidence.
 *	5. Lineage: one association semantic -> episode per member, weight =
 *	   cosine(member, final embedding) clamped to [ENGRAM_LINEAGE_MIN_WEIGHT, 1].
 *
 * Zero-length embeddings have cosine 0 with everything: they never join a
 * cluster.  Memory: everything is palloc'd in the caller's context.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ENGRAM_CONSOLIDATE_H
#define ENGRAM_CONSOLIDATE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/itemptr.h"

#define ENGRAM_CLUSTER_THRESHOLD		0.8
#define ENGRAM_MERGE_THRESHOLD			0.9
#define ENGRAM_MIN_CLUSTER_SIZE			3
#define ENGRAM_LINEAGE_MIN_WEIGHT		0.01
/* Candidate pool read from a space per run: this many times the batch. */
#define ENGRAM_CONSOLIDATION_POOL_FACTOR	10

typedef struct EngramEpisode
{
	int64		id;
	const float *embedding;		/* dims floats */
	double		confidence;		/* effective confidence, [0,1] */
} EngramEpisode;

/* An existing semantic memory. */
typedef struct EngramPattern
{
	int64		id;
	const float *embedding;
	double		confidence;
	int64		members;		/* episodes already linked to it (>= 1) */
} EngramPattern;

typedef struct EngramConsolidationParams
{
	int			dims;
	int			batch_size;
	double		cluster_threshold;
	int			min_cluster_size;
	double		merge_threshold;
} EngramConsolidationParams;

/* One semantic memory to create (merge_into < 0) or update. */
typedef struct EngramSemanticPlan
{
	int			merge_into;		/* index into the patterns, or -1 */
	int			nmembers;
	int		   *members;		/* indexes into the episodes, ascending id */
	double	   *member_weights; /* lineage weight of each member */
	float	   *embedding;		/* final embedding (dims) */
	int			representative; /* index into the episodes */
	double		cohesion;		/* of the new cluster */
	double		confidence;		/* final confidence */
} EngramSemanticPlan;

extern void engram_consolidation_default_params(EngramConsolidationParams *params, int dims,
												int batch_size);
extern double engram_cosine_similarity(const float *a, const float *b, int dims);

/*
 * Select candidates (step 1): writes indexes into "episodes" to "selected"
 * (room for nepisodes), sorted by ascending id, and returns how many.
 */
extern int	engram_consolidation_select(const EngramEpisode *episodes, int nepisodes,
										const EngramPattern *patterns, int npatterns,
										const EngramConsolidationParams *params, int *selected);

/*
 * Steps 1-5: returns the plans (palloc'd array, *nplans of them), in the
 * order of their smallest member id.
 */
extern EngramSemanticPlan *engram_consolidation_plan(const EngramEpisode *episodes, int nepisodes,
													 const EngramPattern *patterns, int npatterns,
													 const EngramConsolidationParams *params,
													 int *nplans);

/* What one run over a space did (consolidate_run.c). */
typedef struct EngramConsolidationSummary
{
	int64		candidates;		/* episodes considered */
	int64		semantic_created;
	int64		semantic_merged;
	int64		episodes_linked;
	bool		skipped_busy;	/* another session was consolidating it */
} EngramConsolidationSummary;

/*
 * Consolidate one space.  "space" must have the canonical columns and
 * "associations" (src bigint, dst bigint, weight real[, kind text]); both
 * are checked.  Candidates are scored with the effective confidence recall
 * computes (src/recall/engram_recall.h).  Runs in the caller's transaction
 * with the caller's privileges, through SPI; raises ERROR on a standby.
 */
extern void engram_consolidate_space(Oid space, Oid associations, TimestampTz now,
									 int batch_size, EngramConsolidationSummary *summary);

/*
 * Where a soft-forgetting selection reads (consolidate_run.c explains the
 * two ways).  The worker keeps one per space between its runs.
 */
typedef struct EngramForgettingScan
{
	int64		max_rows;		/* in: rows to examine at most; <= 0: the whole space */
	bool		positioned;		/* in/out: go on after last_id; false: from the lowest id */
	int64		last_id;		/* in/out: id of the last row examined */
	int64		examined;		/* out: rows examined (episodes or not) */
	bool		wrapped;		/* out: the scan reached the end of the space */
} EngramForgettingScan;

/*
 * Soft forgetting selection: the TIDs of the episodes of "space" whose
 * effective confidence at "now", exactly as recall computes it
 * (src/recall/engram_recall.h), is under "threshold" and which are not
 * cold already, among the rows "scan" examines, at most "limit", in id
 * order.  palloc'd in the caller's context; the count in *ntids; *scan
 * updated for the next window.  Reads only; the caller switches
 * index-fetch access counting off (its reads are not uses of the
 * memories).
 */
extern ItemPointer engram_forgetting_select(Oid space, TimestampTz now, double threshold,
											int limit, EngramForgettingScan *scan, int *ntids);

/*
 * Resolve the association table of "space": "associations" when valid,
 * else the registry (engram_space_catalog) when installed; raises ERROR
 * with a hint when none is found.  Checks both tables' columns.
 */
extern Oid	engram_space_associations(Oid space, Oid associations);

/* Schema of the engram extension here; InvalidOid when not installed. */
extern Oid	engram_extension_schema(void);

#endif							/* ENGRAM_CONSOLIDATE_H */
