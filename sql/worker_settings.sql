-- Settings of the worker (DESIGN section 5), the clock, and the shape of
-- engram_worker_status.
SELECT name, boot_val, unit, context, vartype, min_val, max_val, short_desc
FROM pg_settings
WHERE name IN ('engram.worker_naptime', 'engram.worker_databases', 'engram.background_workers',
			   'engram.consolidation_workers', 'engram.consolidation_interval',
			   'engram.consolidation_batch_size', 'engram.min_confidence_threshold',
			   'engram.migration_batch', 'engram.pending_flush_batch', 'engram.pinned_now',
			   'engram.forgetting_scan_batch', 'engram.worker_nice')
   OR name LIKE 'engram.migration\_%'
ORDER BY name;

-- Out of range, wrong type, and a server-wide setting in a session.
SET engram.consolidation_batch_size = 2;
SET engram.min_confidence_threshold = 1.5;
SET engram.migration_warm_to_cold_window_seconds = 0;
SET engram.consolidation_interval = 60;

-- The clock: a finite timestamp with time zone, or empty for the real clock.
SET engram.pinned_now = 'yesterday at noon';
SET engram.pinned_now = 'infinity';
-- Unpinned, engram_now() is the transaction start time...
SELECT engram_now() = now() AS transaction_time;
-- ... and "now" pins it at the current time: it no longer moves.
SET engram.pinned_now = 'now';
SELECT engram_now() AS pinned \gset
SELECT pg_sleep(0.01);
SELECT engram_now() = :'pinned' AS clock_stands_still, engram_now() < now() AS in_the_past;
SET engram.pinned_now = '2026-02-30 00:00:00+00';
SET engram.pinned_now = '2026-03-01 12:00:00+00';
SHOW engram.pinned_now;
SELECT engram_now() AT TIME ZONE 'UTC' AS engram_now;
RESET engram.pinned_now;
CREATE ROLE worker_clock_user;
SET ROLE worker_clock_user;
SET engram.pinned_now = '2026-03-01 12:00:00+00';
RESET ROLE;
DROP ROLE worker_clock_user;

-- engram_worker_status: one row per (database served, job).
SELECT attname, format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attrelid = 'engram_worker_status'::regclass AND attnum > 0
ORDER BY attnum;
-- Whatever the worker has done so far in this cluster, jobs and states are
-- known ones and each database has all six jobs.
SELECT count(*) AS unknown_rows FROM engram_worker_status
WHERE job NOT IN ('warm_up', 'tier_migration', 'consolidation', 'soft_forgetting', 'access_stats',
				  'pending_flush')
   OR state NOT IN ('scheduled', 'running', 'deferred', 'unavailable', 'standby', 'failed', 'done');
SELECT count(*) AS incomplete_databases FROM (
	SELECT database FROM engram_worker_status GROUP BY database HAVING count(*) <> 6) d;
