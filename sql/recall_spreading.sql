-- Spreading activation, path confidence, intervals and ranking on a space
-- small enough to compute by hand.  Every number asserted below is derived
-- in the comments from DESIGN section 4 with the default settings.
--
-- Space "hand" (2 dimensions, cosine, no decay), clock pinned so that every
-- memory was created 2 hours ago (recency boost 1, retention 1).
--
--   id  content      embedding   confidence
--    1  seed A       [1, 0]      0.9     similarity to cue [1,0] = 1
--    2  seed B       [0.6, 0.8]  0.8     similarity 0.6
--    3  seed C       [0, 1]      1.0     similarity 0
--    4  D            NULL        0.9     reachable only by association
--    5  E            NULL        1.0
--    6  F            NULL        0.6
--    7  G            NULL        1.0
--
--   associations (directed):  1->4 w1.0   2->4 w0.5   3->6 w0.1
--                             4->5 w0.8   5->1 w1.0   5->7 w1.0
SET client_min_messages = warning;   -- the NOTICEs depend on which access methods exist
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SELECT engram_create_space('hand', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('hand', 'seed A', '[1,0]', confidence => 0.9) AS a,
       engram_store('hand', 'seed B', '[0.6,0.8]', confidence => 0.8) AS b,
       engram_store('hand', 'seed C', '[0,1]', confidence => 1.0) AS c,
       engram_store('hand', 'D', NULL, confidence => 0.9) AS d,
       engram_store('hand', 'E', NULL, confidence => 1.0) AS e,
       engram_store('hand', 'F', NULL, confidence => 0.6) AS f,
       engram_store('hand', 'G', NULL, confidence => 1.0) AS g;
SELECT engram_associate('hand', 1, 4, 1.0, bidirectional => false),
       engram_associate('hand', 2, 4, 0.5, bidirectional => false),
       engram_associate('hand', 3, 6, 0.1, bidirectional => false),
       engram_associate('hand', 4, 5, 0.8, bidirectional => false),
       engram_associate('hand', 5, 1, 1.0, bidirectional => false),
       engram_associate('hand', 5, 7, 1.0, bidirectional => false);
-- The associations' foreign-key checks read the memories through their
-- primary key, which caches them in the hot tier; the numbers below are for
-- warm memories (visit budgets differ per tier), so send them back to warm.
SELECT engram_move_to_tier('hand', array_agg(ctid), 'warm') IS NOT NULL AS moved FROM hand;
SELECT count(*) FILTER (WHERE engram_hot_tier_contains('hand', ctid)) AS hot FROM hand;
SET engram.pinned_now = '2026-01-01 12:00:00+00';

-- Seeds (k = 10, k' = 20: every memory with an embedding):
--   a(1) = sigmoid((1   - 0.4) / 0.5) = sigmoid(1.2)  = 0.768525
--   a(2) = sigmoid((0.6 - 0.4) / 0.5) = sigmoid(0.4)  = 0.598688
--   a(3) = sigmoid((0   - 0.4) / 0.5) = sigmoid(-0.8) = 0.310026
-- Depth 1, attenuation exp(-0.7) = 0.496585:
--   1->4: 0.768525 x 1.0 x 0.496585 = 0.381638
--   2->4: 0.598688 x 0.5 x 0.496585 = 0.148650 (second arrival: x 0.93)
--   a(4) = 0.381638 + 0.93 x 0.148650 = 0.519882 >= 0.05: D activated, hop 1
--   3->6: 0.310026 x 0.1 x 0.496585 = 0.015395 >= 0.01 but < 0.05: F not activated
-- Depth 2, exp(-1.4) = 0.246597:
--   4->5: 0.519882 x 0.8 x 0.246597 = 0.102561 >= 0.05: E activated, hop 2
-- Depth 3, exp(-2.1) = 0.122456:
--   5->1: 0.102561 x 1.0 x 0.122456 = 0.012559, a revisit of seed A:
--         a(1) = 0.768525 + 0.93 x 0.012559 = 0.780205
--   5->7: 0.012559 < 0.1 (threshold at depth 3): G not activated
-- Path confidence p = conf(seed) x weights x factor(h) x exp(-0.35 h):
--   D: [1,4] 0.9 x 1.0 x 0.95 x 0.704688 = 0.602508
--      [2,4] 0.8 x 0.5 x 0.95 x 0.704688 = 0.267781
--      E(D) = 1 - (1 - 0.602508)(1 - 0.267781) = 0.708949
--      C(D) = 0.9 x 0.708949 = 0.638054
--      per-path 0.9 x p = 0.542257, 0.241003: sd 0.150627 -> [0.487427, 0.788681]
--   E: [1,4,5] 0.72 x 0.95 x exp(-0.7) = 0.339664;  [2,4,5] 0.32 x ... = 0.150962
--      C(E) = 1.0 x (1 - 0.660336 x 0.849038) = 0.439350
--      sd 0.094351 -> [0.344999, 0.533701]
--   A: own path (p = 1) and [2,4,5,1] (0.32 x 1.0 x 0.9 x exp(-1.05) = 0.100782;
--      [1,4,5,1] is a cycle and does not count): C(A) = 0.9 x 1 = 0.9,
--      per-path 0.9 and 0.090704: sd 0.404648, capped at 0.3 -> [0.6, 1]
--   B, C: one path each, zero-width interval.
-- Scores (similarity known: (a x C + sim) / 2; unknown: a x C):
--   A (0.780205 x 0.9 + 1) / 2 = 0.851092
--   B (0.598688 x 0.8 + 0.6) / 2 = 0.539475
--   D 0.519882 x 0.638054 = 0.331713
--   C (0.310026 x 1.0 + 0) / 2 = 0.155013
--   E 0.102561 x 0.439350 = 0.045060
SELECT id, content, round(score::numeric, 4) AS score, round(similarity::numeric, 4) AS sim,
       round(activation::numeric, 4) AS activation, round(confidence::numeric, 4) AS conf,
       round(confidence_low::numeric, 4) AS low, round(confidence_high::numeric, 4) AS high,
       hops, tier
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading');

-- Recall records an access to every memory it returns, at engram_now()
-- (12:00): from here on all five were used 0 s ago, so every score below
-- carries the full recency boost, x 1.2 (retention stays 1: no decay here).
--   A 0.851092 x 1.2 = 1.021310, B 0.647370, D 0.398056, C 0.186016, E 0.054072
-- Hybrid within its time budget gives the same answer (boosted, as above).
SELECT id, round(score::numeric, 4) AS score, hops
  FROM engram_recall('hand', '[1,0]', k => 10);

-- k = 3 keeps the three best.
SELECT id, round(score::numeric, 4) AS score FROM engram_recall('hand', '[1,0]', k => 3);

-- max_hops => 1: no E, no revisit of A: a(1) = 0.768525, score (0.768525 x 0.9 + 1)/2
-- x 1.2 = 1.015003; D unchanged (0.398056), A's interval is zero-width.
SELECT id, round(score::numeric, 4) AS score, round(activation::numeric, 4) AS activation,
       round(confidence_low::numeric, 4) AS low, hops
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading', max_hops => 1);

-- engram.max_hops is the default of max_hops.
SET engram.max_hops = 1;
SELECT count(*) AS reached FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading');
RESET engram.max_hops;

-- Similarity mode: the seeds alone, seed activations, no paths.
--   A (0.768525 x 0.9 + 1)/2 x 1.2 = 1.015003, B 0.647370, C 0.186016
SELECT id, round(score::numeric, 4) AS score, round(activation::numeric, 4) AS activation,
       round(confidence_low::numeric, 4) AS low, round(confidence_high::numeric, 4) AS high, hops
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'similarity');

-- Hybrid out of time budget (1 microsecond: spreading stops before depth 2)
-- falls back to the seeds: the similarity-mode answer.
SET engram.spreading_time_budget = 0.001;
SELECT id, round(score::numeric, 4) AS score, hops
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'hybrid');
RESET engram.spreading_time_budget;

-- Every constant is a setting: revisit penalty 1 makes a(4) = 0.381638 + 0.148650
-- = 0.530288 (from 0.519882).
SET engram.revisit_penalty = 1.0;
SELECT id, round(activation::numeric, 4) AS activation
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading') WHERE id = 4;
RESET engram.revisit_penalty;
-- Visit budgets: a warm memory may be reached twice by default (seeding
-- counts once), so E -> A at depth 3 still counts; with a budget of 1 it is
-- ignored and a(A) stays 0.768525 (score (0.768525 x 0.9 + 1)/2 x 1.2 = 1.015003).
SET engram.visit_budget_warm = 1;
SELECT id, round(score::numeric, 4) AS score, round(activation::numeric, 4) AS activation, hops
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading') WHERE id IN (1, 4, 5);
RESET engram.visit_budget_warm;
-- A lower depth-1/2 threshold (0.01) lets F in: a(6) = 0.015395.
SET engram.activation_threshold_near = 0.01;
SELECT id, round(activation::numeric, 4) AS activation, hops
  FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading') WHERE id = 6;
RESET engram.activation_threshold_near;

-- engram_spread from D (activation 1): depth 1 reaches E with 1 x 0.8 x 0.496585
-- = 0.397268; depth 2: E->1 and E->7 each 0.397268 x 1.0 x 0.246597 = 0.097966
-- (>= 0.05: both activated at hop 2).  Paths start at D (conf 0.9):
--   E: 0.9 x 0.8 x 0.95 x 0.704688 = 0.482014, C = 1.0 x 0.482014
--   A: 0.72 x 0.95 x exp(-0.7) = 0.339664, C = 0.9 x 0.339664 = 0.305698
--   G: same path confidence, C = 1.0 x 0.339664
SELECT id, content, round(activation::numeric, 4) AS activation,
       round(confidence::numeric, 4) AS conf, hops
  FROM engram_spread('hand', 4);
SELECT id, hops FROM engram_spread('hand', 4, max_hops => 1);
SELECT id FROM engram_spread('hand', 4, k => 1);

-- Soft forgetting: E (confidence 0) neither appears nor relays activation.
SELECT engram_forget('hand', 5);
SELECT id, hops FROM engram_recall('hand', '[1,0]', k => 10, mode => 'spreading');
SELECT content, confidence FROM hand WHERE id = 5;
-- Hard forgetting deletes the row and its associations.
SELECT engram_forget('hand', 5, 'hard');
SELECT count(*) AS associations_of_e FROM hand_associations WHERE 5 IN (src, dst);
SELECT engram_forget('hand', 5, 'hard') AS forgot_again;

-- Bidirectional associations and re-weighting (upsert).
SELECT engram_associate('hand', 1, 2, 0.3);
SELECT engram_associate('hand', 1, 2, 0.6);
SELECT src, dst, weight FROM hand_associations WHERE 2 IN (src, dst) AND 1 IN (src, dst) ORDER BY src;

-- Hybrid falls back to the seeds when spreading finds nothing beyond them.
-- Two seeds associated with each other: spreading only revisits them
--   a(1) = 0.768525 + 0.93 x 0.689974 x 1 x 0.496585 = 1.087 -> clamped to 1
--   a(2) = 0.689974 + 0.93 x 0.768525 x 1 x 0.496585 = 1.045 -> 1
-- while hybrid keeps the seed activations 0.768525 and 0.689974.
SELECT engram_create_space('pair', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('pair', 'one', '[1,0]') AS one, engram_store('pair', 'two', '[0.8,0.6]') AS two;
SELECT engram_associate('pair', 1, 2, 1.0);
SELECT id, round(activation::numeric, 4) AS activation, hops
  FROM engram_recall('pair', '[1,0]', mode => 'spreading');
SELECT id, round(activation::numeric, 4) AS activation, hops
  FROM engram_recall('pair', '[1,0]', mode => 'hybrid');
SELECT engram_drop_space('pair');

SELECT engram_drop_space('hand');
RESET engram.pinned_now;
