-- The relay state cache (src/shmem/engram_relay_state.h): what spreading
-- needs of a memory it reaches and reads from its heap page (visibility,
-- id, stored confidence, created_at, decay_function, home tier) is kept in
-- a small shared table, and the next call reads it from there instead of
-- the page.  Every answer with the cache must equal the answer without it
-- (engram.relay_state_lookups = off: the rows read from their pages, as
-- before the cache), after an update of a relay's confidence, a soft and a
-- hard forget, a delete, tier moves, an update that moves the row, and a
-- TRUNCATE; the cache must report hits.  Every call records accesses,
-- which change the next call's confidences: so the answers with the cache
-- come from space "relays", those without from its twin "twin", the same
-- rows (same TIDs) with the same changes and calls.  The clock moves a day
-- between comparisons, so that created_at, the forgetting curves and the
-- accesses keep mattering.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.spreading_time_budget = 0;
-- The hot tier's cached copies would answer first: without hot-tier
-- lookups every memory spreading reaches is read from its heap page.
SET engram.hot_tier_lookups = off;
SHOW engram.relay_state_cache_mb;
SELECT size_bytes > 8000000 AS sized FROM engram_relay_state_info();

SELECT engram_create_space('relays', 2, 'cosine', 'none') IS NOT NULL AS created,
       engram_create_space('twin', 2, 'cosine', 'none') IS NOT NULL AS twin_created;
-- Run "statement" (a format() pattern: %I the table, %L the space name)
-- on both spaces.
CREATE FUNCTION on_both(statement text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format(statement, 'relays', 'relays');
	EXECUTE format(statement, 'twin', 'twin');
END;
$$;
-- Three forgetting curves (and the space's default), ages of hours to
-- weeks, confidences 0.5 to 0.9: a wrong state would change the answers.
CREATE FUNCTION fill(variant integer) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM on_both(format($f$
		INSERT INTO %%I (id, content, embedding, confidence, created_at, decay_function)
		SELECT i, 'memory ' || i, format('[%%%%s,%%%%s]', cos(i), sin(i))::evector,
		       0.5 + (i %%%% 5) / 10.0,
		       timestamptz '2026-01-01 10:00:00+00' - i * %L::interval,
		       (ARRAY['exponential', 'power_law', 'two_component', NULL])[1 + (i + %s) %%%% 4]
		  FROM generate_series(1, 300) i$f$, (3 + variant) || ' hours', variant));
	PERFORM on_both(format($f$
		INSERT INTO %%I_associations (src, dst, weight)
		SELECT i, 1 + (i * 7919 + f * %s) %%%% 300, 0.5 + f / 10.0
		  FROM generate_series(1, 300) i, generate_series(1, 3) f
		 WHERE i <> 1 + (i * 7919 + f * %s) %%%% 300
		ON CONFLICT DO NOTHING$f$, 104729 + variant, 104729 + variant));
	PERFORM on_both($f$INSERT INTO %I_associations (src, dst, weight)
		SELECT 1, i, 0.9 FROM generate_series(3, 60, 3) i ON CONFLICT DO NOTHING$f$);
END;
$$;
SELECT fill(0);

-- Spreading from memory 1 (its neighbours relay at depth 1, theirs at
-- depth 2).  Few calls per test: each records an access to every memory
-- returned, and 20 within an hour would let the background worker move
-- memories to the hot tier, in one space before the other.
CREATE FUNCTION answers(space text) RETURNS TABLE (id bigint, activation float8,
	confidence float8, low float8, high float8, hops integer, tier text)
LANGUAGE sql AS $$
	SELECT id, activation, confidence, confidence_low, confidence_high, hops, tier
	  FROM engram_spread(space, 1, max_hops => 3, k => 1000)
$$;
CREATE TEMP TABLE last_answers AS SELECT * FROM answers('relays') WHERE false;
-- A day later: the answers of "relays" with the cache (kept in
-- last_answers) equal those of "twin" without it.
CREATE FUNCTION same_without_cache() RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	same boolean;
BEGIN
	PERFORM set_config('engram.pinned_now',
					   (current_setting('engram.pinned_now')::timestamptz + interval '1 day')::text,
					   false);
	TRUNCATE last_answers;
	INSERT INTO last_answers SELECT * FROM answers('relays');
	PERFORM set_config('engram.relay_state_lookups', 'off', true);
	CREATE TEMP TABLE without_cache AS SELECT * FROM answers('twin');
	PERFORM set_config('engram.relay_state_lookups', 'on', true);
	SELECT count(*) > 0 AND NOT EXISTS (TABLE last_answers EXCEPT ALL TABLE without_cache) AND
	       NOT EXISTS (TABLE without_cache EXCEPT ALL TABLE last_answers)
	  INTO same FROM last_answers;
	DROP TABLE without_cache;
	RETURN same;
END;
$$;
CREATE TEMP TABLE counters AS SELECT hits, fills, invalidations FROM engram_relay_state_info();
-- What the cache did since the last call.
CREATE FUNCTION counted() RETURNS TABLE (hit boolean, filled boolean, invalidated boolean)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY SELECT i.hits > c.hits, i.fills > c.fills, i.invalidations > c.invalidations
	  FROM engram_relay_state_info() i, counters c;
	UPDATE counters SET hits = i.hits, fills = i.fills, invalidations = i.invalidations
	  FROM engram_relay_state_info() i;
END;
$$;
-- Memory "memory" in the last answers of "relays" (no call made here).
CREATE FUNCTION relay(memory bigint) RETURNS TABLE (activation numeric, confidence numeric,
	hops integer, tier text)
LANGUAGE sql AS $$
	SELECT round(activation::numeric, 6), round(confidence::numeric, 6), hops, tier
	  FROM last_answers WHERE id = memory
$$;
-- 1. The first reads fill the cache, the next ones hit it.
SELECT same_without_cache();
SELECT * FROM counted();
SELECT same_without_cache();
SELECT * FROM counted();
SELECT count(*) > 50 AS many FROM last_answers;
SELECT * FROM relay(3);

-- 2. A relay's stored confidence updated.
SELECT on_both('UPDATE %I SET confidence = 0.2 WHERE id = 3');
SELECT * FROM counted();
SELECT same_without_cache();
SELECT * FROM counted();
SELECT * FROM relay(3);

-- 3. Soft forgetting (confidence 0): memory 3 relays nothing and is not
-- returned.
SELECT on_both('SELECT engram_forget(%L, 3)');
SELECT same_without_cache();
SELECT count(*) AS returned FROM last_answers WHERE id = 3;

-- 4. Hard forgetting and a plain DELETE.
SELECT on_both($$SELECT engram_forget(%L, 6, 'hard')$$);
SELECT on_both('DELETE FROM %I WHERE id = 9');
SELECT same_without_cache();
SELECT count(*) AS returned FROM last_answers WHERE id IN (6, 9);

-- 5. Tier moves: to cold (a stub: the cache keeps its home tier), to hot
-- (resident), and back to warm.
SELECT on_both($$SELECT engram_move_to_tier(%L, ARRAY(SELECT ctid FROM %1$I WHERE id = 12), 'cold')$$);
SELECT same_without_cache();
SELECT * FROM relay(12);
SELECT on_both($$SELECT engram_move_to_tier(%L, ARRAY(SELECT ctid FROM %1$I WHERE id = 15), 'hot')$$);
SELECT same_without_cache();
SELECT * FROM relay(15);
SELECT on_both($$SELECT engram_move_to_tier(%L, ARRAY(SELECT ctid FROM %1$I WHERE id IN (12, 15)), 'warm')$$);
SELECT same_without_cache();
SELECT * FROM relay(12);
SELECT * FROM relay(15);

-- 6. An update of the embedding and of created_at.
SELECT on_both($$UPDATE %I SET embedding = '[0.5,0.5]', created_at = created_at - interval '9 days'
				  WHERE id = 18$$);
SELECT same_without_cache();
SELECT * FROM relay(18);

-- 7. An update rolled back, and a transaction that reads its own change.
BEGIN;
SELECT on_both('UPDATE %I SET confidence = 0.1 WHERE id = 21');
SELECT same_without_cache();
SELECT * FROM relay(21);
ROLLBACK;
SELECT same_without_cache();
SELECT * FROM relay(21);

-- 8. TRUNCATE, and the rows stored again (other ages, curves and
-- associations).
SELECT invalidated FROM counted();
SELECT on_both('TRUNCATE %I, %1$I_associations');
SELECT * FROM counted();
SELECT fill(1);
SELECT same_without_cache();
SELECT same_without_cache();
SELECT * FROM counted();

-- 9. With hot-tier lookups on, rows the hot tier holds are read from it;
-- the answers are the same.
SET engram.hot_tier_lookups = on;
SELECT same_without_cache();

SELECT engram_drop_space('relays'), engram_drop_space('twin');
DROP FUNCTION relay(bigint), counted(), same_without_cache(), answers(text),
	fill(integer), on_both(text);
