-- multi_space_recall.sql: one engram_recall against a space chosen at random
-- among :spaces spaces named :space_1 ... :space_N (load_space.sh --spaces N).
-- Variables (pgbench -D): space (the name prefix), spaces, queries.
\set s random(1, :spaces)
\set q random(1, :queries)
SELECT count(*) FROM engram_recall(':space' || '_' || :s,
	(SELECT embedding FROM engram_bench_queries WHERE id = :q), k => 10);
