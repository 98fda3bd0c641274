-- The embedding seed query without filters runs through its plan's
-- engram_hnsw index and the memory reader (src/recall/seed_search.c) when
-- the statement's plan is that ordered index scan and the caller may read
-- the whole table without row-level security; otherwise it runs as a
-- statement.  Both must choose the same k' seed candidates in the same
-- order: ties at the k'-th place, rows filtered out (confidence 0, NULL
-- embedding), deleted and updated rows, engram.ef_search under k'.
--
-- The direct path does not count heap fetches in idx_tup_fetch, the
-- statement does (one per row it reads): that tells which path ran.
-- Small tables are planned as a sequential scan; sequential scans are
-- disabled so that the statement's plan is the index scan.  As the plan
-- cache runs a statement with custom plans the first five times in a
-- backend, so does recall: the direct path runs the generic plan only.
SET client_min_messages = warning;
SET enable_seqscan = off;
SET engram.pinned_now = '2026-04-01 10:00:00+00';
SET engram.recency_boost = 1.0;
-- k' = k: the candidates are the answer of a similarity recall
SET engram.seed_candidates_factor = 1;
CREATE ROLE seed_owner;
CREATE ROLE seed_reader;
CREATE ROLE seed_outsider;
CREATE SCHEMA seed_search AUTHORIZATION seed_owner;
GRANT USAGE ON SCHEMA seed_search TO seed_reader, seed_outsider;
SET ROLE seed_owner;
SET search_path = seed_search, public;
SELECT engram_create_space('seeds', 2, 'cosine', 'none') IS NOT NULL AS created;
-- 1-12: the same embedding [1,0] (equal distances and scores); 13-16
-- near it; 17, 18 at [1,0] with confidence 0; 19 without an embedding;
-- 20-40 farther away.
SELECT count(*) AS stored
  FROM (SELECT engram_store('seeds', 'm' || i,
                            CASE WHEN i = 19 THEN NULL
                                 WHEN i <= 12 OR i IN (17, 18) THEN '[1,0]'
                                 ELSE ('[' || cos(i / 20.0) || ',' || sin(i / 20.0) || ']') END::evector,
                            confidence => CASE WHEN i IN (17, 18) THEN 0 ELSE 0.9 END::real)
          FROM generate_series(1, 40) i ORDER BY i) s;
-- 1-16 lead to 21-36 (hybrid recalls below spread from the seeds).
SELECT count(*) AS associated
  FROM (SELECT engram_associate('seeds', i, i + 20, 0.8, bidirectional => false)
          FROM generate_series(1, 16) i) a;
-- MVCC: 3 deleted, 5's confidence updated in place (HOT), 7's embedding
-- moved away (its old index entry leads to a dead version).
DELETE FROM seeds WHERE id = 3;
UPDATE seeds SET confidence = 0.5 WHERE id = 5;
UPDATE seeds SET embedding = '[-1,0]' WHERE id = 7;
-- The same data through SQL: row-level security that shows every row (the
-- memory reader is not used where a policy applies).
-- The ids of a similarity recall of k (k' = k), and those of the seed
-- statement run by hand with engram.ef_search as recall raises it.
CREATE FUNCTION pg_temp.recall_ids(k int, ef int) RETURNS bigint[]
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('engram.ef_search', ef::text, true);
	RETURN (SELECT array_agg(id ORDER BY id)
			  FROM engram_recall('seeds', '[1,0]'::evector, k => k, mode => 'similarity'));
END;
$$;
CREATE FUNCTION pg_temp.statement_ids(k int, ef int) RETURNS bigint[]
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('engram.ef_search', greatest(k, ef)::text, true);
	RETURN (SELECT array_agg(id ORDER BY id) FROM (
				SELECT id FROM seeds WHERE confidence > 0 AND embedding IS NOT NULL
				 ORDER BY embedding <=> '[1,0]' LIMIT k) s);
END;
$$;
-- Heap fetches counted so far, after the statements before the one that
-- calls pg_stat_force_next_flush() (flushed when it ends).
CREATE FUNCTION pg_temp.fetches() RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_stat_clear_snapshot();
	RETURN (SELECT idx_tup_fetch FROM pg_stat_user_tables WHERE relid = 'seeds'::regclass);
END;
$$;

-- The first five calls: custom plans, through SQL (10 rows or more read
-- each; "0 * r" makes each row of r a call).
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() AS fetches_before \gset
SELECT count(*) FROM generate_series(1, 5) r,
       LATERAL engram_recall('seeds', '[1,0]'::evector, k => 10 + 0 * r, mode => 'similarity') x;
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() - :fetches_before >= 50 AS custom_plans_through_sql;
-- The sixth: the generic plan, the direct path, no heap fetch counted.
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() AS fetches_before \gset
SELECT count(*) FROM engram_recall('seeds', '[1,0]'::evector, k => 10, mode => 'similarity');
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() - :fetches_before AS direct_path_heap_fetches;
-- The ids of the statement run by hand (the same index scan, ties in the
-- index's order) for every k' and ef_search, including ef_search under k'
-- (raised) and k' past the rows filtered out (17, 18, 19, the dead
-- versions: further search rounds), each statement run five times first.
-- The ids themselves depend on how the graph orders the ties.
SELECT count(*) AS warm_up
  FROM generate_series(1, 14) k, generate_series(1, 5) r,
       LATERAL engram_recall('seeds', '[1,0]'::evector, k => k + 0 * r, mode => 'similarity') x;
CREATE TEMP TABLE direct AS
SELECT k, ef, pg_temp.recall_ids(k, ef) AS ids, pg_temp.statement_ids(k, ef) AS statement_ids
  FROM generate_series(1, 14) k, (VALUES (1), (4), (40)) e(ef);
SELECT count(*) AS calls,
       count(*) FILTER (WHERE cardinality(ids) = k) AS with_k_ids,
       count(*) FILTER (WHERE ids IS DISTINCT FROM statement_ids) AS differ_from_statement,
       count(*) FILTER (WHERE ids && '{3,7,17,18,19}') AS with_rows_filtered_out
  FROM direct;
-- 1-12 but 3 and 7 are the nine live memories at distance 0: k' of 10 and
-- more take them all and the nearest others.
SELECT k, ids @> '{1,2,4,5,6,8,9,10,11,12}' AS all_ties
  FROM direct WHERE ef = 40 AND k >= 10 ORDER BY k;

-- The SQL path on the same table: a policy that shows everything.
ALTER TABLE seeds ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY everything ON seeds USING (true);
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() AS fetches_before \gset
SELECT count(*) FROM engram_recall('seeds', '[1,0]'::evector, k => 10, mode => 'similarity');
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() - :fetches_before >= 10 AS statement_heap_fetches_counted;
SELECT count(*) AS calls,
       count(*) FILTER (WHERE pg_temp.recall_ids(k, ef) IS DISTINCT FROM ids) AS differ_from_direct
  FROM direct;
-- Full answers (every column but the tier) of hybrid recalls: equal.
CREATE TEMP TABLE through_sql AS
SELECT q.i, r.* FROM generate_series(0, 5) q(i),
       LATERAL engram_recall('seeds', ('[' || cos(q.i / 3.0) || ',' || sin(q.i / 3.0) || ']')::evector,
                             k => 6) r;
ALTER TABLE seeds NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
DROP POLICY everything ON seeds;
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() AS fetches_before \gset
CREATE TEMP TABLE direct_full AS
SELECT q.i, r.* FROM generate_series(0, 5) q(i),
       LATERAL engram_recall('seeds', ('[' || cos(q.i / 3.0) || ',' || sin(q.i / 3.0) || ']')::evector,
                             k => 6) r;
SELECT pg_stat_force_next_flush();
SELECT pg_temp.fetches() - :fetches_before AS direct_path_heap_fetches;
SELECT (SELECT count(*) FROM direct_full) AS rows,
       (SELECT count(*) FROM (SELECT i, id, score, similarity, activation, confidence,
                                     confidence_low, confidence_high, hops, content
                                FROM direct_full
                              EXCEPT ALL
                              SELECT i, id, score, similarity, activation, confidence,
                                     confidence_low, confidence_high, hops, content
                                FROM through_sql) d) AS differ;

-- Who sees what: a reader under a policy hiding 1-6 gets its seeds through
-- the statement (the policy applies: the live ties it sees, 8-12, then the
-- nearest other, 13), one without SELECT gets the error.
GRANT SELECT ON seeds, seeds_associations TO seed_reader;
ALTER TABLE seeds ENABLE ROW LEVEL SECURITY;
CREATE POLICY reader_sees_some ON seeds FOR SELECT TO seed_reader USING (id > 6);
SET ROLE seed_reader;
SELECT array_agg(id ORDER BY id) AS reader_recalls
  FROM engram_recall('seeds', '[1,0]'::evector, k => 6, mode => 'similarity');
SET ROLE seed_outsider;
SELECT count(*) FROM engram_recall('seeds', '[1,0]'::evector, k => 6);
RESET ROLE;
DROP TABLE direct, through_sql, direct_full;
DROP FUNCTION pg_temp.recall_ids(int, int), pg_temp.statement_ids(int, int), pg_temp.fetches();
DROP SCHEMA seed_search CASCADE;
DROP ROLE seed_reader;
DROP ROLE seed_outsider;
DROP ROLE seed_owner;
