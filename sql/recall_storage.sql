-- How a space made by engram_create_space stores a memory, and the CHECK
-- constraints it is created with.  Its
-- toast_tuple_target is the embedding's size plus PostgreSQL's default, so
-- that a 768-dimension embedding (STORAGE MAIN, about 3 kB) leaves the
-- other columns the budget they would have in a row without it: a memory
-- with a few hundred bytes of content, tags and metadata stays in its row,
-- uncompressed, and the embedding is never put through pglz.  A space
-- without the setting (made before it existed) stores the same memories
-- the old way (content, tags and metadata out of line in TOAST, the
-- embedding compressed when it compresses) and recalls them identically.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;

SELECT engram_create_space('storage_new', 768) IS NOT NULL AS created,
	   engram_create_space('storage_old', 768) IS NOT NULL AS created,
	   engram_create_space('storage_small', 16) IS NOT NULL AS created,
	   engram_create_space('storage_wide', 1600) IS NOT NULL AS created;
ALTER TABLE storage_old RESET (toast_tuple_target);
-- 768 dimensions: 8 + 3,072 bytes of embedding + 2,032 = 5,112; 16: 72 +
-- 2,032; 1,600: 6,408 + 2,032, capped at 8,160, the largest value PostgreSQL
-- accepts.
SELECT relname, reloptions FROM pg_class
 WHERE relname IN ('storage_new', 'storage_old', 'storage_small', 'storage_wide') ORDER BY relname;

-- Three memories in each space: a 255-byte content with tags and metadata
-- and an embedding that compresses (every component 0.5); the same with an
-- embedding that does not; and an 8,050-byte content that compresses well.
CREATE TEMP TABLE storage_data AS
SELECT i AS n,
	   CASE i WHEN 3 THEN repeat('the weekly sync moves to Thursday. ', 230)
			  ELSE 'memory ' || i || ': the user asked to move the weekly sync to Thursday afternoon because the design review now takes Tuesday; the team agreed, and the calendar invite was updated for everyone except the two contractors, who will hear by email.'
	   END AS content,
	   CASE i WHEN 1 THEN array_fill(0.5::real, ARRAY[768])
			  ELSE (SELECT array_agg(sin(i * j * 0.37)::real ORDER BY j) FROM generate_series(1, 768) j)
	   END AS embedding
  FROM generate_series(1, 3) i;
SELECT n, engram_store('storage_new', content, embedding, tags => ARRAY['calendar', 'team-sync'],
						metadata => '{"source": "regression test", "session": 42}') AS id
  FROM (SELECT * FROM storage_data ORDER BY n) d;
SELECT n, engram_store('storage_old', content, embedding, tags => ARRAY['calendar', 'team-sync'],
						metadata => '{"source": "regression test", "session": 42}') AS id
  FROM (SELECT * FROM storage_data ORDER BY n) d;

-- Sizes as stored (pg_column_size: bytes on disk, compressed or not).
CREATE FUNCTION pg_temp.storage_of(space text) RETURNS TABLE (id bigint, content_length int,
		content_bytes int, embedding_bytes int, tags_bytes int, metadata_bytes int)
	LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format(
		'SELECT id, octet_length(content), pg_column_size(content), pg_column_size(embedding),
				pg_column_size(tags), pg_column_size(metadata) FROM %I ORDER BY id', space);
END;
$$;
-- Values moved out of line: one TOAST value each.
CREATE FUNCTION pg_temp.toast_values(space text) RETURNS bigint
	LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(DISTINCT chunk_id) FROM %s',
				   (SELECT reltoastrelid::regclass FROM pg_class WHERE oid = space::regclass)) INTO n;
	RETURN n;
END;
$$;
SELECT * FROM pg_temp.storage_of('storage_new');
SELECT * FROM pg_temp.storage_of('storage_old');
SELECT pg_temp.toast_values('storage_new') AS new_toast_values,
	   pg_temp.toast_values('storage_old') AS old_toast_values;

-- Recall answers the same from both: by embedding, by text, by tags.
CREATE FUNCTION pg_temp.storage_answer(space text) RETURNS TABLE (kind text, id bigint,
		content_md5 text, similarity numeric, score numeric)
	LANGUAGE sql AS $$
	SELECT 'embedding', r.id, md5(r.content), round(r.similarity::numeric, 6), round(r.score::numeric, 6)
	  FROM engram_recall(space, (SELECT embedding FROM storage_data WHERE n = 2)::evector, k => 3,
						 mode => 'similarity') r
	UNION ALL
	SELECT 'text', r.id, md5(r.content), round(r.similarity::numeric, 6), round(r.score::numeric, 6)
	  FROM engram_recall(space, 'design review on tuesday', k => 3) r
	UNION ALL
	SELECT 'tags', r.id, md5(r.content), round(r.similarity::numeric, 6), round(r.score::numeric, 6)
	  FROM engram_recall(space, tags => ARRAY['team-sync'], k => 3) r
$$;
-- (what each cue finds; its scores are compared below, not shown: they are
-- the recall tests' subject)
SELECT kind, id, content_md5 = md5(d.content) AS content_intact
  FROM pg_temp.storage_answer('storage_new') a JOIN storage_data d ON d.n = a.id
 ORDER BY kind, id;
SELECT count(*) AS differing_rows FROM (
	(SELECT * FROM pg_temp.storage_answer('storage_new') EXCEPT ALL SELECT * FROM pg_temp.storage_answer('storage_old'))
	UNION ALL
	(SELECT * FROM pg_temp.storage_answer('storage_old') EXCEPT ALL SELECT * FROM pg_temp.storage_answer('storage_new'))
) d;

-- An existing space gains the setting by ALTER TABLE (rows stored from
-- then on): a fourth memory in storage_old now stays in its row.
ALTER TABLE storage_old SET (toast_tuple_target = 5112);
SELECT engram_store('storage_old', content, embedding, tags => ARRAY['calendar', 'team-sync'],
					metadata => '{"source": "regression test", "session": 42}') AS id
  FROM storage_data WHERE n = 1;
SELECT id, content_bytes, embedding_bytes FROM pg_temp.storage_of('storage_old') WHERE id = 4;
SELECT pg_temp.toast_values('storage_old') AS old_toast_values;

-- The CHECK constraints of a new space are written with constants of the
-- column's type ('0'::real, a text[] literal: stored already folded, so
-- the INSERT that reads them again each time parses and plans less); they
-- must accept and refuse exactly what the former forms (0, 1, IN (...))
-- did, under the same names.  storage_old gets the former forms back.
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid IN ('storage_new'::regclass, 'storage_new_associations'::regclass) AND contype = 'c'
 ORDER BY conname;
ALTER TABLE storage_old
	DROP CONSTRAINT storage_old_kind_check,
	ADD CONSTRAINT storage_old_kind_check CHECK (kind IN ('episodic', 'semantic')),
	DROP CONSTRAINT storage_old_confidence_check,
	ADD CONSTRAINT storage_old_confidence_check CHECK (confidence >= 0 AND confidence <= 1),
	DROP CONSTRAINT storage_old_importance_check,
	ADD CONSTRAINT storage_old_importance_check CHECK (importance >= 0 AND importance <= 1),
	DROP CONSTRAINT storage_old_decay_function_check,
	ADD CONSTRAINT storage_old_decay_function_check
		CHECK (decay_function IN ('exponential', 'power_law', 'two_component', 'hybrid'));
ALTER TABLE storage_old_associations
	DROP CONSTRAINT storage_old_associations_weight_check,
	ADD CONSTRAINT storage_old_associations_weight_check CHECK (weight > 0 AND weight <= 1);
-- What a plain INSERT of each row makes of it: accepted, or the name of
-- the constraint it violates (the table name replaced by <space>).
CREATE FUNCTION pg_temp.try_memory(space text, kind text, confidence real, importance real,
		decay text) RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	violated text;
BEGIN
	EXECUTE format('INSERT INTO %I (content, kind, confidence, importance, decay_function)
					VALUES (''probe'', $1, $2, $3, $4)', space)
		USING kind, confidence, importance, decay;
	RAISE EXCEPTION USING ERRCODE = 'P0002';
EXCEPTION
	WHEN check_violation THEN
		GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
		RETURN replace(violated, space, '<space>');
	WHEN no_data_found THEN
		RETURN 'accepted';
END;
$$;
CREATE FUNCTION pg_temp.try_association(space text, weight real) RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	violated text;
BEGIN
	EXECUTE format('INSERT INTO %I (src, dst, weight) VALUES (1, 2, $1)', space || '_associations')
		USING weight;
	RAISE EXCEPTION USING ERRCODE = 'P0002';
EXCEPTION
	WHEN check_violation THEN
		GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
		RETURN replace(violated, space, '<space>');
	WHEN no_data_found THEN
		RETURN 'accepted';
END;
$$;
CREATE TEMP TABLE storage_probes (kind text, confidence real, importance real, decay text);
INSERT INTO storage_probes VALUES
	('episodic', 0, 0, NULL), ('semantic', 1, 1, 'hybrid'), ('episodic', '-0', 0.5, 'power_law'),
	('episodic', 0.5, 0.5, 'exponential'), ('episodic', 0.5, 0.5, 'two_component'),
	('procedural', 0.5, 0.5, NULL), ('Episodic', 0.5, 0.5, NULL), ('', 0.5, 0.5, NULL),
	('episodic', -0.001, 0.5, NULL), ('episodic', 1.001, 0.5, NULL), ('episodic', 'NaN', 0.5, NULL),
	('episodic', 'Infinity', 0.5, NULL), ('episodic', '-Infinity', 0.5, NULL),
	('episodic', 0.5, -1, NULL), ('episodic', 0.5, 'NaN', NULL), ('episodic', 0.5, 2, NULL),
	('episodic', 0.5, 0.5, 'linear'), ('episodic', 0.5, 0.5, 'Hybrid'), ('episodic', 0.5, 0.5, '');
SELECT p.*, pg_temp.try_memory('storage_new', p.kind, p.confidence, p.importance, p.decay) AS new_space,
	   pg_temp.try_memory('storage_old', p.kind, p.confidence, p.importance, p.decay) AS old_space
  FROM storage_probes p;
SELECT w AS weight, pg_temp.try_association('storage_new', w) AS new_space,
	   pg_temp.try_association('storage_old', w) AS old_space
  FROM unnest(ARRAY[0, '-0', 1e-30, 0.5, 1, 1.0000001, 2, 'NaN', 'Infinity']::real[]) w;

-- The tags index of a new space holds only rows that have tags (a memory
-- stored without tags costs no GIN insert); the tag cue's "tags && $n"
-- still uses it, with a generic plan as recall's cached statements do,
-- and the tag cue recalls exactly the tagged memories, as with the former
-- full index (storage_old gets it back).
SELECT indexdef FROM pg_indexes WHERE tablename = 'storage_new' AND indexdef LIKE '%(tags)%';
DROP INDEX storage_old_tags_idx;
CREATE INDEX storage_old_tags_idx ON storage_old USING gin (tags);
SELECT engram_store('storage_new', 'no tags', NULL::evector) > 0 AS stored,
	   engram_store('storage_old', 'no tags', NULL::evector) > 0 AS stored;
PREPARE storage_tagged(text[]) AS
	SELECT id FROM storage_new m WHERE m.tags OPERATOR(pg_catalog.&&) $1
	 ORDER BY m.occurred_at DESC, m.id DESC LIMIT 10;
SET plan_cache_mode = force_generic_plan;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) EXECUTE storage_tagged('{calendar}');
EXECUTE storage_tagged('{calendar}');
RESET enable_seqscan;
RESET plan_cache_mode;
DEALLOCATE storage_tagged;
SELECT 'new' AS space,
	   (SELECT array_agg(id ORDER BY id) FROM engram_recall('storage_new', tags => '{team-sync}', k => 10)) AS recalled,
	   (SELECT array_agg(id ORDER BY id) FROM storage_new WHERE 'team-sync' = ANY (tags)) AS tagged
UNION ALL
SELECT 'old',
	   (SELECT array_agg(id ORDER BY id) FROM engram_recall('storage_old', tags => '{team-sync}', k => 10)),
	   (SELECT array_agg(id ORDER BY id) FROM storage_old WHERE 'team-sync' = ANY (tags));

SELECT engram_drop_space('storage_new'), engram_drop_space('storage_old'),
	   engram_drop_space('storage_small'), engram_drop_space('storage_wide');
RESET engram.recency_boost;
RESET engram.pinned_now;
RESET client_min_messages;
