-- A spreading run keeps its nodes in an array with an id index
-- (src/recall/spreading.c), both made for 256 nodes and grown as memories
-- are reached, and takes the nodes with their paths from blocks of a few
-- nodes each.  Here one seed reaches 1200 memories over two depths, so both
-- grow several times while nodes are entered and found again (revisits at
-- depth 2): every memory reached must still come back once, with the
-- activation the rules give it.
--
-- Space "fan" (2 dimensions, cosine, no decay), all memories warm:
--   1           the seed, embedding [1,0]; the others have none
--   2 .. 601    the fan:  1 -> i, weight 0.9
--   602 .. 1201 the rim:  i -> i + 600, weight 0.9 (i in 2 .. 601)
--   and inside the fan    i -> i + 1, weight 0.9 (i in 2 .. 600)
-- engram_spread from memory 1 with activation 1, depth 1:
--   a(i) = 1 x 0.9 x exp(-0.7) = 0.446927 for every fan memory
-- depth 2 (the fan expands):
--   rim: 0.446927 x 0.9 x exp(-1.4) = 0.099190 >= 0.05: reached at hop 2
--   fan 3 .. 601 (active: a revisit, second visit within the warm budget
--   of 2): 0.446927 + 0.93 x 0.099190 = 0.539173; fan 2 keeps 0.446927
SET client_min_messages = warning;
SET engram.pinned_now = '2026-05-01 10:00:00+00';
SET engram.spreading_time_budget = 0;
SELECT engram_create_space('fan', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('fan', 'm1', '[1,0]') AS seed;
SELECT count(*) AS stored
  FROM (SELECT engram_store('fan', 'm' || i, NULL) FROM generate_series(2, 1201) i ORDER BY i) s;
INSERT INTO fan_associations (src, dst, weight)
SELECT 1, i, 0.9 FROM generate_series(2, 601) i
UNION ALL SELECT i, i + 600, 0.9 FROM generate_series(2, 601) i
UNION ALL SELECT i, i + 1, 0.9 FROM generate_series(2, 600) i;
SELECT engram_move_to_tier('fan', array_agg(ctid), 'warm') IS NOT NULL AS moved FROM fan;
ANALYZE fan;
ANALYZE fan_associations;

-- Every memory reached once (engram_spread leaves out the one it starts
-- from), the right content with each id.
SELECT count(*) AS reached, count(DISTINCT id) AS distinct_ids, min(id), max(id),
       count(*) FILTER (WHERE content <> 'm' || id) AS mismatched
  FROM engram_spread('fan', 1, max_hops => 2, k => 2000);
SELECT hops, count(*), round(min(activation)::numeric, 6) AS min_activation,
       round(max(activation)::numeric, 6) AS max_activation
  FROM engram_spread('fan', 1, max_hops => 2, k => 2000)
 GROUP BY hops ORDER BY hops;
-- The one fan memory no other fan memory leads to is the one without a revisit.
SELECT id, round(activation::numeric, 6) AS activation
  FROM engram_spread('fan', 1, max_hops => 2, k => 2000)
 WHERE hops = 1 AND activation < 0.5;

-- Recall from the seed's embedding reaches the same memories (seed
-- activation sigmoid(1.2) = 0.768525: the rim at 0.076230 still passes).
SELECT hops, count(*), count(DISTINCT id) AS distinct_ids, min(id), max(id)
  FROM engram_recall('fan', '[1,0]'::evector, k => 2000, max_hops => 2)
 GROUP BY hops ORDER BY hops;
SELECT engram_drop_space('fan') IS NOT NULL AS dropped;
