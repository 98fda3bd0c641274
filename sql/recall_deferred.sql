-- What only the ranking needs is read after spreading, and only for the
-- memories that can still rank among the k best (src/recall/spreading.c,
-- engram_spread_resolve_scores): a reached memory's similarity to the cue
-- (its embedding) and its access statistics (recency boost, forgetting).
-- The k best must be the first k of a recall that completes every memory
-- it reaches (k larger than all of them), in every column, and each column
-- must be what its formula gives from the memory's own state.
--
-- Every space below is the same 300 memories of 8 dimensions (made by
-- deferred_space), 4 associations each, forgetting curve 'exponential',
-- stored at 08:40, 13 of them forgotten (confidence 0: they are reached
-- but neither returned nor relaying, also when first reached at the last
-- depth, whose rows are read only for the memories that can rank or are
-- returned), 7 without an embedding; the 10 seeds (location 'seedbed')
-- lie at three distances from the cue, and one memory in ten elsewhere
-- lies near it.  At 09:00 one memory in four is used (a recall returns
-- it, which records the access).  Recalls run at 09:30: those memories
-- then have retention exp(-0.5 h / 1.96 h) = 0.7748 and a recency boost of
-- 1 + (2 - 1) x (1 - 1800 / 3600) = 1.5, the others retention
-- exp(-50 min / 1.96 h) and a boost of 1 + (1 - 3000 / 3600) from their
-- creation, so the recency and the forgetting curve decide which reached
-- memories rank with the similarity.  A recall records
-- the accesses of what it returns, which would change the next answer:
-- each recall gets a space of its own.  Seeds come only from the 10
-- memories at location 'seedbed', all of them for every k (the candidates
-- factor is large), so spreading is the same for every k.
SET client_min_messages = warning;
SET engram.recency_boost = 2.0;
SET engram.recency_window = 3600;
SET engram.seed_candidates_factor = 50;
SET engram.visit_budget_hot = 2;
SET engram.visit_budget_warm = 2;
SET engram.visit_budget_cold = 2;
SET engram.spreading_time_budget = 0;   -- no fallback on a slow machine
SET engram.activation_threshold_near = 0.02;   -- more memories reached at depth 2

CREATE FUNCTION deferred_space(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('engram.pinned_now', '2026-03-01 09:00:00+00', false);
	PERFORM engram_create_space(name, 8, 'cosine', 'exponential');
	EXECUTE format($sql$
		INSERT INTO %I (content, embedding, confidence, location, created_at)
		SELECT 'memory ' || i,
		       CASE WHEN i %% 41 <> 0 THEN
		         (SELECT format('[%%s]', string_agg((c + t * r)::text, ',' ORDER BY n))
		            FROM unnest(ARRAY[1, 0, 0.5, 0.2, 0, 0, 0.3, 0.5],
		                        ARRAY[cos(i), sin(i), cos(i * 0.37), sin(i * 1.7), cos(i * 2.3),
		                              sin(i * 0.11), 0.3, cos(i * 0.71)]) WITH ORDINALITY AS v(c, r, n),
		                 LATERAL (SELECT CASE WHEN i %% 30 = 15 AND i < 100 THEN 0.05
		                                      WHEN i %% 30 = 15 AND i < 200 THEN 0.5
		                                      WHEN i %% 30 = 15 THEN 2.0
		                                      WHEN i %% 10 = 3 THEN 0.1
		                                      ELSE 1000 END AS t) w)::evector END,
		       CASE WHEN i %% 23 = 4 THEN 0 ELSE 0.5 + (i %% 5) / 10.0 END,
		       CASE WHEN i %% 30 = 15 THEN 'seedbed' END,
		       '2026-03-01 08:40:00+00'
		  FROM generate_series(1, 300) i ORDER BY i$sql$, name);
	-- without the foreign-key checks, whose reads of the memories would
	-- count as accesses (at the real time, not the pinned one)
	PERFORM set_config('session_replication_role', 'replica', true);
	EXECUTE format($sql$
		INSERT INTO %I (src, dst, weight)
		SELECT i, 1 + (i * 7 + f * 31) %% 300, 0.6 + ((i + f) %% 5) / 10.0
		  FROM generate_series(1, 300) i, generate_series(1, 4) f
		 WHERE i <> 1 + (i * 7 + f * 31) %% 300
		ON CONFLICT DO NOTHING$sql$, name || '_associations');
	PERFORM set_config('session_replication_role', 'origin', true);
	-- the accesses at 09:00: a recall of the memory alone returns it
	PERFORM count(*)
	   FROM generate_series(1, 300) i,
	        LATERAL engram_recall(name, NULL::evector, k => 1, mode => 'similarity',
	                              memory_id => i) r
	  WHERE i % 4 = 1;
	PERFORM set_config('engram.pinned_now', '2026-03-01 09:30:00+00', false);
END
$$;

-- The full answer: k = 300 completes every memory reached.
SELECT deferred_space('deferred_full');
CREATE TEMP TABLE full_stats AS SELECT * FROM engram_memory_stats('deferred_full');
CREATE TEMP TABLE full_answer AS
SELECT row_number() OVER (ORDER BY score DESC, id) AS rank, id, score, similarity, activation,
       confidence, confidence_low, confidence_high, hops, tier
  FROM engram_recall('deferred_full', '[1,0,0.5,0.2,0,0,0.3,0.5]', k => 300, max_hops => 2,
                     location => 'seedbed');

-- The state the test relies on: seeds and spread memories, one memory in
-- four used at 09:00, memories without an embedding among those reached.
SELECT count(*) FILTER (WHERE hops = 0) AS seeds, count(*) FILTER (WHERE hops = 1) AS hop_1,
       count(*) FILTER (WHERE hops = 2) AS hop_2,
       count(*) FILTER (WHERE hops > 0 AND id % 4 = 1) AS spread_used,
       count(*) FILTER (WHERE similarity IS NULL) AS without_embedding,
       count(*) FILTER (WHERE id % 23 = 4) AS forgotten
  FROM full_answer;
-- forgotten memories one association away from what was returned
SELECT count(DISTINCT e.dst) > 0 AS forgotten_reachable
  FROM full_answer a JOIN deferred_full_associations e ON e.src = a.id
 WHERE e.dst % 23 = 4;
SELECT count(*) FILTER (WHERE s.last_access = '2026-03-01 09:00:00+00'
                              AND round(s.retention::numeric, 4) = 0.7748) AS used,
       bool_and(s.id % 4 = 1 AND s.id % 23 <> 4)
         FILTER (WHERE s.last_access = '2026-03-01 09:00:00+00') AS used_right,
       count(*) FILTER (WHERE s.last_access = '2026-03-01 08:40:00+00'
                              AND round(s.retention::numeric, 4) = 0.6537) AS unused
  FROM full_stats s;

-- Each column of the full answer from its formula and the memory's own
-- state: the similarity from the embedding; the score from activation,
-- confidence, similarity and the recency boost of the last access; a
-- seed's confidence is its effective confidence, a spread memory's its
-- effective confidence x the noisy-OR of its paths (at most 1).
SELECT count(*) AS checked,
       bool_and(a.similarity IS NOT DISTINCT FROM 1 - (m.embedding <=> '[1,0,0.5,0.2,0,0,0.3,0.5]'))
         AS similarity_right,
       bool_and(abs(a.score - CASE WHEN a.similarity IS NULL THEN a.activation * a.confidence
                                  ELSE (a.activation * a.confidence + a.similarity) / 2 END
                              * (1 + (1 - extract(epoch FROM '2026-03-01 09:30:00+00' - s.last_access) / 3600)))
                    < 1e-12) AS score_right,
       bool_and(CASE WHEN a.hops = 0 THEN abs(a.confidence - s.effective_confidence) < 1e-12
                     ELSE a.confidence <= s.effective_confidence + 1e-12 AND a.confidence > 0 END)
         AS confidence_right
  FROM full_answer a JOIN deferred_full m USING (id) JOIN full_stats s USING (id);

-- Memories first reached at the last depth rank among the first five,
-- some only thanks to their recency boost and all only thanks to their
-- similarity: without either, their score would be under the fifth.
SELECT count(*) FILTER (WHERE a.hops = 2) AS last_depth_in_top_5,
       count(*) FILTER (WHERE a.hops = 2 AND a.score / (1 + (1 - extract(epoch FROM '2026-03-01 09:30:00+00' - s.last_access) / 3600))
                              < (SELECT score FROM full_answer WHERE rank = 5)) AS boost_decides,
       count(*) FILTER (WHERE a.hops = 2 AND a.activation * a.confidence * 2
                              < (SELECT score FROM full_answer WHERE rank = 5)) AS similarity_decides
  FROM full_answer a JOIN full_stats s USING (id) WHERE a.rank <= 5;

-- k = 1, 2, 3, 5, 8, 13, 21, each in a space of its own: exactly the first
-- k rows of the full answer, every column equal.  The DEBUG lines say how
-- each recall read: up to k = 5 the seeds' k-th score is high and the
-- similarities are deferred (k = 1 reads none; at k = 3 and 5 memories
-- first reached at the last depth rank by their similarity and recency);
-- from k = 8 they are read with the rows, as for the full answer.
CREATE TEMP TABLE k_answers (k int, rank bigint, id bigint, score float8, similarity float8,
                             activation float8, confidence float8, confidence_low float8,
                             confidence_high float8, hops int, tier text);
DO $$
DECLARE
	k int;
BEGIN
	FOREACH k IN ARRAY ARRAY[1, 2, 3, 5, 8, 13, 21] LOOP
		PERFORM deferred_space('deferred_k' || k);
		PERFORM set_config('client_min_messages', 'debug1', true);
		INSERT INTO k_answers
		SELECT k, row_number() OVER (ORDER BY r.score DESC, r.id), r.id, r.score, r.similarity,
		       r.activation, r.confidence, r.confidence_low, r.confidence_high, r.hops, r.tier
		  FROM engram_recall('deferred_k' || k, '[1,0,0.5,0.2,0,0,0.3,0.5]', k => k,
		                     max_hops => 2, location => 'seedbed') r;
		PERFORM set_config('client_min_messages', 'warning', true);
	END LOOP;
END
$$;
SELECT k, count(*) = k AS complete,
       bool_and(a.id = f.id AND a.score = f.score
                AND a.similarity IS NOT DISTINCT FROM f.similarity
                AND a.activation = f.activation AND a.confidence = f.confidence
                AND a.confidence_low = f.confidence_low AND a.confidence_high = f.confidence_high
                AND a.hops = f.hops AND a.tier = f.tier) AS same
  FROM k_answers a JOIN full_answer f USING (rank)
 GROUP BY k ORDER BY k;

-- Without a recency boost (engram.recency_boost = 1) the first five are
-- seeds whose scores no memory reached by spreading can reach: up to k = 3
-- nothing at all is read after spreading (no row of the 105 memories first
-- reached at the last depth, no access statistics, no embedding), and the
-- answers are still the first k of the full one.
SET engram.recency_boost = 1.0;
SELECT deferred_space('deferred_flat_full');
CREATE TEMP TABLE flat_answer AS
SELECT row_number() OVER (ORDER BY score DESC, id) AS rank, *
  FROM engram_recall('deferred_flat_full', '[1,0,0.5,0.2,0,0,0.3,0.5]', k => 300, max_hops => 2,
                     location => 'seedbed');
SELECT count(*) FILTER (WHERE hops = 2) AS last_depth_in_top_5 FROM flat_answer WHERE rank <= 5;
TRUNCATE k_answers;
DO $$
DECLARE
	k int;
BEGIN
	FOREACH k IN ARRAY ARRAY[1, 2, 3, 5] LOOP
		PERFORM deferred_space('deferred_flat_k' || k);
		PERFORM set_config('client_min_messages', 'debug1', true);
		INSERT INTO k_answers
		SELECT k, row_number() OVER (ORDER BY r.score DESC, r.id), r.id, r.score, r.similarity,
		       r.activation, r.confidence, r.confidence_low, r.confidence_high, r.hops, r.tier
		  FROM engram_recall('deferred_flat_k' || k, '[1,0,0.5,0.2,0,0,0.3,0.5]', k => k,
		                     max_hops => 2, location => 'seedbed') r;
		PERFORM set_config('client_min_messages', 'warning', true);
	END LOOP;
END
$$;
SELECT k, count(*) = k AS complete,
       bool_and(a.id = f.id AND a.score = f.score
                AND a.similarity IS NOT DISTINCT FROM f.similarity
                AND a.activation = f.activation AND a.confidence = f.confidence
                AND a.confidence_low = f.confidence_low AND a.confidence_high = f.confidence_high
                AND a.hops = f.hops AND a.tier = f.tier) AS same
  FROM k_answers a JOIN flat_answer f USING (rank)
 GROUP BY k ORDER BY k;
SET engram.recency_boost = 2.0;

-- Through SQL (row-level security on, a policy showing every row): the same.
SELECT deferred_space('deferred_sql');
CREATE ROLE recall_deferred_reader;
GRANT SELECT ON deferred_sql, deferred_sql_associations, full_answer TO recall_deferred_reader;
ALTER TABLE deferred_sql ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON deferred_sql FOR SELECT TO recall_deferred_reader USING (true);
SET ROLE recall_deferred_reader;
SELECT count(*) = 10 AS complete,
       bool_and(a.id = f.id AND a.score = f.score
                AND a.similarity IS NOT DISTINCT FROM f.similarity
                AND a.confidence = f.confidence AND a.confidence_low = f.confidence_low
                AND a.confidence_high = f.confidence_high AND a.hops = f.hops) AS same
  FROM (SELECT row_number() OVER (ORDER BY score DESC, id) AS rank, *
          FROM engram_recall('deferred_sql', '[1,0,0.5,0.2,0,0,0.3,0.5]', k => 10, max_hops => 2,
                             location => 'seedbed')) a
       JOIN full_answer f USING (rank);
RESET ROLE;
DROP POLICY every_row ON deferred_sql;
REVOKE ALL ON deferred_sql, deferred_sql_associations, full_answer FROM recall_deferred_reader;
DROP ROLE recall_deferred_reader;

-- engram_spread ranks by activation and reads the rows and access
-- statistics of what it returns only: one hop from memory 15 (the last
-- depth), every memory reached has one path, so its confidence is by hand
--   eff(v) x eff(15) x w(15 -> v) x 0.95 x exp(-0.35)
-- (eff: stored confidence x retention), with no band.  Two of its targets
-- are forgotten first: the answer is the others.
SELECT deferred_space('deferred_spread');
UPDATE deferred_spread SET confidence = 0
 WHERE id IN (SELECT dst FROM deferred_spread_associations WHERE src = 15 ORDER BY weight DESC, dst LIMIT 2);
CREATE TEMP TABLE spread_stats AS SELECT * FROM engram_memory_stats('deferred_spread');
SELECT count(*) = (SELECT count(*) FROM deferred_spread_associations e JOIN deferred_spread m ON m.id = e.dst
                    WHERE e.src = 15 AND m.confidence > 0) AS all_but_forgotten,
       count(*) FILTER (WHERE p.id % 4 = 1) AS used,
       bool_and(abs(p.confidence - s.effective_confidence * f.effective_confidence * e.weight
                                   * 0.95 * exp(-0.35)) < 1e-6) AS confidence_right,
       bool_and(p.confidence_low = p.confidence AND p.confidence_high = p.confidence) AS no_band
  FROM engram_spread('deferred_spread', 15, max_hops => 1, k => 50) p
  JOIN spread_stats s USING (id)
  JOIN deferred_spread_associations e ON e.src = 15 AND e.dst = p.id
  CROSS JOIN (SELECT effective_confidence FROM spread_stats WHERE id = 15) f;

DO $$
DECLARE
	space text;
BEGIN
	FOR space IN SELECT unnest(ARRAY['deferred_full', 'deferred_sql', 'deferred_spread',
	                                 'deferred_flat_full'] ||
	                           ARRAY(SELECT 'deferred_k' || k FROM unnest(ARRAY[1, 2, 3, 5, 8, 13, 21]) k) ||
	                           ARRAY(SELECT 'deferred_flat_k' || k FROM unnest(ARRAY[1, 2, 3, 5]) k))
	LOOP
		PERFORM engram_drop_space(space);
	END LOOP;
END
$$;
DROP FUNCTION deferred_space(text);
DROP TABLE full_stats, full_answer, flat_answer, k_answers, spread_stats;
RESET engram.recency_boost;
RESET engram.recency_window;
RESET engram.seed_candidates_factor;
RESET engram.visit_budget_hot;
RESET engram.visit_budget_warm;
RESET engram.visit_budget_cold;
RESET engram.spreading_time_budget;
RESET engram.activation_threshold_near;
RESET engram.pinned_now;
