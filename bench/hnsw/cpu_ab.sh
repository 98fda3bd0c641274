#!/usr/bin/env bash
# bench/hnsw/cpu_ab.sh: backend CPU time per query and per single-row
# insert of engram_hnsw and of pgvector's hnsw, for one or more builds of
# engram installed in separate PostgreSQL installs, the builds alternated
# round by round.  CPU time of the backend (utime + stime from
# /proc/self/stat) is what an A/B comparison of two builds can resolve on
# a shared machine, where wall-clock rates swing with the load.
#
# Usage (as root; each PG_CONFIG names an install where engram is
# installed, and pgvector's "vector" extension too for the ratios):
#   bash bench/hnsw/cpu_ab.sh [--rows 30000] [--dims 128] [--rounds 2]
#                             [--ef 100] [--metric l2|cosine]
#                             [--quantization none|int8] PG_CONFIG...
#
# Uses the data set bench/hnsw/run.sh generates (run that once first with
# the same --rows / --dims).  The first install creates a template cluster
# once: the tables of items and queries, for both access methods, and
# pgvector's index (m = 16, ef_construction = 64; --metric cosine: both
# access methods index and order by cosine distance, `<=>`).  Every round then, for
# every install in turn: a fresh copy of the template started with that
# install's binaries, the engram_hnsw index built serially (m = 16,
# ef_construction = 64, --quantization as given, so that its page layout
# is that build's), then in
# one session: 3,000 queries (`ORDER BY v <-> query LIMIT 10`, ef_search
# for both) on engram_hnsw, the same on pgvector, 2,000 single-row inserts
# into each (one transaction: CPU of the index work, not of commits).
# Prints per install and round: CPU ms per 1,000 queries and per 1,000
# inserts for each access method, and pgvector / engram_hnsw.
set -euo pipefail
. "$(dirname "$0")/ab_harness.sh"

rows=30000 dims=128 rounds=2 ef=100 metric=l2 quantization=none installs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quantization) quantization=$2; shift 2 ;;
	--rows) rows=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--ef) ef=$2; shift 2 ;;
	--metric) metric=$2; shift 2 ;;
	-*) engram_die "unknown argument: $1" ;;
	*) installs+=("$1"); shift ;;
	esac
done
[ ${#installs[@]} -gt 0 ] || engram_die "usage: cpu_ab.sh [options] PG_CONFIG..."
data=$(ab_data_dir)
case "$metric" in
l2) op='<->' ;;
cosine) op='<=>' ;;
*) engram_die "--metric is l2 or cosine, not $metric" ;;
esac

ab_template_start cpu-ab "shared_buffers = '512MB'" "maintenance_work_mem = '1GB'" "synchronous_commit = off" \
	"jit = off" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"max_parallel_maintenance_workers = 0"
psql_in "${installs[0]}" <<SQL
CREATE EXTENSION engram;
CREATE EXTENSION vector;
CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
COPY items FROM '$data/base.tsv';
COPY queries FROM '$data/queries.tsv';
CREATE TABLE pitems (id int PRIMARY KEY, v vector($dims));
CREATE TABLE pqueries (id int PRIMARY KEY, v vector($dims));
COPY pitems FROM '$data/base.tsv';
COPY pqueries FROM '$data/queries.tsv';
CREATE INDEX pitems_v ON pitems USING hnsw (v vector_${metric}_ops) WITH (m = 16, ef_construction = 64);
VACUUM ANALYZE;
$ab_cpu_ticks_sql
SQL
ab_template_stop

ticks_ms=$ab_ticks_ms
cat >"$work/round.sql" <<SQL
SET engram.ef_search = $ef;
SET hnsw.ef_search = $ef;
SELECT cpu_ticks() AS t0 \\gset
DO \$\$ DECLARE x int; BEGIN FOR k IN 1..3 LOOP FOR r IN 1..1000 LOOP
  SELECT id INTO x FROM items ORDER BY v $op (SELECT v FROM queries WHERE id = r) LIMIT 10;
END LOOP; END LOOP; END \$\$;
SELECT cpu_ticks() AS t1 \\gset
DO \$\$ DECLARE x int; BEGIN FOR k IN 1..3 LOOP FOR r IN 1..1000 LOOP
  SELECT id INTO x FROM pitems ORDER BY v $op (SELECT v FROM pqueries WHERE id = r) LIMIT 10;
END LOOP; END LOOP; END \$\$;
SELECT cpu_ticks() AS t2 \\gset
DO \$\$ BEGIN FOR k IN 1..2 LOOP FOR r IN 1..1000 LOOP
  INSERT INTO items SELECT 1000000 * k + id, v FROM queries WHERE id = r;
END LOOP; END LOOP; END \$\$;
SELECT cpu_ticks() AS t3 \\gset
DO \$\$ BEGIN FOR k IN 1..2 LOOP FOR r IN 1..1000 LOOP
  INSERT INTO pitems SELECT 1000000 * k + id, v FROM pqueries WHERE id = r;
END LOOP; END LOOP; END \$\$;
SELECT cpu_ticks() AS t4 \\gset
SELECT (:t1 - :t0) * $ticks_ms / 3, (:t2 - :t1) * $ticks_ms / 3,
       (:t3 - :t2) * $ticks_ms / 2, (:t4 - :t3) * $ticks_ms / 2;
SQL
chmod 644 "$work/round.sql"

echo "rows $rows x $dims, $metric, ef_search $ef, engram_hnsw quantization = '$quantization'; CPU ms per 1,000 operations of one backend"
echo "| round | install | queries: engram_hnsw | pgvector | ratio | inserts: engram_hnsw | pgvector | ratio |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
	for install in "${installs[@]}"; do
		ab_copy_start "$install"
		psql_in "$install" -c "CREATE INDEX items_v ON items USING engram_hnsw (v evector_${metric}_ops) WITH (m = 16, ef_construction = 64, quantization = '$quantization')" -c "CHECKPOINT"
		read -r q_engram q_pgvector i_engram i_pgvector < <(psql_in "$install" -At -F ' ' -f "$work/round.sql" | tail -1)
		ab_copy_stop "$install"
		printf '| %d | %s | %d | %d | %.2f | %d | %d | %.2f |\n' "$round" "$install" \
			"$q_engram" "$q_pgvector" "$(echo "$q_pgvector / $q_engram" | bc -l)" \
			"$i_engram" "$i_pgvector" "$(echo "$i_pgvector / $i_engram" | bc -l)"
	done
done
