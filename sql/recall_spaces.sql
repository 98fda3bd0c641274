-- Memory spaces: creation, the catalog and its view, registration of
-- hand-made tables, name resolution (hostile names included), dropping.
SET client_min_messages = warning;   -- the NOTICEs depend on which access methods exist

SELECT engram_create_space('notes', 4, 'l2', 'exponential', 'simple') AS space;
SELECT space, schema_name, space_name, associations, dims, distance, default_decay, text_config
  FROM engram_spaces WHERE space_name = 'notes';
-- The table and index access methods are used exactly when installed.
SELECT table_access_method = CASE WHEN EXISTS (SELECT 1 FROM pg_am WHERE amname = 'engram')
								  THEN 'engram' ELSE 'heap' END AS table_am_as_available,
	   (vector_index IS NOT NULL) = EXISTS (SELECT 1 FROM pg_am WHERE amname = 'engram_hnsw')
		 AS vector_index_as_available
  FROM engram_spaces WHERE space_name = 'notes';
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull
  FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attnum > 0 ORDER BY attnum;
SELECT attname, format_type(atttypid, atttypmod) AS type
  FROM pg_attribute WHERE attrelid = 'notes_associations'::regclass AND attnum > 0 ORDER BY attnum;
-- Full-text index on the space's text search configuration.
SELECT indexdef FROM pg_indexes WHERE tablename = 'notes' AND indexdef LIKE '%to_tsvector%';

-- A space is an ordinary table: plain INSERT and SELECT work.
INSERT INTO notes (content, embedding) VALUES ('plain insert', '[1,2,3,4]');
SELECT content, kind, confidence, importance, metadata FROM notes;

-- A second space in another schema, found by a qualified name.
CREATE SCHEMA recall_other;
SET search_path = recall_other, public;
SELECT engram_create_space('notes', 2) AS other_space;
RESET search_path;
SELECT space, schema_name, dims FROM engram_spaces WHERE space_name = 'notes' ORDER BY schema_name;
SELECT engram_store('recall_other.notes', 'qualified', '[1,0]') AS id;
SELECT content FROM recall_other.notes;

-- Hostile names are identifiers, never SQL.
CREATE TABLE recall_victim (x int);
SELECT engram_create_space('x"; DROP TABLE recall_victim; --', 2) AS hostile;
SELECT engram_create_space('Mixed Case', 2) AS mixed;
SELECT to_regclass('recall_victim') IS NOT NULL AS victim_survives;
SELECT space_name FROM engram_spaces WHERE space_name LIKE 'x%' OR space_name = 'Mixed Case' ORDER BY 1;
-- Found by the same string, and by its quoted (regclass) form.
SELECT engram_store('x"; DROP TABLE recall_victim; --', 'safe', '[1,0]') AS id;
SELECT engram_store('"x""; DROP TABLE recall_victim; --"', 'also safe', '[0,1]') AS id;
SELECT engram_store('Mixed Case', 'mixed', '[1,1]') AS id;
SELECT id, content FROM engram_recall('x"; DROP TABLE recall_victim; --', '[1,0]', mode => 'similarity');
SELECT content FROM "x""; DROP TABLE recall_victim; --" ORDER BY id;
SELECT engram_drop_space('x"; DROP TABLE recall_victim; --');
SELECT engram_drop_space('"Mixed Case"');
SELECT to_regclass('recall_victim') IS NOT NULL AS victim_survives;

-- Registering a hand-made table.
CREATE TABLE recall_bad (id int, content varchar, embedding evector, confidence float8);
SELECT engram_register_space('recall_bad');
CREATE TABLE recall_hand (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	content text NOT NULL,
	embedding evector(2),
	kind text NOT NULL DEFAULT 'episodic',
	confidence real NOT NULL DEFAULT 0.9,
	occurred_at timestamptz NOT NULL DEFAULT now(),
	location text, participants text[], tags text[],
	importance real NOT NULL DEFAULT 0.5,
	decay_function text,
	metadata jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now(),
	extra_column int);
SELECT engram_register_space('recall_hand', distance => 'inner_product') AS registered;
SELECT space, associations, dims, distance, default_decay FROM engram_spaces WHERE space_name = 'recall_hand';
SELECT engram_register_space('recall_hand');
SELECT engram_store('recall_hand', 'hand made', '[0.5,0.5]') AS id;
-- inner product similarity: [0.5,0.5] . [1,1] = 1
SELECT content, round(similarity::numeric, 4) AS similarity FROM engram_recall('recall_hand', '[1,1]');
-- An association table given explicitly must conform too.
CREATE TABLE recall_hand2 (LIKE recall_hand INCLUDING ALL);
CREATE TABLE recall_links (src bigint, dst int);
SELECT engram_register_space('recall_hand2', 'recall_links');
-- The embedding column must declare its dimensions.
CREATE TABLE recall_nodims (LIKE recall_hand INCLUDING ALL);
ALTER TABLE recall_nodims ALTER COLUMN embedding TYPE evector;
SELECT engram_register_space('recall_nodims');
-- A table that is not a space.
SELECT count(*) FROM engram_recall('recall_bad', '[1,0]');
SELECT count(*) FROM engram_recall('recall_no_such_table', '[1,0]');

-- Unregister keeps the tables; dropping the table directly cleans the catalog.
SELECT engram_unregister_space('recall_hand');
SELECT count(*) AS still_registered FROM engram_space_catalog WHERE space = 'recall_hand'::regclass;
SELECT to_regclass('recall_hand_associations') IS NOT NULL AS associations_kept;
SELECT engram_register_space('recall_hand', 'recall_hand_associations') IS NOT NULL AS registered_again;
DROP TABLE recall_hand_associations;
SELECT count(*) AS catalog_rows_for_recall_hand FROM engram_space_catalog
 WHERE space::text = 'recall_hand' OR associations::oid NOT IN (SELECT oid FROM pg_class);

-- Renaming a space table keeps it a space (the catalog holds its OID).
ALTER TABLE notes RENAME TO renamed_notes;
SELECT space, associations FROM engram_spaces WHERE space_name = 'renamed_notes';
SELECT content FROM engram_recall('renamed_notes', '[1,2,3,4]', mode => 'similarity');
ALTER TABLE renamed_notes RENAME TO notes;

-- Dropping.
SELECT engram_drop_space('notes');
SELECT to_regclass('notes') IS NULL AND to_regclass('notes_associations') IS NULL AS dropped;
SELECT engram_drop_space('notes');
SELECT engram_drop_space('notes', if_exists => true);
SELECT engram_drop_space('recall_other.notes');
SELECT count(*) AS spaces_left FROM engram_spaces
 WHERE space_name IN ('notes', 'recall_hand', 'x"; DROP TABLE recall_victim; --', 'Mixed Case');
DROP SCHEMA recall_other;
DROP TABLE recall_victim, recall_bad, recall_hand, recall_hand2, recall_links, recall_nodims;
