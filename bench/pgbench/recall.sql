-- recall.sql: one engram_recall of a held-out query vector (hybrid mode,
-- k = 10) against the space :space.  Variables (pgbench -D):
--   space    the memory space: its OID (any -M mode), or its name with
--            -M extended / -M prepared (a regclass parameter, see README.md)
--   queries  rows of engram_bench_queries (loaded by load_space.sh)
\set q random(1, :queries)
SELECT count(*) FROM engram_recall(:space::regclass::text,
	(SELECT embedding FROM engram_bench_queries WHERE id = :q), k => 10);
