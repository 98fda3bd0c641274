-- multi_space_store.sql: one engram_store into a space chosen at random
-- among :spaces spaces named <space>_1 ... <space>_N (see
-- multi_space_recall.sql).
-- Variables (pgbench -D): space, spaces, queries.
\set s random(1, :spaces)
\set q random(1, :queries)
SELECT engram_store(:space::regclass::text || '_' || :s, 'pgbench store ' || :q,
	(SELECT embedding FROM engram_bench_queries WHERE id = :q));
