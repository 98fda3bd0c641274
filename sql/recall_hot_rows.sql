-- Spreading's memory reader takes a row from the hot tier in place (no copy
-- of the row): its answers equal those read from the heap.  Two identical
-- spaces get the same calls, one with engram.hot_tier_lookups on and one
-- with it off (each its own access statistics); half of the memories,
-- among them a HOT-updated row whose confidence is 0 (filtered out), are
-- in the hot tier.  Everything but the tier is compared.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-03-01 10:00:00+00';
CREATE FUNCTION pg_temp.make_space(name text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM engram_create_space(name, 2, 'cosine', 'none');
	PERFORM engram_store(name, 'memory ' || i,
						 format('[%s,%s]', round(cos(i * 0.35)::numeric, 4), round(sin(i * 0.35)::numeric, 4)),
						 confidence => (0.35 + (i % 6) * 0.1)::real,
						 occurred_at => '2026-02-01 00:00:00+00'::timestamptz + i * interval '1 day',
						 decay_function => (ARRAY[NULL, 'exponential', 'power_law', 'hybrid'])[1 + i % 4],
						 metadata => jsonb_build_object('i', i))
	  FROM generate_series(1, 16) AS i;
	PERFORM engram_associate(name, i, i + 1, (0.4 + (i % 5) * 0.1)::real) FROM generate_series(1, 15) AS i;
	PERFORM engram_associate(name, i, i + 5, 0.6) FROM generate_series(1, 11, 2) AS i;
END
$$;
SELECT pg_temp.make_space('hot_on'), pg_temp.make_space('hot_off');
-- A HOT update (the hot tier keys the new version by its chain's root).
UPDATE hot_on SET confidence = 0 WHERE id = 7;
UPDATE hot_off SET confidence = 0 WHERE id = 7;
-- Committed rows only are cached: moved in their own statements.
SELECT engram_move_to_tier('hot_on', ARRAY(SELECT ctid FROM hot_on WHERE id % 2 = 1), 'hot') AS moved_on,
       engram_move_to_tier('hot_off', ARRAY(SELECT ctid FROM hot_off WHERE id % 2 = 1), 'hot') AS moved_off;
-- The odd ids are in the hot tier, in both spaces (7 under its chain's
-- root, which is not its ctid).
SELECT string_agg(id::text, ' ' ORDER BY id) AS hot_on FROM hot_on
 WHERE engram_hot_tier_contains('hot_on', ctid);
SELECT string_agg(id::text, ' ' ORDER BY id) AS hot_off FROM hot_off
 WHERE engram_hot_tier_contains('hot_off', ctid);

CREATE TEMP TABLE answers (lookups text, call text, rank int, id bigint, line text, tier text);
CREATE FUNCTION pg_temp.record(lookups text, space text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO answers
	SELECT lookups, 'spread', row_number() OVER (), s.id,
		   concat_ws(' ', s.content, round(s.activation::numeric, 10), round(s.confidence::numeric, 10),
					 round(s.confidence_low::numeric, 10), round(s.confidence_high::numeric, 10),
					 s.hops, s.occurred_at, s.metadata),
		   s.tier
	  FROM engram_spread(space, 2, max_hops => 3, k => 16) AS s;
	INSERT INTO answers
	SELECT lookups, 'recall', row_number() OVER (), r.id,
		   concat_ws(' ', r.content, round(r.score::numeric, 10), round(r.similarity::numeric, 10),
					 round(r.activation::numeric, 10), round(r.confidence::numeric, 10), r.hops,
					 r.occurred_at, r.metadata),
		   r.tier
	  FROM engram_recall(space, '[0.2,1]', k => 3, mode => 'spreading', memory_id => 4,
						 max_hops => 3) AS r;
END
$$;
SET engram.hot_tier_lookups = on;
SELECT pg_temp.record('on', 'hot_on');
SET engram.hot_tier_lookups = off;
SELECT pg_temp.record('off', 'hot_off');
RESET engram.hot_tier_lookups;

-- The answers read with lookups on, with their tiers (hot rows were read).
SELECT call, rank, id, line, tier FROM answers WHERE lookups = 'on' ORDER BY call, rank;
-- Rows that differ between the two (none).
(SELECT call, rank, id, line FROM answers WHERE lookups = 'on'
 EXCEPT ALL SELECT call, rank, id, line FROM answers WHERE lookups = 'off')
UNION ALL
(SELECT call, rank, id, line FROM answers WHERE lookups = 'off'
 EXCEPT ALL SELECT call, rank, id, line FROM answers WHERE lookups = 'on');

SELECT engram_drop_space('hot_on'), engram_drop_space('hot_off');
RESET engram.pinned_now;
