-- The backend's association cache (src/recall/association_cache.c): every
-- recall and spread answers as with engram.association_cache_size = 0,
-- across writes of the association table in the same transaction, in
-- later ones, in a prepared one and in the same statement; the cache is
-- used where it may be (hits) and not where it may not (a table without
-- the triggers, or with them disabled).
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.spreading_time_budget = 0;
SET engram.recency_boost = 1.0;
SELECT engram_create_space('ac', 2, 'cosine', 'none') IS NOT NULL AS created;
INSERT INTO ac (id, content, embedding)
SELECT i, 'memory ' || i, format('[%s,%s]', cos(i), sin(i))::evector FROM generate_series(1, 400) i;
INSERT INTO ac_associations (src, dst, weight)
SELECT i, 1 + (i * 7919 + f * 104729) % 400, 0.5 + f / 10.0
  FROM generate_series(1, 400) i, generate_series(1, 4) f
 WHERE i <> 1 + (i * 7919 + f * 104729) % 400
ON CONFLICT DO NOTHING;

-- The two internal triggers: statement-level always, row-level on replica.
SELECT CASE WHEN t.tgtype & 1 = 1 THEN 'row' ELSE 'statement' END AS level, t.tgenabled, t.tgisinternal
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE t.tgrelid = 'ac_associations'::regclass AND p.proname = 'engram_association_changed'
 ORDER BY 1;
-- They belong to the table: DROP TRIGGER refuses (2BP01).
CREATE TEMP TABLE drop_trigger (level text, outcome text);
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT tg.tgname, CASE WHEN tg.tgtype & 1 = 1 THEN 'row' ELSE 'statement' END AS level
			   FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
			  WHERE tg.tgrelid = 'ac_associations'::regclass
				AND p.proname = 'engram_association_changed'
	LOOP
		BEGIN
			EXECUTE format('DROP TRIGGER %I ON ac_associations', t.tgname);
			INSERT INTO drop_trigger VALUES (t.level, 'dropped');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO drop_trigger VALUES (t.level, SQLSTATE);
		END;
	END LOOP;
END;
$$;
SELECT * FROM drop_trigger ORDER BY level;

-- An answer that depends on every association spreading reads.
CREATE FUNCTION pg_temp.answer(space text) RETURNS text LANGUAGE sql AS $$
	SELECT md5(string_agg(call || id || ':' || round(value::numeric, 6), ',' ORDER BY call, id))
	  FROM (SELECT 'spread' AS call, id, activation AS value
			  FROM engram_spread(space, 1, max_hops => 3, k => 1000)
			UNION ALL
			SELECT 'hybrid', id, score
			  FROM engram_recall(space, '[1,0]', k => 50, max_hops => 2, mode => 'hybrid')) a
$$;
CREATE FUNCTION pg_temp.uncached_answer(space text) RETURNS text LANGUAGE sql
	SET engram.association_cache_size = 0 AS $$ SELECT pg_temp.answer(space) $$;
-- (the first read after a start sets the shared horizon: later writers only)
SELECT pg_temp.answer('ac') IS NOT NULL AS answered;
CREATE TEMP TABLE answers (step text, answer text);
-- Two answers with the cache, one without: are they equal, did the second
-- use the cache?  The answer is kept under "step".
CREATE FUNCTION pg_temp.check(step text, space text DEFAULT 'ac',
							  OUT equal boolean, OUT hit boolean) LANGUAGE plpgsql AS $$
DECLARE
	hits_before bigint := (SELECT hits FROM engram_association_cache_stats());
	first text := pg_temp.answer(space);
	second text := pg_temp.answer(space);
	hits_after bigint := (SELECT hits FROM engram_association_cache_stats());
	uncached text := pg_temp.uncached_answer(space);
BEGIN
	equal := first = uncached AND second = uncached;
	hit := hits_after > hits_before;
	INSERT INTO answers VALUES (step, uncached);
END;
$$;
CREATE FUNCTION pg_temp.changed(step text, previous text) RETURNS boolean LANGUAGE sql AS $$
	SELECT (SELECT answer FROM answers WHERE answers.step = changed.step) IS DISTINCT FROM
		   (SELECT answer FROM answers WHERE answers.step = changed.previous)
$$;

-- 1. A later transaction of every change: cached answers equal uncached ones.
SELECT * FROM pg_temp.check('start');
SELECT * FROM pg_temp.check('again');
SELECT pg_temp.changed('again', 'start') AS changed;

-- 2. In the writing transaction: its own edges, never from the cache.
BEGIN;
INSERT INTO ac_associations (src, dst, weight) VALUES (1, 2, 0.95), (1, 3, 0.9) ON CONFLICT DO NOTHING;
SELECT * FROM pg_temp.check('own insert');
SELECT pg_temp.changed('own insert', 'start') AS changed;
UPDATE ac_associations SET weight = 0.2 WHERE src = 1 AND dst = 2;
SELECT * FROM pg_temp.check('own update');
SELECT pg_temp.changed('own update', 'own insert') AS changed;
COMMIT;
SELECT * FROM pg_temp.check('after insert');
SELECT pg_temp.changed('after insert', 'own update') AS changed;

-- 3. Deletes, updates and a cascade from the memory table.
DELETE FROM ac_associations WHERE src = 1 AND dst = 2;
SELECT * FROM pg_temp.check('delete');
SELECT pg_temp.changed('delete', 'after insert') AS changed;
UPDATE ac_associations SET weight = 0.3 WHERE src IN (SELECT dst FROM ac_associations WHERE src = 1);
SELECT * FROM pg_temp.check('update');
SELECT pg_temp.changed('update', 'delete') AS changed;
DELETE FROM ac WHERE id IN (SELECT dst FROM ac_associations WHERE src = 1 ORDER BY dst LIMIT 1);
SELECT * FROM pg_temp.check('cascade');
SELECT pg_temp.changed('cascade', 'update') AS changed;

-- 4. Written by a statement that then reads in the same statement.
WITH added AS (INSERT INTO ac_associations (src, dst, weight) VALUES (1, 50, 1.0) RETURNING src)
SELECT (SELECT count(*) FROM added) AS added,
	   pg_temp.answer('ac') = pg_temp.uncached_answer('ac') AS equal;
SELECT * FROM pg_temp.check('statement');
SELECT pg_temp.changed('statement', 'cascade') AS changed;

-- 5. A prepared writer: in progress until COMMIT PREPARED, then seen.
BEGIN;
INSERT INTO ac_associations (src, dst, weight) VALUES (1, 60, 1.0);
PREPARE TRANSACTION 'ac_prepared';
SELECT * FROM pg_temp.check('prepared');
SELECT pg_temp.changed('prepared', 'statement') AS changed;
COMMIT PREPARED 'ac_prepared';
SELECT * FROM pg_temp.check('committed prepared');
SELECT pg_temp.changed('committed prepared', 'prepared') AS changed;

-- 6. Disabled triggers (a superuser's act): no cache; enabled again: cache.
ALTER TABLE ac_associations DISABLE TRIGGER ALL;
DELETE FROM ac_associations WHERE src = 1 AND dst = 60;
SELECT * FROM pg_temp.check('disabled');
SELECT pg_temp.changed('disabled', 'committed prepared') AS changed;
-- ENABLE TRIGGER ALL makes every trigger fire on origin only: still no cache.
ALTER TABLE ac_associations ENABLE TRIGGER ALL;
SELECT * FROM pg_temp.check('enabled on origin');
SELECT * FROM pg_temp.check('enabled on origin again');
-- Enabled as created (always, replica): cached again.  (The first call
-- after ALTER TABLE meets its invalidation while it reads.)
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT tg.tgname, tg.tgtype & 1 = 1 AS row_level
			   FROM pg_trigger tg JOIN pg_proc p ON p.oid = tg.tgfoid
			  WHERE tg.tgrelid = 'ac_associations'::regclass
				AND p.proname = 'engram_association_changed'
	LOOP
		EXECUTE format('ALTER TABLE ac_associations ENABLE %s TRIGGER %I',
					   CASE WHEN t.row_level THEN 'REPLICA' ELSE 'ALWAYS' END, t.tgname);
	END LOOP;
END;
$$;
SELECT * FROM pg_temp.check('enabled');
SELECT * FROM pg_temp.check('enabled again');

-- 7. TRUNCATE.
TRUNCATE ac_associations;
SELECT * FROM pg_temp.check('truncate');
SELECT pg_temp.changed('truncate', 'enabled') AS changed;
SELECT * FROM pg_temp.check('truncated again');

-- 8. A hand-made association table (no triggers): never cached.
CREATE TABLE ac_hand (LIKE ac INCLUDING ALL);
CREATE TABLE ac_hand_links (src bigint NOT NULL, dst bigint NOT NULL, weight real NOT NULL,
							PRIMARY KEY (src, dst) INCLUDE (weight));
SELECT engram_register_space('ac_hand', 'ac_hand_links') IS NOT NULL AS registered;
INSERT INTO ac_hand SELECT * FROM ac;
INSERT INTO ac_hand_links (src, dst, weight)
SELECT i, 1 + (i * 7919 + f * 104729) % 400, 0.5 + f / 10.0
  FROM generate_series(1, 400) i, generate_series(1, 4) f
 WHERE i <> 1 + (i * 7919 + f * 104729) % 400
   AND EXISTS (SELECT 1 FROM ac_hand WHERE id = i)
   AND EXISTS (SELECT 1 FROM ac_hand WHERE id = 1 + (i * 7919 + f * 104729) % 400)
ON CONFLICT DO NOTHING;
SELECT * FROM pg_temp.check('hand', 'ac_hand');
INSERT INTO ac_hand_links (src, dst, weight) VALUES (1, 7, 1.0) ON CONFLICT DO NOTHING;
SELECT * FROM pg_temp.check('hand changed', 'ac_hand');
SELECT pg_temp.changed('hand changed', 'hand') AS changed;

-- 9. The memory bound: a tiny cache is emptied when full, answers unchanged.
INSERT INTO ac_associations SELECT * FROM ac_hand_links;
SET engram.association_cache_size = 1;
SELECT equal FROM pg_temp.check('tiny');
SELECT bytes <= 1024 AS within_bound FROM engram_association_cache_stats();
RESET engram.association_cache_size;
SET engram.association_cache_size = 0;
SELECT pg_temp.answer('ac') IS NOT NULL AS answered;
SELECT lists, bytes FROM engram_association_cache_stats();
RESET engram.association_cache_size;

SELECT engram_drop_space('ac_hand');
SELECT engram_drop_space('ac');
