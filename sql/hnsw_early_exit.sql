-- engram_hnsw: distances abandoned early (engram.hnsw_early_exit) must not
-- change what a search returns.  The same index is searched with the
-- early exit off (every distance computed whole, the code before it
-- existed, the default) and on, under L2, cosine and inner product, at two ef_search
-- values, with the default kernels and the scalar ones; every row of every
-- answer must be the same.  The data: 2,000 rows of 200 dimensions in 20
-- clusters (most neighbours a search meets are rejected, many of them
-- about as far as its furthest result), from a formula, so that every
-- platform gets the same vectors.
SET max_parallel_workers_per_gather = 0;
SET enable_seqscan = off;
SHOW engram.hnsw_early_exit;

CREATE FUNCTION hnsw_ee_vector(r int) RETURNS evector LANGUAGE sql IMMUTABLE AS $$
	SELECT array_agg((sin((r % 20) * 7.13 + d * 3.71) +
					  0.3 * sin(r * 12.9898 + d * 78.233))::real ORDER BY d)::evector
	FROM generate_series(1, 200) d
$$;
CREATE TABLE hnsw_ee (id int PRIMARY KEY, v evector(200));
INSERT INTO hnsw_ee SELECT r, hnsw_ee_vector(r) FROM generate_series(1, 2000) r;
CREATE TABLE hnsw_ee_query (id int PRIMARY KEY, v evector(200));
INSERT INTO hnsw_ee_query SELECT r, hnsw_ee_vector(r) FROM generate_series(100001, 100040) r;
CREATE INDEX hnsw_ee_l2 ON hnsw_ee USING engram_hnsw (v evector_l2_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX hnsw_ee_cos ON hnsw_ee USING engram_hnsw (v evector_cosine_ops) WITH (m = 8, ef_construction = 32);
CREATE INDEX hnsw_ee_ip ON hnsw_ee USING engram_hnsw (v evector_ip_ops) WITH (m = 8, ef_construction = 32);
-- and rows inserted into the built indexes (their searches exit early too)
INSERT INTO hnsw_ee SELECT r, hnsw_ee_vector(r) FROM generate_series(2001, 2300) r;
ANALYZE hnsw_ee;

-- The answers of every query at ef_search 10 and 40 under one setting.
CREATE TABLE hnsw_ee_answer (setting text, metric text, ef int, query int, rank int, id int);
CREATE FUNCTION hnsw_ee_capture(setting text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	ef int;
	q record;
BEGIN
	FOREACH ef IN ARRAY ARRAY[10, 40] LOOP
		PERFORM set_config('engram.ef_search', ef::text, true);
		FOR q IN SELECT id, v FROM hnsw_ee_query LOOP
			INSERT INTO hnsw_ee_answer
			SELECT setting, 'l2', ef, q.id, row_number() OVER (), t.id
			FROM (SELECT id FROM hnsw_ee ORDER BY v <-> q.v LIMIT 10) t;
			INSERT INTO hnsw_ee_answer
			SELECT setting, 'cosine', ef, q.id, row_number() OVER (), t.id
			FROM (SELECT id FROM hnsw_ee ORDER BY v <=> q.v LIMIT 10) t;
			INSERT INTO hnsw_ee_answer
			SELECT setting, 'ip', ef, q.id, row_number() OVER (), t.id
			FROM (SELECT id FROM hnsw_ee ORDER BY v <#> q.v LIMIT 10) t;
		END LOOP;
	END LOOP;
END $$;

-- the plans are index scans
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_ee ORDER BY v <-> (SELECT v FROM hnsw_ee_query LIMIT 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_ee ORDER BY v <=> (SELECT v FROM hnsw_ee_query LIMIT 1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_ee ORDER BY v <#> (SELECT v FROM hnsw_ee_query LIMIT 1) LIMIT 10;

BEGIN;
SET LOCAL engram.hnsw_early_exit = off;
SELECT hnsw_ee_capture('off');
COMMIT;
BEGIN;
SET LOCAL engram.hnsw_early_exit = on;
SELECT hnsw_ee_capture('on');
COMMIT;
BEGIN;
SET LOCAL engram.simd = scalar;
SET LOCAL engram.hnsw_early_exit = off;
SELECT hnsw_ee_capture('scalar off');
SET LOCAL engram.hnsw_early_exit = on;
SELECT hnsw_ee_capture('scalar on');
COMMIT;

-- 40 queries x 2 ef_search x 10 rows per metric and setting; none differs
SELECT o.metric, e.setting, count(*) AS answer_rows,
	   count(*) FILTER (WHERE e.id IS DISTINCT FROM o.id) AS differing
FROM hnsw_ee_answer o
	 JOIN hnsw_ee_answer e USING (metric, ef, query, rank)
WHERE (o.setting, e.setting) IN (('off', 'on'), ('scalar off', 'scalar on'))
GROUP BY 1, 2 ORDER BY 1, 2;

-- What the searches found is close to the exact answer (recall@10 of the
-- ef_search 40 answers against a sequential scan, with the early exit on).
SET enable_seqscan = on;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
WITH exact AS MATERIALIZED (
	SELECT m.metric, q.id AS query, e.id
	FROM (VALUES ('l2'), ('cosine'), ('ip')) m(metric), hnsw_ee_query q,
		 LATERAL (SELECT h.id FROM hnsw_ee h
				  ORDER BY CASE m.metric WHEN 'l2' THEN h.v <-> q.v
										 WHEN 'cosine' THEN h.v <=> q.v
										 ELSE h.v <#> q.v END
				  LIMIT 10) e)
SELECT a.metric, avg((x.id IS NOT NULL)::int) >= 0.95 AS recall_at_least_095
FROM hnsw_ee_answer a
	 LEFT JOIN exact x ON x.metric = a.metric AND x.query = a.query AND x.id = a.id
WHERE a.setting = 'on' AND a.ef = 40
GROUP BY 1 ORDER BY 1;
RESET enable_seqscan;
RESET enable_indexscan;
RESET enable_bitmapscan;

DROP TABLE hnsw_ee, hnsw_ee_query, hnsw_ee_answer;
DROP FUNCTION hnsw_ee_capture(text);
DROP FUNCTION hnsw_ee_vector(int);
RESET max_parallel_workers_per_gather;
