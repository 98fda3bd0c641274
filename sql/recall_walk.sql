-- Spreading reads the associations leaving its frontier and the rows of the
-- memories they reach with one ordered walk of each btree
-- (src/recall/btree_walk.c) instead of one descent from the root per id.
-- The walk must find exactly what SQL finds.  Every answer read through the
-- walk here is compared with the same call read through SQL (as a role
-- under row-level security with a policy that shows every row, so that
-- spreading runs its statements), on spaces whose indexes have many
-- leaves, with rows deleted (dead index entries), updated (HOT and not),
-- soft-forgotten, moved to the cold and the hot tier, and associations
-- re-weighted after a VACUUM (some heap pages all-visible, some not); and
-- on a hand-made space whose keys carry wide INCLUDE columns, so that both
-- btrees have three levels.
--
-- Decay 'none', recency boost 1 and one visit budget for every tier, so
-- that the accesses each call records and the rows SQL brings into the hot
-- tier do not change the next answer; no time budget.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.visit_budget_hot = 2;
SET engram.visit_budget_warm = 2;
SET engram.visit_budget_cold = 2;
SET engram.spreading_time_budget = 0;

SELECT engram_create_space('walk', 4, 'cosine', 'none') IS NOT NULL AS created;
SELECT count(*) AS stored
  FROM engram_store_batch('walk',
         ARRAY(SELECT 'memory ' || i FROM generate_series(1, 2500) i ORDER BY i),
         ARRAY(SELECT format('[%s,%s,%s,%s]', cos(i), sin(i), cos(i * 0.37), sin(i * 1.7))::evector
                 FROM generate_series(1, 2500) i ORDER BY i));
-- Four associations per memory, and memory 1 linked to every 5th memory
-- (a depth-1 frontier of 500 ids spread over the whole key range).
INSERT INTO walk_associations (src, dst, weight)
SELECT i, 1 + (i * 7919 + f * 104729) % 2500, 0.5 + ((i + f) % 5) / 10.0
  FROM generate_series(1, 2500) i, generate_series(1, 4) f
 WHERE i <> 1 + (i * 7919 + f * 104729) % 2500
ON CONFLICT DO NOTHING;
INSERT INTO walk_associations (src, dst, weight)
SELECT 1, i, 0.9 FROM generate_series(5, 2500, 5) i ON CONFLICT DO NOTHING;
VACUUM walk_associations;
SELECT pg_relation_size('walk_associations_pkey') / 8192 > 40 AS association_key_has_many_leaves;

-- Changes whose index entries the walk meets: deleted rows (their
-- associations go too: dead entries in both keys), non-HOT updates (the
-- embedding is indexed), HOT updates, soft forgetting (confidence 0, cold),
-- explicit moves to the cold and hot tiers, re-weighted associations.
DELETE FROM walk WHERE id % 97 = 3;
UPDATE walk SET embedding = format('[%s,%s,%s,%s]', sin(id), cos(id), 0.5, 0.1)::evector
 WHERE id % 89 = 5;
UPDATE walk SET importance = 0.6 WHERE id % 83 = 7;
SELECT count(*) FILTER (WHERE engram_forget('walk', id)) AS forgotten
  FROM (SELECT id FROM walk WHERE id % 79 = 11 OFFSET 0) f;
SELECT engram_move_to_tier('walk', ARRAY(SELECT ctid FROM walk WHERE id % 71 = 13), 'cold') AS moved_cold;
SELECT engram_move_to_tier('walk', ARRAY(SELECT ctid FROM walk WHERE id % 67 = 17), 'hot') >= 0 AS moved_hot;
SELECT engram_move_to_tier('walk', ARRAY(SELECT ctid FROM walk WHERE id % 3 = 0), 'warm') >= 0 AS moved_warm;
UPDATE walk_associations SET weight = weight * 0.9 WHERE src % 61 = 19;

-- The answers: spreading from four memories (three hops, every memory
-- reached); a recall from memory 1 alone (k 3000: every memory reached,
-- ranked without similarity); a recall by embedding seeded by 800 memories
-- (k' = 2k), returning its 400 best.
CREATE TEMP VIEW walk_answer AS
SELECT 'spread ' || s AS call, id, activation AS value, NULL::float8 AS similarity,
       confidence, confidence_low, confidence_high, hops
  FROM (VALUES (1), (2), (500), (2499)) v(s),
       LATERAL engram_spread('walk', s, max_hops => 3, k => 10000)
UNION ALL
SELECT 'recall from 1', id, score, similarity, confidence, confidence_low, confidence_high, hops
  FROM engram_recall('walk', NULL::evector, memory_id => 1, k => 3000, max_hops => 3,
                     mode => 'spreading')
UNION ALL
SELECT 'recall by embedding', id, score, similarity, confidence, confidence_low,
       confidence_high, hops
  FROM engram_recall('walk', '[1,0,0.5,0.2]', k => 400, max_hops => 3, mode => 'spreading');
-- Read through the walk.
CREATE TEMP TABLE walk_direct AS SELECT * FROM walk_answer;
-- Large frontiers, and every kind of row among what they reached.
SELECT call, count(*) AS returned, count(*) FILTER (WHERE hops > 0) AS by_spreading,
       max(hops) AS max_hops
  FROM walk_direct GROUP BY call ORDER BY call;
SELECT bool_or(w.id % 71 = 13) AS reached_cold, bool_or(w.id % 67 = 17) AS reached_hot,
       bool_or(w.id % 89 = 5) AS reached_updated, bool_or(w.id % 83 = 7) AS reached_hot_updated,
       count(*) FILTER (WHERE w.id IS NULL) AS returned_deleted,
       count(*) FILTER (WHERE w.confidence = 0) AS returned_forgotten
  FROM walk_direct d LEFT JOIN walk w USING (id);

-- The first hop against plain SQL: memory 2's neighbours, with activation
-- w x exp(-0.7), the soft-forgotten left out (every weight is above the
-- depth-1 threshold).
SELECT count(*) AS neighbours,
       bool_and(a.src IS NOT NULL AND abs(s.activation - a.weight * exp(-0.7)) < 1e-12)
         AS activations_match
  FROM engram_spread('walk', 2, max_hops => 1, k => 10000) s
  LEFT JOIN walk_associations a ON a.src = 2 AND a.dst = s.id;
SELECT count(*) AS expected_neighbours
  FROM walk_associations a JOIN walk m ON m.id = a.dst
 WHERE a.src = 2 AND m.confidence > 0 AND a.weight * exp(-0.7) >= 0.05;

-- The same through SQL, as a role that row-level security applies to
-- (with a policy that shows every row; superusers bypass policies): first
-- for the memory rows only, then for the associations too.
CREATE ROLE recall_walk_reader;
GRANT SELECT ON walk, walk_associations, walk_answer TO recall_walk_reader;
ALTER TABLE walk ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON walk FOR SELECT TO recall_walk_reader USING (true);
SET ROLE recall_walk_reader;
CREATE TEMP TABLE walk_sql AS SELECT * FROM walk_answer;
RESET ROLE;
SELECT (SELECT count(*) FROM (TABLE walk_direct EXCEPT ALL TABLE walk_sql) d) AS only_walk,
       (SELECT count(*) FROM (TABLE walk_sql EXCEPT ALL TABLE walk_direct) d) AS only_sql;
ALTER TABLE walk_associations ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON walk_associations FOR SELECT TO recall_walk_reader USING (true);
SET ROLE recall_walk_reader;
TRUNCATE walk_sql;
INSERT INTO walk_sql SELECT * FROM walk_answer;
RESET ROLE;
SELECT (SELECT count(*) FROM (TABLE walk_direct EXCEPT ALL TABLE walk_sql) d) AS only_walk,
       (SELECT count(*) FROM (TABLE walk_sql EXCEPT ALL TABLE walk_direct) d) AS only_sql;

-- A hand-made space whose id key and association key carry 2,400 bytes
-- of incompressible INCLUDE columns: three entries per leaf, so more
-- leaves than one page of 8-byte keys can point to, and a middle level.
-- (Over 450 pages, checked below: a root of bigint pivots holds about
-- 400.)
CREATE TABLE fat (
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
    created_at timestamptz NOT NULL DEFAULT '2025-12-31 00:00:00+00',
    pad text NOT NULL);
CREATE UNIQUE INDEX fat_id ON fat (id) INCLUDE (pad);
CREATE TABLE fat_links (
    src bigint NOT NULL,
    dst bigint NOT NULL,
    weight real NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    pad text NOT NULL,
    PRIMARY KEY (src, dst) INCLUDE (weight, pad));
SELECT engram_register_space('fat', 'fat_links', 'cosine', 'none') IS NOT NULL AS registered;
INSERT INTO fat (id, content, embedding, pad)
SELECT i, 'fat ' || i, format('[%s,%s,%s,%s]', cos(i), sin(i), cos(i * 0.37), sin(i * 1.7))::evector,
       (SELECT string_agg(md5(i::text || '.' || j), '') FROM generate_series(1, 75) j)
  FROM generate_series(1, 1500) i;
INSERT INTO fat_links (src, dst, weight, pad)
SELECT i, 1 + (i * 7919 + f * 104729) % 1500, 0.5 + ((i + f) % 5) / 10.0,
       (SELECT string_agg(md5(i::text || '/' || f || '/' || j), '') FROM generate_series(1, 75) j)
  FROM generate_series(1, 1500) i, generate_series(1, 2) f
 WHERE i <> 1 + (i * 7919 + f * 104729) % 1500
ON CONFLICT DO NOTHING;
INSERT INTO fat_links (src, dst, weight, pad)
SELECT 1, i, 0.9, (SELECT string_agg(md5(i::text || '/h/' || j), '') FROM generate_series(1, 75) j)
  FROM generate_series(3, 1500, 3) i ON CONFLICT DO NOTHING;
DELETE FROM fat WHERE id % 97 = 3;
DELETE FROM fat_links WHERE dst % 97 = 3 OR src % 97 = 3;
VACUUM fat_links;
UPDATE fat_links SET weight = weight * 0.9 WHERE src % 61 = 19;
SELECT pg_relation_size('fat_id') / 8192 > 450 AS id_key_beyond_two_levels,
       pg_relation_size('fat_links_pkey') / 8192 > 450 AS association_key_beyond_two_levels;

CREATE TEMP VIEW fat_answer AS
SELECT 'spread ' || s AS call, id, activation AS value, NULL::float8 AS similarity,
       confidence, confidence_low, confidence_high, hops
  FROM (VALUES (1), (2), (500), (1499)) v(s),
       LATERAL engram_spread('fat', s, max_hops => 4, k => 10000)
UNION ALL
SELECT 'recall from 1', id, score, similarity, confidence, confidence_low, confidence_high, hops
  FROM engram_recall('fat', NULL::evector, memory_id => 1, k => 3000, max_hops => 4,
                     mode => 'spreading')
UNION ALL
SELECT 'recall by embedding', id, score, similarity, confidence, confidence_low,
       confidence_high, hops
  FROM engram_recall('fat', '[1,0,0.5,0.2]', k => 150, max_hops => 4, mode => 'spreading');
CREATE TEMP TABLE fat_direct AS SELECT * FROM fat_answer;
SELECT call, count(*) AS returned, count(*) FILTER (WHERE hops > 0) AS by_spreading,
       max(hops) AS max_hops
  FROM fat_direct GROUP BY call ORDER BY call;
GRANT SELECT ON fat, fat_links, fat_answer TO recall_walk_reader;
ALTER TABLE fat ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON fat FOR SELECT TO recall_walk_reader USING (true);
ALTER TABLE fat_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON fat_links FOR SELECT TO recall_walk_reader USING (true);
SET ROLE recall_walk_reader;
CREATE TEMP TABLE fat_sql AS SELECT * FROM fat_answer;
RESET ROLE;
SELECT (SELECT count(*) FROM (TABLE fat_direct EXCEPT ALL TABLE fat_sql) d) AS only_walk,
       (SELECT count(*) FROM (TABLE fat_sql EXCEPT ALL TABLE fat_direct) d) AS only_sql;

DROP VIEW walk_answer, fat_answer;
DROP TABLE walk_direct, walk_sql, fat_direct, fat_sql;
SELECT engram_drop_space('walk');
SELECT engram_drop_space('fat');
DROP ROLE recall_walk_reader;
RESET engram.recency_boost;
RESET engram.visit_budget_hot;
RESET engram.visit_budget_warm;
RESET engram.visit_budget_cold;
RESET engram.spreading_time_budget;
RESET engram.pinned_now;
