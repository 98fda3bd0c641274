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

DROP TABLE worker_episodes;
