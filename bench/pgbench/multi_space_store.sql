-- multi_space_store.sql: one engram_store into a space chosen at random
-- among :spaces spaces named :space_1 ... :space_N.
-- Variables (pgbench -D): space (the name prefix), spaces, queries.
\set s random(1, :spaces)
\set q random(1, :queries)
SELECT engram_store(':space' || '_' || :s, 'pgbench store ' || :q,
	(SELECT embedding FROM engram_bench_queries WHERE id = :q));
