-- Privileges and row-level security apply to every recall function: a
-- user sees through engram_recall/engram_spread exactly the rows a SELECT
-- shows them, and writes only what they could write with plain SQL.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO PUBLIC;

-- No function of the cognitive layer runs with its owner's rights.
SELECT count(*) AS functions, count(*) FILTER (WHERE p.prosecdef) AS security_definer
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'engram'
 WHERE p.proname IN ('engram_create_space', 'engram_register_space', 'engram_unregister_space',
					 'engram_drop_space', 'engram_store', 'engram_store_batch', 'engram_associate',
					 'engram_forget', 'engram_recall', 'engram_spread', 'engram_memory_stats',
					 'engram_retention', 'engram_seed_activation', 'engram_confidence_and',
					 'engram_confidence_or', 'engram_confidence_not', 'engram_noisy_or',
					 'engram_space_catalog_cleanup');

CREATE ROLE recall_owner;
CREATE ROLE recall_reader;
CREATE ROLE recall_outsider;
CREATE SCHEMA recall_sec AUTHORIZATION recall_owner;
GRANT USAGE ON SCHEMA recall_sec TO recall_reader, recall_outsider;

-- The owner builds a space: memory 2 is private and links 1 to 4.
--   1 public fact  [1,0]     -> 2 (w 1), -> 3 (w 1)
--   2 private      [0.9,0.1] -> 4 (w 1)
--   3 public note  no embedding
--   4 public, reachable only through 2
SET ROLE recall_owner;
SET search_path = recall_sec, public;
SELECT engram_create_space('secrets', 2, 'cosine', 'none') AS space;
SELECT engram_store('secrets', 'public fact', '[1,0]', tags => '{public}') AS m1,
	   engram_store('secrets', 'private diary', '[0.9,0.1]', tags => '{private}') AS m2,
	   engram_store('secrets', 'public note', NULL, tags => '{public}') AS m3,
	   engram_store('secrets', 'public linked', NULL, tags => '{public}') AS m4;
SELECT engram_associate('secrets', 1, 2, 1.0, false), engram_associate('secrets', 2, 4, 1.0, false),
	   engram_associate('secrets', 1, 3, 1.0, false);
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY reader_reads_public ON secrets FOR SELECT TO recall_reader
	USING ('public' = ANY (tags));
CREATE POLICY reader_writes_public ON secrets FOR INSERT TO recall_reader
	WITH CHECK ('public' = ANY (tags));
GRANT SELECT ON secrets, secrets_associations TO recall_reader;
-- The owner (not subject to its own policies) recalls everything.
SELECT id, hops FROM engram_recall('secrets', '[1,0]', k => 10);
RESET ROLE;

-- The reader: SELECT shows 1, 3, 4; recall shows a subset of exactly
-- those (4 is reachable only through the hidden 2, so it is not reached).
SET ROLE recall_reader;
SET search_path = recall_sec, public;
SELECT array_agg(id ORDER BY id) AS visible_by_select FROM secrets;
SELECT id, hops FROM engram_recall('secrets', '[1,0]', k => 10);
SELECT bool_and(id IN (SELECT id FROM secrets)) AS recall_within_select
  FROM engram_recall('secrets', '[1,0]', k => 10);
SELECT count(*) AS private_by_text FROM engram_recall('secrets', 'diary');
SELECT count(*) AS private_by_id FROM engram_recall('secrets', memory_id => 2);
SELECT count(*) AS private_by_tag FROM engram_recall('secrets', tags => '{private}');
SELECT id, hops FROM engram_spread('secrets', 1);
SELECT array_agg(id ORDER BY id) AS stats_for FROM engram_memory_stats('secrets');
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_spread('secrets', 2)$$),
	($$SELECT engram_associate('secrets', 1, 2, 0.5)$$),
	($$SELECT engram_associate('secrets', 1, 3, 0.5)$$),
	($$SELECT engram_store('secrets', 'sneaky', '[0,1]', tags => '{public}')$$),
	($$SELECT engram_store_batch('secrets', ARRAY['sneaky'], ARRAY['[0,1]']::evector[])$$),
	($$SELECT engram_forget('secrets', 1)$$),
	($$SELECT engram_forget('secrets', 1, 'hard')$$),
	($$SELECT engram_drop_space('secrets')$$),
	($$SELECT engram_unregister_space('secrets')$$),
	($$SELECT engram_register_space('recall_sec.secrets')$$),
	($$INSERT INTO engram_space_catalog (space, associations, dims, distance, default_decay, text_config)
		VALUES ('recall_sec.secrets', 'recall_sec.secrets_associations', 2, 'l2', 'none', 'simple')$$),
	($$SELECT engram_create_space('public_space', 2)$$)
) AS t(statement);
-- The catalog is readable but not writable for other people's spaces.
SELECT dims, distance FROM engram_space_catalog WHERE space = 'recall_sec.secrets'::regclass;
WITH d AS (DELETE FROM engram_space_catalog RETURNING 1) SELECT count(*) AS deleted FROM d;
WITH u AS (UPDATE engram_space_catalog SET dims = 3 RETURNING 1) SELECT count(*) AS updated FROM u;
-- Plans are cached per backend: switching back to the owner in the same
-- session must see everything again, and the reader only its rows.
SET ROLE recall_owner;
SELECT array_agg(id ORDER BY id) AS owner_sees FROM engram_recall('secrets', '[1,0]', k => 10);
SET ROLE recall_reader;
SELECT array_agg(id ORDER BY id) AS reader_sees FROM engram_recall('secrets', '[1,0]', k => 10);
RESET ROLE;

-- With INSERT granted, the reader's writes pass through the INSERT policy.
GRANT INSERT ON recall_sec.secrets TO recall_reader;
SET ROLE recall_reader;
SET search_path = recall_sec, public;
SELECT pg_temp.sqlstate_of($$SELECT engram_store('secrets', 'private attempt', '[0,1]', tags => '{private}')$$) AS result;
SELECT engram_store('secrets', 'public addition', '[0,1]', tags => '{public}') AS stored;
SELECT pg_temp.sqlstate_of($$SELECT engram_store_batch('secrets', ARRAY['batch private'], ARRAY['[0,1]']::evector[])$$) AS batch_result;
RESET ROLE;
SELECT count(*) AS rows_in_space FROM recall_sec.secrets;

-- Someone with no privilege at all.
SET ROLE recall_outsider;
SET search_path = recall_sec, public;
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_recall('secrets', '[1,0]')$$),
	($$SELECT engram_recall('secrets', 'fact')$$),
	($$SELECT engram_spread('secrets', 1)$$),
	($$SELECT engram_memory_stats('secrets')$$),
	($$SELECT engram_store('secrets', 'x', '[1,0]')$$),
	($$SELECT engram_forget('secrets', 1)$$)
) AS t(statement);
RESET ROLE;
RESET search_path;

DROP SCHEMA recall_sec CASCADE;
SELECT count(*) AS catalog_rows_left FROM engram_space_catalog WHERE space::text LIKE '%secrets%';
DROP ROLE recall_owner, recall_reader, recall_outsider;
