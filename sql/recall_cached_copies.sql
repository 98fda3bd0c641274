-- Cached copies (src/shmem/engram_hot_tier.h): a memory spreading reads in
-- passing (a relay or target, read by the memory reader from its heap page)
-- is copied into the hot tier's spare room, but keeps its tier: recall
-- reports it warm, spends its warm visit budget, and the tier statistics
-- do not count it.  A copy is coherent with updates, deletes and moves.
--
-- Space "copies" (2 dimensions, cosine, no decay, recency boost 1):
--   id  content  embedding    similarity to [1,0]
--    1  A        [1, 0]       1     seed, a = sigmoid(1.2) = 0.768525
--    2  B        [0.6, 0.8]   0.6   seed, a = sigmoid(0.4) = 0.598688
--    3  D        NULL               relay, reached from A and from B
--    4  E        NULL               target, reached from D
--   associations (directed): 1->3 w1.0, 2->3 w0.5, 3->4 w0.8, 4->3 w1.0
-- Depth 1 (exp(-0.7) = 0.496585): a(D) = 0.381638 (from A) + 0.93 x
-- 0.148650 (from B, a second arrival) = 0.519882.  Depth 2 (exp(-1.4) =
-- 0.246597): a(E) = 0.519882 x 0.8 x 0.246597 = 0.102561.  Depth 3
-- (exp(-2.1) = 0.122456): E->D 0.102561 x 1.0 x 0.122456 = 0.012559, a
-- revisit of D, which counts only where D's tier has a visit budget above
-- 1 (reached at depth 1 already): warm (budget 1 here) D stays 0.519882,
-- hot (budget 3) D gets 0.519882 + 0.93 x 0.012559 = 0.531563.
-- The rows are looked up by content (no index): an index fetch keeps the
-- rows it reads in the hot tier, cached copies included (made resident).
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.spreading_time_budget = 0;
SELECT engram_create_space('copies', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('copies', 'A', '[1,0]') AS a,
       engram_store('copies', 'B', '[0.6,0.8]') AS b,
       engram_store('copies', 'D', NULL) AS d,
       engram_store('copies', 'E', NULL) AS e;
SELECT engram_associate('copies', 1, 3, 1.0, bidirectional => false),
       engram_associate('copies', 2, 3, 0.5, bidirectional => false),
       engram_associate('copies', 3, 4, 0.8, bidirectional => false),
       engram_associate('copies', 4, 3, 1.0, bidirectional => false);
-- The associations' foreign-key checks made the memories resident: back
-- to warm (which also drops every entry of theirs).
SELECT engram_move_to_tier('copies', array_agg(ctid), 'warm') IS NOT NULL AS moved FROM copies;
SELECT content, engram_hot_tier_entry('copies', ctid) AS entry FROM copies ORDER BY content;
SET engram.visit_budget_hot = 3;
SET engram.visit_budget_warm = 1;
SET engram.visit_budget_cold = 1;

CREATE FUNCTION relays() RETURNS TABLE (content text, tier text, stats_tier text,
	activation numeric, confidence numeric, hops integer)
LANGUAGE sql AS $$
	SELECT r.content, r.tier, s.tier, round(r.activation::numeric, 6),
	       round(r.confidence::numeric, 4), r.hops
	  FROM engram_recall('copies', '[1,0]', k => 10, mode => 'spreading') r
	  LEFT JOIN engram_memory_stats('copies') s USING (id)
	 WHERE r.hops > 0
	 ORDER BY r.id
$$;
CREATE FUNCTION entries() RETURNS TABLE (content text, entry text, resident boolean)
LANGUAGE sql AS $$
	SELECT content, engram_hot_tier_entry('copies', ctid), engram_hot_tier_contains('copies', ctid)
	  FROM copies WHERE content IN ('D', 'E') ORDER BY content
$$;

-- First recall: D and E read from their heap pages, warm budgets.
SELECT * FROM relays();
-- ... which left cached copies of them, still warm: not resident, not
-- counted as hot rows.
SELECT * FROM entries();
SELECT rows FROM engram_tier_stats_for('copies') WHERE tier = 'hot';
-- Second recall: D and E read from their copies, the same answer (warm
-- budget 1 for D: a hot budget would let E's revisit count).
SELECT * FROM relays();
SELECT * FROM entries();

SELECT entries >= 2 AS held, fills >= 2 AS stored FROM engram_hot_tier_cached_copies();

-- D made resident: reported hot, hot budget 3, E's revisit counts.
SELECT engram_move_to_tier('copies', ARRAY(SELECT ctid FROM copies WHERE content = 'D'), 'hot') AS to_hot;
SELECT * FROM relays();
SELECT * FROM entries();
-- Back to warm: the move drops its entry, the next recall copies it again.
SELECT engram_move_to_tier('copies', ARRAY(SELECT ctid FROM copies WHERE content = 'D'), 'warm') AS to_warm;
SELECT * FROM entries();
SELECT * FROM relays();
SELECT * FROM entries();

-- An update of a cached memory is seen by the next recall (its copy is
-- dropped with the old version), and so is a delete.
UPDATE copies SET confidence = 0.5 WHERE content = 'E';
SELECT * FROM entries();
SELECT * FROM relays();
SELECT * FROM entries();
SELECT engram_forget('copies', 4, 'hard') AS forgotten;
SELECT * FROM relays();

-- An index fetch that finds a cached copy makes it resident, as it keeps
-- in the hot tier every row it reads from the heap.
SELECT * FROM entries();
SET enable_seqscan = off;
SELECT content FROM copies WHERE id = 3;
RESET enable_seqscan;
SELECT * FROM entries();
SELECT * FROM relays();

-- Cold memories keep their tier too: D moved to cold (which drops its
-- entry), then read by two recalls (the second from its cached copy).
SELECT engram_move_to_tier('copies', ARRAY(SELECT ctid FROM copies WHERE content = 'D'), 'cold') AS to_cold;
SELECT * FROM entries();
SELECT * FROM relays();
SELECT * FROM entries();
SELECT * FROM relays();

DROP FUNCTION relays();
DROP FUNCTION entries();
SELECT engram_drop_space('copies');
RESET engram.visit_budget_hot;
RESET engram.visit_budget_warm;
RESET engram.visit_budget_cold;
RESET engram.spreading_time_budget;
RESET engram.recency_boost;
RESET engram.pinned_now;
