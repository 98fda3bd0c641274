-- Each backend caches what it resolved about a space (src/recall/
-- space_cache.c) and the plans of its statements (spi_plans.c).  Nothing
-- a session changes may be missed by the next call in the same session:
-- a space dropped and re-created under the same name, a table or schema
-- renamed, a column or index changed, a catalog row updated, privileges
-- and row-level security changed between calls, and work rolled back.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.spreading_time_budget = 0;
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO PUBLIC;

-- 1. Dropped and re-created under the same name, other dimensions and
-- distance: the second space is the one used.
SELECT engram_create_space('cached', 3, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('cached', 'three dims', '[1,0,0]', confidence => 0.8) AS id;
SELECT id, content, round(similarity::numeric, 4) AS similarity
  FROM engram_recall('cached', '[1,0,0]', k => 5);
SELECT engram_drop_space('cached');
SELECT engram_create_space('cached', 2, 'l2', 'none') IS NOT NULL AS created;
SELECT engram_store('cached', 'two dims', '[3,4]', confidence => 0.8) AS id;
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('cached', '[1,0,0]')$$) AS three_dims;
-- l2 similarity 1 / (1 + 5) from the origin
SELECT id, content, round(similarity::numeric, 4) AS similarity
  FROM engram_recall('cached', '[0,0]', k => 5);

-- 2. The table renamed: the old name is gone, the new one works (the
-- statements use the new name).
ALTER TABLE cached RENAME TO cached_renamed;
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('cached', '[0,0]')$$) AS old_name;
SELECT id, content FROM engram_recall('cached_renamed', '[0,0]', k => 5);
ALTER TABLE cached_renamed RENAME TO cached;

-- 3. Its schema renamed: the cached qualified names follow.
CREATE SCHEMA recall_cache_a;
SET search_path = recall_cache_a, public;
SELECT engram_create_space('nested', 2, 'cosine', 'none')::text AS created;
RESET search_path;
SELECT engram_store('recall_cache_a.nested', 'in a schema', '[1,1]') AS id;
SELECT id, content FROM engram_recall('recall_cache_a.nested', '[1,1]', k => 5);
ALTER SCHEMA recall_cache_a RENAME TO recall_cache_b;
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('recall_cache_a.nested', '[1,1]')$$)
	AS old_schema;
SELECT id, content FROM engram_recall('recall_cache_b.nested', '[1,1]', k => 5);
SELECT engram_drop_space('recall_cache_b.nested');
DROP SCHEMA recall_cache_b;

-- 4. The catalog row changed by hand: the new default decay is used at
-- once.  Each recall records an access at the pinned clock, and the clock
-- moves a day before the next: with 'none' the confidence is the stored
-- 0.8, with exponential decay (tau 1.96 h) a day-old access leaves the
-- floor, 0.1 x 0.8.
SELECT engram_create_space('decaying', 2, 'cosine', 'none') IS NOT NULL AS created;
INSERT INTO decaying (content, embedding, confidence, created_at)
VALUES ('a day old', '[1,0]', 0.8, '2025-12-31 10:00:00+00');
SELECT id, round(confidence::numeric, 4) AS confidence
  FROM engram_recall('decaying', '[1,0]', k => 1, mode => 'similarity');
UPDATE engram_space_catalog SET default_decay = 'exponential' WHERE space = 'decaying'::regclass;
SET engram.pinned_now = '2026-01-02 10:00:00+00';
SELECT id, round(confidence::numeric, 4) AS confidence
  FROM engram_recall('decaying', '[1,0]', k => 1, mode => 'similarity');
-- Rolled back: the change is forgotten again.
BEGIN;
UPDATE engram_space_catalog SET default_decay = 'none' WHERE space = 'decaying'::regclass;
SET LOCAL engram.pinned_now = '2026-01-03 10:00:00+00';
SELECT id, round(confidence::numeric, 4) AS confidence
  FROM engram_recall('decaying', '[1,0]', k => 1, mode => 'similarity');
ROLLBACK;
SET engram.pinned_now = '2026-01-04 10:00:00+00';
SELECT id, round(confidence::numeric, 4) AS confidence
  FROM engram_recall('decaying', '[1,0]', k => 1, mode => 'similarity');
SET engram.pinned_now = '2026-01-01 10:00:00+00';

-- 5. Unregistered, or registered in a transaction that rolls back.
BEGIN;
SELECT engram_unregister_space('decaying');
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('decaying', '[1,0]')$$) AS unregistered;
ROLLBACK;
SELECT count(*) AS recalled_after_rollback FROM engram_recall('decaying', '[1,0]', k => 1);
SELECT engram_unregister_space('decaying');
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('decaying', '[1,0]')$$) AS unregistered;
DROP TABLE decaying, decaying_associations;
BEGIN;
SELECT engram_create_space('fleeting', 2) IS NOT NULL AS created;
SELECT count(*) AS recalled_in_transaction FROM engram_recall('fleeting', '[1,0]', k => 1);
ROLLBACK;
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('fleeting', '[1,0]')$$) AS rolled_back;

-- 6. Columns and indexes changed: spreading reads what the statements
-- would, before and after the association table loses its primary key
-- (then spreading runs the SQL statements).  Memory 3 has no embedding:
-- only spreading reaches it, from seed 2 (activation 0.7685):
-- 0.7685 x 0.9 x exp(-0.7) = 0.3435.
SELECT engram_store('cached', 'two', '[3,5]') AS m2, engram_store('cached', 'three', NULL) AS m3;
SELECT engram_associate('cached', 2, 3, 0.9, false);
SELECT id, hops, round(activation::numeric, 4) AS activation
  FROM engram_recall('cached', '[3,5]', k => 5, max_hops => 1) ORDER BY id;
ALTER TABLE cached_associations DROP CONSTRAINT cached_associations_pkey;
SELECT id, hops, round(activation::numeric, 4) AS activation
  FROM engram_recall('cached', '[3,5]', k => 5, max_hops => 1) ORDER BY id;
ALTER TABLE cached_associations ADD PRIMARY KEY (src, dst);
-- The embedding column dropped: recall says so.
ALTER TABLE cached DROP COLUMN embedding;
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('cached', '[0,0]')$$) AS no_embedding;
DROP TABLE cached_associations, cached;
SELECT count(*) AS catalog_rows_left FROM engram_space_catalog WHERE space::text LIKE 'cached%';

-- 7. Privileges and row-level security changed between calls of one
-- session: every call checks them again.
CREATE ROLE recall_cache_owner;
CREATE ROLE recall_cache_reader;
CREATE SCHEMA recall_cache AUTHORIZATION recall_cache_owner;
GRANT USAGE ON SCHEMA recall_cache TO recall_cache_reader;
SET ROLE recall_cache_owner;
SET search_path = recall_cache, public;
SELECT engram_create_space('guarded', 2, 'cosine', 'none')::text AS created;
RESET search_path;
SELECT engram_store('recall_cache.guarded', 'open', '[1,0]', tags => '{open}') AS m1,
	   engram_store('recall_cache.guarded', 'closed', '[1,0.1]', tags => '{closed}') AS m2,
	   engram_store('recall_cache.guarded', 'behind closed', '[0,1]', tags => '{open}') AS m3;
SELECT engram_associate('recall_cache.guarded', 2, 3, 1.0, false);
GRANT SELECT ON recall_cache.guarded, recall_cache.guarded_associations TO recall_cache_reader;
RESET ROLE;
SET ROLE recall_cache_reader;
SELECT array_agg(id ORDER BY id) AS recalled
  FROM engram_recall('recall_cache.guarded', '[1,0]', k => 10);
RESET ROLE;
SET ROLE recall_cache_owner;
REVOKE SELECT ON recall_cache.guarded FROM recall_cache_reader;
RESET ROLE;
SET ROLE recall_cache_reader;
SELECT pg_temp.sqlstate_of($$SELECT * FROM engram_recall('recall_cache.guarded', '[1,0]')$$)
	AS revoked;
RESET ROLE;
SET ROLE recall_cache_owner;
GRANT SELECT ON recall_cache.guarded TO recall_cache_reader;
ALTER TABLE recall_cache.guarded ENABLE ROW LEVEL SECURITY;
CREATE POLICY reader_sees_open ON recall_cache.guarded FOR SELECT TO recall_cache_reader
	USING ('open' = ANY (tags));
RESET ROLE;
-- Now through SQL, with the policy: memory 2 is hidden.
SET ROLE recall_cache_reader;
SELECT array_agg(id ORDER BY id) AS recalled
  FROM engram_recall('recall_cache.guarded', '[1,0]', k => 10);
RESET ROLE;
SET ROLE recall_cache_owner;
ALTER TABLE recall_cache.guarded DISABLE ROW LEVEL SECURITY;
RESET ROLE;
SET ROLE recall_cache_reader;
SELECT array_agg(id ORDER BY id) AS recalled
  FROM engram_recall('recall_cache.guarded', '[1,0]', k => 10);
RESET ROLE;
SET ROLE recall_cache_owner;
SELECT engram_drop_space('recall_cache.guarded');
RESET ROLE;
DROP SCHEMA recall_cache;
DROP ROLE recall_cache_owner;
DROP ROLE recall_cache_reader;
