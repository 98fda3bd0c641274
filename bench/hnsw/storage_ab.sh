#!/usr/bin/env bash
# bench/hnsw/storage_ab.sh: what the storage of the vector column costs and
# saves, for evector and (when installed) pgvector's vector, in one cluster:
# vectors in the row (STORAGE MAIN, evector's default) against vectors in
# TOAST (STORAGE EXTERNAL, pgvector's default and evector's before session
# 8).  Measured as the backend's CPU time (utime + stime from
# /proc/self/stat), which a shared machine's load disturbs far less than a
# rate.
#
# Usage (as root, PG_CONFIG exported, engram installed; pgvector's "vector"
# extension installed in the same PostgreSQL for its rows):
#   bash bench/hnsw/storage_ab.sh [--rows 30000] [--dims 768] [--rounds 4]
#                                 [--ef 40] [--no-mixed]
#
# Uses the data set bench/hnsw/run.sh generates (run that once first with
# the same --rows / --dims).  The variants, each its own tables of items
# and queries (the queries' vector column stored like the items'):
#   evector_main          evector, the type's storage (main)
#   evector_main_target   the same with toast_tuple_target = 8160: the row
#                         stays under the target, so the toaster does not
#                         even try to compress the vector
#   evector_external      evector, SET STORAGE EXTERNAL
#   vector_external       pgvector's vector, its type's storage (external)
#   vector_main           pgvector's vector, SET STORAGE MAIN
#   mixed_*               (unless --no-mixed) the evector variants with a
#                         text column of about 300 bytes, "content", before
#                         the vector: with the default toast_tuple_target
#                         a row holding a vector in line is over the
#                         target, so the toaster compresses and moves the
#                         content out of line instead
# For each: the load (COPY of the rows, no index: wall and CPU ms, WAL MB),
# the table's main fork and TOAST sizes, a sequential scan that does not
# read the vector (CPU ms per scan, the table in shared buffers; mixed:
# one that reads the content), then the index (engram_hnsw or hnsw, m = 16,
# ef_construction = 64, L2) and --rounds rounds, the variants in turn, of
# 1,000 full queries (`ORDER BY v <-> query LIMIT 10`, all 10 rows fetched
# and, for mixed, their content read) and 1,000 single-row inserts (one
# transaction): CPU ms per 1,000, the median of the rounds and every round.
set -euo pipefail
. "$(dirname "$0")/cost_common.sh"

ef=40 mixed=true args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--ef) ef=$2; shift 2 ;;
	--no-mixed) mixed=false; shift ;;
	*) args+=("$1"); shift ;;
	esac
done
hnsw_cost_args 4 --dims 768 ${args[@]+"${args[@]}"}
rows_total=$rows
hnsw_cost_cluster storage-ab 59400 "shared_buffers = '4GB'" \
	"maintenance_work_mem = '1GB'" "synchronous_commit = off" "jit = off" \
	"max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"max_parallel_maintenance_workers = 0" "max_parallel_workers_per_gather = 0"

have_pgvector=$(psql_cmd -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
variants="evector_main evector_main_target evector_external"
[ "$have_pgvector" = 1 ] && variants+=" vector_external vector_main"
$mixed && variants+=" mixed_evector_main mixed_evector_main_target mixed_evector_external"

# A content of about 300 bytes per id from a 64-word vocabulary (text that
# pglz compresses, as prose does), and the mixed data file built from it.
psql_cmd <<SQL
CREATE EXTENSION engram;
$([ "$have_pgvector" = 1 ] && echo "CREATE EXTENSION vector;" || true)
CREATE FUNCTION cpu_ticks() RETURNS bigint LANGUAGE sql AS
\$\$ SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
    FROM pg_read_file('/proc/self/stat') s \$\$;
CREATE TABLE contents (id int PRIMARY KEY, content text);
INSERT INTO contents
SELECT i, (SELECT string_agg(w[1 + abs(hashint4(i * 64 + k)) % 64], ' ')
           FROM generate_series(1, 45) k)
FROM generate_series(1, $rows_total + 1000) i,
     LATERAL (SELECT string_to_array('memory recall agent vector index page heap tuple toast row '
       'column table query search graph layer node edge weight score cue time place tag '
       'episode semantic decay confidence interval activation spreading hop seed worker '
       'tier hot warm cold segment buffer lock latch wal record replica standby primary '
       'insert update delete vacuum analyze plan cost scan sort limit order', ' ') AS w) v;
CREATE TABLE base_text (id int, v text);
COPY base_text FROM '$data/base.tsv';
COPY (SELECT b.id, c.content, b.v FROM base_text b JOIN contents c USING (id) ORDER BY b.id)
	TO '$work/mixed.tsv';
DROP TABLE base_text;
SQL

type_of() { [[ "$1" == vector_* ]] && echo vector || echo evector; }
storage_of() {
	case "$1" in
	*_external) [ "$1" = vector_external ] && echo "" || echo EXTERNAL ;;
	vector_main) echo MAIN ;;
	*) echo "" ;;
	esac
}
with_of() { [[ "$1" == *_target ]] && echo " WITH (toast_tuple_target = 8160)" || echo ""; }
opclass_of() { [ "$(type_of "$1")" = vector ] && echo "hnsw (v vector_l2_ops)" || echo "engram_hnsw (v evector_l2_ops)"; }

declare -A load size scan queries inserts
for var in $variants; do
	type=$(type_of "$var") storage=$(storage_of "$var") with=$(with_of "$var")
	if [[ "$var" == mixed_* ]]; then
		columns="id int PRIMARY KEY, content text, v $type($dims)" file=$work/mixed.tsv
	else
		columns="id int PRIMARY KEY, v $type($dims)" file=$data/base.tsv
	fi
	engram_log "$var: loading"
	load[$var]=$(psql_cmd -At -F ' ' <<SQL | tail -1
CREATE TABLE t_$var ($columns)$with;
CREATE TABLE q_$var (id int PRIMARY KEY, v $type($dims));
${storage:+ALTER TABLE t_$var ALTER COLUMN v SET STORAGE $storage;}
${storage:+ALTER TABLE q_$var ALTER COLUMN v SET STORAGE $storage;}
COPY q_$var FROM '$data/queries.tsv';
CHECKPOINT;
SELECT cpu_ticks() AS t0, pg_current_wal_insert_lsn() AS l0, clock_timestamp() AS c0 \gset
COPY t_$var FROM '$file';
SELECT round(extract(epoch FROM clock_timestamp() - :'c0') * 1000), (cpu_ticks() - :t0) * $((1000 / $(getconf CLK_TCK))),
       round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'l0') / 1048576.0, 1);
SQL
)
	psql_cmd -c "VACUUM ANALYZE t_$var" -c "VACUUM ANALYZE q_$var"
	size[$var]=$(psql_cmd -At -F ' ' -c "SELECT round(pg_relation_size('t_$var') / 1048576.0, 1),
		round(coalesce(pg_total_relation_size(NULLIF(reltoastrelid, 0)), 0) / 1048576.0, 1)
		FROM pg_class WHERE oid = 't_$var'::regclass")
	if [[ "$var" == mixed_* ]]; then
		scan_sql="SELECT count(*) INTO x FROM t_$var WHERE content LIKE '%zebra%'"
	else
		scan_sql="SELECT count(*) INTO x FROM t_$var WHERE id % 7 = 3"
	fi
	# the first scan reads the table into shared buffers; 5 more measured
	scan[$var]=$(psql_cmd -At <<SQL | tail -1
DO \$\$ DECLARE x bigint; BEGIN $scan_sql; END \$\$;
SELECT cpu_ticks() AS t0 \gset
DO \$\$ DECLARE x bigint; BEGIN FOR k IN 1..5 LOOP $scan_sql; END LOOP; END \$\$;
SELECT (cpu_ticks() - :t0) * $((1000 / $(getconf CLK_TCK))) / 5;
SQL
)
	engram_log "$var: building the index"
	psql_cmd -c "CREATE INDEX t_${var}_v ON t_$var USING $(opclass_of "$var") WITH (m = 16, ef_construction = 64)" -c "CHECKPOINT"
done

ticks_ms=$((1000 / $(getconf CLK_TCK)))
for round in $(seq 1 "$rounds"); do
	for var in $variants; do
		engram_log "$var: round $round of $rounds"
		if [[ "$var" == mixed_* ]]; then
			query="SELECT count(*), sum(length(content)) INTO x, y FROM (SELECT id, content FROM t_$var ORDER BY v <-> (SELECT v FROM q_$var WHERE id = r) LIMIT 10) s"
			insert="INSERT INTO t_$var SELECT 1000000 * $round + q.id, c.content, q.v FROM q_$var q JOIN contents c ON c.id = $rows_total + q.id WHERE q.id = r"
		else
			query="SELECT count(*) INTO x FROM (SELECT id FROM t_$var ORDER BY v <-> (SELECT v FROM q_$var WHERE id = r) LIMIT 10) s"
			insert="INSERT INTO t_$var SELECT 1000000 * $round + id, v FROM q_$var WHERE id = r"
		fi
		read -r q i < <(psql_cmd -At -F ' ' <<SQL | tail -1
SET engram.ef_search = $ef;
$([ "$have_pgvector" = 1 ] && echo "SET hnsw.ef_search = $ef;" || true)
SELECT cpu_ticks() AS t0 \gset
DO \$\$ DECLARE x bigint; y bigint; BEGIN FOR r IN 1..1000 LOOP $query; END LOOP; END \$\$;
SELECT cpu_ticks() AS t1 \gset
DO \$\$ BEGIN FOR r IN 1..1000 LOOP $insert; END LOOP; END \$\$;
SELECT (:t1 - :t0) * $ticks_ms, (cpu_ticks() - :t1) * $ticks_ms;
SQL
)
		queries[$var]+="$q " inserts[$var]+="$i "
	done
done
# the plans really used the indexes
for var in $variants; do
	plan=$(psql_cmd -Atc "EXPLAIN SELECT id FROM t_$var ORDER BY v <-> (SELECT v FROM q_$var WHERE id = 1) LIMIT 10")
	grep -q "Index Scan using t_${var}_v" <<<"$plan" || engram_die "$var: the query plan does not use the index: $plan"
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "rows $rows x $dims, ef_search $ef, m = 16, ef_construction = 64, L2; CPU ms of one backend; $rounds rounds"
echo
echo "| variant | COPY: wall ms / CPU ms / WAL MB | main fork MB | TOAST MB | scan CPU ms | 1,000 queries: CPU ms, median (rounds) | 1,000 inserts: CPU ms, median (rounds) |"
echo "|---|---|---:|---:|---:|---|---|"
for var in $variants; do
	read -r lw lc lwal <<<"${load[$var]}"
	read -r smain stoast <<<"${size[$var]}"
	printf '| %s | %s / %s / %s | %s | %s | %s | %s (%s) | %s (%s) |\n' "$var" "$lw" "$lc" "$lwal" "$smain" "$stoast" \
		"${scan[$var]}" "$(median "${queries[$var]}")" "$(echo ${queries[$var]})" \
		"$(median "${inserts[$var]}")" "$(echo ${inserts[$var]})"
done
