-- Distance operators with a TOASTed argument that repeats from row to row
-- (vector_distance.c, REPEATED TOASTED ARGUMENTS): the detoasted copy of a
-- repeated on-disk TOAST pointer is reused; the results must be those of
-- the same vectors passed inline, also when the repeated argument changes
-- (a new query row) or alternates, on either side of the operator.
CREATE TABLE vector_toast_items (id int PRIMARY KEY, v evector(700));
CREATE TABLE vector_toast_queries (id int PRIMARY KEY, v evector(700));
-- 700 dimensions: 2.8 kB, moved to TOAST under STORAGE EXTERNAL (evector's
-- default, main, keeps them in the row)
ALTER TABLE vector_toast_items ALTER v SET STORAGE EXTERNAL;
ALTER TABLE vector_toast_queries ALTER v SET STORAGE EXTERNAL;
SELECT setseed(0.75);
INSERT INTO vector_toast_items
SELECT i, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 700) d WHERE i > 0)::real[]::evector
FROM generate_series(1, 40) i;
INSERT INTO vector_toast_queries
SELECT i, ARRAY(SELECT random() - 0.5 FROM generate_series(1, 700) d WHERE i > 0)::real[]::evector
FROM generate_series(1, 4) i;
-- the stored vectors really are out of line
SELECT relname, pg_relation_size(reltoastrelid) > 0 AS has_toast
FROM pg_class WHERE relname IN ('vector_toast_items', 'vector_toast_queries') ORDER BY relname;

-- The ORDER BY of an init-plan's TOASTed value, every operator, against
-- the same distances computed from inline copies (a text round trip).
-- (STORAGE PLAIN: the copies stay in their rows, never in TOAST)
CREATE TEMP TABLE vector_toast_inline (id int, v evector(700));
CREATE TEMP TABLE vector_toast_qinline (id int, v evector(700));
ALTER TABLE vector_toast_inline ALTER v SET STORAGE PLAIN;
ALTER TABLE vector_toast_qinline ALTER v SET STORAGE PLAIN;
INSERT INTO vector_toast_inline SELECT id, v::text::evector FROM vector_toast_items;
INSERT INTO vector_toast_qinline SELECT id, v::text::evector FROM vector_toast_queries;
SELECT relname, pg_relation_size(reltoastrelid) AS toast_bytes
FROM pg_class WHERE relname IN ('vector_toast_inline', 'vector_toast_qinline') ORDER BY relname;
SELECT ARRAY(SELECT id FROM vector_toast_items
             ORDER BY v <-> (SELECT v FROM vector_toast_queries WHERE id = 1), id LIMIT 5)
     = ARRAY(SELECT id FROM vector_toast_inline
             ORDER BY v <-> (SELECT v FROM vector_toast_qinline WHERE id = 1), id LIMIT 5)
       AS same_l2_order;
-- A correlated subquery: the outer query row's TOAST pointer repeats for
-- the 40 inner rows, then changes; on the right of the operator and on
-- the left, every operator, against the inline copies.
SELECT q.id,
       (SELECT array_agg(t.v <-> q.v ORDER BY t.id) FROM vector_toast_items t)
     = (SELECT array_agg(t.v <-> qi.v ORDER BY t.id) FROM vector_toast_inline t) AS l2,
       (SELECT array_agg(q.v <#> t.v ORDER BY t.id) FROM vector_toast_items t)
     = (SELECT array_agg(qi.v <#> t.v ORDER BY t.id) FROM vector_toast_inline t) AS negative_ip,
       (SELECT array_agg(t.v <=> q.v ORDER BY t.id) FROM vector_toast_items t)
     = (SELECT array_agg(t.v <=> qi.v ORDER BY t.id) FROM vector_toast_inline t) AS cosine,
       (SELECT array_agg(inner_product(q.v, t.v) ORDER BY t.id) FROM vector_toast_items t)
     = (SELECT array_agg(inner_product(qi.v, t.v) ORDER BY t.id) FROM vector_toast_inline t) AS ip,
       (SELECT array_agg(evector_l2_squared_distance(t.v, q.v) ORDER BY t.id) FROM vector_toast_items t)
     = (SELECT array_agg(evector_l2_squared_distance(t.v, qi.v) ORDER BY t.id) FROM vector_toast_inline t) AS l2_squared
FROM vector_toast_queries q JOIN vector_toast_qinline qi USING (id)
ORDER BY q.id;

-- The repeated argument switches between two TOAST pointers every two
-- rows (a cached copy must never answer for the other pointer).
SELECT (SELECT array_agg(t.v <-> CASE WHEN (t.id / 2) % 2 = 0
                                      THEN (SELECT v FROM vector_toast_queries WHERE id = 2)
                                      ELSE (SELECT v FROM vector_toast_queries WHERE id = 3) END
                         ORDER BY t.id) FROM vector_toast_items t)
     = (SELECT array_agg(t.v <-> CASE WHEN (t.id / 2) % 2 = 0
                                      THEN (SELECT v FROM vector_toast_qinline WHERE id = 2)
                                      ELSE (SELECT v FROM vector_toast_qinline WHERE id = 3) END
                         ORDER BY t.id) FROM vector_toast_inline t) AS same_when_alternating;

-- The query's vector is read from TOAST about once, not once per row:
-- the shared buffers one statement touches (EXPLAIN BUFFERS, the whole
-- statement) with the query vector taken from the TOASTed table exceed
-- those with the same vector from the plain table by one detoast, not by
-- one per row (40 rows: each detoast reads the TOAST index and chunks).
CREATE FUNCTION pg_temp.buffers_touched(query text) RETURNS bigint AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) ' || query INTO plan;
	RETURN (plan->0->'Plan'->>'Shared Hit Blocks')::bigint +
		(plan->0->'Plan'->>'Shared Read Blocks')::bigint;
END $$ LANGUAGE plpgsql;
SELECT pg_temp.buffers_touched('SELECT id FROM vector_toast_items
         ORDER BY v <-> (SELECT v FROM vector_toast_queries WHERE id = 4)')
     - pg_temp.buffers_touched('SELECT id FROM vector_toast_items
         ORDER BY v <-> (SELECT v FROM vector_toast_qinline WHERE id = 4)')
       < 20 AS query_vector_read_about_once;

DROP TABLE vector_toast_items, vector_toast_queries;
