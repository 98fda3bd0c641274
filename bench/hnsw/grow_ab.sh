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
#      ef_search 100;
#   4. with --stores N > 0: a memory space (engram_create_space, the
#      data's dimensions, cosine) filled by N engram_store calls with the
#      data's vectors: CPU ms per 1,000 calls over the second half.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/common.sh"

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
data=${ENGRAM_BENCH_DATA:-/tmp/engram-bench-data}/${rows}x${dims}-q1000-c100-s42
[ -s "$data/base.tsv" ] || engram_die "no data set at $data: run bench/hnsw/run.sh --rows $rows --dims $dims first"

engram_bench_cluster_dirs grow-ab
template=$work/template
mkdir -p "$sockdir" && chown postgres: "$sockdir"
run_as() { runuser -u postgres -- "$@"; }
bin_of() { "$1" --bindir; }
psql_in() { run_as "$(bin_of "$1")/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d postgres "${@:2}"; }
settings=("shared_buffers = '512MB'" "maintenance_work_mem = '1GB'" "synchronous_commit = off"
	"jit = off" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'")

first=${installs[0]}
trap 'PG_CONFIG=$first engram_cluster_stop "$template"; engram_cluster_stop "$datadir"; rm -rf "$work"' EXIT
PG_CONFIG=$first engram_cluster_init "$template" "$port" "$sockdir" "${settings[@]}"
PG_CONFIG=$first engram_cluster_start "$template" "$work/template.log"
psql_in "$first" <<SQL
CREATE EXTENSION engram;
CREATE TABLE base (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
CREATE TABLE gt (qid int PRIMARY KEY, ids int[]);
COPY base FROM '$data/base.tsv';
COPY queries FROM '$data/queries.tsv';
COPY gt FROM '$data/gt.tsv';
VACUUM ANALYZE;
CREATE FUNCTION cpu_ticks() RETURNS bigint LANGUAGE sql AS
\$\$ SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
    FROM pg_read_file('/proc/self/stat') s \$\$;
SQL
PG_CONFIG=$first engram_cluster_stop "$template"

ticks_ms=$((1000 / $(getconf CLK_TCK)))
half=$((stores / 2))
recall_sql() {
	cat <<SQL
SET engram.ef_search = $1;
SELECT round(sum(hits)::numeric / (10 * count(*)), 4) AS r$1 FROM (
  SELECT (SELECT count(*) FROM (SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10) n
          WHERE n.id = ANY (g.ids)) AS hits
  FROM queries q JOIN gt g ON g.qid = q.id) s \\gset
SQL
}
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
SELECT cpu_ticks() AS t1 \\gset
DO \$\$ DECLARE x int; BEGIN FOR r IN 1..1000 LOOP
  SELECT id INTO x FROM items ORDER BY v <-> (SELECT v FROM queries WHERE id = r) LIMIT 10;
END LOOP; END \$\$;
SELECT (cpu_ticks() - :t1) * $ticks_ms AS query_ms \\gset
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
	echo "SELECT :insert_ms, :r40, :r100, :query_ms, :store_ms, pg_relation_size('items_v') / 8192;"
} >"$work/round.sql"
chmod 644 "$work/round.sql"

echo "rows $rows x $dims grown by inserts; CPU ms of one backend"
echo "| round | install | inserts: ms / 1,000 rows | recall@10 ef 40 | ef 100 | queries: ms / 1,000 (ef 100) | engram_store: ms / 1,000 | index pages |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
	for install in "${installs[@]}"; do
		rm -rf "$datadir"
		cp -a "$template" "$datadir"
		PG_CONFIG=$install engram_cluster_start "$datadir" "$work/server.log"
		read -r insert_ms r40 r100 query_ms store_ms pages < <(psql_in "$install" -At -F ' ' -f "$work/round.sql" | tail -1)
		PG_CONFIG=$install engram_cluster_stop "$datadir"
		printf '| %d | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$install" \
			"$insert_ms" "$r40" "$r100" "$query_ms" "$store_ms" "$pages"
	done
done
