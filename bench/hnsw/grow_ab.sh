#!/usr/bin/env bash
# bench/hnsw/grow_ab.sh: the cost of growing an engram_hnsw index row by
# row (what a memory space filled by engram_store looks like) and the
# quality of the graph that results, for one or more builds of engram
# installed in separate PostgreSQL installs, the builds alternated round
# by round.  Backend CPU time (utime + stime from /proc/self/stat) is what
# an A/B comparison can resolve on a shared machine.
#
# Usage (as root; each PG_CONFIG names an install where engram is
# installed):
#   bash bench/hnsw/grow_ab.sh [--rows 30000] [--dims 128] [--rounds 1]
#                              [--stores 4000] PG_CONFIG...
#
# Uses the data set bench/hnsw/run.sh generates (run that once first with
# the same --rows / --dims).  The first install creates a template
# cluster once with the items, queries and exact top-10 tables.  Every
# round then, for every install in turn, on a fresh copy of the template
# started with that install's binaries, in one session:
#   1. an engram_hnsw index (m = 16, ef_construction = 64) created on an
#      empty table, then every row inserted in id order by one INSERT ...
#      SELECT (random with respect to the clusters): CPU ms per 1,000 rows;
#   2. recall@10 of that index over all queries at ef_search 40 and 100;
#   3. CPU ms per 1,000 queries (`ORDER BY v <-> query LIMIT 10`) at
#      ef_search 100, and the index pages pinned per query (blocks
#      fetched, counted within one transaction: the counts of earlier
#      statements may not be flushed yet; pages met again while their pin
#      is kept count once);
#   4. with --stores N > 0: a memory space (engram_create_space, the
#      data's dimensions, cosine) filled by N engram_store calls with the
#      data's vectors: CPU ms per 1,000 calls over the second half;
#   5. how the grown index lies on its pages: its size in pages and the
#      share of layer-0 links that lead to an element of the same page
#      (engram_hnsw_layout_stats; "-" for a build without that function);
#   6. when pgvector's "vector" extension is installed in every install:
#      the same steps 1 to 3 for a pgvector hnsw index (m = 16,
#      ef_construction = 64) grown the same way in the same session, and
#      pgvector / engram_hnsw per CPU second for inserts and queries.
set -euo pipefail
. "$(dirname "$0")/ab_harness.sh"

rows=30000 dims=128 rounds=1 stores=4000 installs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--stores) stores=$2; shift 2 ;;
	-*) engram_die "unknown argument: $1" ;;
	*) installs+=("$1"); shift ;;
	esac
done
[ ${#installs[@]} -gt 0 ] || engram_die "usage: grow_ab.sh [options] PG_CONFIG..."
[ "$stores" -le "$rows" ] || engram_die "--stores must not exceed --rows"
data=$(ab_data_dir)
# pgvector only where every install has it (it is never required)
with_pgvector=1
for install in "${installs[@]}"; do
	[ -f "$("$install" --sharedir)/extension/vector.control" ] || with_pgvector=0
done
pgvector_sql=
if [ "$with_pgvector" = 1 ]; then
	pgvector_sql="CREATE EXTENSION vector;
CREATE TABLE pbase (id int PRIMARY KEY, v vector($dims));
CREATE TABLE pqueries (id int PRIMARY KEY, v vector($dims));
COPY pbase FROM '$data/base.tsv';
COPY pqueries FROM '$data/queries.tsv';"
fi

ab_template_start grow-ab "shared_buffers = '512MB'" "maintenance_work_mem = '1GB'" "synchronous_commit = off" \
	"jit = off" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'"
psql_in "${installs[0]}" <<SQL
CREATE EXTENSION engram;
CREATE TABLE base (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
CREATE TABLE gt (qid int PRIMARY KEY, ids int[]);
COPY base FROM '$data/base.tsv';
COPY queries FROM '$data/queries.tsv';
COPY gt FROM '$data/gt.tsv';
$pgvector_sql
VACUUM ANALYZE;
$ab_cpu_ticks_sql
SQL
ab_template_stop

ticks_ms=$ab_ticks_ms
half=$((stores / 2))
# recall_sql EF [PREFIX]: recall@10 into :PREFIXrEF (PREFIX p: pgvector's tables)
recall_sql() {
	local setting=engram.ef_search
	[ "${2:-}" = p ] && setting=hnsw.ef_search
	cat <<SQL
SET $setting = $1;
SELECT round(sum(hits)::numeric / (10 * count(*)), 4) AS ${2:-}r$1 FROM (
  SELECT (SELECT count(*) FROM (SELECT i.id FROM ${2:-}items i ORDER BY i.v <-> q.v LIMIT 10) n
          WHERE n.id = ANY (g.ids)) AS hits
  FROM ${2:-}queries q JOIN gt g ON g.qid = q.id) s \\gset
SQL
}
# ratio A B: B / A to two decimals ("-" when either is missing)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", b / a; else printf "-" }'; }
{
	cat <<SQL
CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64);
SELECT cpu_ticks() AS t0 \\gset
INSERT INTO items SELECT * FROM base ORDER BY id;
SELECT (cpu_ticks() - :t0) * $ticks_ms * 1000 / $rows AS insert_ms \\gset
SET enable_seqscan = off;
SQL
	recall_sql 40
	recall_sql 100
	cat <<SQL
BEGIN;
SELECT pg_stat_get_xact_blocks_fetched('items_v'::regclass) AS f0 \\gset
SELECT cpu_ticks() AS t1 \\gset
DO \$\$ DECLARE x int; BEGIN FOR r IN 1..1000 LOOP
  SELECT id INTO x FROM items ORDER BY v <-> (SELECT v FROM queries WHERE id = r) LIMIT 10;
END LOOP; END \$\$;
SELECT (cpu_ticks() - :t1) * $ticks_ms AS query_ms \\gset
SELECT (pg_stat_get_xact_blocks_fetched('items_v'::regclass) - :f0) / 1000 AS pins \\gset
COMMIT;
CREATE FUNCTION pg_temp.same_page_share(idx regclass) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE share text;
BEGIN
  EXECUTE 'SELECT round(same_page_links::numeric / nullif(layer0_links, 0), 3)::text
           FROM engram_hnsw_layout_stats(\$1)' INTO share USING idx;
  RETURN share;
EXCEPTION WHEN undefined_function OR undefined_object THEN
  RETURN '-';
END \$\$;
SELECT pg_temp.same_page_share('items_v') AS same_page \\gset
SELECT 0 AS pinsert_ms, 0 AS pr40, 0 AS pr100, 0 AS pquery_ms, 0 AS ppins \\gset
SQL
	if [ "$with_pgvector" = 1 ]; then
		cat <<SQL
CREATE TABLE pitems (id int PRIMARY KEY, v vector($dims));
CREATE INDEX pitems_v ON pitems USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64);
SELECT cpu_ticks() AS t0 \\gset
INSERT INTO pitems SELECT * FROM pbase ORDER BY id;
SELECT (cpu_ticks() - :t0) * $ticks_ms * 1000 / $rows AS pinsert_ms \\gset
SQL
		recall_sql 40 p
		recall_sql 100 p
		cat <<SQL
BEGIN;
SELECT pg_stat_get_xact_blocks_fetched('pitems_v'::regclass) AS f0 \\gset
SELECT cpu_ticks() AS t1 \\gset
DO \$\$ DECLARE x int; BEGIN FOR r IN 1..1000 LOOP
  SELECT id INTO x FROM pitems ORDER BY v <-> (SELECT v FROM pqueries WHERE id = r) LIMIT 10;
END LOOP; END \$\$;
SELECT (cpu_ticks() - :t1) * $ticks_ms AS pquery_ms \\gset
SELECT (pg_stat_get_xact_blocks_fetched('pitems_v'::regclass) - :f0) / 1000 AS ppins \\gset
COMMIT;
SQL
	fi
	cat <<SQL
RESET enable_seqscan;
SELECT 0 AS store_ms \\gset
SQL
	if [ "$stores" -gt 0 ]; then
		cat <<SQL
SELECT engram_create_space('grow_space', $dims) IS NOT NULL AS created \\gset
DO \$\$ BEGIN FOR r IN 1..$half LOOP
  PERFORM engram_store('grow_space', 'memory ' || r, (SELECT v FROM base WHERE id = r));
END LOOP; END \$\$;
SELECT cpu_ticks() AS t2 \\gset
DO \$\$ BEGIN FOR r IN $((half + 1))..$stores LOOP
  PERFORM engram_store('grow_space', 'memory ' || r, (SELECT v FROM base WHERE id = r));
END LOOP; END \$\$;
SELECT (cpu_ticks() - :t2) * $ticks_ms * 1000 / $((stores - half)) AS store_ms \\gset
SQL
	fi
	echo "SELECT :insert_ms, :r40, :r100, :query_ms, :store_ms, pg_relation_size('items_v') / 8192, :'same_page', :pins, :pinsert_ms, :pr40, :pr100, :pquery_ms, :ppins;"
} >"$work/round.sql"
chmod 644 "$work/round.sql"

echo "rows $rows x $dims grown by inserts; CPU ms of one backend"
if [ "$with_pgvector" = 1 ]; then
	echo "| round | install | inserts: ms / 1,000 rows | recall@10 ef 40 | ef 100 | queries: ms / 1,000 (ef 100) | pins / query | engram_store: ms / 1,000 | index pages | same-page links | pgvector inserts | pgvector recall ef 40 | ef 100 | pgvector queries | pgvector pins / query | pgvector / engram: inserts | queries |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
else
	echo "(pgvector's vector extension is not installed in every install: engram_hnsw only)"
	echo "| round | install | inserts: ms / 1,000 rows | recall@10 ef 40 | ef 100 | queries: ms / 1,000 (ef 100) | pins / query | engram_store: ms / 1,000 | index pages | same-page links |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
fi
for round in $(seq 1 "$rounds"); do
	for install in "${installs[@]}"; do
		ab_copy_start "$install"
		read -r insert_ms r40 r100 query_ms store_ms pages same_page pins pinsert_ms pr40 pr100 pquery_ms ppins \
			< <(psql_in "$install" -At -F ' ' -f "$work/round.sql" | tail -1)
		ab_copy_stop "$install"
		printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |' "$round" "$install" \
			"$insert_ms" "$r40" "$r100" "$query_ms" "$pins" "$store_ms" "$pages" "$same_page"
		if [ "$with_pgvector" = 1 ]; then
			printf ' %s | %s | %s | %s | %s | %s | %s |' "$pinsert_ms" "$pr40" "$pr100" "$pquery_ms" "$ppins" \
				"$(ratio "$insert_ms" "$pinsert_ms")" "$(ratio "$query_ms" "$pquery_ms")"
		fi
		echo
	done
done
