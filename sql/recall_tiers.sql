-- Recall wired to the table AM: the tier of each result, access statistics
-- counted once per returned memory (recall's own index reads do not count),
-- and soft forgetting that sinks a memory to the cold tier.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-02-01 10:00:00+00';
SELECT engram_create_space('tiers', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('tiers', 'alpha', '[1,0]') AS a,
       engram_store('tiers', 'beta', '[0.8,0.6]') AS b,
       engram_store('tiers', 'gamma', '[0,1]') AS c;
SET engram.pinned_now = '2026-02-01 12:00:00+00';
-- Index fetches would fill the hot tier; keep it out of the picture first.
SET engram.hot_tier_lookups = off;
SELECT id, tier FROM engram_recall('tiers', '[1,0]', mode => 'similarity') ORDER BY id;
-- beta to the cold tier, alpha into the hot tier: recall reports the real
-- tier.  (The rows are found by content: a sequential scan, no access.)
SELECT engram_move_to_tier('tiers', ARRAY(SELECT ctid FROM tiers WHERE content = 'beta'), 'cold') AS to_cold;
SELECT engram_move_to_tier('tiers', ARRAY(SELECT ctid FROM tiers WHERE content = 'alpha'), 'hot') AS to_hot;
SELECT id, content, tier FROM engram_recall('tiers', '[1,0]', mode => 'similarity') ORDER BY id;
SELECT id, tier FROM engram_memory_stats('tiers') ORDER BY id;

-- Access counts: the two recalls above returned all three memories, and
-- recorded one access each at engram_now() (pinned: 12:00 UTC); moves carry
-- a row's statistics to its new version.  Recall's own reads are not
-- accesses, whatever plan they use: through the indexes too.
SELECT id, access_count, last_access FROM engram_memory_stats('tiers') ORDER BY id;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM engram_recall('tiers', '[1,0]', mode => 'spreading');
SELECT count(*) FROM engram_recall('tiers', 'beta', mode => 'similarity');
RESET enable_seqscan;
RESET enable_bitmapscan;
-- alpha, gamma: 3; beta (also returned for the text cue): 4.
SELECT id, access_count FROM engram_memory_stats('tiers') ORDER BY id;
-- An ordinary query through an index is an access (the table AM counts
-- index fetches); engram_memory_stats and engram_associate are not.
SET enable_seqscan = off;
SELECT content FROM tiers WHERE id = 3;
RESET enable_seqscan;
SELECT engram_associate('tiers', 1, 3, 0.5);
SELECT id, access_count FROM engram_memory_stats('tiers') ORDER BY id;

-- Soft forgetting: confidence 0, and the row moves to the cold tier in the
-- same transaction; its content stays readable; recall no longer returns it.
-- Rolled back, alpha is warm again: the update dropped its hot-tier copy (a
-- cache) and the rollback does not refill it.
BEGIN;
SELECT engram_forget('tiers', 1);
SELECT id, confidence, content FROM tiers WHERE id = 1;
SELECT id, tier FROM engram_memory_stats('tiers') WHERE id = 1;
ROLLBACK;
SELECT id, confidence FROM tiers WHERE id = 1;
SELECT engram_forget('tiers', 3);
SELECT id, confidence, content FROM tiers WHERE id = 3;
SELECT id, tier FROM engram_memory_stats('tiers') ORDER BY id;
SELECT id FROM engram_recall('tiers', '[0,1]', mode => 'similarity') ORDER BY id;
RESET engram.hot_tier_lookups;

SELECT engram_drop_space('tiers');
RESET engram.pinned_now;
