-- engram_hnsw: the three operator classes return what exact search returns.
-- The table is small enough (30 rows <= engram.ef_search) that the graph
-- search must see every element, so results must equal a sequential scan.
SET max_parallel_workers_per_gather = 0;
CREATE TABLE hnsw_oc (id int, v evector(3));
INSERT INTO hnsw_oc
SELECT i, ARRAY[((i * 7919) % 101) / 100.0 - 0.5,
                ((i * 104729) % 103) / 100.0 - 0.5,
                ((i * 1299709) % 107) / 100.0 - 0.5]::real[]::evector
FROM generate_series(1, 30) i;

CREATE INDEX hnsw_oc_l2 ON hnsw_oc USING engram_hnsw (v evector_l2_ops);
CREATE INDEX hnsw_oc_ip ON hnsw_oc USING engram_hnsw (v evector_ip_ops);
CREATE INDEX hnsw_oc_cos ON hnsw_oc USING engram_hnsw (v evector_cosine_ops);
-- evector_l2_ops is the default operator class.
CREATE INDEX hnsw_oc_default ON hnsw_oc USING engram_hnsw (v);
SELECT c.relname, o.opcname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_opclass o ON o.oid = i.indclass[0]
WHERE i.indrelid = 'hnsw_oc'::regclass ORDER BY c.relname;
DROP INDEX hnsw_oc_default;

-- The opclass validator accepts all three.
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'engram_hnsw') ORDER BY opcname;

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_oc ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 5;
SELECT id, round((v <-> '[0.1,0.2,0.3]')::numeric, 4) AS dist
FROM hnsw_oc ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_oc ORDER BY v <#> '[0.1,0.2,0.3]' LIMIT 5;
SELECT id, round((v <#> '[0.1,0.2,0.3]')::numeric, 4) AS dist
FROM hnsw_oc ORDER BY v <#> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_oc ORDER BY v <=> '[0.1,0.2,0.3]' LIMIT 5;
SELECT id, round((v <=> '[0.1,0.2,0.3]')::numeric, 3) AS dist
FROM hnsw_oc ORDER BY v <=> '[0.1,0.2,0.3]' LIMIT 5;

-- All 30 rows through each index equal the exact order (as distances, so
-- that ties cannot make the comparison flaky).
CREATE TEMP TABLE hnsw_oc_queries AS
SELECT q, ARRAY[((q * 31) % 17) / 10.0 - 0.8, ((q * 17) % 13) / 10.0 - 0.6,
                ((q * 13) % 11) / 10.0 - 0.5]::real[]::evector AS qv
FROM generate_series(1, 8) q;
CREATE FUNCTION hnsw_oc_distances(op text, qv evector) RETURNS float8[]
LANGUAGE plpgsql AS $$
DECLARE result float8[];
BEGIN
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM hnsw_oc ORDER BY v %s $1 LIMIT 30) s', op, op)
	INTO result USING qv;
	RETURN result;
END $$;
CREATE TEMP TABLE hnsw_oc_index AS
SELECT q, op, hnsw_oc_distances(op, qv) AS d
FROM hnsw_oc_queries, unnest(ARRAY['<->', '<#>', '<=>']) op;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE hnsw_oc_exact AS
SELECT q, op, hnsw_oc_distances(op, qv) AS d
FROM hnsw_oc_queries, unnest(ARRAY['<->', '<#>', '<=>']) op;
RESET enable_indexscan;
SELECT op, count(*) AS queries,
       count(*) FILTER (WHERE i.d::text = e.d::text) AS equal,
       min(cardinality(i.d)) AS rows_returned
FROM hnsw_oc_index i JOIN hnsw_oc_exact e USING (q, op) GROUP BY op ORDER BY op;

-- Wrong operator for the index: no index scan (<-> is not in the ip class).
DROP INDEX hnsw_oc_l2;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hnsw_oc ORDER BY v <-> '[0.1,0.2,0.3]' LIMIT 5;
RESET enable_seqscan;

SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_oc_ip');
SELECT count(*) AS problems FROM engram_hnsw_verify('hnsw_oc_cos');
DROP FUNCTION hnsw_oc_distances(text, evector);
DROP TABLE hnsw_oc;
