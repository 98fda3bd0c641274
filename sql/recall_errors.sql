-- Every bad input of the recall functions, with its SQLSTATE, and proof
-- that a failing call writes nothing.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || COALESCE(' (' || NULLIF(detail, '') || ')', '');
END;
$$;
SELECT engram_create_space('errs', 3) IS NOT NULL AS created;
SELECT engram_store('errs', 'one', '[1,0,0]') AS one, engram_store('errs', 'two', '[0,1,0]') AS two;

-- Spaces
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_create_space(NULL)$$),
	($$SELECT engram_create_space('')$$),
	($$SELECT engram_create_space(repeat('n', 51))$$),
	($$SELECT engram_create_space('bad_dims', 0)$$),
	($$SELECT engram_create_space('bad_dims', 16001)$$),
	($$SELECT engram_create_space('bad_dims', NULL)$$),
	($$SELECT engram_create_space('bad_distance', 3, 'manhattan')$$),
	($$SELECT engram_create_space('bad_decay', 3, 'cosine', 'linear')$$),
	($$SELECT engram_create_space('errs', 3)$$),
	($$SELECT engram_register_space(NULL)$$),
	($$SELECT engram_register_space('pg_class')$$),
	($$SELECT engram_drop_space(NULL)$$),
	($$SELECT engram_drop_space('no_such_space')$$),
	($$SELECT engram_drop_space('pg_catalog.pg_class')$$)
) AS t(statement);
-- A failed creation leaves nothing behind (errs_associations existed
-- before; the failing second 'errs' created no catalog row).
SELECT count(*) AS catalog_rows FROM engram_space_catalog WHERE space::text LIKE 'errs%' OR space::text LIKE 'bad%';
SELECT count(*) AS stray_tables FROM pg_class WHERE relname LIKE 'bad\_%';
-- A creation that fails half-way leaves nothing: the association table's
-- name is taken, so the space table created just before goes too.
CREATE TABLE halfway_associations (x int);
SELECT pg_temp.sqlstate_of($$SELECT engram_create_space('halfway', 2)$$) AS result;
SELECT to_regclass('halfway') IS NULL AS no_space_table,
	   (SELECT count(*) FROM engram_space_catalog WHERE space::text = 'halfway') AS catalog_rows;
DROP TABLE halfway_associations;
-- Quoted schema names are identifiers too.
CREATE SCHEMA "we""ird schema";
SET search_path = "we""ird schema", public;
SELECT engram_create_space('inside', 2) AS space;
SELECT engram_store('inside', 'x', '[1,0]') AS id;
SELECT id FROM engram_recall('"we""ird schema".inside', '[1,0]');
RESET search_path;
SELECT schema_name, space_name FROM engram_spaces WHERE space_name = 'inside';
SELECT engram_drop_space('"we""ird schema".inside');
DROP SCHEMA "we""ird schema";
-- 50 bytes is the longest name: 50 + length('_associations') = 63.
SELECT engram_create_space(repeat('n', 50), 2) IS NOT NULL AS longest_name_ok;
SELECT engram_drop_space(repeat('n', 50));

-- Store
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_store(NULL, 'c', '[1,0,0]')$$),
	($$SELECT engram_store('errs', NULL, '[1,0,0]')$$),
	($$SELECT engram_store('errs', 'c', '[1,0]')$$),
	($$SELECT engram_store('errs', 'c', ARRAY[1,0,0,0]::real[])$$),
	($$SELECT engram_store('errs', 'c', '[1,NaN,0]')$$),
	($$SELECT engram_store('errs', 'c', ARRAY[1,'Infinity',0]::float8[])$$),
	($$SELECT engram_store('errs', 'c', '')$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0', 0.5)$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', 1.5)$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', 'NaN')$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', NULL)$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', kind => 'procedural')$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', importance => -1)$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', decay_function => 'linear')$$),
	($$SELECT engram_store('errs', 'c', '[1,0,0]', decay_function => 'none')$$),
	($$SELECT engram_store('no_such_space', 'c', '[1,0,0]')$$),
	($$SELECT engram_store('pg_class', 'c', '[1,0,0]')$$)
) AS t(statement);

-- Batch store: every element is checked before anything is written.
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY['[1,0,0]','[1,0]']::evector[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY['[1,0,0]']::evector[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a',NULL], ARRAY['[1,0,0]','[0,1,0]']::evector[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[[1,0,0],[0,1,0]]::real[], ARRAY[0.5, 2]::real[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[[1,0,0],[0,1,0]]::real[], kinds => ARRAY['episodic','x'])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[[1,0,0],[0,1,0]]::real[], ARRAY[0.5]::real[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[[1,0],[0,1]]::real[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[[1,0,0],[0,'NaN',0]]::float8[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[1,0,0]::real[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[true,false])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], NULL::evector[])$$)
) AS t(statement);
SELECT count(*) AS rows_after_failures FROM errs;
-- The batch forms that work: evector[], text[], 2-D real/float8/numeric arrays.
SELECT count(*) AS stored FROM engram_store_batch('errs', ARRAY['b1','b2'], ARRAY['[1,1,0]','[0,1,1]']::evector[]);
SELECT count(*) AS stored FROM engram_store_batch('errs', ARRAY['b3'], ARRAY['[1,1,1]']);
SELECT count(*) AS stored FROM engram_store_batch('errs', ARRAY['b4','b5'], ARRAY[[1,2,3],[4,5,6]]::float8[],
	confidences => ARRAY[0.5, NULL]::real[], kinds => ARRAY[NULL, 'semantic'],
	occurred_at => ARRAY['2026-01-01', NULL]::timestamptz[], metadata => ARRAY['{"n":4}', NULL]::jsonb[]);
SELECT content, embedding, confidence, kind, metadata FROM errs WHERE content LIKE 'b%' ORDER BY id;
SELECT count(*) AS stored FROM engram_store_batch('errs', ARRAY[]::text[], ARRAY[]::evector[]);
-- ids come back in input order
CREATE TEMP TABLE batch_ids AS
SELECT row_number() OVER () AS position, id
  FROM engram_store_batch('errs', ARRAY['o3','o1','o2'], ARRAY[[1,0,0],[0,1,0],[0,0,1]]::numeric[]) AS id;
SELECT b.position, e.content, e.embedding FROM batch_ids b JOIN errs e USING (id) ORDER BY b.position;
-- The evector[] form unnests the caller's array itself: ids in input order,
-- NULL embeddings kept, lower bounds other than 1 read from the first element.
CREATE TEMP TABLE vector_batch_ids AS
SELECT row_number() OVER () AS position, id
  FROM engram_store_batch('errs', ARRAY['v3','v1','v2'],
						  '[0:2]={"[0,0,2]",NULL,"[2,0,0]"}'::evector[]) AS id;
SELECT b.position, e.content, e.embedding FROM vector_batch_ids b JOIN errs e USING (id) ORDER BY b.position;
-- ... and still checks every element first: a wrong last element or a
-- two-dimensional array writes nothing.
SELECT count(*) AS rows_before FROM errs \gset
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_store_batch('errs', ARRAY['a','b','c'], ARRAY['[1,0,0]','[0,1,0]','[1,0,0,0]']::evector[])$$),
	($$SELECT engram_store_batch('errs', ARRAY['a','b'], ARRAY[ARRAY['[1,0,0]'::evector], ARRAY['[0,1,0]'::evector]])$$)
) AS t(statement);
SELECT count(*) - :rows_before AS rows_added_by_failures FROM errs;
DELETE FROM errs WHERE id IN (SELECT id FROM vector_batch_ids);

-- The jsonb batch form: every canonical column, defaults for missing keys.
SELECT * FROM engram_store_batch('errs', '[
	{"content": "j1", "embedding": [1,0,0], "tags": ["x","y"], "location": "paris", "confidence": 0.5,
	 "participants": ["anna"], "decay_function": "hybrid", "importance": 0.7, "metadata": {"k": 1}},
	{"content": "j2"},
	{"content": "j3", "embedding": [0,1,0], "kind": "semantic", "occurred_at": "2026-01-01T00:00:00Z",
	 "id": 999, "created_at": "2000-01-01T00:00:00Z", "unknown": 1}]') AS id;
SELECT content, embedding, kind, confidence, occurred_at = '2026-01-01T00:00:00Z' AS given_time,
	   location, participants, tags, importance, decay_function, metadata, created_at > '2001-01-01' AS created_now
  FROM errs WHERE content LIKE 'j%' ORDER BY id;
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_store_batch('errs', '[{"content": "a", "embedding": [1,0]}]')$$),
	($$SELECT engram_store_batch('errs', '[{"content": "a", "embedding": [1,"NaN",0]}]')$$),
	($$SELECT engram_store_batch('errs', '[{"content": "a", "confidence": 2}]')$$),
	($$SELECT engram_store_batch('errs', '[{"content": "a", "importance": -0.5}]')$$),
	($$SELECT engram_store_batch('errs', '[{"content": "a", "kind": "procedural"}]')$$),
	($$SELECT engram_store_batch('errs', '[{"content": "a", "decay_function": "linear"}]')$$),
	($$SELECT engram_store_batch('errs', '[{"content": "a"}, {"embedding": [1,0,0]}]')$$),
	($$SELECT engram_store_batch('errs', '{"content": "a"}')$$),
	($$SELECT engram_store_batch('errs', NULL::jsonb)$$)
) AS t(statement);
SELECT count(*) AS stored FROM engram_store_batch('errs', '[]');
SELECT count(*) AS rows_now FROM errs;

-- Associate, forget, spread
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_associate('errs', 1, 2, 0)$$),
	($$SELECT engram_associate('errs', 1, 2, 1.5)$$),
	($$SELECT engram_associate('errs', 1, 2, 'NaN')$$),
	($$SELECT engram_associate('errs', 1, 1, 0.5)$$),
	($$SELECT engram_associate('errs', 1, 999, 0.5)$$),
	($$SELECT engram_associate('errs', NULL, 2, 0.5)$$),
	($$SELECT engram_forget('errs', 1, 'shred')$$),
	($$SELECT engram_forget('errs', NULL)$$),
	($$SELECT engram_spread('errs', 999)$$),
	($$SELECT engram_spread('errs', 1, max_hops => -1)$$),
	($$SELECT engram_spread('errs', 1, max_hops => 11)$$),
	($$SELECT engram_spread('errs', 1, k => 0)$$),
	($$SELECT engram_spread('errs', 1, activation => 2)$$),
	($$SELECT engram_spread(NULL, 1)$$)
) AS t(statement);
SELECT count(*) AS associations_after_failures FROM errs_associations;

-- Recall
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_recall('errs', '[1,0,0]', k => 0)$$),
	($$SELECT engram_recall('errs', '[1,0,0]', k => -5)$$),
	($$SELECT engram_recall('errs', '[1,0,0]', k => 10001)$$),
	($$SELECT engram_recall('errs', '[1,0,0]', k => NULL)$$),
	($$SELECT engram_recall('errs', '[1,0,0]', mode => 'psychic')$$),
	($$SELECT engram_recall('errs', '[1,0,0]', mode => NULL)$$),
	($$SELECT engram_recall('errs', '[1,0]')$$),
	($$SELECT engram_recall('errs', '[1,0,0,0]'::evector)$$),
	($$SELECT engram_recall('errs', ARRAY[1,'NaN',0]::real[])$$),
	($$SELECT engram_recall('errs', '[1,0,0')$$),
	($$SELECT engram_recall('errs', '[]')$$),
	($$SELECT engram_recall('errs', '   ')$$),
	($$SELECT engram_recall('errs', 'text', query => 'more text')$$),
	($$SELECT engram_recall('errs', NULL)$$),
	($$SELECT engram_recall('errs')$$),
	($$SELECT engram_recall('errs', '[1,0,0]', max_hops => 11)$$),
	($$SELECT engram_recall('errs', '[1,0,0]', recent => '-1 day')$$),
	($$SELECT engram_recall('errs', '[1,0,0]', after => '2026-02-01', before => '2026-01-01')$$),
	($$SELECT engram_recall(NULL, '[1,0,0]')$$),
	($$SELECT engram_recall('no_such_space', '[1,0,0]')$$),
	($$SELECT engram_recall('pg_class', '[1,0,0]')$$),
	($$SELECT engram_recall('errs', true)$$)
) AS t(statement);
-- The largest k is accepted.
SELECT count(*) AS recalled FROM engram_recall('errs', '[1,0,0]', k => 10000);

SELECT engram_drop_space('errs');
