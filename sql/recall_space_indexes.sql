-- The b-tree indexes engram_create_space makes for the worker's
-- consolidation passes: (occurred_at, id), read backwards for the
-- candidate pool (the newest episodes), and a partial index on the ids of
-- the semantic memories (each pass reads them all; episodes get no entry).
SELECT engram_create_space('idx_space', 3) IS NOT NULL AS created;
SELECT regexp_replace(indexdef, ' ON \S+', ' ON <space>') AS indexdef
FROM pg_indexes
WHERE tablename = 'idx_space' AND (indexdef LIKE '%occurred_at%' OR indexdef LIKE '%semantic%')
ORDER BY indexdef;
-- 300 episodes with distinct times and 3 semantic memories: the pool's
-- query shape and the semantic read use them (plans with statistics).
INSERT INTO idx_space (content, embedding, occurred_at)
SELECT 'e' || i, '[1,0,0]', '2026-01-01'::timestamptz + i * interval '1 minute'
FROM generate_series(1, 300) i;
INSERT INTO idx_space (content, embedding, kind) VALUES
	('s1', '[0,1,0]', 'semantic'), ('s2', '[0,1,0]', 'semantic'), ('s3', '[0,1,0]', 'semantic');
ANALYZE idx_space;
SET enable_seqscan = off;	-- the table is small; what matters is that the indexes answer
EXPLAIN (COSTS OFF) SELECT id FROM idx_space e WHERE e.kind = 'episodic'
ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM idx_space s WHERE s.kind = 'semantic' ORDER BY s.id;
RESET enable_seqscan;
SELECT count(*) AS semantic_entries FROM idx_space WHERE kind = 'semantic';
SELECT engram_drop_space('idx_space');
