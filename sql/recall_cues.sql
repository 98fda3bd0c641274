-- Every cue kind of engram_recall, the lazily applied forgetting curves and
-- the recency boost, against hand computations.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-05 10:00:00+00';   -- creation time of every memory
SELECT engram_create_space('cues', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('cues', 'coffee with anna in paris', '[1,0]', occurred_at => '2026-01-01 09:00+00',
					location => 'paris', participants => '{anna}', tags => '{food,travel}') AS m1,
	   engram_store('cues', 'museum visit in paris', '[0.8,0.6]', occurred_at => '2026-01-02 15:00+00',
					location => 'paris', participants => '{bob}', tags => '{travel}') AS m2,
	   engram_store('cues', 'coffee beans order', '[0,1]', occurred_at => '2026-01-03 10:00+00',
					location => 'home', tags => '{food}') AS m3,
	   engram_store('cues', 'meeting with bob', NULL, occurred_at => '2026-01-04 11:00+00',
					location => 'office', participants => '{bob}', tags => '{work}') AS m4;
SELECT id, created_at FROM cues ORDER BY id;
SET engram.pinned_now = '2026-01-05 12:00:00+00';   -- 2 hours later: no recency boost, no decay

-- Embedding cue given as a vector literal: similarity 1 and 0.8 (k = 2, k' = 4).
--   a = sigmoid(1.2) = 0.768525, score (0.768525 x 0.9 + 1)/2 = 0.845836
--   a = sigmoid(0.8) = 0.689974, score (0.689974 x 0.9 + 0.8)/2 = 0.710488
SELECT id, round(score::numeric, 4) AS score, round(similarity::numeric, 4) AS sim,
	   round(activation::numeric, 4) AS activation
  FROM engram_recall('cues', '[1,0]', k => 2, mode => 'similarity');
-- The same cue as every array type a driver may send, and as evector.
SELECT (SELECT array_agg(id) FROM engram_recall('cues', '[1,0]'::evector, k => 2)) AS evector,
	   (SELECT array_agg(id) FROM engram_recall('cues', ARRAY[1,0]::real[], k => 2)) AS real_array,
	   (SELECT array_agg(id) FROM engram_recall('cues', ARRAY[1,0]::float8[], k => 2)) AS float8_array,
	   (SELECT array_agg(id) FROM engram_recall('cues', ARRAY[1.0,0.0], k => 2)) AS numeric_array,
	   (SELECT array_agg(id) FROM engram_recall('cues', ARRAY[1,0], k => 2)) AS integer_array;

-- Recall records an access to each memory it returns, at engram_now(): 1
-- and 2, returned above at 12:00, are now fresh (used 0 s ago): their
-- scores carry the full recency boost, x 1.2.
-- Text cue (full-text search, english): 'coffee' is in memories 1 and 3 once
-- each; ts_rank without length normalisation ranks them equally, so both
-- get lexical similarity 1: score 0.845836, x 1.2 = 1.015003 for 1 (fresh).
-- The next query returns 3: from then on 1, 2 and 3 are all fresh.
SELECT id, content, round(score::numeric, 4) AS score, round(similarity::numeric, 4) AS sim
  FROM engram_recall('cues', 'coffee', mode => 'similarity');
-- websearch syntax works: coffee but not paris.
SELECT id FROM engram_recall('cues', 'coffee -paris', mode => 'similarity');

-- Embedding and text together: cue [0,1], query 'paris' (memories 1 and 2).
-- similarity = 0.7 x vector + 0.3 x lexical:
-- (every one fresh: x 1.2)
--   1: 0.7 x 0 + 0.3 x 1 = 0.30, a = sigmoid(-0.2) = 0.450166, score (0.405150 + 0.30)/2 x 1.2 = 0.423090
--   2: 0.7 x 0.6 + 0.3   = 0.72, a = sigmoid(0.64) = 0.654753, score (0.589278 + 0.72)/2 x 1.2 = 0.785567
--   3: 0.7 x 1 + 0       = 0.70, a = sigmoid(0.6)  = 0.645656, score (0.581091 + 0.70)/2 x 1.2 = 0.768654
SELECT id, round(score::numeric, 4) AS score, round(similarity::numeric, 4) AS sim
  FROM engram_recall('cues', '[0,1]', query => 'paris', mode => 'similarity');

-- Filters alone seed with the most recent matches, activation 1, no
-- similarity: score = 1 x 0.9 = 0.9, x 1.2 (fresh) = 1.08.
SELECT id, round(score::numeric, 4) AS score, similarity, activation
  FROM engram_recall('cues', NULL, after => '2026-01-02', before => '2026-01-03 23:00+00', mode => 'similarity');
-- recent => '2 days' is occurred_at >= pinned now - 2 days = 2026-01-03 12:00: only 4.
SELECT id FROM engram_recall('cues', recent => '2 days', mode => 'similarity');
SELECT id FROM engram_recall('cues', '[0,1]', location => 'paris', mode => 'similarity');
SELECT id FROM engram_recall('cues', tags => '{work}', mode => 'similarity');
SELECT id FROM engram_recall('cues', participants => '{bob}', mode => 'similarity');
SELECT id, activation FROM engram_recall('cues', memory_id => 3, mode => 'similarity');
-- An exact id cue combined with an embedding: the named memory is a seed
-- with activation 1 whatever its similarity.
SELECT id, round(activation::numeric, 4) AS activation, round(similarity::numeric, 4) AS sim
  FROM engram_recall('cues', '[1,0]', memory_id => 3, k => 1, mode => 'similarity', location => 'home');
-- Filters select the seeds; spreading may leave them (memory 4 is in the
-- office, reached from 2 in Paris).
SELECT engram_associate('cues', 2, 4, 1.0);
SELECT id, hops FROM engram_recall('cues', '[1,0]', location => 'paris');
-- A memory reached by spreading gets its similarity to the cue when it has
-- an embedding (3 is [0,1]: similarity 0 to [1,0]), unless
-- engram.spreading_similarity is off.
SELECT engram_associate('cues', 1, 3, 1.0);
SELECT id, hops, round(similarity::numeric, 4) AS sim FROM engram_recall('cues', '[1,0]', location => 'paris');
SET engram.spreading_similarity = off;
SELECT id, hops, round(similarity::numeric, 4) AS sim FROM engram_recall('cues', '[1,0]', location => 'paris');
RESET engram.spreading_similarity;

-- Decay, lazily at read time, from the time since last access (since
-- creation for a memory never accessed).  Space default exponential;
-- five memories of confidence 0.8 and similarity 1 (a = 0.768525), stored
-- at different times; evaluated at 2026-01-03 12:00.
SELECT engram_create_space('fading', 2, 'cosine', 'exponential') IS NOT NULL AS created;
SET engram.pinned_now = '2026-01-03 10:02:24+00';  -- 1.96 h before: exponential (space default)
SELECT engram_store('fading', 'exponential, 1.96 h', '[1,0]', confidence => 0.8);
SET engram.pinned_now = '2026-01-03 09:00:00+00';  -- 3 h before
SELECT engram_store('fading', 'power law, 3 h', '[1,0]', confidence => 0.8, decay_function => 'power_law');
SET engram.pinned_now = '2026-01-01 12:00:00+00';  -- 48 h before
SELECT engram_store('fading', 'hybrid, 48 h', '[1,0]', confidence => 0.8, decay_function => 'hybrid');
SET engram.pinned_now = '2026-01-03 11:30:00+00';  -- 30 min before
SELECT engram_store('fading', 'exponential, 30 min', '[1,0]', confidence => 0.8, decay_function => 'exponential');
SET engram.pinned_now = '2026-01-03 02:00:00+00';  -- 10 h before, never accessed
SELECT engram_store('fading', 'two component, 10 h', '[1,0]', confidence => 0.8, decay_function => 'two_component');
SET engram.pinned_now = '2026-01-03 12:00:00+00';
-- engram_memory_stats shows the state recall reads for each memory: never
-- accessed, so last access is the creation time.
SELECT id, tier, access_count, last_access, decay_function,
	   round(retention::numeric, 4) AS retention, round(effective_confidence::numeric, 4) AS effective
  FROM engram_memory_stats('fading');
--   exponential 1.96 h: R = exp(-1) = 0.367879, C = 0.294304, score (0.768525 C + 1)/2 = 0.613090
--   power law 3 h: R = 4^-0.18 = 0.779165, C = 0.623332, score 0.739523
--   hybrid 48 h: R = 49^-0.25 = 0.377964, C = 0.302372, score 0.616190
--   exponential 30 min: R = exp(-0.5/1.96) = 0.774837, C = 0.619870, recency
--     1 + 0.2 x (1 - 30/60) = 1.1, score 0.738193 x 1.1 = 0.812012
--   two component 10 h, 0 accesses: exponential, exp(-5.10) -> floor 0.1, C = 0.08, score 0.530741
SELECT content, round(confidence::numeric, 4) AS conf, round(score::numeric, 4) AS score
  FROM engram_recall('fading', '[1,0]', mode => 'similarity');
-- That recall returned all five, and recorded one access to each at 12:00
-- (in shared memory, not in the table): each is now fresh, retention 1.
SELECT id, tier, access_count, last_access, decay_function,
	   round(retention::numeric, 4) AS retention, round(effective_confidence::numeric, 4) AS effective
  FROM engram_memory_stats('fading');
-- So the same recall now ranks them on similarity alone, with the full
-- boost: C = 0.8, score (0.768525 x 0.8 + 1)/2 x 1.2 = 0.968892 each.
SELECT content, round(confidence::numeric, 4) AS conf, round(score::numeric, 4) AS score
  FROM engram_recall('fading', '[1,0]', mode => 'similarity');
-- The boost is a setting.  30 min after the last access (two accesses
-- each), exponential and two-component (under 3 accesses: exponential)
-- alike: R = exp(-0.5/1.96) = 0.774837, C = 0.619870, score without boost
-- (0.768525 x 0.619870 + 1)/2 = 0.738193 (with it: x 1.1).
SET engram.pinned_now = '2026-01-03 12:30:00+00';
SET engram.recency_boost = 1.0;
SELECT content, round(confidence::numeric, 4) AS conf, round(score::numeric, 4) AS score
  FROM engram_recall('fading', '[1,0]', mode => 'similarity')
 WHERE content LIKE 'two%' OR content LIKE '%30 min';
RESET engram.recency_boost;
-- The floor is a setting, and two-component switches to the power law at 3
-- accesses.  24 h after that third access (12:30):
--   exponential: exp(-24/1.96) = 0.000005 -> floor 0.2, C = 0.16,
--     score (0.768525 x 0.16 + 1)/2 = 0.561482
--   two component, 3 accesses: (1 + 24)^-0.18 = 0.560236, C = 0.448189,
--     score (0.768525 x 0.448189 + 1)/2 = 0.672222
SET engram.pinned_now = '2026-01-04 12:30:00+00';
SET engram.decay_floor = 0.2;
SELECT content, round(confidence::numeric, 4) AS conf, round(score::numeric, 4) AS score
  FROM engram_recall('fading', '[1,0]', mode => 'similarity')
 WHERE content LIKE 'two%' OR content LIKE '%30 min';
RESET engram.decay_floor;
SET engram.pinned_now = '2026-01-03 12:00:00+00';
-- Decay is applied at read time only: the stored confidence is unchanged.
SELECT DISTINCT confidence FROM fading;

-- l2 spaces: similarity = 1 / (1 + distance): [3,4] from [0,0] is 1/6.
SELECT engram_create_space('euclid', 2, 'l2') IS NOT NULL AS created;
SELECT engram_store('euclid', 'three four', '[3,4]');
SELECT round(similarity::numeric, 6) AS sim FROM engram_recall('euclid', '[0,0]');
-- An empty result is not an error: no memories match the text, none in the window.
SELECT count(*) AS no_match FROM engram_recall('euclid', 'nothing like this');
SELECT count(*) AS empty_window FROM engram_recall('euclid', '[0,0]', before => '2000-01-01');
-- A text cue full of SQL is just text.
SELECT count(*) AS injected FROM engram_recall('euclid', $$'); DROP TABLE euclid; --$$);
SELECT count(*) AS still_there FROM euclid;
-- k larger than the space returns what there is.
SELECT count(*) AS all_of_it FROM engram_recall('euclid', '[0,0]', k => 10000);

-- k' seeds even when a vector index returns at most engram.ef_search rows a
-- scan (engram_hnsw: 40 by default): recall raises it for its seed query
-- (k = 50, k' = 100) and puts it back.  Without the index this holds trivially.
SELECT engram_create_space('wide', 2) IS NOT NULL AS created;
SELECT count(*) FROM engram_store_batch('wide', ARRAY(SELECT 'm' || i FROM generate_series(1, 200) i),
	ARRAY(SELECT ARRAY[cos(i), sin(i)]::real[] FROM generate_series(1, 200) i)::real[]);
SET enable_seqscan = off;
CREATE TEMP TABLE ef_before AS SELECT current_setting('engram.ef_search', true) AS ef_search;
SELECT count(*) AS fifty FROM engram_recall('wide', '[1,0]', k => 50, mode => 'similarity');
SELECT current_setting('engram.ef_search', true) IS NOT DISTINCT FROM ef_search AS ef_search_restored
  FROM ef_before;
RESET enable_seqscan;

SELECT engram_drop_space('cues'), engram_drop_space('fading'), engram_drop_space('euclid'),
	   engram_drop_space('wide');
RESET engram.pinned_now;
