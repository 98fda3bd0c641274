-- The btree walk (src/recall/btree_walk.c) finds a key in a leaf starting
-- from where the parent's pivots place it (leaf_guided_lower_bound), then
-- steps to its neighbours, and falls back to a bisection when the guess is
-- far off.  Whatever the guess, it must find exactly what SQL finds.  Here
-- the keys are spread as unevenly as bigint allows, so that the guesses
-- miss by one, by a few and by many entries, on both sides: ids from -9e18
-- to 9e18, dense runs, cubes and large gaps; sources with one association
-- and sources with hundreds (spanning leaves).  Every answer read through
-- the walk is compared with the same call read through SQL, as a role
-- under row-level security with a policy that shows every row.
--
-- Decay 'none', recency boost 1 and one visit budget for every tier, so
-- that the accesses each call records do not change the next answer.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.visit_budget_hot = 2;
SET engram.visit_budget_warm = 2;
SET engram.visit_budget_cold = 2;
SET engram.spreading_time_budget = 0;

CREATE TABLE skew (
    id bigint NOT NULL,
    content text NOT NULL,
    embedding evector(4),
    kind text NOT NULL DEFAULT 'episodic',
    confidence real NOT NULL DEFAULT 0.9,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    location text,
    participants text[],
    tags text[],
    importance real NOT NULL DEFAULT 0.5,
    decay_function text,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT '2025-12-31 00:00:00+00');
CREATE UNIQUE INDEX skew_id ON skew (id);
CREATE TABLE skew_links (
    src bigint NOT NULL,
    dst bigint NOT NULL,
    weight real NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (src, dst) INCLUDE (weight));
SELECT engram_register_space('skew', 'skew_links', 'cosine', 'none') IS NOT NULL AS registered;

-- 6,000 ids: a dense run around 0, cubes (gaps growing to 8e9), ids near
-- both ends of bigint, and a run with gaps of 2^40.
CREATE TEMP TABLE skew_ids AS
SELECT row_number() OVER (ORDER BY id) AS n, id
  FROM (SELECT i AS id FROM generate_series(-1000, 999) i
        UNION SELECT i::bigint * i * i FROM generate_series(1001, 2000) i
        UNION SELECT 9000000000000000000 + i * 1000003 FROM generate_series(1, 1000) i
        UNION SELECT -9000000000000000000 - i * 999983 FROM generate_series(1, 1000) i
        UNION SELECT (i::bigint) << 40 FROM generate_series(1, 1000) i) ids;
SELECT count(*) AS ids, min(id) < -9e18 AS low_end, max(id) > 9e18 AS high_end FROM skew_ids;
INSERT INTO skew (id, content, embedding)
SELECT id, 'skew ' || n, format('[%s,%s,%s,%s]', cos(n), sin(n), cos(n * 0.37), sin(n * 1.7))::evector
  FROM skew_ids;
-- Associations: three per memory to pseudo-random others, and every
-- 50th memory with 1 to 400 more (entries of one source spanning leaves).
INSERT INTO skew_links (src, dst, weight)
SELECT s.id, d.id, 0.5 + ((s.n + f) % 5) / 10.0
  FROM skew_ids s CROSS JOIN generate_series(1, 3) f
  JOIN skew_ids d ON d.n = 1 + (s.n * 7919 + f * 104729) % 6000
 WHERE d.id <> s.id
ON CONFLICT DO NOTHING;
INSERT INTO skew_links (src, dst, weight)
SELECT s.id, d.id, 0.9
  FROM skew_ids s
  JOIN skew_ids d ON d.n % 15 = s.n % 15 AND d.n <= (s.n * 37) % 6000 AND d.n <> s.n
 WHERE s.n % 50 = 0
ON CONFLICT DO NOTHING;
DELETE FROM skew WHERE id IN (SELECT id FROM skew_ids WHERE n % 97 = 3);
DELETE FROM skew_links WHERE src IN (SELECT id FROM skew_ids WHERE n % 97 = 3)
   OR dst IN (SELECT id FROM skew_ids WHERE n % 97 = 3);
VACUUM skew_links;
SELECT max(c) > 300 AS a_source_spans_leaves, min(c) AS fewest_links
  FROM (SELECT count(*) AS c FROM skew_links GROUP BY src) c;
SELECT pg_relation_size('skew_id') / 8192 > 10 AS id_key_has_many_leaves,
       pg_relation_size('skew_links_pkey') / 8192 > 40 AS association_key_has_many_leaves;

-- Spreading from memories at both ends of the key range and in the
-- middle (three hops: most of the space reached), a recall from one
-- memory, and a recall by embedding seeded by 600 memories.
CREATE TEMP VIEW skew_answer AS
SELECT 'spread ' || s AS call, id, activation AS value, NULL::float8 AS similarity,
       confidence, confidence_low, confidence_high, hops
  FROM (SELECT id FROM skew_ids WHERE n IN (1, 50, 1500, 3000, 4000, 5999)) v(s),
       LATERAL engram_spread('skew', s, max_hops => 3, k => 10000)
UNION ALL
SELECT 'recall from ' || (SELECT id FROM skew_ids WHERE n = 2500), id, score, similarity,
       confidence, confidence_low, confidence_high, hops
  FROM engram_recall('skew', NULL::evector, memory_id => (SELECT id FROM skew_ids WHERE n = 2500),
                     k => 6000, max_hops => 3, mode => 'spreading')
UNION ALL
SELECT 'recall by embedding', id, score, similarity, confidence, confidence_low,
       confidence_high, hops
  FROM engram_recall('skew', '[1,0,0.5,0.2]', k => 300, max_hops => 3, mode => 'spreading');
CREATE TEMP TABLE skew_direct AS SELECT * FROM skew_answer;
SELECT call, count(*) AS returned, count(*) FILTER (WHERE hops > 0) AS by_spreading,
       max(hops) AS max_hops
  FROM skew_direct GROUP BY call ORDER BY call;

CREATE ROLE recall_walk_skew_reader;
GRANT SELECT ON skew, skew_links, skew_ids, skew_answer TO recall_walk_skew_reader;
ALTER TABLE skew ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON skew FOR SELECT TO recall_walk_skew_reader USING (true);
ALTER TABLE skew_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON skew_links FOR SELECT TO recall_walk_skew_reader USING (true);
SET ROLE recall_walk_skew_reader;
CREATE TEMP TABLE skew_sql AS SELECT * FROM skew_answer;
RESET ROLE;
SELECT (SELECT count(*) FROM (TABLE skew_direct EXCEPT ALL TABLE skew_sql) d) AS only_walk,
       (SELECT count(*) FROM (TABLE skew_sql EXCEPT ALL TABLE skew_direct) d) AS only_sql,
       (SELECT count(*) FROM skew_sql) AS answers;

DROP VIEW skew_answer;
DROP TABLE skew_direct, skew_sql, skew_ids;
SELECT engram_drop_space('skew');
DROP ROLE recall_walk_skew_reader;
RESET engram.recency_boost;
RESET engram.visit_budget_hot;
RESET engram.visit_budget_warm;
RESET engram.visit_budget_cold;
RESET engram.spreading_time_budget;
RESET engram.pinned_now;
