-- Cognitive memory layer: memory spaces, store, associations, forget,
-- spreading activation, recall, decay and confidence (src/recall/).
--
-- Nothing here is SECURITY DEFINER: every function reads and writes the
-- space tables through SPI as the calling user, so table privileges and
-- row-level security apply exactly as to a plain SELECT/INSERT/UPDATE.

-- The catalog of memory spaces.  Everyone may read it; a row may only be
-- written by the owner of the table it names (policies below), so
-- registering a space never needs more than owning its tables.  Rows
-- whose tables were dropped may be removed by anyone (the sql_drop event
-- trigger does it at once).
CREATE TABLE engram_space_catalog (
	space regclass PRIMARY KEY,
	associations regclass NOT NULL UNIQUE,
	dims integer NOT NULL CHECK (dims >= 1 AND dims <= 16000),
	distance text NOT NULL CHECK (distance IN ('cosine', 'l2', 'inner_product')),
	default_decay text NOT NULL
		CHECK (default_decay IN ('exponential', 'power_law', 'two_component', 'hybrid', 'none')),
	-- qualified name of the text search configuration (text: pg_upgrade
	-- refuses tables with regconfig columns)
	text_config text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE engram_space_catalog IS
	'Engram memory spaces: one row per space table (see the engram_spaces view)';
SELECT pg_catalog.pg_extension_config_dump('engram_space_catalog', '');

ALTER TABLE engram_space_catalog ENABLE ROW LEVEL SECURITY;
CREATE POLICY engram_space_catalog_read ON engram_space_catalog
	FOR SELECT USING (true);
CREATE POLICY engram_space_catalog_insert ON engram_space_catalog
	FOR INSERT WITH CHECK (
		pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = space), 'USAGE')
		AND pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = associations), 'USAGE'));
CREATE POLICY engram_space_catalog_update ON engram_space_catalog
	FOR UPDATE USING (
		pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = space), 'USAGE'))
	WITH CHECK (
		pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = space), 'USAGE')
		AND pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = associations), 'USAGE'));
CREATE POLICY engram_space_catalog_delete ON engram_space_catalog
	FOR DELETE USING (
		NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = space)
		OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = associations)
		OR pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = space), 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON engram_space_catalog TO PUBLIC;

-- Backends cache what they resolved from this catalog (src/recall/
-- space_cache.c): every change of it tells them to forget it.
CREATE FUNCTION engram_space_catalog_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'engram_space_catalog_changed' LANGUAGE C;
CREATE TRIGGER engram_space_catalog_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON engram_space_catalog
	FOR EACH STATEMENT EXECUTE FUNCTION engram_space_catalog_changed();

-- The association cache (src/recall/association_cache.c): the function of
-- the internal triggers engram_create_space gives association tables, and
-- this backend's counts.
CREATE FUNCTION engram_association_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'engram_association_changed' LANGUAGE C;
CREATE FUNCTION engram_association_cache_stats(OUT hits bigint, OUT misses bigint,
	OUT lists bigint, OUT bytes bigint)
	AS 'MODULE_PATHNAME', 'engram_association_cache_stats' LANGUAGE C VOLATILE;

-- Forget catalog rows of dropped tables.  A role that may not use the
-- extension's schema must still be able to drop its own tables: the
-- clean-up is then skipped (the next DROP by someone else, or
-- engram_unregister_space, removes the row; a dangling row is never
-- mistaken for a space, since its table no longer resolves).
CREATE FUNCTION engram_space_catalog_cleanup() RETURNS event_trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM @extschema@.engram_space_catalog s
	WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.space)
	   OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = s.associations);
EXCEPTION WHEN insufficient_privilege THEN
	NULL;
END;
$$;
CREATE EVENT TRIGGER engram_space_catalog_cleanup ON sql_drop
	WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION engram_space_catalog_cleanup();

CREATE VIEW engram_spaces AS
SELECT s.space,
	   n.nspname AS schema_name,
	   c.relname AS space_name,
	   s.associations,
	   s.dims,
	   s.distance,
	   s.default_decay,
	   s.text_config,
	   am.amname AS table_access_method,
	   (SELECT i.indexrelid::regclass
		  FROM pg_catalog.pg_index i
		  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
		  JOIN pg_catalog.pg_am iam ON iam.oid = ic.relam
		 WHERE i.indrelid = s.space AND iam.amname = 'engram_hnsw'
		 ORDER BY i.indexrelid LIMIT 1) AS vector_index,
	   s.created_at
  FROM engram_space_catalog s
  JOIN pg_catalog.pg_class c ON c.oid = s.space
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam;
GRANT SELECT ON engram_spaces TO PUBLIC;

-- Spaces ------------------------------------------------------------------

CREATE FUNCTION engram_create_space(name text, dims integer DEFAULT 768,
		distance text DEFAULT 'cosine', default_decay text DEFAULT 'power_law',
		text_config regconfig DEFAULT 'english')
	RETURNS regclass
	AS 'MODULE_PATHNAME', 'engram_create_space' LANGUAGE C VOLATILE;

CREATE FUNCTION engram_register_space(space regclass, associations regclass DEFAULT NULL,
		distance text DEFAULT 'cosine', default_decay text DEFAULT 'power_law',
		text_config regconfig DEFAULT 'english')
	RETURNS regclass
	AS 'MODULE_PATHNAME', 'engram_register_space' LANGUAGE C VOLATILE;

CREATE FUNCTION engram_unregister_space(space text) RETURNS void
	AS 'MODULE_PATHNAME', 'engram_unregister_space' LANGUAGE C VOLATILE;

CREATE FUNCTION engram_drop_space(space text, if_exists boolean DEFAULT false) RETURNS void
	AS 'MODULE_PATHNAME', 'engram_drop_space' LANGUAGE C VOLATILE;

-- Writing memories --------------------------------------------------------

-- engram_store and engram_recall take the embedding as evector, as its
-- text form, or as the arrays drivers send (the array -> evector casts are
-- assignment casts, which function calls do not apply): one overload per
-- type, all backed by the same C function.  The text overload is also what
-- an untyped literal ('[1,2,3]') resolves to.
DO $$
DECLARE
	embedding_type text;
BEGIN
	FOREACH embedding_type IN ARRAY ARRAY['evector', 'text', 'real[]', 'double precision[]',
										   'numeric[]', 'integer[]']
	LOOP
		EXECUTE format($sql$
			CREATE FUNCTION engram_store(space text, content text, embedding %s,
					confidence real DEFAULT 0.9, kind text DEFAULT 'episodic',
					occurred_at timestamptz DEFAULT NULL, location text DEFAULT NULL,
					participants text[] DEFAULT NULL, tags text[] DEFAULT NULL,
					importance real DEFAULT 0.5, decay_function text DEFAULT NULL,
					metadata jsonb DEFAULT NULL)
				RETURNS bigint
				AS 'MODULE_PATHNAME', 'engram_store' LANGUAGE C VOLATILE
			$sql$, embedding_type);

		-- Only the text overload has a default cue, so a call without a cue
		-- (filters only) resolves to exactly one function.
		EXECUTE format($sql$
			CREATE FUNCTION engram_recall(space text, cue %s %s, k integer DEFAULT 10,
					mode text DEFAULT 'hybrid', query text DEFAULT NULL,
					after timestamptz DEFAULT NULL, before timestamptz DEFAULT NULL,
					recent interval DEFAULT NULL, location text DEFAULT NULL,
					tags text[] DEFAULT NULL, participants text[] DEFAULT NULL,
					memory_id bigint DEFAULT NULL, max_hops integer DEFAULT NULL)
				RETURNS TABLE (id bigint, content text, score double precision,
					similarity double precision, activation double precision,
					confidence double precision, confidence_low double precision,
					confidence_high double precision, hops integer, tier text,
					occurred_at timestamptz, metadata jsonb)
				AS 'MODULE_PATHNAME', 'engram_recall' LANGUAGE C VOLATILE ROWS 10
			$sql$, embedding_type, CASE WHEN embedding_type = 'text' THEN 'DEFAULT NULL' ELSE '' END);
	END LOOP;
END;
$$;

CREATE FUNCTION engram_store_batch(space text, contents text[], embeddings anyarray,
		confidences real[] DEFAULT NULL, kinds text[] DEFAULT NULL,
		occurred_at timestamptz[] DEFAULT NULL, metadata jsonb[] DEFAULT NULL)
	RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'engram_store_batch' LANGUAGE C VOLATILE ROWS 1000;

CREATE FUNCTION engram_store_batch(space text, memories jsonb)
	RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'engram_store_batch_jsonb' LANGUAGE C VOLATILE ROWS 1000;

CREATE FUNCTION engram_associate(space text, a bigint, b bigint, weight real DEFAULT 0.5,
		bidirectional boolean DEFAULT true)
	RETURNS void
	AS 'MODULE_PATHNAME', 'engram_associate' LANGUAGE C VOLATILE;

CREATE FUNCTION engram_forget(space text, id bigint, mode text DEFAULT 'soft')
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_forget' LANGUAGE C VOLATILE;

-- Reading memories --------------------------------------------------------

CREATE FUNCTION engram_spread(space text, from_id bigint, max_hops integer DEFAULT NULL,
		k integer DEFAULT 10, activation double precision DEFAULT 1.0)
	RETURNS TABLE (id bigint, content text, activation double precision,
		confidence double precision, confidence_low double precision,
		confidence_high double precision, hops integer, tier text,
		occurred_at timestamptz, metadata jsonb)
	AS 'MODULE_PATHNAME', 'engram_spread' LANGUAGE C VOLATILE ROWS 10;

CREATE FUNCTION engram_memory_stats(space text)
	RETURNS TABLE (id bigint, tier text, access_count bigint, last_access timestamptz,
		decay_function text, retention double precision,
		effective_confidence double precision)
	AS 'MODULE_PATHNAME', 'engram_memory_stats' LANGUAGE C STABLE;

-- The mathematics, for inspection ------------------------------------------

CREATE FUNCTION engram_retention(decay_function text, elapsed interval,
		access_count bigint DEFAULT 0)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_retention' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION engram_seed_activation(similarity double precision)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_seed_activation_sql' LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE FUNCTION engram_confidence_and(a double precision, b double precision)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_confidence_and_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION engram_confidence_or(a double precision, b double precision)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_confidence_or_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION engram_confidence_not(a double precision)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_confidence_not_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION engram_noisy_or(p double precision[])
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_noisy_or_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
