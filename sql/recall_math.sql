-- The pure mathematics of recall, through its SQL wrappers, against hand
-- computations.  Defaults: DESIGN section 4.

-- Forgetting curves (floor 0.1).
--   exponential  R = exp(-t / 1.96 h)
--   power_law    R = (1 + t_hours) ^ -0.18
--   two_component: exponential below 3 accesses, power law from 3
--   hybrid       exp(-t / 0.8 h) before 24 h, (1 + t_hours) ^ -0.25 after
SELECT curve, elapsed, accesses, round(engram_retention(curve, elapsed, accesses)::numeric, 6) AS retention
  FROM (VALUES
	('exponential', interval '0', 0),         -- 1
	('exponential', interval '1.96 hours', 0), -- exp(-1) = 0.367879
	('exponential', interval '10 hours', 0),  -- exp(-5.102) = 0.006084 -> floor 0.1
	('power_law', interval '3 hours', 0),     -- 4^-0.18 = 0.779165
	('power_law', interval '1 day', 0),       -- 25^-0.18 = 0.560236
	('power_law', interval '1 month', 0),     -- (1 + 730.5)^-0.18 = 0.305099 (a month is 30.4375 days)
	('two_component', interval '1 hour', 2),  -- exp(-1/1.96) = 0.600373
	('two_component', interval '1 hour', 3),  -- 2^-0.18 = 0.882703
	('hybrid', interval '48 minutes', 0),     -- exp(-1) = 0.367879
	('hybrid', interval '2 hours', 0),        -- exp(-2.5) = 0.082085 -> 0.1
	('hybrid', interval '23 hours', 0),       -- floor 0.1
	('hybrid', interval '24 hours', 0),       -- 25^-0.25 = 0.447214 (the reference curve jumps here)
	('hybrid', interval '48 hours', 0),       -- 49^-0.25 = 0.377964
	('none', interval '1 year', 0),           -- 1
	('exponential', interval '-1 hour', 0)    -- a future access counts as now: 1
  ) AS t(curve, elapsed, accesses);

-- Every curve parameter is a setting.
SET engram.decay_floor = 0;
SELECT round(engram_retention('exponential', '10 hours')::numeric, 6) AS no_floor;   -- 0.006084
RESET engram.decay_floor;
SET engram.decay_exponential_tau = '1h';
SELECT round(engram_retention('exponential', '1 hour')::numeric, 6) AS tau_one_hour; -- 0.367879
RESET engram.decay_exponential_tau;
SET engram.decay_two_component_accesses = 1;
SELECT round(engram_retention('two_component', '1 hour', 1)::numeric, 6) AS two_component; -- 0.882703
RESET engram.decay_two_component_accesses;
SHOW engram.decay_exponential_tau;
SHOW engram.decay_hybrid_switch;

-- Seeding sigmoid: sigmoid((similarity - 0.4) / 0.5).
SELECT s, round(engram_seed_activation(s)::numeric, 6) AS activation
  FROM unnest(ARRAY[0.4, 0.9, 1.0, -1.0]) AS s;   -- 0.5, 0.731059, 0.768525, 0.057324
SET engram.seed_temperature = 0.25;
SELECT round(engram_seed_activation(1.0)::numeric, 6) AS sharper;   -- sigmoid(2.4) = 0.916827
RESET engram.seed_temperature;

-- Confidence algebra.
SELECT engram_confidence_and(0.9, 0.5) AS "and",       -- 0.45
       engram_confidence_or(0.9, 0.5) AS "or",         -- 0.95
       round(engram_confidence_not(0.9)::numeric, 6) AS "not",  -- 0.1
       engram_noisy_or(ARRAY[0.5, 0.5, 0.5]) AS noisy_or,       -- 1 - 0.125 = 0.875
       engram_noisy_or(ARRAY[]::float8[]) AS empty,              -- 0
       round(engram_noisy_or(ARRAY[0.2, NULL])::numeric, 6) AS nulls_skipped;  -- 0.2

-- The clock: pinned (superuser only), else the transaction's start.
SET engram.pinned_now = '2026-03-04 05:06:07+00';
SELECT engram_now();
RESET engram.pinned_now;
SELECT engram_now() = now() AS follows_now;

-- Bad inputs, each with its SQLSTATE.
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END;
$$;
SELECT statement, pg_temp.sqlstate_of(statement) AS result FROM (VALUES
	($$SELECT engram_retention('linear', '1 hour')$$),
	($$SELECT engram_retention('exponential', '1 hour', -1)$$),
	($$SELECT engram_seed_activation('NaN')$$),
	($$SELECT engram_seed_activation('Infinity')$$),
	($$SELECT engram_confidence_and(1.5, 0.2)$$),
	($$SELECT engram_confidence_or(0.2, -0.1)$$),
	($$SELECT engram_confidence_not('NaN')$$),
	($$SELECT engram_noisy_or(ARRAY[0.5, 2])$$),
	($$SET engram.pinned_now = 'not a time'$$),
	($$SET engram.pinned_now = 'infinity'$$),
	($$SET engram.seed_temperature = 0$$),
	($$SET engram.max_hops = 11$$),
	($$SET engram.revisit_penalty = 1.5$$)
) AS t(statement);
SELECT engram_retention(NULL, '1 hour') IS NULL AS strict;

-- engram.pinned_now is for superusers only.
CREATE ROLE recall_math_user;
SET ROLE recall_math_user;
SELECT pg_temp.sqlstate_of($$SET engram.pinned_now = '2026-01-01'$$) AS result;
SET engram.seed_threshold = 0.5;   -- an ordinary setting is fine
RESET engram.seed_threshold;
RESET ROLE;
DROP ROLE recall_math_user;
