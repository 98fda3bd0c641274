-- The worker's pending_flush job: rows stored into a space whose
-- engram_hnsw index defers inserts wait on the index's pending list; one
-- maintenance cycle merges at most engram.pending_flush_batch of them into
-- the graph, over all the space's engram_hnsw indexes, and the next cycles
-- drain the rest.  Everything runs in one transaction, rolled back, so the
-- server's own worker never sees the space.
SET client_min_messages = warning;
BEGIN;
SET LOCAL engram.space_deferred_insert = on;
SELECT engram_create_space('pending_space', 4) IS NOT NULL AS created;
-- A second engram_hnsw index (L2) that defers too: the budget is shared.
CREATE INDEX pending_space_l2 ON pending_space USING engram_hnsw (embedding evector_l2_ops)
	WITH (deferred_insert = on);
-- 120 memories on distinct points of a spiral: each is its own nearest
-- neighbour.  Semantic ones, so that the other jobs of the cycle
-- (consolidation, soft forgetting) leave them alone.
INSERT INTO pending_space (content, kind, embedding)
SELECT 'memory ' || i, 'semantic',
	   ARRAY[cos(i * 0.7), sin(i * 0.7), i / 120.0, 1]::real[]::evector
FROM generate_series(1, 120) i;
CREATE TEMP TABLE pending_indexes AS
SELECT i.indexrelid AS index, row_number() OVER (ORDER BY i.indexrelid) AS n
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram_hnsw'
WHERE i.indrelid = 'pending_space'::regclass;
SELECT n, (SELECT entries FROM engram_hnsw_pending_stats(index)) AS pending
FROM pending_indexes ORDER BY n;

-- Off: nothing merged.
SET LOCAL engram.pending_flush_batch = 0;
SELECT job, state, detail, rows_flushed FROM engram_run_maintenance('pending_space')
WHERE job = 'pending_flush';
-- A budget of 50: the first index (OID order) gives 50, the second waits.
SET LOCAL engram.pending_flush_batch = 50;
SELECT job, state, detail, rows_flushed FROM engram_run_maintenance('pending_space')
WHERE job = 'pending_flush';
SELECT n, (SELECT entries FROM engram_hnsw_pending_stats(index)) AS pending
FROM pending_indexes ORDER BY n;
-- 100: the rest of the first index (70), then 30 of the second.
SET LOCAL engram.pending_flush_batch = 100;
SELECT detail, rows_flushed FROM engram_run_maintenance('pending_space')
WHERE job = 'pending_flush';
SELECT n, (SELECT entries FROM engram_hnsw_pending_stats(index)) AS pending
FROM pending_indexes ORDER BY n;
-- The default budget (1000) drains the second; then there is nothing to do.
SET LOCAL engram.pending_flush_batch = DEFAULT;
SHOW engram.pending_flush_batch;
SELECT detail, rows_flushed FROM engram_run_maintenance('pending_space')
WHERE job = 'pending_flush';
SELECT detail, rows_flushed FROM engram_run_maintenance('pending_space')
WHERE job = 'pending_flush';
SELECT n, (SELECT entries FROM engram_hnsw_pending_stats(index)) AS pending
FROM pending_indexes ORDER BY n;

-- Every row is now in each graph, once: no verify error, and an index scan
-- (pending list empty, so the graph alone answers) finds each memory as its
-- own nearest neighbour, under both metrics.
SELECT n, count(*) FILTER (WHERE v.severity = 'error') AS errors
FROM pending_indexes LEFT JOIN LATERAL engram_hnsw_verify(index) v ON true
GROUP BY n ORDER BY n;
SET LOCAL enable_seqscan = off;
SET LOCAL engram.ef_search = 200;
SELECT count(*) AS own_nearest_cosine FROM pending_space t WHERE t.id = (
	SELECT o.id FROM pending_space o ORDER BY o.embedding <=> t.embedding LIMIT 1);
SELECT count(*) AS own_nearest_l2 FROM pending_space t WHERE t.id = (
	SELECT o.id FROM pending_space o ORDER BY o.embedding <-> t.embedding LIMIT 1);
SELECT count(*) AS returned, count(DISTINCT id) AS distinct_rows FROM (
	SELECT id FROM pending_space ORDER BY embedding <-> '[0,0,0,0]' LIMIT 200) s;
ROLLBACK;

-- The setting: a budget, 0 switches the job off, no negative value.
SET engram.pending_flush_batch = -1;
SELECT name, setting, boot_val, min_val, max_val, context FROM pg_settings
WHERE name = 'engram.pending_flush_batch';
