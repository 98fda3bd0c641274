-- The tier of a seed is read only when it is needed (src/recall/spreading.c,
-- node_tier): when spreading reaches the seed again and the visit budget of
-- its tier decides whether the contribution counts, and when the seed is
-- returned (from the output row, or probed).  Both must give what reading
-- every seed's tier up front gave: the budget of the seed's real tier, and
-- the tier engram_memory_stats reports.
--
-- Four memories, every one a seed of the cue [1,0] (k 10: 20 candidates),
-- whose associations all lead to other seeds, so every contribution at
-- depth 1 is a revisit that the budget of the target's tier may refuse:
--   1 -> 2 (0.3), 3 -> 2 (0.3), 2 -> 4 (0.5), 4 -> 1 (0.7).
-- A memory whose revisit is refused keeps its seed activation (the one a
-- similarity recall shows); one reached again gains.  Seed activations
-- sigmoid((similarity - 0.4) / 0.5): a 0.768525, b 0.753977 (0.96),
-- c 0.689974 (0.8), d 0.310026 (0); reached again, each contribution
-- a(src) x w x exp(-0.7) x 0.93: a + 0.100223 = 0.868748, b + 0.106477
-- (from a) + 0.095595 (from c) = 0.956049, d + 0.174103 = 0.484129 (b's
-- stored embedding gives 0.753989 and 0.956060).  Hot-tier lookups are
-- off: index fetches would otherwise fill the hot tier and change the
-- tiers between calls; recency boost 1 and decay none: the accesses a
-- recall records change nothing.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-04-01 10:00:00+00';
SET engram.hot_tier_lookups = off;
SET engram.recency_boost = 1.0;
SET engram.spreading_time_budget = 0;
SELECT engram_create_space('seedtier', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('seedtier', 'a', '[1,0]') AS a,
       engram_store('seedtier', 'b', '[0.96,0.28]') AS b,
       engram_store('seedtier', 'c', '[0.8,0.6]') AS c,
       engram_store('seedtier', 'd', '[0,1]') AS d;
SELECT engram_associate('seedtier', 1, 2, 0.3, bidirectional => false),
       engram_associate('seedtier', 3, 2, 0.3, bidirectional => false),
       engram_associate('seedtier', 2, 4, 0.5, bidirectional => false),
       engram_associate('seedtier', 4, 1, 0.7, bidirectional => false);

-- Each recall's answer beside the seeds-only answer and the tier that
-- engram_memory_stats reports for the same row.
CREATE FUNCTION seed_tiers() RETURNS TABLE (id bigint, tier text, stats_tier_agrees boolean,
	activation numeric, seed_activation numeric, reached_again boolean)
LANGUAGE sql AS $$
	SELECT r.id, r.tier, r.tier = s.tier, round(r.activation::numeric, 6),
	       round(q.activation::numeric, 6), r.activation > q.activation
	  FROM engram_recall('seedtier', '[1,0]', k => 10, mode => 'spreading') r
	  JOIN engram_recall('seedtier', '[1,0]', k => 10, mode => 'similarity') q USING (id)
	  LEFT JOIN engram_memory_stats('seedtier') s USING (id)
	 ORDER BY r.id
$$;

-- All warm, every budget 1: no revisit counts.
SET engram.visit_budget_hot = 1;
SET engram.visit_budget_warm = 1;
SET engram.visit_budget_cold = 1;
SELECT * FROM seed_tiers();
-- b to the cold tier.  Cold budget 1, the others 3: b keeps its seed
-- activation, a and d (warm) are reached again.
SELECT engram_move_to_tier('seedtier', ARRAY(SELECT ctid FROM seedtier WHERE content = 'b'), 'cold') AS to_cold;
SET engram.visit_budget_hot = 3;
SET engram.visit_budget_warm = 3;
SELECT * FROM seed_tiers();
-- The other way round: b (cold) is reached again, a and d are not.
SET engram.visit_budget_warm = 1;
SET engram.visit_budget_cold = 3;
SELECT * FROM seed_tiers();
-- a to the hot tier (reported hot although lookups are off, as
-- engram_memory_stats does).  Hot budget 1: a is not reached again, d is.
SELECT engram_move_to_tier('seedtier', ARRAY(SELECT ctid FROM seedtier WHERE content = 'a'), 'hot') AS to_hot;
SET engram.visit_budget_hot = 1;
SET engram.visit_budget_warm = 3;
SELECT * FROM seed_tiers();

-- Through SQL as a role under row-level security (no direct reads): the
-- same tiers and budgets, and a memory the policy hides (c) neither
-- appears nor relays (b gains only a's contribution: 0.860454).
CREATE ROLE recall_seed_tiers_reader;
GRANT SELECT ON seedtier, seedtier_associations TO recall_seed_tiers_reader;
ALTER TABLE seedtier ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_but_c ON seedtier FOR SELECT TO recall_seed_tiers_reader USING (content <> 'c');
SET engram.visit_budget_cold = 3;
SELECT * FROM seed_tiers();
SET ROLE recall_seed_tiers_reader;
SELECT r.id, r.tier, round(r.activation::numeric, 6) AS activation,
       round(q.activation::numeric, 6) AS seed_activation, r.activation > q.activation AS reached_again
  FROM engram_recall('seedtier', '[1,0]', k => 10, mode => 'spreading') r
  JOIN engram_recall('seedtier', '[1,0]', k => 10, mode => 'similarity') q USING (id)
 ORDER BY r.id;
SET engram.visit_budget_hot = 3;
SET engram.visit_budget_cold = 1;
SELECT id, tier, round(activation::numeric, 6) AS activation
  FROM engram_recall('seedtier', '[1,0]', k => 10, mode => 'spreading') ORDER BY id;
RESET ROLE;
DROP POLICY all_but_c ON seedtier;
REVOKE ALL ON seedtier, seedtier_associations FROM recall_seed_tiers_reader;
DROP ROLE recall_seed_tiers_reader;

DROP FUNCTION seed_tiers();
SELECT engram_drop_space('seedtier');
RESET engram.visit_budget_hot;
RESET engram.visit_budget_warm;
RESET engram.visit_budget_cold;
RESET engram.spreading_time_budget;
RESET engram.recency_boost;
RESET engram.hot_tier_lookups;
RESET engram.pinned_now;
