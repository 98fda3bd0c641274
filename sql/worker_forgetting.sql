-- Soft forgetting uses the effective confidence recall computes: the row's
-- forgetting curve (or the space's default), the time since the last
-- access from the access statistics (created_at when never accessed).
-- Under a pinned clock, exactly the episodes under
-- engram.min_confidence_threshold (0.3) sink to the cold tier; nothing is
-- deleted or changed.  Everything runs in one transaction, rolled back, so
-- the server's own worker never sees the space.
--
-- Curve parameters (defaults): exponential tau 1.96 h = 7056 s; power law
-- beta 0.18; two-component: exponential until 3 accesses, then power law;
-- hybrid: exp(-t / 2880 s) for 24 h, then (1 + t_hours)^-0.25; floor 0.1.
-- The check runs at T = 2026-03-10 12:00 UTC.
SET client_min_messages = warning;
SET timezone = 'UTC';
-- Index fetches would also fill the hot tier: keep it out of the picture.
SET engram.hot_tier_lookups = off;
BEGIN;
SET LOCAL engram.pinned_now = '2026-03-01 00:00:00+00';
SELECT engram_create_space('forgetting', 4, 'cosine', 'hybrid') IS NOT NULL AS created;
-- Orthogonal embeddings in pairs of opposite signs: no cluster of 3 forms,
-- so consolidation leaves the space alone.
INSERT INTO forgetting (id, content, embedding, kind, confidence, decay_function, occurred_at, created_at)
OVERRIDING SYSTEM VALUE VALUES
	(1, 'exponential, created 2 h ago', '[1,0,0,0]', 'episodic', 0.9, 'exponential', '2026-03-10 10:00+00', '2026-03-10 10:00+00'),
	(2, 'exponential, used 3 h ago', '[-1,0,0,0]', 'episodic', 0.9, 'exponential', '2026-03-08 12:00+00', '2026-03-08 12:00+00'),
	(3, 'power law, created 10 h ago', '[0,1,0,0]', 'episodic', 0.9, 'power_law', '2026-03-10 02:00+00', '2026-03-10 02:00+00'),
	(4, 'power law, created 100 h ago', '[0,-1,0,0]', 'episodic', 0.5, 'power_law', '2026-03-06 08:00+00', '2026-03-06 08:00+00'),
	(5, 'two-component, used 3 times, last 24 h ago', '[0,0,1,0]', 'episodic', 0.8, 'two_component', '2026-03-07 12:00+00', '2026-03-07 12:00+00'),
	(6, 'two-component, never used, created 24 h ago', '[0,0,-1,0]', 'episodic', 0.8, 'two_component', '2026-03-09 12:00+00', '2026-03-09 12:00+00'),
	(7, 'hybrid, created 1 h ago', '[0,0,0,1]', 'episodic', 0.9, 'hybrid', '2026-03-10 11:00+00', '2026-03-10 11:00+00'),
	(8, 'hybrid, created 30 h ago', '[0,0,0,-1]', 'episodic', 0.9, 'hybrid', '2026-03-09 06:00+00', '2026-03-09 06:00+00'),
	(9, 'exponential, created 48 h ago, used 10 min ago', '[1,1,0,0]', 'episodic', 0.9, 'exponential', '2026-03-08 12:00+00', '2026-03-08 12:00+00'),
	(10, 'space default (hybrid), created 30 h ago', '[-1,-1,0,0]', 'episodic', 0.6, NULL, '2026-03-09 06:00+00', '2026-03-09 06:00+00'),
	(11, 'semantic, doubtful', '[0,0,1,1]', 'semantic', 0.1, 'power_law', '2026-03-09 06:00+00', '2026-03-09 06:00+00'),
	(12, 'exponential, already cold', '[0,0,-1,-1]', 'episodic', 0.1, 'exponential', '2026-03-10 11:00+00', '2026-03-10 11:00+00');
-- (Found by content: a sequential scan, not an access.)
SELECT engram_move_to_tier('forgetting',
	ARRAY(SELECT ctid FROM forgetting WHERE content = 'exponential, already cold'), 'cold') AS to_cold;

-- Accesses, recorded by recall at the pinned clock: memory 5 three times
-- (2026-03-09 10:00, 11:00, 12:00), memory 2 at 09:00 today, memory 9 at
-- 11:50 today.
SET LOCAL engram.pinned_now = '2026-03-09 10:00:00+00';
SELECT id FROM engram_recall('forgetting', memory_id => 5, mode => 'similarity');
SET LOCAL engram.pinned_now = '2026-03-09 11:00:00+00';
SELECT id FROM engram_recall('forgetting', memory_id => 5, mode => 'similarity');
SET LOCAL engram.pinned_now = '2026-03-09 12:00:00+00';
SELECT id FROM engram_recall('forgetting', memory_id => 5, mode => 'similarity');
SET LOCAL engram.pinned_now = '2026-03-10 09:00:00+00';
SELECT id FROM engram_recall('forgetting', memory_id => 2, mode => 'similarity');
SET LOCAL engram.pinned_now = '2026-03-10 11:50:00+00';
SELECT id FROM engram_recall('forgetting', memory_id => 9, mode => 'similarity');

SET LOCAL engram.pinned_now = '2026-03-10 12:00:00+00';
-- Effective confidence by hand (stored x retention):
--  1  0.9 x exp(-7200/7056)          = 0.9 x 0.36045 = 0.3244  kept
--  2  0.9 x exp(-10800/7056)         = 0.9 x 0.21640 = 0.1948  forgotten
--  3  0.9 x 11^-0.18                 = 0.9 x 0.64946 = 0.5845  kept
--  4  0.5 x 101^-0.18                = 0.5 x 0.43573 = 0.2179  forgotten
--  5  0.8 x 25^-0.18 (3 accesses)    = 0.8 x 0.56024 = 0.4482  kept
--  6  0.8 x floor (exp(-86400/7056)) = 0.8 x 0.1     = 0.0800  forgotten
--  7  0.9 x exp(-3600/2880)          = 0.9 x 0.28650 = 0.2579  forgotten
--  8  0.9 x 31^-0.25                 = 0.9 x 0.42380 = 0.3814  kept
--  9  0.9 x exp(-600/7056)           = 0.9 x 0.91848 = 0.8266  kept
-- 10  0.6 x 31^-0.25 (space default) = 0.6 x 0.42380 = 0.2543  forgotten
-- 11  0.1 x 31^-0.18 = 0.1 x 0.53896 = 0.0539  kept: not an episode
-- 12  0.1 x exp(-3600/7056)          = 0.1 x 0.60037 = 0.0600  cold already
-- (An exponential decay from occurred_at, the old rule, would forget 3, 5,
-- 8 and 9 and keep 7.)
SELECT id, decay_function, access_count, last_access,
	   round(retention::numeric, 5) AS retention,
	   round(effective_confidence::numeric, 4) AS effective, tier
FROM engram_memory_stats('forgetting') ORDER BY id;

-- Forced index scans: the job's own reads must not count as accesses.
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
-- At most engram.migration_batch a run, lowest id first: 2 and 4.
SET LOCAL engram.migration_batch = 2;
SELECT job, detail, rows_moved, episodes_selected
FROM engram_run_maintenance('forgetting') WHERE job = 'soft_forgetting';
-- The next run skips what is cold already: 6, 7 and 10.
RESET engram.migration_batch;
SELECT job, detail, rows_moved, episodes_selected
FROM engram_run_maintenance('forgetting') WHERE job = 'soft_forgetting';
-- Nothing left under the threshold.
SELECT job, detail, rows_moved, episodes_selected
FROM engram_run_maintenance('forgetting') WHERE job = 'soft_forgetting';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Tiers now; access counts unchanged; rows unchanged and all still there.
SELECT id, access_count, tier FROM engram_memory_stats('forgetting') ORDER BY id;
SELECT id, content, confidence, decay_function FROM forgetting ORDER BY id;

-- A higher threshold takes the kept episodes in turn (1 at 0.3244 < 0.35).
SET LOCAL engram.min_confidence_threshold = 0.35;
SELECT episodes_selected
FROM engram_run_maintenance('forgetting') WHERE job = 'soft_forgetting';
SELECT id FROM engram_memory_stats('forgetting') WHERE tier = 'cold' ORDER BY id;
ROLLBACK;
RESET engram.hot_tier_lookups;
RESET timezone;
RESET client_min_messages;
