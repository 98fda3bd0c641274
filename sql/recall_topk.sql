-- engram_recall returns the k best memories by score, ties broken by the
-- lower id (src/recall/spreading.c, engram_spread_sorted: a selection of
-- the first k, not a sort of every memory reached).  The k best must be
-- exactly the first k rows of the full ranking, in its order, including
-- where equal scores meet at the k-th place.
--
-- Ten memories in pairs of identical embeddings and confidences (equal
-- scores within a pair), all within the seed candidates of every k from 5
-- (k' = 2k >= 10): every such call then ranks the same memories, and the
-- answer of k must be the first k rows of the answer of k = 10.
-- Associations between seeds add activation (revisits), the same within a
-- pair.  Decay none and recency boost 1: the accesses a recall records
-- change nothing.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-04-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.spreading_time_budget = 0;
SELECT engram_create_space('topk', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT count(*) AS stored
  FROM (SELECT engram_store('topk', 'm' || i, v, confidence => c)
          FROM (VALUES (1, '[1,0]'::evector, 0.9::real), (2, '[1,0]', 0.9),
                       (3, '[0.8,0.6]', 0.8), (4, '[0.8,0.6]', 0.8),
                       (5, '[0.6,0.8]', 0.9), (6, '[0.6,0.8]', 0.9),
                       (7, '[0,1]', 0.7), (8, '[0,1]', 0.7),
                       (9, '[-1,0]', 0.9), (10, '[-1,0]', 0.9)) m(i, v, c)
         ORDER BY i) s;
-- 1 and 2 both lead to 5 and 6, 3 and 4 both to 7 and 8 (same weights).
SELECT count(*) AS associated
  FROM (SELECT engram_associate('topk', s, d, 0.6, bidirectional => false)
          FROM (VALUES (1, 5), (1, 6), (2, 5), (2, 6), (3, 7), (3, 8), (4, 7), (4, 8)) a(s, d)) s;

-- The full ranking (k = 10), with the tie of each pair visible.
CREATE TABLE full_answer AS
SELECT row_number() OVER () AS rank, id, round(score::numeric, 6) AS score,
       round(activation::numeric, 6) AS activation, hops
  FROM engram_recall('topk', '[0.9,0.3]', k => 10, mode => 'spreading');
SELECT * FROM full_answer ORDER BY rank;
-- Equal scores meet at the places that cut k = 5, 7 and 9.
SELECT f.rank, f.score = g.score AS ties_with_next
  FROM full_answer f JOIN full_answer g ON g.rank = f.rank + 1
 WHERE f.rank IN (5, 7, 9)
 ORDER BY f.rank;

-- Each k from 5 to 9: the first k rows of the full ranking, in order.
SELECT k, (SELECT array_agg(id ORDER BY rank) FROM (
               SELECT row_number() OVER () AS rank, id
                 FROM engram_recall('topk', '[0.9,0.3]', k => k, mode => 'spreading')) r) AS ids,
       (SELECT array_agg(id ORDER BY rank) FROM full_answer WHERE rank <= k) AS first_k_of_full
  FROM generate_series(5, 9) k
 ORDER BY k;

-- Similarity mode (seeds only) and hybrid: the same property.
SELECT mode, k,
       (SELECT array_agg(id ORDER BY rank) FROM (
            SELECT row_number() OVER () AS rank, id
              FROM engram_recall('topk', '[0.9,0.3]', k => k, mode => mode)) r)
       = (SELECT array_agg(id ORDER BY rank) FROM (
            SELECT row_number() OVER () AS rank, id
              FROM engram_recall('topk', '[0.9,0.3]', k => 10, mode => mode)) r
           WHERE rank <= k) AS first_k_of_full
  FROM (VALUES ('similarity'), ('hybrid')) m(mode), generate_series(5, 9) k
 ORDER BY mode, k;

-- Filters alone seed with the k' = 2k most recent matching memories, each
-- with activation 1: with equal confidences every score is equal, and
-- the k returned are the lowest ids among those candidates.  Memories 11
-- to 22 (tag t), later id = earlier occurred_at: the 2k most recent are
-- 11 .. 10 + 2k, and k returns 11 .. 10 + k (k = 3: 11, 12, 13).
SELECT count(*) AS stored_tagged
  FROM (SELECT engram_store('topk', 't' || i, '[1,1]', tags => '{t}',
                            occurred_at => '2026-03-01 00:00:00+00'::timestamptz - i * interval '1 hour')
          FROM generate_series(1, 12) i ORDER BY i) s;
SELECT id, round(score::numeric, 6) AS score, hops
  FROM engram_recall('topk', tags => '{t}', k => 3, mode => 'similarity');
SELECT k, (SELECT array_agg(id ORDER BY rank) FROM (
               SELECT row_number() OVER () AS rank, id
                 FROM engram_recall('topk', tags => '{t}', k => k, mode => 'similarity')) r) AS ids
  FROM generate_series(1, 6) k
 ORDER BY k;

DROP TABLE full_answer;
SELECT engram_drop_space('topk');
