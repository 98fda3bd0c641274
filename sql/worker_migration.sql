-- The tier-migration policy (engram_migration_plan) with the seed
-- thresholds: hot->warm under 10 accesses an hour, warm->cold under 1 a
-- day, cold->warm at 5 an hour, warm->hot at 20 an hour.  Demotions need a
-- whole window in the tier.  Promotions come first (most used first), then
-- demotions (least used first).
CREATE TEMP TABLE worker_rows (tid tid, tier text, per_hour float8, seconds float8);
INSERT INTO worker_rows VALUES
	('(0,1)', 'hot', 30, 86400),		-- stays hot
	('(0,2)', 'hot', 5, 7200),			-- hot -> warm
	('(0,3)', 'hot', 5, 600),			-- too new in hot to demote
	('(0,4)', 'warm', 25, 0),			-- warm -> hot
	('(0,5)', 'warm', 0.01, 172800),	-- 0.24 a day: warm -> cold
	('(0,6)', 'warm', 0.1, 172800),		-- 2.4 a day: stays warm
	('(0,7)', 'cold', 6, 0),			-- cold -> warm
	('(0,8)', 'cold', 4, 0),			-- stays cold
	('(0,9)', 'warm', 0, 3600),			-- unused, but warm for an hour only
	('(0,10)', 'warm', 21, 0),			-- warm -> hot
	('(0,11)', 'cold', 100, 0);			-- cold -> warm, not straight to hot

SELECT * FROM engram_migration_plan(
	(SELECT array_agg(tid ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(tier ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(per_hour ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(seconds ORDER BY tid) FROM worker_rows));

-- At most max_moves (default engram.migration_batch), most urgent first.
SELECT * FROM engram_migration_plan(
	(SELECT array_agg(tid ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(tier ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(per_hour ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(seconds ORDER BY tid) FROM worker_rows),
	max_moves => 3);
SET engram.migration_batch = 2;
SELECT tid FROM engram_migration_plan(
	(SELECT array_agg(tid ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(tier ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(per_hour ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(seconds ORDER BY tid) FROM worker_rows));
RESET engram.migration_batch;

-- The thresholds are settings: with warm->hot at 22, (0,10) stays warm; with
-- warm->cold counted over an hour, (0,9) goes cold too.
SET engram.migration_warm_to_hot_accesses = 22;
SET engram.migration_warm_to_cold_window_seconds = '1h';
SELECT * FROM engram_migration_plan(
	(SELECT array_agg(tid ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(tier ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(per_hour ORDER BY tid) FROM worker_rows),
	(SELECT array_agg(seconds ORDER BY tid) FROM worker_rows));
RESET engram.migration_warm_to_hot_accesses;
RESET engram.migration_warm_to_cold_window_seconds;

-- Without times in tier every row counts as settled.
SELECT tid, from_tier, to_tier FROM engram_migration_plan(
	ARRAY['(0,1)', '(0,2)']::tid[], ARRAY['hot', 'warm'], ARRAY[0, 0]::float8[]);

-- Errors.
SELECT * FROM engram_migration_plan(ARRAY['(0,1)']::tid[], ARRAY['lukewarm'], ARRAY[1]::float8[]);
SELECT * FROM engram_migration_plan(ARRAY['(0,1)']::tid[], ARRAY['hot', 'warm'], ARRAY[1]::float8[]);
SELECT * FROM engram_migration_plan(ARRAY['(0,1)']::tid[], ARRAY['hot'], ARRAY[-1]::float8[]);
SELECT * FROM engram_migration_plan(ARRAY['(0,1)']::tid[], ARRAY['hot'], ARRAY['NaN']::float8[]);
SELECT * FROM engram_migration_plan(ARRAY['(0,1)']::tid[], ARRAY['hot'], ARRAY[1]::float8[], max_moves => -1);
SELECT * FROM engram_migration_plan(ARRAY['(0,1)']::tid[], ARRAY[NULL]::text[], ARRAY[1]::float8[]);
SELECT * FROM engram_migration_plan(NULL, ARRAY['hot'], ARRAY[1]::float8[]);

DROP TABLE worker_rows;
