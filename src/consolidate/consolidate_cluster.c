/*-------------------------------------------------------------------------
 *
 * consolidate_cluster.c
 *	  The consolidation algorithm as pure functions over arrays: candidate
 *	  selection, agglomerative clustering, pattern formation and merging.
 *
 * No catalog access, no SPI, no clock: the same arrays give the same plan.
 * The steps and tie-breaks are stated in engram_consolidate.h.  Sums are
 * accumulated in double, in ascending id order, so the result does not
 * depend on the order rows were read in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "consolidate/engram_consolidate.h"
#include "engram_simd.h"

/* A cluster under construction: members by position in the sorted candidates. */
typedef struct Cluster
{
	bool		alive;
	int			nmembers;
	int		   *members;		/* positions in "order", ascending */
	double	   *sum;			/* sum of member embeddings (dims) */
	double		norm;			/* Euclidean norm of sum */
} Cluster;

void
engram_consolidation_default_params(EngramConsolidationParams *params, int dims, int batch_size)
{
	params->dims = dims;
	params->batch_size = batch_size;
	params->cluster_threshold = ENGRAM_CLUSTER_THRESHOLD;
	params->min_cluster_size = ENGRAM_MIN_CLUSTER_SIZE;
	params->merge_threshold = ENGRAM_MERGE_THRESHOLD;
}

/* Cosine similarity of two float vectors; 0 when either has zero length. */
double
engram_cosine_similarity(const float *a, const float *b, int dims)
{
	double		dot = 0.0;
	double		norm_a = 0.0;
	double		norm_b = 0.0;

	for (int i = 0; i < dims; i++)
	{
		dot += (double) a[i] * b[i];
		norm_a += (double) a[i] * a[i];
		norm_b += (double) b[i] * b[i];
	}
	if (norm_a <= 0.0 || norm_b <= 0.0)
		return 0.0;
	return dot / (sqrt(norm_a) * sqrt(norm_b));
}

static double
cosine_float_double(const float *a, const double *b, int dims)
{
	double		dot = 0.0;
	double		norm_a = 0.0;
	double		norm_b = 0.0;

	for (int i = 0; i < dims; i++)
	{
		dot += a[i] * b[i];
		norm_a += (double) a[i] * a[i];
		norm_b += b[i] * b[i];
	}
	if (norm_a <= 0.0 || norm_b <= 0.0)
		return 0.0;
	return dot / (sqrt(norm_a) * sqrt(norm_b));
}

/* Sum of squares of a float vector, in double, in index order. */
static double
squared_norm(const float *a, int dims)
{
	double		norm = 0.0;

	for (int i = 0; i < dims; i++)
		norm += (double) a[i] * a[i];
	return norm;
}

/*
 * engram_cosine_similarity(a, b, dims) >= threshold, the exact answer,
 * computed cheaply when it is clear: the dot product in float through the
 * SIMD kernel, divided by the exact norms (squared_norm, the same sums as
 * engram_cosine_similarity's).  Whatever its summation order, a float dot
 * product of n terms is within n u sum|a_i b_i| <= n u |a| |b| of the exact
 * one (u = 2^-24; Cauchy-Schwarz), so the float cosine is within n u of the
 * exact cosine, as long as no product overflows or underflows (hence the
 * range on |a| |b|).  Only a float cosine within a margin of 8 n u of the
 * threshold (3.7e-4 at 768 dimensions), or out of that range, is decided
 * by the exact double computation: the answer is always the exact one, so
 * the selection, and the plan, are exactly what they were without it.
 */
static bool
cosine_reaches(const float *a, double squared_norm_a, const float *b, double squared_norm_b,
			   int dims, double threshold)
{
	double		norms;
	double		approximate;
	double		margin = 4.0 * (dims + 2) * FLT_EPSILON;

	if (squared_norm_a <= 0.0 || squared_norm_b <= 0.0)
		return 0.0 >= threshold;
	norms = sqrt(squared_norm_a) * sqrt(squared_norm_b);
	if (norms >= 1e-30 && norms <= 1e30)
	{
		approximate = (double) engram_inner_product(a, b, dims) / norms;
		if (isfinite(approximate) && fabs(approximate - threshold) > margin)
			return approximate >= threshold;
	}
	return engram_cosine_similarity(a, b, dims) >= threshold;
}

/* Scored candidate for sorting. */
typedef struct ScoredEpisode
{
	int			index;
	int64		id;
	double		score;
} ScoredEpisode;

/* Higher score first, then lower id. */
static int
compare_by_score(const void *a, const void *b)
{
	const ScoredEpisode *x = (const ScoredEpisode *) a;
	const ScoredEpisode *y = (const ScoredEpisode *) b;

	if (x->score != y->score)
		return (x->score > y->score) ? -1 : 1;
	if (x->id != y->id)
		return (x->id < y->id) ? -1 : 1;
	return 0;
}

static int
compare_by_id(const void *a, const void *b)
{
	const ScoredEpisode *x = (const ScoredEpisode *) a;
	const ScoredEpisode *y = (const ScoredEpisode *) b;

	if (x->id != y->id)
		return (x->id < y->id) ? -1 : 1;
	return 0;
}

int
engram_consolidation_select(const EngramEpisode *episodes, int nepisodes,
							const EngramPattern *patterns, int npatterns,
							const EngramConsolidationParams *params, int *selected)
{
	ScoredEpisode *ranked;
	bool	   *taken;
	double	   *squared_norms;
	int			nselected = 0;

	if (nepisodes == 0)
		return 0;

	ranked = palloc(sizeof(ScoredEpisode) * nepisodes);
	squared_norms = palloc(sizeof(double) * nepisodes);
	for (int i = 0; i < nepisodes; i++)
		squared_norms[i] = squared_norm(episodes[i].embedding, params->dims);
	for (int i = 0; i < nepisodes; i++)
	{
		double		best = 0.0;
		double		prediction_error;

		for (int p = 0; p < npatterns; p++)
		{
			double		similarity = engram_cosine_similarity(episodes[i].embedding,
															  patterns[p].embedding,
															  params->dims);

			if (similarity > best)
				best = similarity;
		}
		prediction_error = 1.0 - Min(best, 1.0);
		ranked[i].index = i;
		ranked[i].id = episodes[i].id;
		ranked[i].score = prediction_error * episodes[i].confidence;
	}
	qsort(ranked, nepisodes, sizeof(ScoredEpisode), compare_by_score);

	/*
	 * Fill the batch seed by seed: the best-scoring episode not yet taken,
	 * then every episode of the pool that could cluster with it (cosine >=
	 * cluster_threshold), in score order.  Taking the top scores alone would
	 * pick one episode per topic when there are many topics, and the same
	 * unclusterable batch at every pass.  Most pairs are far from the
	 * threshold, and cosine_reaches() decides those with a float dot
	 * product (the same answer as the exact cosine, see there).
	 */
	taken = palloc0(sizeof(bool) * nepisodes);
	for (int r = 0; r < nepisodes && nselected < params->batch_size; r++)
	{
		int			seed = ranked[r].index;

		if (taken[r])
			continue;
		taken[r] = true;
		selected[nselected++] = r;
		for (int s = r + 1; s < nepisodes && nselected < params->batch_size; s++)
		{
			int			other = ranked[s].index;

			if (taken[s])
				continue;
			if (cosine_reaches(episodes[seed].embedding, squared_norms[seed],
							   episodes[other].embedding, squared_norms[other],
							   params->dims, params->cluster_threshold))
			{
				taken[s] = true;
				selected[nselected++] = s;
			}
		}
	}

	/* positions in "ranked" -> episode indexes, in ascending id order */
	{
		ScoredEpisode *chosen = palloc(sizeof(ScoredEpisode) * Max(nselected, 1));

		for (int i = 0; i < nselected; i++)
			chosen[i] = ranked[selected[i]];
		qsort(chosen, nselected, sizeof(ScoredEpisode), compare_by_id);
		for (int i = 0; i < nselected; i++)
			selected[i] = chosen[i].index;
		pfree(chosen);
	}
	pfree(taken);
	pfree(squared_norms);
	pfree(ranked);
	return nselected;
}

/*
 * Dot product of two double vectors with four independent partial sums
 * (always combined in the same order, so the result does not depend on the
 * machine): four times the throughput of one dependent chain.
 */
static double
dot_double(const double *a, const double *b, int dims)
{
	double		partial[4] = {0.0, 0.0, 0.0, 0.0};
	int			d = 0;

	for (; d + 4 <= dims; d += 4)
	{
		partial[0] += a[d] * b[d];
		partial[1] += a[d + 1] * b[d + 1];
		partial[2] += a[d + 2] * b[d + 2];
		partial[3] += a[d + 3] * b[d + 3];
	}
	for (; d < dims; d++)
		partial[0] += a[d] * b[d];
	return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

/* Cosine of two cluster sums from their dot product and cached norms. */
static double
cluster_cosine(const Cluster *a, const Cluster *b, int dims)
{
	if (a->norm <= 0.0 || b->norm <= 0.0)
		return 0.0;
	return dot_double(a->sum, b->sum, dims) / (a->norm * b->norm);
}

static double
vector_norm(const double *v, int dims)
{
	return sqrt(dot_double(v, v, dims));
}

/*
 * Agglomerative clustering of the episodes at "order" (positions sorted by
 * id).  Returns the clusters array (ncandidates entries, dead ones marked).
 *
 * SIM(i, j), i < j, is the centroid cosine of live clusters i and j;
 * best_partner[i] is the smallest j > i with the largest SIM(i, j), so the
 * pair to merge (largest cosine, then smallest i, then smallest j) is found
 * in O(n).  After a merge only the rows that pointed at the merged clusters
 * are scanned again.  Memory O(n^2); time O(n^2 dims) plus the rescans.
 */
static Cluster *
cluster_candidates(const EngramEpisode *episodes, const int *order, int ncandidates,
				   const EngramConsolidationParams *params)
{
	int			dims = params->dims;
	int			n = ncandidates;
	Cluster    *clusters = palloc0(sizeof(Cluster) * n);
	double	   *similarity = palloc(sizeof(double) * n * n);
	int		   *best_partner = palloc(sizeof(int) * n);

#define SIM(i, j) similarity[(i) * n + (j)]

	for (int i = 0; i < n; i++)
	{
		const float *embedding = episodes[order[i]].embedding;

		clusters[i].alive = true;
		clusters[i].nmembers = 1;
		clusters[i].members = palloc(sizeof(int) * n);
		clusters[i].members[0] = i;
		clusters[i].sum = palloc(sizeof(double) * dims);
		for (int d = 0; d < dims; d++)
			clusters[i].sum[d] = embedding[d];
		clusters[i].norm = vector_norm(clusters[i].sum, dims);
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			SIM(i, j) = cluster_cosine(&clusters[i], &clusters[j], dims);

	/* best partner of row i among live j > i; -1 when none */
#define RESCAN(i) \
	do { \
		best_partner[i] = -1; \
		for (int j_ = (i) + 1; j_ < n; j_++) \
			if (clusters[j_].alive && \
				(best_partner[i] < 0 || SIM(i, j_) > SIM(i, best_partner[i]))) \
				best_partner[i] = j_; \
	} while (0)

	for (int i = 0; i < n; i++)
		RESCAN(i);

	for (;;)
	{
		int			first = -1;
		int			second;
		Cluster    *into;
		Cluster    *from;
		int		   *merged;
		int			a = 0,
					b = 0,
					count = 0;

		for (int i = 0; i < n; i++)
		{
			if (!clusters[i].alive || best_partner[i] < 0)
				continue;
			if (first < 0 || SIM(i, best_partner[i]) > SIM(first, best_partner[first]))
				first = i;
		}
		if (first < 0 || SIM(first, best_partner[first]) < params->cluster_threshold)
			break;
		second = best_partner[first];

		/* Merge "second" into "first", members in ascending position. */
		into = &clusters[first];
		from = &clusters[second];
		merged = palloc(sizeof(int) * n);
		while (a < into->nmembers || b < from->nmembers)
		{
			if (b >= from->nmembers ||
				(a < into->nmembers && into->members[a] < from->members[b]))
				merged[count++] = into->members[a++];
			else
				merged[count++] = from->members[b++];
		}
		pfree(into->members);
		into->members = merged;
		into->nmembers = count;
		/* Recompute the sum in id order so rounding is order independent. */
		for (int d = 0; d < dims; d++)
			into->sum[d] = 0.0;
		for (int m = 0; m < count; m++)
		{
			const float *embedding = episodes[order[merged[m]]].embedding;

			for (int d = 0; d < dims; d++)
				into->sum[d] += embedding[d];
		}
		into->norm = vector_norm(into->sum, dims);
		from->alive = false;

		for (int k = 0; k < n; k++)
		{
			if (!clusters[k].alive || k == first)
				continue;
			if (k < first)
				SIM(k, first) = cluster_cosine(&clusters[k], into, dims);
			else
				SIM(first, k) = cluster_cosine(into, &clusters[k], dims);
		}
		RESCAN(first);
		for (int k = 0; k < first; k++)
		{
			if (!clusters[k].alive)
				continue;
			if (best_partner[k] == first || best_partner[k] == second)
				RESCAN(k);
			else if (best_partner[k] < 0 || SIM(k, first) > SIM(k, best_partner[k]) ||
					 (SIM(k, first) == SIM(k, best_partner[k]) && first < best_partner[k]))
				best_partner[k] = first;
		}
		for (int k = first + 1; k < second; k++)
			if (clusters[k].alive && best_partner[k] == second)
				RESCAN(k);
	}
#undef RESCAN
#undef SIM
	pfree(best_partner);
	pfree(similarity);
	return clusters;
}

EngramSemanticPlan *
engram_consolidation_plan(const EngramEpisode *episodes, int nepisodes,
						  const EngramPattern *patterns, int npatterns,
						  const EngramConsolidationParams *params, int *nplans)
{
	int			dims = params->dims;
	int		   *order = palloc(sizeof(int) * Max(nepisodes, 1));
	int			ncandidates;
	Cluster    *clusters;
	EngramSemanticPlan *plans;
	int			count = 0;
	/* Merged plan per existing pattern, so two clusters merging into one combine. */
	int		   *plan_of_pattern = palloc(sizeof(int) * Max(npatterns, 1));

	*nplans = 0;
	ncandidates = engram_consolidation_select(episodes, nepisodes, patterns, npatterns,
											  params, order);
	if (ncandidates == 0)
		return NULL;
	clusters = cluster_candidates(episodes, order, ncandidates, params);
	plans = palloc0(sizeof(EngramSemanticPlan) * ncandidates);
	for (int p = 0; p < npatterns; p++)
		plan_of_pattern[p] = -1;

	/* Clusters are visited by their first (lowest-id) member: stable order. */
	for (int c = 0; c < ncandidates; c++)
	{
		Cluster    *cluster = &clusters[c];
		double	   *centroid;
		double		cohesion = 0.0;
		double		mean_confidence = 0.0;
		double		best_similarity = -2.0;
		int			representative = -1;
		double		confidence;
		int			merge_into = -1;
		double		merge_similarity = params->merge_threshold;
		EngramSemanticPlan *plan;

		if (!cluster->alive || cluster->nmembers < params->min_cluster_size)
			continue;

		centroid = palloc(sizeof(double) * dims);
		for (int d = 0; d < dims; d++)
			centroid[d] = cluster->sum[d] / cluster->nmembers;

		for (int m = 0; m < cluster->nmembers; m++)
		{
			const EngramEpisode *episode = &episodes[order[cluster->members[m]]];
			double		similarity = cosine_float_double(episode->embedding, centroid, dims);

			cohesion += similarity;
			mean_confidence += episode->confidence;
			/* members ascend by id: strict > keeps the lower id on ties */
			if (similarity > best_similarity)
			{
				best_similarity = similarity;
				representative = order[cluster->members[m]];
			}
		}
		cohesion /= cluster->nmembers;
		mean_confidence /= cluster->nmembers;
		confidence = Max(0.0, Min(1.0, cohesion)) * mean_confidence;

		/* Step 4: the most similar existing pattern above merge_threshold. */
		for (int p = 0; p < npatterns; p++)
		{
			double		similarity = cosine_float_double(patterns[p].embedding, centroid, dims);

			if (similarity > merge_similarity ||
				(merge_into >= 0 && similarity == merge_similarity &&
				 patterns[p].id < patterns[merge_into].id))
			{
				merge_similarity = similarity;
				merge_into = p;
			}
		}

		if (merge_into >= 0 && plan_of_pattern[merge_into] >= 0)
		{
			/* A second cluster merging into the same pattern: extend that plan. */
			plan = &plans[plan_of_pattern[merge_into]];
		}
		else
		{
			plan = &plans[count];
			plan->merge_into = merge_into;
			plan->members = palloc(sizeof(int) * ncandidates);
			plan->member_weights = palloc(sizeof(double) * ncandidates);
			plan->embedding = palloc(sizeof(float) * dims);
			plan->nmembers = 0;
			plan->representative = representative;
			plan->cohesion = cohesion;
			if (merge_into >= 0)
			{
				plan_of_pattern[merge_into] = count;
				/* start from the existing memory's own weight */
				plan->confidence = patterns[merge_into].confidence * patterns[merge_into].members;
			}
			else
				plan->confidence = 0.0;
			count++;
		}

		for (int m = 0; m < cluster->nmembers; m++)
			plan->members[plan->nmembers++] = order[cluster->members[m]];
		plan->confidence += (merge_into >= 0) ? confidence * cluster->nmembers : confidence;
		pfree(centroid);
	}

	/* Final embeddings, confidences and lineage weights. */
	for (int i = 0; i < count; i++)
	{
		EngramSemanticPlan *plan = &plans[i];
		double	   *sum = palloc0(sizeof(double) * dims);
		double		weight_total = plan->nmembers;

		/* members of merged clusters may interleave: keep ascending id */
		for (int a = 1; a < plan->nmembers; a++)
		{
			int			value = plan->members[a];
			int			b = a - 1;

			while (b >= 0 && episodes[plan->members[b]].id > episodes[value].id)
			{
				plan->members[b + 1] = plan->members[b];
				b--;
			}
			plan->members[b + 1] = value;
		}

		for (int m = 0; m < plan->nmembers; m++)
			for (int d = 0; d < dims; d++)
				sum[d] += episodes[plan->members[m]].embedding[d];
		if (plan->merge_into >= 0)
		{
			const EngramPattern *pattern = &patterns[plan->merge_into];

			for (int d = 0; d < dims; d++)
				sum[d] += (double) pattern->embedding[d] * pattern->members;
			weight_total += pattern->members;
			plan->confidence /= weight_total;
		}
		for (int d = 0; d < dims; d++)
			plan->embedding[d] = (float) (sum[d] / weight_total);
		plan->confidence = Max(0.0, Min(1.0, plan->confidence));

		for (int m = 0; m < plan->nmembers; m++)
		{
			double		weight = engram_cosine_similarity(episodes[plan->members[m]].embedding,
														  plan->embedding, dims);

			plan->member_weights[m] = Max(ENGRAM_LINEAGE_MIN_WEIGHT, Min(1.0, weight));
		}
		pfree(sum);
	}

	*nplans = count;
	return plans;
}
