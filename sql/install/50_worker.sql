-- Background worker, consolidation and soft forgetting (src/worker/,
-- src/consolidate/).  See docs/worker.md.
--
-- Nothing here is SECURITY DEFINER: maintenance and consolidation read and
-- write the space tables through SPI as the calling user.

-- Engram's clock: engram.pinned_now when set, else the transaction start
-- time (src/clock.c).
CREATE FUNCTION engram_now() RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'engram_now_sql'
	LANGUAGE C STABLE PARALLEL SAFE;

-- Shared-memory status of the worker: one row per (database, job).
CREATE FUNCTION engram_worker_state(
		OUT database oid, OUT pid integer, OUT worker_started_at timestamptz,
		OUT worker_restarts bigint, OUT worker_nice integer, OUT job text, OUT state text, OUT detail text,
		OUT last_start timestamptz, OUT last_end timestamptz, OUT next_run timestamptz,
		OUT runs bigint, OUT rows_moved bigint, OUT memories_consolidated bigint,
		OUT episodes_linked bigint, OUT episodes_selected bigint, OUT rows_flushed bigint,
		OUT errors bigint,
		OUT last_error text, OUT last_error_at timestamptz)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'engram_worker_state'
	LANGUAGE C VOLATILE STRICT;

CREATE VIEW engram_worker_status AS
SELECT d.datname AS database,
	   s.pid,
	   s.worker_started_at,
	   s.worker_restarts,
	   s.worker_nice,
	   s.job,
	   s.state,
	   s.detail,
	   s.last_start,
	   s.last_end,
	   s.next_run,
	   s.runs,
	   s.rows_moved,
	   s.memories_consolidated,
	   s.episodes_linked,
	   s.episodes_selected,
	   s.rows_flushed,
	   s.errors,
	   s.last_error,
	   s.last_error_at
  FROM engram_worker_state() s
  LEFT JOIN pg_catalog.pg_database d ON d.oid = s.database;
COMMENT ON VIEW engram_worker_status IS
	'Engram background worker: last and next run, counters and errors of each job, per database';
GRANT SELECT ON engram_worker_status TO PUBLIC;

-- One maintenance cycle on one space, now, in the calling session.
CREATE FUNCTION engram_run_maintenance(space regclass, associations regclass DEFAULT NULL)
	RETURNS TABLE (job text, state text, detail text, rows_moved bigint,
				   memories_consolidated bigint, episodes_linked bigint,
				   episodes_selected bigint, rows_flushed bigint, duration_ms double precision)
	AS 'MODULE_PATHNAME', 'engram_run_maintenance'
	LANGUAGE C VOLATILE;

-- One consolidation pass on one space, now.
CREATE FUNCTION engram_consolidate(space regclass, associations regclass DEFAULT NULL,
		OUT candidates bigint, OUT semantic_created bigint, OUT semantic_merged bigint,
		OUT episodes_linked bigint, OUT skipped_busy boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'engram_consolidate'
	LANGUAGE C VOLATILE;

-- The consolidation algorithm on arrays (no table is read or written).
CREATE FUNCTION engram_consolidation_plan(ids bigint[], embeddings real[], confidences real[],
		pattern_ids bigint[] DEFAULT '{}', pattern_embeddings real[] DEFAULT '{}',
		pattern_confidences real[] DEFAULT '{}', pattern_members bigint[] DEFAULT '{}',
		batch_size integer DEFAULT NULL)
	RETURNS TABLE (memory integer, merge_into bigint, members bigint[], representative bigint,
				   cohesion double precision, confidence double precision,
				   embedding real[], weights real[])
	AS 'MODULE_PATHNAME', 'engram_consolidation_plan_sql'
	LANGUAGE C STABLE;

-- The tier-migration policy on arrays, with the current engram.migration_* settings.
CREATE FUNCTION engram_migration_plan(tids tid[], tiers text[], accesses_per_hour double precision[],
		seconds_in_tier double precision[] DEFAULT NULL, max_moves integer DEFAULT NULL)
	RETURNS TABLE (tid tid, from_tier text, to_tier text, accesses_per_hour double precision)
	AS 'MODULE_PATHNAME', 'engram_migration_plan_sql'
	LANGUAGE C STABLE;
