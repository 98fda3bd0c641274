-- multi_space_recall.sql: one engram_recall against a space chosen at random
-- among :spaces spaces named <space>_1 ... <space>_N (load_space.sh --spaces N),
-- where <space> is the name of the space :space (its OID, or its name with
-- -M extended / -M prepared; see recall.sql).
-- Variables (pgbench -D): space, spaces, queries.
\set s random(1, :spaces)
\set q random(1, :queries)
SELECT count(*) FROM engram_recall(:space::regclass::text || '_' || :s,
	(SELECT embedding FROM engram_bench_queries WHERE id = :q), k => 10);
