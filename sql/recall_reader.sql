-- Spreading reads the memories it reaches without SQL when it may (no
-- row-level security, SELECT on the whole table: src/recall/memory_reader.c)
-- and reads their similarity to the cue only for those that can still rank
-- among the k best.  Neither may change an answer: the k best of a recall
-- are the first k of a recall that ranks every memory it reaches, and a
-- role that must go through SQL (row-level security) gets the same.
--
-- Space "lazy": 300 memories of 4 dimensions, 4 associations each, decay
-- 'none', recency boost 1 and one visit budget for every tier, so that
-- neither the accesses each recall records nor the rows it brings into the
-- hot tier change the answer of the next one.  Seeds come only from the 10
-- memories at location 'seedbed' (a filter restricts the seed query, not
-- spreading), so that every k below starts from the same seeds; no time
-- budget, so that a busy machine cannot cut spreading short.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.visit_budget_hot = 2;
SET engram.visit_budget_warm = 2;
SET engram.visit_budget_cold = 2;
SET engram.spreading_time_budget = 0;   -- no fallback on a slow machine
SELECT engram_create_space('lazy', 4, 'cosine', 'none') IS NOT NULL AS created;
SELECT count(*) AS stored
  FROM engram_store_batch('lazy',
         ARRAY(SELECT 'memory ' || i FROM generate_series(1, 300) i ORDER BY i),
         ARRAY(SELECT format('[%s,%s,%s,%s]', cos(i), sin(i), cos(i * 0.37), sin(i * 1.7))::evector
                 FROM generate_series(1, 300) i ORDER BY i));
INSERT INTO lazy_associations (src, dst, weight)
SELECT i, 1 + (i * 7 + f * 31) % 300, 0.5 + ((i + f) % 5) / 10.0
  FROM generate_series(1, 300) i, generate_series(1, 4) f
 WHERE i <> 1 + (i * 7 + f * 31) % 300
ON CONFLICT DO NOTHING;
UPDATE lazy SET location = 'seedbed' WHERE id % 30 = 15;

-- Everything two hops reach, ranked: k = 300 reads every similarity.
CREATE TEMP TABLE full_answer AS
SELECT row_number() OVER (ORDER BY score DESC, id) AS rank, id, score, similarity, hops
  FROM engram_recall('lazy', '[1,0,0.5,0.2]', k => 300, max_hops => 2, location => 'seedbed');
-- Spreading reached memories with embeddings beyond the seeds, so their
-- similarity counts in the ranking.
SELECT count(*) FILTER (WHERE hops = 0) AS seeds, count(*) FILTER (WHERE hops > 0) AS spread,
       count(*) FILTER (WHERE hops > 0 AND similarity IS NOT NULL) = count(*) FILTER (WHERE hops > 0)
         AS spread_have_similarity
  FROM full_answer;
-- Spread memories and seeds mix in the first ten, so the bound on unread
-- similarities is what decides there.
SELECT count(*) FILTER (WHERE hops > 0) > 0 AS spread_in_top_10,
       count(*) FILTER (WHERE hops = 0) > 0 AS seeds_in_top_10
  FROM full_answer WHERE rank <= 10;

-- k = 1, 3, 10, 25: exactly the first k rows of the full answer (a
-- distance is bit-identical wherever its embedding was read from: hot tier
-- copy or heap).
SELECT k, count(*) = k AS complete,
       bool_and(a.rank = f.rank AND a.id = f.id AND a.score = f.score
                AND a.similarity IS NOT DISTINCT FROM f.similarity) AS same
  FROM (VALUES (1), (3), (10), (25)) AS ks(k),
       LATERAL (SELECT row_number() OVER (ORDER BY score DESC, id) AS rank, id, score, similarity
                  FROM engram_recall('lazy', '[1,0,0.5,0.2]', k => ks.k, max_hops => 2,
                                     location => 'seedbed')) a
       JOIN full_answer f USING (rank)
 GROUP BY k ORDER BY k;

-- Through SQL: row-level security on, with a policy that shows every row
-- to the role, so spreading reads through SQL and must find the same.
CREATE ROLE recall_policy_reader;
GRANT SELECT ON lazy, lazy_associations, full_answer TO recall_policy_reader;
ALTER TABLE lazy ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON lazy FOR SELECT TO recall_policy_reader USING (true);
SET ROLE recall_policy_reader;
SELECT count(*) = 10 AS complete,
       bool_and(a.rank = f.rank AND a.id = f.id AND a.score = f.score) AS same
  FROM (SELECT row_number() OVER (ORDER BY score DESC, id) AS rank, id, score
          FROM engram_recall('lazy', '[1,0,0.5,0.2]', k => 10, max_hops => 2,
                             location => 'seedbed')) a
       JOIN full_answer f USING (rank);
RESET ROLE;

-- A policy that hides the even ids: they neither appear nor relay activation.
DROP POLICY every_row ON lazy;
CREATE POLICY odd_only ON lazy FOR SELECT TO recall_policy_reader USING (id % 2 = 1);
SET ROLE recall_policy_reader;
SELECT count(*) AS reached, bool_and(id % 2 = 1) AS only_odd
  FROM engram_recall('lazy', '[1,0,0.5,0.2]', k => 25, max_hops => 2, location => 'seedbed');
RESET ROLE;

DROP POLICY odd_only ON lazy;
REVOKE ALL ON lazy, lazy_associations, full_answer FROM recall_policy_reader;
DROP ROLE recall_policy_reader;
DROP TABLE full_answer;
SELECT engram_drop_space('lazy');
RESET engram.recency_boost;
RESET engram.visit_budget_hot;
RESET engram.visit_budget_warm;
RESET engram.visit_budget_cold;
RESET engram.spreading_time_budget;
RESET engram.pinned_now;
