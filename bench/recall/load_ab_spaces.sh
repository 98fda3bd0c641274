#!/usr/bin/env bash
# load_ab_spaces.sh: the two spaces the recall A/B runs of
# docs/reference/performance-baselines.md ("Recall layer (issue 5)") use,
# loaded into a running cluster, and the pgbench scripts and answer check
# that query_cpu_ab.sh takes.
#
#   cbench  clustered: bench/hnsw/gen_dataset.c ROWS DIMS 1000 100 42 (100
#           centres, sigma 0.35, seed 42), its first 200 held-out queries
#           in cbench_queries (i, v)
#   ubench  uniformly random vectors (components in [-1, 1], setseed 0.5),
#           200 query vectors of the same distribution in ubench_queries
#
# Both made by engram_create_space with default decay 'none' (a recall's
# answer then does not depend on the accesses earlier recalls recorded), 5
# random associations per memory (weights in [0.3, 1], setseed 0.25; the
# same graph in both spaces), the
# engram_hnsw index built after the load, VACUUM ANALYZE.
#
# Writes into OUTDIR: crecall.sql, cplain.sql, urecall.sql, uplain.sql
# (recall: engram_recall hybrid, k 10, max_hops 2; plain: ORDER BY
# embedding <=> q LIMIT 10) and check.sql, the answer check for CHECK= of
# query_cpu_ab.sh: md5 of the top 10 of 60 recalls and the top 50 of 30
# engram_spread calls (3 hops) per space (ids, scores, similarities,
# activations, confidences and bands, hops; not the tier, which follows
# the hot tier's contents), with every setting an answer could depend on
# besides the data pinned (recency boost 1, one visit budget for every tier,
# no time budget).
#
# Usage (as root, PG_CONFIG exported; the cluster running, Engram
# installed):
#   bash bench/recall/load_ab_spaces.sh SOCKDIR PORT DATABASE ROWS DIMS OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"
. "$ENGRAM_ROOT/bench/dataset.sh"

[ $# -eq 6 ] || engram_die "usage: load_ab_spaces.sh SOCKDIR PORT DATABASE ROWS DIMS OUTDIR"
sockdir=$1 port=$2 database=$3 rows=$4 dims=$5 outdir=$6
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
psql_as() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" "$@"; }

if ! psql_as -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
	psql_as -d postgres -c "CREATE DATABASE $database"
fi
psql_as -d "$database" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS engram"

data=$(bench_dataset "$rows" "$dims" 1000 100 42)
engram_log "loading cbench (clustered) and ubench (uniform), $rows x $dims"
psql_as -d "$database" -v dims="$dims" -v rows="$rows" -v data="$data" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT engram_create_space('cbench', :dims, 'cosine', 'none');
SELECT engram_create_space('ubench', :dims, 'cosine', 'none');
DROP INDEX cbench_embedding_idx;
DROP INDEX ubench_embedding_idx;
CREATE TABLE ab_base (i int PRIMARY KEY, v evector);
CREATE TABLE cbench_queries (i int PRIMARY KEY, v evector);
CREATE TABLE ubench_queries (i int PRIMARY KEY, v evector);
\set base_file :data '/base.tsv'
\set queries_file :data '/queries.tsv'
COPY ab_base FROM :'base_file';
CREATE TEMP TABLE all_queries (i int, v evector);
COPY all_queries FROM :'queries_file';
INSERT INTO cbench_queries SELECT i, v FROM all_queries WHERE i <= 200;
SELECT setseed(0.5);
INSERT INTO ubench_queries
SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, :dims) WHERE i > 0)::evector
  FROM generate_series(1, 200) i;
SQL
batches=$(((rows + 999) / 1000))
for ((b = 0; b < batches; b++)); do
	psql_as -d "$database" -c "SELECT count(*) FROM engram_store_batch('cbench',
		ARRAY(SELECT 'memory ' || i FROM ab_base WHERE i > $b * 1000 AND i <= ($b + 1) * 1000 ORDER BY i),
		ARRAY(SELECT v FROM ab_base WHERE i > $b * 1000 AND i <= ($b + 1) * 1000 ORDER BY i))" >/dev/null
done
psql_as -d "$database" -c "TRUNCATE ab_base" -c "SELECT setseed(0.75)" \
	-c "INSERT INTO ab_base SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, $dims) WHERE i > 0)::evector
		  FROM generate_series(1, $rows) i" >/dev/null
for ((b = 0; b < batches; b++)); do
	psql_as -d "$database" -c "SELECT count(*) FROM engram_store_batch('ubench',
		ARRAY(SELECT 'memory ' || i FROM ab_base WHERE i > $b * 1000 AND i <= ($b + 1) * 1000 ORDER BY i),
		ARRAY(SELECT v FROM ab_base WHERE i > $b * 1000 AND i <= ($b + 1) * 1000 ORDER BY i))" >/dev/null
done
psql_as -d "$database" -v rows="$rows" >/dev/null <<'SQL'
DROP TABLE ab_base;
SET maintenance_work_mem = '1GB';
CREATE INDEX cbench_embedding_idx ON cbench USING engram_hnsw (embedding evector_cosine_ops);
CREATE INDEX ubench_embedding_idx ON ubench USING engram_hnsw (embedding evector_cosine_ops);
SELECT setseed(0.25);
INSERT INTO cbench_associations (src, dst, weight)
SELECT src, dst, weight
  FROM (SELECT s.i AS src, 1 + floor(random() * :rows)::bigint AS dst, 0.3 + random() * 0.7 AS weight
		  FROM generate_series(1, :rows) s(i), generate_series(1, 5) f) e
 WHERE src <> dst
ON CONFLICT DO NOTHING;
INSERT INTO ubench_associations (src, dst, weight)
SELECT src, dst, weight FROM cbench_associations
ON CONFLICT DO NOTHING;
VACUUM ANALYZE cbench;
VACUUM ANALYZE ubench;
VACUUM ANALYZE cbench_associations;
VACUUM ANALYZE ubench_associations;
VACUUM ANALYZE cbench_queries;
VACUUM ANALYZE ubench_queries;
SQL

mkdir -p "$outdir"
for s in c u; do
	cat >"$outdir/${s}recall.sql" <<SQL
\set q random(1, 200)
SELECT count(*) FROM engram_recall('${s}bench', (SELECT v FROM ${s}bench_queries WHERE i = :q), k => 10, max_hops => 2);
SQL
	cat >"$outdir/${s}plain.sql" <<SQL
\set q random(1, 200)
SELECT count(*) FROM (SELECT id FROM ${s}bench ORDER BY embedding <=> (SELECT v FROM ${s}bench_queries WHERE i = :q) LIMIT 10) s;
SQL
done
cat >"$outdir/check.sql" <<'SQL'
SET engram.recency_boost = 1.0; SET engram.visit_budget_hot = 3; SET engram.visit_budget_warm = 3; SET engram.visit_budget_cold = 3; SET engram.spreading_time_budget = 0; SELECT string_agg(space || ' ' || md5(answer), ' ' ORDER BY space) FROM (SELECT space, string_agg(line, E'\n' ORDER BY call, rank) AS answer FROM (SELECT s.space, 'recall ' || q.i AS call, r.rank, concat_ws(' ', r.id, round(r.score::numeric, 10), round(r.similarity::numeric, 10), round(r.activation::numeric, 10), round(r.confidence::numeric, 10), round(r.confidence_low::numeric, 10), round(r.confidence_high::numeric, 10), r.hops) AS line FROM (VALUES ('cbench'), ('ubench')) s(space), generate_series(1, 60) q(i), LATERAL (SELECT row_number() OVER () AS rank, * FROM engram_recall(s.space, (SELECT CASE WHEN s.space = 'cbench' THEN (SELECT v FROM cbench_queries WHERE i = q.i) ELSE (SELECT v FROM ubench_queries WHERE i = q.i) END), k => 10, max_hops => 2)) r UNION ALL SELECT s.space, 'spread ' || f.i, p.rank, concat_ws(' ', p.id, round(p.activation::numeric, 10), round(p.confidence::numeric, 10), round(p.confidence_low::numeric, 10), round(p.confidence_high::numeric, 10), p.hops) FROM (VALUES ('cbench'), ('ubench')) s(space), generate_series(1, 30) f(i), LATERAL (SELECT row_number() OVER () AS rank, * FROM engram_spread(s.space, f.i * 997 % 20000 + 1, max_hops => 3, k => 50)) p) lines GROUP BY space) answers;
SQL
chown -R postgres: "$outdir"
engram_log "scripts and check.sql in $outdir"
