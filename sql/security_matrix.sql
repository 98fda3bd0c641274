-- security_matrix: hostile names and unprivileged roles against every
-- user-facing function of Engram.
--   1. A non-superuser role creates spaces whose names, schemas, contents,
--      tags, locations and metadata are hostile strings (quotes,
--      semicolons, backslashes, $$, unicode, SQL keywords, newlines,
--      'x"; DROP TABLE y; --') and calls every function on them: each
--      treats the name as an identifier and the value as data, or refuses
--      with its documented SQLSTATE.
--   2. A role without privileges gets 42501 from every function; the
--      superuser-only functions refuse everyone else with 42501.
--   3. Under row-level security a reader sees through engram_recall and
--      engram_spread exactly the rows SELECT shows.
--   4. Operators and functions planted in a schema of the caller's
--      search_path never run inside Engram's functions.
-- (The worker's side, with objects planted on search_path, is
-- tests/t/103_security_worker.pl.)
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
	result text;
BEGIN
	EXECUTE statement INTO result;
	RETURN coalesce(result, 'null');
EXCEPTION WHEN OTHERS THEN
	RETURN 'ERROR ' || SQLSTATE;
END;
$f$;
GRANT EXECUTE ON FUNCTION pg_temp.outcome(text) TO PUBLIC;

CREATE ROLE sec_owner;
CREATE ROLE sec_reader;
CREATE ROLE sec_stranger;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO sec_owner', current_database()); END $$;
-- The table the hostile names threaten to drop.
CREATE TABLE y (survives boolean);
INSERT INTO y VALUES (true);
GRANT SELECT ON y TO PUBLIC;

CREATE TEMP TABLE hostile (name text PRIMARY KEY);
INSERT INTO hostile VALUES
	('x"; DROP TABLE y; --'),
	($n$Robert'); DROP TABLE y;--$n$),
	('select'),
	('user'),
	('"quoted"'),
	(E'back\\slash\\'),
	('$$dollar$$ $x$'),
	('semi;colon'),
	('space name'),
	('ünïcødé 記憶 🧠'),
	('a.b'),
	('MixedCase'),
	(E'new\nline'),
	('%s %I %L');
CREATE TEMP TABLE hostile_schema (name text PRIMARY KEY);
INSERT INTO hostile_schema VALUES ('sec x"; DROP SCHEMA public; --'), ('sec $$ ünï ''; \ end');
GRANT SELECT ON hostile, hostile_schema TO PUBLIC;

-- The matrix, as sec_owner: one row per (schema, name, function call).
CREATE TEMP TABLE matrix (schema_name text, space_name text, call text, expected text, actual text);
GRANT ALL ON matrix TO PUBLIC;

SET ROLE sec_owner;
DO $matrix$
DECLARE
	s text;
	n text;
	q text;		-- the space as a quoted qualified name (regclass text)
	tid text;
	id1 text;
	id2 text;
BEGIN
	FOR s IN SELECT name FROM hostile_schema ORDER BY name LOOP
		EXECUTE format('CREATE SCHEMA %I', s);
		EXECUTE format('GRANT USAGE ON SCHEMA %I TO sec_reader, sec_stranger', s);
		PERFORM set_config('search_path', format('%I, public', s), false);
		FOR n IN SELECT name FROM hostile ORDER BY name LOOP
			q := format('%I.%I', s, n);
			-- check(call, statement, expected): run and record.
			INSERT INTO matrix SELECT s, n, 'engram_create_space', q,
				pg_temp.outcome(format('SELECT engram_create_space(%L, 2, %L, %L)::text', n, 'cosine', 'none'));
			-- the regclass text names exactly that schema and table
			UPDATE matrix SET actual = CASE WHEN actual = (SELECT c.oid::regclass::text FROM pg_class c
					JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = s AND c.relname = n)
				THEN q ELSE actual END
			 WHERE schema_name = s AND space_name = n AND call = 'engram_create_space';
			id1 := pg_temp.outcome(format(
				'SELECT engram_store(%L, %L, %L, tags => ARRAY[%L, %L], location => %L, participants => ARRAY[%L], metadata => jsonb_build_object(%L, %L))',
				n, n, '[1,0]', n, 'plain', n, n, n, n));
			id2 := pg_temp.outcome(format('SELECT engram_store(%L, %L, %L)', n, 'second ' || n, '[0.9,0.1]'));
			INSERT INTO matrix VALUES
				(s, n, 'engram_store', '1 2', id1 || ' ' || id2),
				(s, n, 'engram_store_batch(arrays)', '3', pg_temp.outcome(format(
					'SELECT engram_store_batch(%L, ARRAY[%L], ARRAY[%L]::evector[], kinds => ARRAY[%L])',
					n, n, '[0,1]', 'episodic'))),
				(s, n, 'engram_store_batch(jsonb)', '4', pg_temp.outcome(format(
					'SELECT engram_store_batch(%L, jsonb_build_array(jsonb_build_object(%L, %L, %L, %L::jsonb, %L, jsonb_build_array(%L))))',
					n, 'content', n, 'embedding', '[0.5,0.5]', 'tags', n))),
				-- the hostile values are stored as data, byte for byte
				(s, n, 'content/tags/location/metadata round trip', '6', pg_temp.outcome(format(
					'SELECT count(*) FILTER (WHERE content = %L) + count(*) FILTER (WHERE %L = ANY (tags)) '
					'+ count(*) FILTER (WHERE location = %L AND participants = ARRAY[%L] AND metadata ->> %L = %L) FROM %s',
					n, n, n, n, n, n, q))),
				(s, n, 'engram_associate', '', pg_temp.outcome(format('SELECT engram_associate(%L, %s, %s, 0.8)', n, id1, id2))),
				(s, n, 'engram_recall(embedding)', '1', pg_temp.outcome(format(
					'SELECT id FROM engram_recall(%L, %L, k => 1, mode => %L)', n, '[1,0]', 'similarity'))),
				(s, n, 'engram_recall(text)', 'ok', pg_temp.outcome(format(
					'SELECT ''ok'' FROM (SELECT count(*) FROM engram_recall(%L, %L)) c', n, n))),
				(s, n, 'engram_recall(tags)', '1', pg_temp.outcome(format(
					'SELECT min(id) FROM engram_recall(%L, tags => ARRAY[%L], mode => %L)', n, n, 'similarity'))),
				(s, n, 'engram_recall(location, participants)', '1', pg_temp.outcome(format(
					'SELECT min(id) FROM engram_recall(%L, location => %L, participants => ARRAY[%L])', n, n, n))),
				(s, n, 'engram_recall(space as regclass text)', '1', pg_temp.outcome(format(
					'SELECT id FROM engram_recall(%L, %L, k => 1, mode => %L)', q, '[1,0]', 'similarity'))),
				(s, n, 'engram_spread', '2', pg_temp.outcome(format('SELECT min(id) FROM engram_spread(%L, %s)', n, id1))),
				(s, n, 'engram_memory_stats', '4', pg_temp.outcome(format('SELECT count(*) FROM engram_memory_stats(%L)', n))),
				(s, n, 'engram_forget', 'true', pg_temp.outcome(format('SELECT engram_forget(%L, %s)', n, id2))),
				(s, n, 'engram_consolidate', 'false', pg_temp.outcome(format('SELECT skipped_busy FROM engram_consolidate(%L)', q))),
				(s, n, 'engram_run_maintenance', '5', pg_temp.outcome(format('SELECT count(*) FROM engram_run_maintenance(%L)', q))),
				(s, n, 'engram_move_to_tier', 'true', pg_temp.outcome(format(
					'SELECT engram_move_to_tier(%L, ARRAY(SELECT ctid FROM %s), %L) IS NOT NULL', q, q, 'cold'))),
				(s, n, 'engram_row_tier', '4', pg_temp.outcome(format(
					'SELECT count(*) FILTER (WHERE engram_row_tier(%L, ctid) = %L) FROM %s', q, 'cold', q))),
				(s, n, 'engram_cold_vacuum', 'ok', pg_temp.outcome(format(
					'SELECT ''ok'' FROM engram_cold_vacuum(%L)', q))),
				(s, n, 'engram_tier_stats_for', '4', pg_temp.outcome(format(
					'SELECT sum(rows) FROM engram_tier_stats_for(%L) WHERE tier <> %L', q, 'hot'))),
				(s, n, 'engram_access_record', '', pg_temp.outcome(format(
					'SELECT engram_access_record(%L, ctid) FROM %s WHERE id = 1', q, q))),
				(s, n, 'engram_row_access_stats', 'ok', pg_temp.outcome(format(
					'SELECT ''ok'' FROM (SELECT count(*) FROM engram_row_access_stats(%L)) c', q))),
				(s, n, 'engram_hot_tier_contains', 'ok', pg_temp.outcome(format(
					'SELECT ''ok'' FROM %s, engram_hot_tier_contains(%L, ctid) WHERE id = 1', q, q))),
				(s, n, 'engram_graph_stats', '4', pg_temp.outcome(format(
					'SELECT nodes FROM engram_graph_stats() WHERE space = %L::regclass', q))),
				(s, n, 'engram_spaces', '1', pg_temp.outcome(format(
					'SELECT count(*) FROM engram_spaces WHERE schema_name = %L AND space_name = %L AND space = %L::regclass', s, n, q))),
				(s, n, 'engram_hnsw_verify (superuser only)', 'ERROR 42501', pg_temp.outcome(format(
					'SELECT count(*) FROM engram_hnsw_verify((SELECT vector_index FROM engram_spaces WHERE space = %L::regclass))', q))),
				(s, n, 'engram_unregister_space', '', pg_temp.outcome(format('SELECT engram_unregister_space(%L)', n))),
				(s, n, 'engram_register_space', 'true', pg_temp.outcome(format('SELECT engram_register_space(%L, %L, %L) = %L::regclass',
					q, format('%I.%I', s, n || '_associations'), 'cosine', q))),
				(s, n, 'engram_drop_space', '', pg_temp.outcome(format('SELECT engram_drop_space(%L)', n))),
				(s, n, 'engram_drop_space: both tables gone', '0', pg_temp.outcome(format(
					'SELECT count(*) FROM pg_class WHERE relnamespace = %L::regnamespace AND relname IN (%L, %L)',
					quote_ident(s), n, n || '_associations')));
		END LOOP;
	END LOOP;
	PERFORM set_config('search_path', 'public', false);
END
$matrix$;
RESET ROLE;

-- Every call gave what it must, for every hostile schema and name.
SELECT call, count(*) AS cases, count(*) FILTER (WHERE actual IS NOT DISTINCT FROM expected) AS as_expected
  FROM matrix GROUP BY call ORDER BY call;
SELECT schema_name, space_name, call, expected, actual FROM matrix
 WHERE actual IS DISTINCT FROM expected ORDER BY 1, 2, 3;
-- Nothing was dropped or created by a name: y survives, and no relation
-- outside the hostile schemas appeared.
SELECT survives FROM y;
SELECT count(*) AS spaces_left FROM engram_spaces WHERE schema_name IN (SELECT name FROM hostile_schema);

-- Names that are refused, with their SQLSTATE.  The rest of the file
-- works in sec_plain, a schema of sec_owner's.
SET ROLE sec_owner;
CREATE SCHEMA sec_plain;
GRANT USAGE ON SCHEMA sec_plain TO sec_reader, sec_stranger;
SET search_path = sec_plain, public;
SELECT engram_create_space('x"; DROP TABLE y; --', 2) AS created;
SELECT statement, pg_temp.outcome(statement) AS result FROM (VALUES
	($$SELECT engram_create_space('', 2)$$),
	($$SELECT engram_create_space(repeat('n', 60), 2)$$),
	($$SELECT engram_create_space(NULL, 2)$$),
	($$SELECT engram_create_space('x"; DROP TABLE y; --', 2)$$),
	($$SELECT engram_create_space('x"; DROP TABLE y; --', 2)$$),
	($$SELECT engram_store('x"; DROP TABLE y', 'c', '[1,0]')$$),
	($$SELECT engram_recall('x"; DROP TABLE y; --"', '[1,0]')$$),
	($$SELECT engram_recall('public.y', '[1,0]')$$),
	($$SELECT engram_drop_space('no"such', true)$$),
	($$SELECT engram_drop_space('x"; DROP TABLE y; --')$$),
	($$SELECT engram_drop_space('x"; DROP TABLE y; --')$$)
) AS t(statement);
RESET ROLE;
SELECT survives FROM y;

-- 2. Privileges.  sec_owner owns a space; sec_stranger has no grant at
-- all: every function refuses it with 42501 before looking at the data.
SET ROLE sec_owner;
SELECT engram_create_space('sec_private', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('sec_private', 'private memory', '[1,0]', tags => '{private}') AS id;
SELECT engram_store('sec_private', 'another memory', '[0,1]') AS id;
RESET ROLE;
SET ROLE sec_stranger;
SET search_path = sec_plain, public;
SELECT statement, pg_temp.outcome(statement) AS result FROM (VALUES
	($$SELECT engram_store('sec_private', 'x', '[1,0]')$$),
	($$SELECT engram_store_batch('sec_private', ARRAY['x'], ARRAY['[1,0]']::evector[])$$),
	($$SELECT engram_store_batch('sec_private', '[{"content": "x", "embedding": [1, 0]}]')$$),
	($$SELECT count(*) FROM engram_recall('sec_private', '[1,0]')$$),
	($$SELECT count(*) FROM engram_recall('sec_private', 'memory')$$),
	($$SELECT count(*) FROM engram_recall('sec_private', tags => '{private}')$$),
	($$SELECT count(*) FROM engram_recall('sec_private', memory_id => 1)$$),
	($$SELECT count(*) FROM engram_spread('sec_private', 1)$$),
	($$SELECT engram_associate('sec_private', 1, 2)$$),
	($$SELECT engram_forget('sec_private', 1)$$),
	($$SELECT engram_forget('sec_private', 1, 'hard')$$),
	($$SELECT count(*) FROM engram_memory_stats('sec_private')$$),
	($$SELECT count(*) FROM engram_consolidate('sec_private')$$),
	($$SELECT count(*) FROM engram_run_maintenance('sec_private')$$),
	($$SELECT engram_move_to_tier('sec_private', ARRAY['(0,1)']::tid[], 'cold')$$),
	($$SELECT engram_row_tier('sec_private', '(0,1)')$$),
	($$SELECT count(*) FROM engram_cold_vacuum('sec_private')$$),
	($$SELECT count(*) FROM engram_tier_stats_for('sec_private')$$),
	($$SELECT engram_hot_tier_contains('sec_private', '(0,1)')$$),
	($$SELECT count(*) FROM engram_row_access_stats('sec_private')$$),
	($$SELECT engram_access_record('sec_private', '(0,1)')$$),
	($$SELECT count(*) FROM engram_hnsw_verify('sec_private_embedding_idx')$$),
	($$SELECT count(*) FROM engram_hnsw_index_tids('sec_private_embedding_idx')$$),
	($$SELECT engram_register_space('sec_private')$$),
	($$SELECT engram_unregister_space('sec_private')$$),
	($$SELECT engram_drop_space('sec_private')$$),
	($$SELECT count(*) FROM engram_tier_stats$$),
	($$SELECT count(*) FROM engram_stats$$),
	($$SELECT count(*) FROM engram_storage_tiers$$),
	($$SELECT engram_metrics_reset()$$),
	($$SELECT engram_metrics_stats_reset()$$),
	($$SELECT engram_metrics_test_record('recall', 1, false, 0, 0, 0, 0, NULL)$$),
	($$SELECT count(*) FROM engram.cold_segments$$),
	($$WITH d AS (DELETE FROM engram_space_catalog WHERE space = 'sec_private'::regclass RETURNING 1)
	   SELECT count(*) FROM d$$),
	-- readable by everyone on purpose: the catalog, the worker's status,
	-- and engram_graph_stats (which lists only spaces the caller can read)
	($$SELECT count(*) FROM engram_spaces WHERE space_name = 'sec_private'$$),
	($$SELECT count(*) FROM engram_graph_stats() WHERE space = 'sec_private'::regclass$$)
) AS t(statement);
RESET ROLE;
SELECT count(*) AS memories_after_refusals FROM sec_plain.sec_private;
SELECT count(*) AS still_registered FROM engram_spaces WHERE space = 'sec_plain.sec_private'::regclass;

-- 3. Row-level security: sec_reader sees the memories tagged visible.
-- Memory 1 is associated with every other memory, so a recall or spread
-- that ignored the policy would return hidden rows.
SET ROLE sec_owner;
SET search_path = sec_plain, public;
SELECT engram_create_space('sec rls "space"', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT count(*) AS stored FROM engram_store_batch('sec rls "space"',
	ARRAY(SELECT 'memory ' || g FROM generate_series(1, 12) g),
	ARRAY(SELECT format('[%s,%s]', cos(g / 10.0), sin(g / 10.0))::evector FROM generate_series(1, 12) g));
UPDATE "sec rls ""space""" SET tags = CASE WHEN id % 3 = 0 THEN '{hidden}'::text[] ELSE '{visible}' END;
SELECT count(*) AS associated FROM generate_series(2, 12) g, LATERAL engram_associate('sec rls "space"', 1, g, 0.9);
ALTER TABLE "sec rls ""space""" ENABLE ROW LEVEL SECURITY;
CREATE POLICY reader_sees_visible ON "sec rls ""space""" FOR SELECT TO sec_reader USING ('visible' = ANY (tags));
GRANT SELECT ON "sec rls ""space""", "sec rls ""space""_associations" TO sec_reader;
RESET ROLE;
SET ROLE sec_reader;
SET search_path = sec_plain, public;
SELECT array_agg(id ORDER BY id) AS select_shows FROM "sec rls ""space""";
SELECT array_agg(id ORDER BY id) AS recall_shows
  FROM engram_recall('sec rls "space"', '[1,0]', k => 100, mode => 'similarity');
SELECT array_agg(id ORDER BY id) AS hybrid_recall_shows
  FROM engram_recall('sec rls "space"', '[1,0]', k => 100, mode => 'hybrid');
SELECT array_agg(id ORDER BY id) AS text_recall_shows FROM engram_recall('sec rls "space"', 'memory', k => 100);
SELECT array_agg(id ORDER BY id) AS spread_shows FROM engram_spread('sec rls "space"', 1, k => 100);
SELECT count(*) AS hidden_by_id FROM engram_recall('sec rls "space"', memory_id => 3);
SELECT pg_temp.outcome($$SELECT count(*) FROM engram_spread('sec rls "space"', 3)$$) AS spread_from_hidden;
SELECT array_agg(id ORDER BY id) AS stats_show FROM engram_memory_stats('sec rls "space"');
RESET ROLE;

-- 4. Objects planted on the caller's search_path.  sec_hostile may create
-- in public (an old default, or a careless grant) and plants operators and
-- a function that are a better match than pg_catalog's for the operands
-- Engram's statements use (real > integer, text[] && text[], unnest of a
-- text[]); each logs its call.  sec_owner, with public on its search_path,
-- then uses every function: none of the planted objects may run, neither
-- now nor later through a CHECK constraint bound when the space was made.
CREATE ROLE sec_hostile;
GRANT CREATE ON SCHEMA public TO sec_hostile;
SET ROLE sec_hostile;
CREATE TABLE public.sec_planted_calls (called_by name, what text);
GRANT INSERT ON public.sec_planted_calls TO PUBLIC;
CREATE FUNCTION public.sec_planted_gt(real, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.sec_planted_calls VALUES (current_user, '>'); RETURN $1 > $2::real; END $$;
CREATE OPERATOR public.> (LEFTARG = real, RIGHTARG = integer, FUNCTION = public.sec_planted_gt);
CREATE FUNCTION public.sec_planted_ge(real, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.sec_planted_calls VALUES (current_user, '>='); RETURN $1 >= $2::real; END $$;
CREATE OPERATOR public.>= (LEFTARG = real, RIGHTARG = integer, FUNCTION = public.sec_planted_ge);
CREATE FUNCTION public.sec_planted_overlap(text[], text[]) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.sec_planted_calls VALUES (current_user, '&&');
	RETURN $1 OPERATOR(pg_catalog.&&) $2; END $$;
CREATE OPERATOR public.&& (LEFTARG = text[], RIGHTARG = text[], FUNCTION = public.sec_planted_overlap);
CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.sec_planted_calls VALUES (current_user, 'unnest');
	RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
RESET ROLE;
SET ROLE sec_owner;
SET search_path = sec_plain, public;
-- the plain SQL equivalent would call them: the trap is armed
SELECT count(*) AS plain_sql_matches FROM unnest(ARRAY['a']) u WHERE 1.5::real > 0;
RESET ROLE;
SELECT what, count(*) AS calls_by_plain_sql FROM public.sec_planted_calls GROUP BY what ORDER BY what;
DELETE FROM public.sec_planted_calls;
SET ROLE sec_owner;
SET search_path = sec_plain, public;
SELECT engram_create_space('sec planted', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT engram_store('sec planted', 'one', '[1,0]', tags => '{a}', participants => '{p}') AS id;
SELECT count(*) AS stored FROM engram_store_batch('sec planted', ARRAY['two', 'three'],
	ARRAY['[0.9,0.1]', '[0.8,0.2]']::evector[], confidences => ARRAY[0.8, 0.7]::real[]);
SELECT count(*) AS stored FROM engram_store_batch('sec planted', '[{"content": "four", "embedding": [0.7, 0.3]}]');
SELECT engram_associate('sec planted', 1, 2, 0.5);
SELECT count(*) AS recalled FROM engram_recall('sec planted', '[1,0]', tags => '{a}');
SELECT count(*) AS recalled FROM engram_recall('sec planted', 'one', participants => '{p}');
SELECT count(*) AS spread FROM engram_spread('sec planted', 1);
SELECT count(*) AS stats FROM engram_memory_stats('sec planted');
SELECT engram_forget('sec planted', 3);
SELECT candidates FROM engram_consolidate('"sec planted"');
SELECT count(*) AS jobs FROM engram_run_maintenance('"sec planted"');
CREATE TABLE sec_plain.sec_hand_made (LIKE sec_plain."sec planted" INCLUDING ALL) USING engram;
SELECT engram_register_space('sec_plain.sec_hand_made') IS NOT NULL AS registered;
SELECT engram_store('sec_hand_made', 'five', '[1,1]') AS a, engram_store('sec_hand_made', 'six', '[1,2]') AS b;
SELECT engram_associate('sec_hand_made', 1, 2, 0.4);
UPDATE "sec planted" SET confidence = 0.5, importance = 0.2;
RESET ROLE;
SELECT count(*) AS planted_calls_by_engram FROM public.sec_planted_calls;
DROP OWNED BY sec_hostile;
REVOKE CREATE ON SCHEMA public FROM sec_hostile;
DROP ROLE sec_hostile;

SET ROLE sec_owner;
SET search_path = sec_plain, public;
SELECT engram_drop_space('sec planted');
SELECT engram_drop_space('sec_hand_made');
SELECT engram_drop_space('sec_private');
SELECT engram_drop_space('sec rls "space"');
DROP SCHEMA sec_plain;
RESET search_path;
DO $$
DECLARE
	s text;
BEGIN
	FOR s IN SELECT name FROM hostile_schema LOOP
		EXECUTE format('DROP SCHEMA %I CASCADE', s);
	END LOOP;
END $$;
RESET ROLE;
DROP TABLE y;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM sec_owner', current_database()); END $$;
DROP ROLE sec_owner, sec_reader, sec_stranger;
