-- Consolidation algorithm on arrays (engram_consolidation_plan): hand-checkable
-- clusters of 3-D vectors.  See docs/worker.md for the algorithm.

-- Three tight clusters (ids 1-3 along x, 4-6 along y, 7-9 along z), a lone
-- episode (10, cosine < 0.8 with everything) and a pair (11, 12) too small
-- to become a memory.
CREATE TEMP TABLE worker_episodes (id bigint, embedding real[], confidence real);
INSERT INTO worker_episodes VALUES
	(1, '{1,0,0}', 0.9), (2, '{0.9,0.1,0}', 0.9), (3, '{0.9,0,0.1}', 0.9),
	(4, '{0,1,0}', 0.6), (5, '{0.1,0.9,0}', 0.6), (6, '{0,0.9,0.1}', 0.6),
	(7, '{0,0,1}', 0.3), (8, '{0.1,0,0.9}', 0.3), (9, '{0,0.1,0.9}', 0.3),
	(10, '{1,1,0}', 0.9),
	(11, '{-1,0,0}', 0.9), (12, '{-1,0.1,0}', 0.9);

-- Centroid of 1-3 = (0.93333, 0.03333, 0.03333); episode 1 is the closest
-- (cosine 0.99873), 2 and 3 have cosine 0.99656: cohesion 0.99728 and
-- confidence = cohesion x mean confidence (0.9) = 0.89755.
SELECT memory, merge_into, members, representative,
	   round(cohesion::numeric, 5) AS cohesion,
	   round(confidence::numeric, 5) AS confidence,
	   (SELECT array_agg(round(e::numeric, 5)) FROM unnest(embedding) e) AS embedding,
	   (SELECT array_agg(round(w::numeric, 5)) FROM unnest(weights) w) AS weights
FROM engram_consolidation_plan(
	(SELECT array_agg(id ORDER BY id) FROM worker_episodes),
	(SELECT array_agg(embedding ORDER BY id) FROM worker_episodes),
	(SELECT array_agg(confidence ORDER BY id) FROM worker_episodes));

-- The same episodes in another order give the same plan.
SELECT count(*) AS differences FROM (
	(SELECT members, representative, embedding, weights
	   FROM engram_consolidation_plan(
		(SELECT array_agg(id ORDER BY id) FROM worker_episodes),
		(SELECT array_agg(embedding ORDER BY id) FROM worker_episodes),
		(SELECT array_agg(confidence ORDER BY id) FROM worker_episodes))
	 EXCEPT
	 SELECT members, representative, embedding, weights
	   FROM engram_consolidation_plan(
		(SELECT array_agg(id ORDER BY id DESC) FROM worker_episodes),
		(SELECT array_agg(embedding ORDER BY id DESC) FROM worker_episodes),
		(SELECT array_agg(confidence ORDER BY id DESC) FROM worker_episodes)))
) d;

-- Ties: four members symmetric around (1,0,0) are equally close to the
-- centroid: the lowest id (21) represents them.
SELECT members, representative, round(cohesion::numeric, 5) AS cohesion
FROM engram_consolidation_plan(ARRAY[24, 22, 21, 23],
	ARRAY[[1,0,-0.1], [1,-0.1,0], [1,0.1,0], [1,0,0.1]]::real[],
	ARRAY[0.5, 0.5, 0.5, 0.5]::real[]);

-- Candidate selection by prediction error x confidence: with room for 3,
-- the x cluster (confidence 0.9) wins over the y cluster (0.6)...
SELECT members FROM engram_consolidation_plan(
	ARRAY[1, 2, 3, 4, 5, 6],
	ARRAY[[1,0,0], [0.9,0.1,0], [0.9,0,0.1], [0,1,0], [0.1,0.9,0], [0,0.9,0.1]]::real[],
	ARRAY[0.9, 0.9, 0.9, 0.6, 0.6, 0.6]::real[],
	batch_size => 3);
-- ... unless an existing semantic memory already explains the x episodes
-- (prediction error near 0): then the y cluster is chosen.
SELECT members FROM engram_consolidation_plan(
	ARRAY[1, 2, 3, 4, 5, 6],
	ARRAY[[1,0,0], [0.9,0.1,0], [0.9,0,0.1], [0,1,0], [0.1,0.9,0], [0,0.9,0.1]]::real[],
	ARRAY[0.9, 0.9, 0.9, 0.6, 0.6, 0.6]::real[],
	pattern_ids => ARRAY[100], pattern_embeddings => ARRAY[[1,0,0]]::real[],
	pattern_confidences => ARRAY[0.8]::real[], pattern_members => ARRAY[3],
	batch_size => 3);

-- Many topics, small batch: with ids interleaving four topics and equal
-- scores, the six best scores alone (ids 1-6) would hold two episodes of
-- each of three topics and make nothing.  The batch is filled seed by
-- seed instead: episode 1 and its cluster mates (5, 9), then 2 and (6, 10).
SELECT members, representative FROM engram_consolidation_plan(
	ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
	ARRAY[[1,0,0], [0,1,0], [0,0,1], [-1,0,0],
		  [0.9,0.1,0], [0.1,0.9,0], [0.1,0,0.9], [-0.9,0.1,0],
		  [0.9,0,0.1], [0,0.9,0.1], [0,0.1,0.9], [-0.9,0,0.1]]::real[],
	array_fill(0.5::real, ARRAY[12]),
	batch_size => 6);

-- Merging: the x cluster's centroid has cosine 0.99873 > 0.9 with memory
-- 100 (3 members, confidence 0.8): it merges.  Embedding = (3 x (1,0,0) +
-- (2.8,0.1,0.1)) / 6 = (0.96667, 0.01667, 0.01667); confidence =
-- (3 x 0.8 + 3 x 0.897550) / 6 = 0.848775.  The y cluster (cosine 0.036 with
-- memory 100) becomes a new memory.
SELECT memory, merge_into, members, representative,
	   round(confidence::numeric, 5) AS confidence,
	   (SELECT array_agg(round(e::numeric, 5)) FROM unnest(embedding) e) AS embedding
FROM engram_consolidation_plan(
	ARRAY[1, 2, 3, 4, 5, 6],
	ARRAY[[1,0,0], [0.9,0.1,0], [0.9,0,0.1], [0,1,0], [0.1,0.9,0], [0,0.9,0.1]]::real[],
	ARRAY[0.9, 0.9, 0.9, 0.6, 0.6, 0.6]::real[],
	pattern_ids => ARRAY[100], pattern_embeddings => ARRAY[[1,0,0]]::real[],
	pattern_confidences => ARRAY[0.8]::real[], pattern_members => ARRAY[3]);

-- A cluster only 0.868 similar to the memory (not > 0.9) does not merge.
SELECT memory, merge_into, members FROM engram_consolidation_plan(
	ARRAY[1, 2, 3],
	ARRAY[[1,0,0], [0.9,0.1,0], [0.9,0,0.1]]::real[],
	ARRAY[0.9, 0.9, 0.9]::real[],
	pattern_ids => ARRAY[100], pattern_embeddings => ARRAY[[0.85,0.5268,0]]::real[],
	pattern_confidences => ARRAY[0.8]::real[], pattern_members => ARRAY[3]);

-- Zero vectors never cluster; nothing to do gives no rows.
SELECT count(*) FROM engram_consolidation_plan(ARRAY[1, 2, 3],
	ARRAY[[0,0], [0,0], [0,0]]::real[], ARRAY[0.5, 0.5, 0.5]::real[]);
SELECT count(*) FROM engram_consolidation_plan('{}', '{}', '{}');

-- Errors.
SELECT * FROM engram_consolidation_plan(ARRAY[1, 2], ARRAY[[1,0]]::real[], ARRAY[0.5, 0.5]::real[]);
SELECT * FROM engram_consolidation_plan(ARRAY[1], ARRAY[1,0]::real[], ARRAY[0.5]::real[]);
SELECT * FROM engram_consolidation_plan(ARRAY[1, 2], ARRAY[[1,0],[0,1]]::real[], ARRAY[0.5]::real[]);
SELECT * FROM engram_consolidation_plan(ARRAY[1], ARRAY[['NaN',0]]::real[], ARRAY[0.5]::real[]);
SELECT * FROM engram_consolidation_plan(ARRAY[1], ARRAY[[1,0]]::real[], ARRAY[1.5]::real[]);
SELECT * FROM engram_consolidation_plan(ARRAY[1, NULL], ARRAY[[1,0],[0,1]]::real[], ARRAY[0.5, 0.5]::real[]);
SELECT * FROM engram_consolidation_plan(ARRAY[1], ARRAY[[1,0]]::real[], ARRAY[0.5]::real[], batch_size => 0);
SELECT * FROM engram_consolidation_plan(ARRAY[1], ARRAY[[1,0]]::real[], ARRAY[0.5]::real[],
	pattern_ids => ARRAY[7], pattern_embeddings => ARRAY[[1,0,0]]::real[],
	pattern_confidences => ARRAY[0.5]::real[], pattern_members => ARRAY[1]);
SELECT * FROM engram_consolidation_plan(ARRAY[1], ARRAY[[1,0]]::real[], ARRAY[0.5]::real[],
	pattern_ids => ARRAY[7], pattern_embeddings => ARRAY[[1,0]]::real[],
	pattern_confidences => ARRAY[0.5]::real[], pattern_members => ARRAY[0]);
SELECT * FROM engram_consolidation_plan(NULL, ARRAY[[1,0]]::real[], ARRAY[0.5]::real[]);

-- Selection decides "cosine >= 0.8" exactly, also where it uses a float
-- dot product: near the threshold (within 8 n 2^-24) it falls back to the
-- double computation.  64 dimensions: seed S (confidence 1), a tight
-- cluster C, D, E (0.9, 0.8, 0.7, nearly orthogonal to S), and X = S + t W
-- (0.3), batch 4.  If cos(S, X) >= 0.8, X joins S's seed and the batch
-- {S, X, C, D} holds no cluster of 3 (no plan); otherwise the batch is
-- {S, C, D, E} and C, D, E make one plan.  t crosses the threshold in 101
-- steps of 1e-8 (cosines within 2e-7 of it: a float dot product would get
-- about a third of them wrong), then 4 steps far from it (float path).
-- "reaches" is the C code's exact cosine: double sums in index order,
-- dot / (sqrt(|S|^2) * sqrt(|X|^2)).
WITH dims AS (
	SELECT i, sin(i * 1.3)::real AS s, cos(i * 0.7) AS w, cos(i * 2.9)::real AS c, sin(i) AS jitter
	FROM generate_series(1, 64) i),
ts AS (
	SELECT 0.770009555288325::float8 + k * 1e-8::float8 AS t FROM generate_series(-50, 50) k
	UNION ALL SELECT 0.770009555288325::float8 + d FROM unnest(ARRAY[-1e-2, -1e-3, 1e-3, 1e-2]::float8[]) d),
cases AS (
	SELECT t,
		   (SELECT sum(s::float8 * ((s::float8 + t * w)::real)::float8 ORDER BY i) /
				   (sqrt(sum(s::float8 * s::float8 ORDER BY i)) *
					sqrt(sum(((s::float8 + t * w)::real)::float8 * ((s::float8 + t * w)::real)::float8
							 ORDER BY i)))
			FROM dims) >= 0.8 AS reaches,
		   (SELECT count(*) FROM engram_consolidation_plan(ARRAY[1, 2, 3, 4, 5],
				(SELECT ARRAY[array_agg(s ORDER BY i), array_agg(c ORDER BY i),
							  array_agg((c + 0.001 * jitter)::real ORDER BY i),
							  array_agg((c - 0.001 * jitter)::real ORDER BY i),
							  array_agg((s::float8 + t * w)::real ORDER BY i)] FROM dims),
				ARRAY[1.0, 0.9, 0.8, 0.7, 0.3]::real[], batch_size => 4)) AS plans
	FROM ts)
SELECT count(*) AS cases,
	   count(*) FILTER (WHERE reaches) BETWEEN 1 AND count(*) - 1 AS both_sides,
	   count(*) FILTER (WHERE reaches = (plans = 0) AND plans IN (0, 1)) = count(*) AS selection_exact
FROM cases;

DROP TABLE worker_episodes;
