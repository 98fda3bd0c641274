-- A library whose result rows differ from the SQL objects that CREATE
-- EXTENSION made (engram.so replaced by a newer build without recreating
-- the extension) errors instead of storing values under the wrong types.
-- Simulated by declaring the worker-state function with one column fewer.
CREATE FUNCTION stale_worker_state()
RETURNS TABLE (database oid, pid int, started_at timestamptz, restarts bigint,
               job text, state text, detail text, last_start timestamptz, last_end timestamptz,
               next_run timestamptz, runs bigint, rows_moved bigint, memories_consolidated bigint,
               episodes_linked bigint, episodes_selected bigint, rows_flushed bigint,
               errors bigint, last_error text, last_error_at timestamptz)
AS 'engram', 'engram_worker_state' LANGUAGE C;
SELECT count(*) FROM stale_worker_state();
-- The installed declaration reads the same function without error.
SELECT count(*) >= 0 AS ok FROM engram_worker_status;
DROP FUNCTION stale_worker_state();
