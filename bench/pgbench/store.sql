-- store.sql: one engram_store into the space :space, with the embedding of a
-- held-out query vector (so stored rows follow the data set's distribution).
-- Variables (pgbench -D): space, queries (see recall.sql).
\set q random(1, :queries)
SELECT engram_store(:space::regclass::text, 'pgbench store ' || :q,
	(SELECT embedding FROM engram_bench_queries WHERE id = :q));
