#!/usr/bin/env bash
# bench/hnsw/pending_bench.sh: what deferring engram_hnsw inserts to the
# pending list (reloption deferred_insert) buys and costs, measured in one
# run on one throwaway cluster:
#
#   1. single-row INSERT rate (pgbench, 1 client, prepared) into a built
#      index with deferral off, with deferral on (appends only: the limit
#      is set high enough that no inserter merges during the round), and
#      into pgvector's hnsw when the "vector" extension is installed;
#      rounds alternate between the access methods.  After each deferred
#      round the pending list is flushed with engram_hnsw_flush_pending()
#      and timed: the flush rate (rows merged per second);
#   2. query rate (ef_search 40, LIMIT 10, 1 client) with 0 and N rows on
#      the pending list;
#   3. a memory space created with engram.space_deferred_insert = on,
#      loaded through engram_store_batch (default pending_list_limit: the
#      inserters merge as they go, the sustained rate), then flushed; then
#      engram_store (pgbench, 1 client) and engram_store_batch (1,000 rows
#      per call) with deferral on (appends only, flushed after each) and
#      off, alternating.
#
# Usage (as root, PG_CONFIG exported, engram installed with make install):
#   bash bench/hnsw/pending_bench.sh [--rows 30000] [--dims 768]
#       [--seconds 8] [--rounds 3] [--pending "1000 5000"] [--space-rows 20000]
#       [--space-only]   (only part 3)
#
# The data set is bench/hnsw/gen_dataset.c's (generated here when absent,
# like bench/hnsw/run.sh); queries and inserted rows are its 1,000 held-out
# vectors.  Settings: shared_buffers 1GB, synchronous_commit off (the
# rates measure index work, not WAL flushes), jit off.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/common.sh"

rows=30000 dims=768 seconds=8 rounds=3 pending_sizes="1000 5000" space_rows=20000 space_only=false
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--pending) pending_sizes=$2; shift 2 ;;
	--space-rows) space_rows=$2; shift 2 ;;
	--space-only) space_only=true; shift ;;
	*) engram_die "unknown argument: $1" ;;
	esac
done

. "$ENGRAM_ROOT/bench/dataset.sh"
data=$(bench_dataset "$rows" "$dims" 1000 100 42)

work=$(mktemp -d /tmp/engram-pending-bench.XXXXXX)
chmod 755 "$work"
datadir=$work/data sockdir=$work/sock
mkdir -p "$sockdir" && chown -R postgres: "$work"
port=$(engram_free_port $((58000 + RANDOM % 400)))
trap 'engram_cluster_stop "$datadir"; rm -rf "$work"' EXIT
engram_cluster_init "$datadir" "$port" "$sockdir" "shared_buffers = '1GB'" \
	"maintenance_work_mem = '1GB'" "synchronous_commit = off" "jit = off" \
	"max_wal_size = '8GB'" "autovacuum = off"
engram_cluster_start "$datadir" "$work/server.log"
psql_cmd() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d postgres "$@"; }

have_pgvector=$(psql_cmd -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
ams="off on"
[ "$have_pgvector" = 1 ] && ams="off on pgvector"

psql_cmd <<SQL
CREATE EXTENSION engram;
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
COPY queries FROM '$data/queries.tsv';
SQL
$space_only && have_pgvector=0
$space_only || { engram_log "loading $rows x $dims and building the indexes"; psql_cmd; } <<SQL
CREATE SEQUENCE new_ids START 10000000;
CREATE TABLE items_off (id int PRIMARY KEY DEFAULT nextval('new_ids'), v evector($dims));
COPY items_off FROM '$data/base.tsv';
CREATE TABLE items_on (LIKE items_off INCLUDING ALL);
INSERT INTO items_on SELECT * FROM items_off;
CREATE INDEX items_off_v ON items_off USING engram_hnsw (v) WITH (m = 16, ef_construction = 64);
CREATE INDEX items_on_v ON items_on USING engram_hnsw (v)
	WITH (m = 16, ef_construction = 64, deferred_insert = on, pending_list_limit = 1000000);
SQL
if [ "$have_pgvector" = 1 ]; then
	psql_cmd <<SQL
CREATE EXTENSION vector;
CREATE TABLE queries_pgvector (id int PRIMARY KEY, v vector($dims));
COPY queries_pgvector FROM '$data/queries.tsv';
CREATE TABLE items_pgvector (id int PRIMARY KEY DEFAULT nextval('new_ids'), v vector($dims));
COPY items_pgvector FROM '$data/base.tsv';
CREATE INDEX ON items_pgvector USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64);
SQL
fi
psql_cmd -c 'VACUUM ANALYZE' -c 'CHECKPOINT'

# pgbench_rate SCRIPT_TEXT: runs it for $seconds (1 client, prepared), prints tps.
pgbench_rate() {
	printf '%s\n' "$1" >"$work/script.sql"
	chown postgres: "$work/script.sql"
	(cd "$work" && engram_as_postgres pgbench -n -M prepared -c 1 -j 1 -T "$seconds" \
		-f script.sql -h "$sockdir" -p "$port" postgres) >"$work/pgbench.out" 2>&1 ||
		{ cat "$work/pgbench.out" >&2; engram_die "pgbench failed"; }
	sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | tail -1
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# --- 1. single-row inserts, alternating; flush after each deferred round ---
declare -A insert_rates query_rates
flush_rates=""
$space_only && rounds_inserts=0 || rounds_inserts=$rounds
for round in $(seq 1 "$rounds_inserts"); do
	for am in $ams; do
		case $am in
		off|on) table=items_$am queries=queries ;;
		pgvector) table=items_pgvector queries=queries_pgvector ;;
		esac
		tps=$(pgbench_rate "\\set q random(1, 1000)
INSERT INTO $table (v) SELECT v FROM $queries WHERE id = :q;")
		insert_rates[$am]+="$tps "
		if [ "$am" = on ]; then
			flush=$(psql_cmd -At <<SQL
SELECT entries FROM engram_hnsw_pending_stats('items_on_v') \gset
SELECT clock_timestamp() AS t0 \gset
SELECT engram_hnsw_flush_pending('items_on_v') AS merged \gset
SELECT round(:merged / extract(epoch FROM clock_timestamp() - :'t0')::numeric, 1), :merged;
SQL
)
			flush_rates+="${flush%%|*} "
			engram_log "round $round: deferred inserts $tps/s, flush of ${flush##*|} rows at ${flush%%|*} rows/s"
		else
			engram_log "round $round: $am $tps/s"
		fi
	done
done

# --- 2. queries with N rows pending ----------------------------------------
query_script="\\set q random(1, 1000)
SET engram.ef_search = 40;
SELECT id FROM items_on ORDER BY v <-> (SELECT v FROM queries WHERE id = :q) LIMIT 10;"
if ! $space_only; then
	plan=$(psql_cmd -At -c "EXPLAIN (COSTS OFF) SELECT id FROM items_on ORDER BY v <-> (SELECT v FROM queries WHERE id = 1) LIMIT 10")
	grep -q "Index Scan using items_on_v" <<<"$plan" || engram_die "the query does not use the index: $plan"
fi
$space_only && pending_sizes="" query_sizes="" || query_sizes="0 $pending_sizes"
for size in $query_sizes; do
	if [ "$size" -gt 0 ]; then
		psql_cmd -c "INSERT INTO items_on (v) SELECT v FROM queries, generate_series(1, ceil($size / 1000.0)::int) g
		             LIMIT $size"
	fi
	query_rates[$size]=$(pgbench_rate "$query_script")
	engram_log "queries with $(psql_cmd -Atc "SELECT entries FROM engram_hnsw_pending_stats('items_on_v')") pending: ${query_rates[$size]}/s"
	psql_cmd -Atc "SELECT engram_hnsw_flush_pending('items_on_v')" >/dev/null
done

# --- 3. engram_store / engram_store_batch on a space that defers ------------
engram_log "space of $space_rows x $dims memories (store_batch, deferred, then flushed)"
psql_cmd <<SQL
SET client_min_messages = warning;
SET engram.space_deferred_insert = on;
SELECT engram_create_space('mem', $dims, 'l2');
CREATE TABLE batch AS SELECT array_agg(v ORDER BY id) AS vs FROM queries;
SQL
load_start=$(date +%s.%N)
for i in $(seq 1 $(( (space_rows + 999) / 1000 ))); do
	psql_cmd -Atc "SELECT count(*) FROM engram_store_batch('mem', array_fill('loaded'::text, ARRAY[1000]), (SELECT vs FROM batch))" >/dev/null
done
load_end=$(date +%s.%N)
space_index=$(psql_cmd -Atc "SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'mem'::regclass AND indexrelid::regclass::text LIKE '%embedding%'")
flush_start=$(date +%s.%N)
psql_cmd -Atc "SELECT engram_hnsw_flush_pending('$space_index')" >/dev/null
flush_end=$(date +%s.%N)
psql_cmd -c 'VACUUM ANALYZE mem' -c 'CHECKPOINT'
space_load=$(echo "$space_rows / ($load_end - $load_start)" | bc -l)
space_flush=$(echo "$space_rows / ($flush_end - $flush_start)" | bc -l)
engram_log "load: $(printf '%.0f' "$space_load") rows/s deferred; its flush: $(printf '%.0f' "$space_flush") rows/s"

declare -A store_rates batch_rates
for round in $(seq 1 "$rounds"); do
	for mode in on off; do
		# appends only in the deferred rounds: no inserter merges (flushed after)
		psql_cmd -c "ALTER INDEX $space_index SET (deferred_insert = $mode, pending_list_limit = 1000000)"
		tps=$(pgbench_rate "\\set q random(1, 1000)
SELECT engram_store('mem', 'stored by pgbench', (SELECT v FROM queries WHERE id = :q));")
		store_rates[$mode]+="$tps "
		psql_cmd -Atc "SELECT engram_hnsw_flush_pending('$space_index')" >/dev/null
		start=$(date +%s.%N)
		psql_cmd -Atc "SELECT count(*) FROM engram_store_batch('mem', array_fill('batch'::text, ARRAY[1000]), (SELECT vs FROM batch))" >/dev/null
		end=$(date +%s.%N)
		batch=$(echo "1000 / ($end - $start)" | bc -l)
		batch_rates[$mode]+="$(printf '%.0f' "$batch") "
		engram_log "round $round: deferred_insert = $mode: engram_store $tps/s, engram_store_batch $(printf '%.0f' "$batch") rows/s"
		psql_cmd -Atc "SELECT engram_hnsw_flush_pending('$space_index')" >/dev/null
	done
done

errors=$(psql_cmd -Atc "SELECT count(*) FROM engram_hnsw_verify('$space_index') WHERE severity = 'error'")
$space_only || errors=$((errors + $(psql_cmd -Atc "SELECT count(*) FROM engram_hnsw_verify('items_on_v') WHERE severity = 'error'")))
[ "$errors" = 0 ] || engram_die "engram_hnsw_verify reports $errors errors"

echo
echo "### $rows x $dims, m = 16, ef_construction = 64, $rounds rounds of ${seconds} s (median: all rounds)"
echo
echo "| | rate |"
echo "|---|---:|"
if ! $space_only; then
printf '| single-row INSERT/s, deferred_insert = off | %.0f (%s) |\n' "$(median "${insert_rates[off]}")" "${insert_rates[off]% }"
printf '| single-row INSERT/s, deferred_insert = on (append only) | %.0f (%s) |\n' "$(median "${insert_rates[on]}")" "${insert_rates[on]% }"
[ "$have_pgvector" = 1 ] &&
	printf '| single-row INSERT/s, pgvector hnsw | %.0f (%s) |\n' "$(median "${insert_rates[pgvector]}")" "${insert_rates[pgvector]% }"
printf '| flush (engram_hnsw_flush_pending), rows merged/s | %.0f (%s) |\n' "$(median "$flush_rates")" "${flush_rates% }"
fi
for size in $query_sizes; do
	printf '| queries/s (ef_search 40, LIMIT 10), %s rows pending | %.0f |\n' "$size" "${query_rates[$size]}"
done
printf '| engram_store_batch load of %s rows into a deferred space (default limit: sustained), rows/s | %.0f |\n' "$space_rows" "$space_load"
printf '| flush of what that load left pending, rows of the load/s | %.0f |\n' "$space_flush"
for mode in on off; do
	printf '| engram_store calls/s, deferred_insert = %s | %.0f (%s) |\n' "$mode" "$(median "${store_rates[$mode]}")" "${store_rates[$mode]% }"
	printf '| engram_store_batch rows/s (1,000 per call), deferred_insert = %s | %.0f (%s) |\n' "$mode" "$(median "${batch_rates[$mode]}")" "${batch_rates[$mode]% }"
done
