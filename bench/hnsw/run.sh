#!/usr/bin/env bash
# bench/hnsw/run.sh: engram_hnsw (float4 elements, and int8 elements with
# quantization = 'int8', "engram_hnsw_int8") side by side with pgvector's
# hnsw (when the "vector" extension is available in the cluster) and exact
# search.
#
# Usage (as root, PG_CONFIG exported as for scripts/test.sh):
#   bash bench/hnsw/run.sh [--dims 128] [--rows 100000] [--queries 1000]
#                          [--centres 100] [--seconds 10] [--ef "10 20 40 100 200"]
#                          [--m 16] [--ef-construction 64]
#                          [--build-rounds 1] [--builds-only] [--rounds 1]
#                          [--ams "engram_hnsw engram_hnsw_int8 pgvector_hnsw"]
#                          [--insert-source distinct|queries] [--insert-pool 60000]
#                          [--cpu-pin both|on|off] [--dataset generated|sift|glove]
#
# --ams picks the access methods measured, from engram_hnsw,
# engram_hnsw_int8 (quantization = 'int8') and pgvector_hnsw (skipped when
# the "vector" extension is not available); each engram variant gets its
# own copy of the tables.  Two more variants change only the storage of
# the vector columns (items and queries), not the index:
# engram_hnsw_external (evector columns SET STORAGE EXTERNAL, evector's
# default before session 8: 768-dimension vectors in TOAST) and
# pgvector_hnsw_main (vector columns SET STORAGE MAIN: vectors in the row,
# like evector's default), so that one run shows how much of a difference
# is the storage rather than the index.
#
# Generates (once, cached under $ENGRAM_BENCH_DATA, default
# /tmp/engram-bench-data) a fixed-seed clustered data set with bench/hnsw/
# gen_dataset.c (Gaussian clusters, held-out queries, exact top-10 ground
# truth), starts a throwaway cluster as the postgres user, and for each
# index access method prints: build time (serial, and with one parallel
# worker; --build-rounds N alternating rounds, median and every round;
# --builds-only stops after the builds), index size, recall@10 / queries per
# second / P50 / P99 latency at each ef_search (one pgbench client,
# prepared statements), and the single-row insert rate into the built
# index, and each round also times "SELECT 1" the same way: the round-trip
# floor every query rate includes (on a virtual machine whose idle vCPUs
# are slow to wake it can be 100 us or more; see docs/reference/
# performance-baselines.md).  --dataset sift or glove measures a real set of
# ../shared/data (ENGRAM_DATA_DIR) instead of the generated one: SIFT 4,500 x
# 128 under L2, GloVe 1,604 x 100 under cosine, with their own queries and
# exact top 10; --rows, --dims, --queries and --centres then come from the
# set, and inserts are not measured (a real set has no spare vectors of its
# distribution to insert).  --cpu-pin sets where the timed client and its
# backend run: "off" lets the kernel place them; "on" pins pgbench and the
# postmaster (so the backend it forks for pgbench) to the last CPU, so that
# no query waits for the hypervisor to wake the other, idle vCPU (the floor
# falls from 100-150 us to about 15 us on such a VM); "both", the default,
# times every query and insert round both ways, one after the other, and
# prints a table for each with the rate ratios to pgvector's.  The inserts (one pgbench client, prepared) take new vectors of
# the same distribution (--insert-source distinct, the default: the rows
# that follow the data set's in a larger set of the same seed, --insert-pool
# of them, each inserted once) or, as before session 9, a random one of the
# held-out queries (--insert-source queries: after the first thousand
# inserts nearly every insert repeats a vector already inserted, which
# pgvector folds into the existing element's heap TIDs without linking;
# docs/reference/performance-baselines.md, "Where the time of the insert
# loop goes").  Every measured query plan is checked with EXPLAIN: a run whose
# planner does not pick the index is reported as forced (enable_seqscan
# off) rather than silently timing a sequential scan.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/common.sh"

dims=128 rows=100000 queries=1000 centres=100 seconds=10 efs="10 20 40 100 200"
m=16 efc=64 seed=42 build_rounds=1 builds_only=false rounds=1
insert_source=distinct insert_pool=60000 cpu_pin=both dataset=generated
wanted_ams="engram_hnsw engram_hnsw_int8 pgvector_hnsw"
while [ $# -gt 0 ]; do
	case "$1" in
	--ams) wanted_ams=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--rows) rows=$2; shift 2 ;;
	--queries) queries=$2; shift 2 ;;
	--centres) centres=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--ef) efs=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--m) m=$2; shift 2 ;;
	--ef-construction) efc=$2; shift 2 ;;
	--build-rounds) build_rounds=$2; shift 2 ;;
	--builds-only) builds_only=true; shift ;;
	--insert-source) insert_source=$2; shift 2 ;;
	--insert-pool) insert_pool=$2; shift 2 ;;
	--cpu-pin) cpu_pin=$2; shift 2 ;;
	--dataset) dataset=$2; shift 2 ;;
	*) engram_die "unknown argument: $1" ;;
	esac
done

. "$ENGRAM_ROOT/bench/dataset.sh"
# The distance: L2 on the generated sets and SIFT, cosine on GloVe.
op='<->' engram_opclass=evector_l2_ops pgvector_opclass=vector_l2_ops
case "$dataset" in
generated)
	data=$(bench_dataset "$rows" "$dims" "$queries" "$centres" "$seed")
	data_line="$rows x $dims float4, $centres Gaussian centres, $queries held-out queries, seed $seed" ;;
sift | glove)
	data=$(bench_real_dataset "$dataset")
	rows=$(wc -l <"$data/base.tsv") queries=$(wc -l <"$data/queries.tsv")
	dims=$(head -1 "$data/base.tsv" | awk -F, '{print NF}')
	if [ "$dataset" = glove ]; then
		op='<=>' engram_opclass=evector_cosine_ops pgvector_opclass=vector_cosine_ops
	fi
	data_line="real set $dataset: $rows x $dims, $queries queries with their exact top 10, $([ "$dataset" = glove ] && echo cosine || echo L2)" ;;
*) engram_die "--dataset is generated, sift or glove, not $dataset" ;;
esac
measure_inserts=true
case "$dataset,$insert_source" in
generated,distinct)
	# the same generator and seed: its first $rows rows are the data set's
	pool_data=$(bench_dataset "$((rows + insert_pool))" "$dims" 1 "$centres" "$seed") ;;
generated,queries) ;;
*,distinct | *,queries) measure_inserts=false ;;
*) engram_die "--insert-source is distinct or queries, not $insert_source" ;;
esac
case "$cpu_pin" in
both) pin_modes="unpinned pinned" ;;
on) pin_modes=pinned ;;
off) pin_modes=unpinned ;;
*) engram_die "--cpu-pin is both, on or off, not $cpu_pin" ;;
esac

engram_build_install
work=$(mktemp -d /tmp/engram-bench.XXXXXX)
chmod 755 "$work"
datadir=$work/data sockdir=$work/sock
mkdir -p "$sockdir" && chown -R postgres: "$work"
port=$(engram_free_port $((57000 + RANDOM % 2000)))
cleanup() { engram_cluster_stop "$datadir"; rm -rf "$work"; }
trap cleanup EXIT
# synchronous_commit off: the insert rate measures index work, not WAL
# flushes (identical for both access methods).
engram_cluster_init "$datadir" "$port" "$sockdir" "shared_buffers = '2GB'" \
	"maintenance_work_mem = '2GB'" "max_parallel_maintenance_workers = 1" \
	"max_parallel_workers_per_gather = 0" "synchronous_commit = off" "jit = off" \
	"checkpoint_timeout = '30min'" "max_wal_size = '8GB'"
engram_cluster_start "$datadir" "$work/server.log"

psql_cmd() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d postgres "$@"; }
now() { date +%s.%N; }

psql_cmd -c "CREATE EXTENSION engram"
have_pgvector=$(psql_cmd -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")
ams=""
for am in $wanted_ams; do
	case "$am" in
	engram_hnsw | engram_hnsw_int8 | engram_hnsw_external) ams+="$am " ;;
	pgvector_hnsw | pgvector_hnsw_main)
		if [ "$have_pgvector" = 1 ]; then
			ams+="$am "
		else
			engram_log "the vector extension is not available: measuring engram_hnsw only"
		fi ;;
	*) engram_die "unknown access method in --ams: $am" ;;
	esac
done
ams=${ams% }
[ "$have_pgvector" = 1 ] && psql_cmd -c "CREATE EXTENSION vector"
[ -n "$ams" ] || engram_die "no access method left to measure"

engram_log "loading $data"
psql_cmd <<SQL
CREATE TABLE gt (qid int PRIMARY KEY, ids int[]);
COPY gt FROM '$data/gt.tsv';
CREATE TABLE items_engram_hnsw (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries_engram_hnsw (id int PRIMARY KEY, v evector($dims));
COPY items_engram_hnsw FROM '$data/base.tsv';
COPY queries_engram_hnsw FROM '$data/queries.tsv';
SQL
# storage_of AM: the STORAGE of the variant's vector columns ("" = the type's)
storage_of() {
	case "$1" in
	engram_hnsw_external) echo EXTERNAL ;;
	pgvector_hnsw_main) echo MAIN ;;
	*) echo "" ;;
	esac
}
for am in $ams; do
	storage=$(storage_of "$am")
	case "$am" in
	engram_hnsw_int8 | engram_hnsw_external)
		psql_cmd <<SQL
CREATE TABLE items_$am (LIKE items_engram_hnsw INCLUDING ALL);
CREATE TABLE queries_$am (LIKE queries_engram_hnsw INCLUDING ALL);
${storage:+ALTER TABLE items_$am ALTER COLUMN v SET STORAGE $storage;}
${storage:+ALTER TABLE queries_$am ALTER COLUMN v SET STORAGE $storage;}
INSERT INTO items_$am SELECT * FROM items_engram_hnsw;
INSERT INTO queries_$am SELECT * FROM queries_engram_hnsw;
SQL
		;;
	pgvector_hnsw | pgvector_hnsw_main)
		psql_cmd <<SQL
CREATE TABLE items_$am (id int PRIMARY KEY, v vector($dims));
CREATE TABLE queries_$am (id int PRIMARY KEY, v vector($dims));
${storage:+ALTER TABLE items_$am ALTER COLUMN v SET STORAGE $storage;}
${storage:+ALTER TABLE queries_$am ALTER COLUMN v SET STORAGE $storage;}
COPY items_$am FROM '$data/base.tsv';
COPY queries_$am FROM '$data/queries.tsv';
SQL
		;;
	esac
done
psql_cmd -c "VACUUM ANALYZE" -c "CHECKPOINT"

# Exact search: the cost every index is measured against.
exact_ms=$(psql_cmd -Atc "SET enable_indexscan = off; EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM items_engram_hnsw ORDER BY v $op (SELECT v FROM queries_engram_hnsw WHERE id = 1) LIMIT 10" |
	sed -n 's/.*"Execution Time": \([0-9.]*\).*/\1/p')

# Measurement points alternate between the access methods (builds, then
# each ef_search, then rounds of inserts), so that the load of a shared
# machine drifting over minutes does not favour whichever ran first.
declare -A build build_parallel size recall tps p50 p99 forced rows_per_query options
create_index() { # create_index AM
	local items=items_$1
	if [ "$1" = engram_hnsw ] || [ "$1" = engram_hnsw_external ]; then
		echo "CREATE INDEX ${items}_v ON $items USING engram_hnsw (v $engram_opclass) WITH (m = $m, ef_construction = $efc)"
	elif [ "$1" = engram_hnsw_int8 ]; then
		echo "CREATE INDEX ${items}_v ON $items USING engram_hnsw (v $engram_opclass) WITH (m = $m, ef_construction = $efc, quantization = 'int8')"
	else
		echo "CREATE INDEX ${items}_v ON $items USING hnsw (v $pgvector_opclass) WITH (m = $m, ef_construction = $efc)"
	fi
}
time_build() { # time_build AM WORKERS: seconds of one CREATE INDEX
	local start
	start=$(now)
	psql_cmd -c "SET max_parallel_maintenance_workers = $2" -c "$(create_index "$1")"
	printf '%.1f' "$(echo "$(now) - $start" | bc)"
}
# Builds alternate too: every round builds with one worker then serially,
# each access method in turn; the index of the last serial build stays.
for round in $(seq 1 "$build_rounds"); do
	for workers in 1 0; do
		for am in $ams; do
			engram_log "$am: building ($workers parallel workers, round $round)"
			t=$(time_build "$am" "$workers")
			if [ "$workers" = 1 ]; then
				build_parallel[$am]+="$t "
			else
				build[$am]+="$t "
			fi
			if [ "$workers" = 1 ] || [ "$round" -lt "$build_rounds" ]; then
				psql_cmd -c "DROP INDEX items_${am}_v"
			fi
			psql_cmd -c "CHECKPOINT"
		done
	done
done
for am in $ams; do
	bytes=$(psql_cmd -Atc "SELECT pg_relation_size('items_${am}_v')")
	size[$am]=$(printf '%.1f MB (%.2f x raw)' "$(echo "$bytes / 1048576" | bc -l)" "$(echo "$bytes / ($rows * $dims * 4)" | bc -l)")
done
# "median (every round)" of a list of build times
build_summary() {
	local sorted n
	sorted=$(tr ' ' '\n' <<<"$1" | grep . | sort -n)
	n=$(wc -l <<<"$sorted")
	printf '%s s (%s)' "$(sed -n "$(((n + 1) / 2))p" <<<"$sorted")" "$(echo $1)"
}

# The head of the result table: the access methods, builds, index size.
print_build_rows() {
	printf '| |'; for am in $ams; do printf ' %s |' "$am"; done; echo
	printf '|---|'; for am in $ams; do printf -- '---:|'; done; echo
	printf '| build, serial: median (every round) |'; for am in $ams; do printf ' %s |' "$(build_summary "${build[$am]}")"; done; echo
	printf '| build, 1 parallel worker: median (every round) |'; for am in $ams; do printf ' %s |' "$(build_summary "${build_parallel[$am]}")"; done; echo
	printf '| index size |'; for am in $ams; do printf ' %s |' "${size[$am]}"; done; echo
}

if $builds_only; then
	echo
	echo "data: $data_line; m = $m, ef_construction = $efc; $build_rounds alternating build rounds"
	echo
	print_build_rows
	exit 0
fi

for ef in $efs; do
	for am in $ams; do
		items=items_$am queries_t=queries_$am
		efguc=$([[ "$am" == pgvector_hnsw* ]] && echo hnsw.ef_search || echo engram.ef_search)
		engram_log "$am: ef_search $ef"
		plan=$(psql_cmd -Atc "SET $efguc = $ef; EXPLAIN SELECT id FROM $items ORDER BY v $op (SELECT v FROM $queries_t WHERE id = 1) LIMIT 10")
		forced_opt=""
		forced[$am,$ef]=""
		if ! grep -q "Index Scan using ${items}_v" <<<"$plan"; then
			forced[$am,$ef]=" (forced)"
			forced_opt="-c enable_seqscan=off"
		fi
		# recall over all queries, and the rows the index scans returned to
		# the executor in that transaction (an int8 index returns a few more
		# than LIMIT for the exact re-ranking)
		read -r recall[$am,$ef] fetched < <({ psql_cmd -At | tr '\n' ' '; echo; } <<SQL
BEGIN;
SET LOCAL $efguc = $ef;
${forced_opt:+SET LOCAL enable_seqscan = off;}
SELECT round(sum(hits)::numeric / (10 * count(*)), 3) FROM (
  SELECT (SELECT count(*) FROM (SELECT i.id FROM $items i ORDER BY i.v $op q.v LIMIT 10) n
          WHERE n.id = ANY (g.ids)) AS hits
  FROM $queries_t q JOIN gt g ON g.qid = q.id) s;
SELECT pg_stat_get_xact_tuples_returned('${items}_v'::regclass);
COMMIT;
SQL
)
		rows_per_query[$am,$ef]=$(echo "scale=1; $fetched / $queries" | bc)
		options[$am,$ef]="-c $efguc=$ef $forced_opt"
	done
done

# The CPU a pinned client and its backend share, and the postmaster's pid:
# the backend pgbench connects to inherits the postmaster's CPU affinity.
pin_cpu=$(($(nproc) - 1))
postmaster_pid=$(head -1 "$datadir/postmaster.pid")
# pgbench_tps MODE PGOPTIONS SCRIPT [ARG...]: one prepared pgbench client
# runs $work/SCRIPT for --seconds, pinned with its backend to $pin_cpu when
# MODE is "pinned"; prints its transactions per second.
pgbench_tps() {
	local mode=$1 options=$2 script=$3 pin=()
	shift 3
	chown postgres: "$work/$script"
	if [ "$mode" = pinned ]; then
		pin=(taskset -c "$pin_cpu")
		taskset -p -c "$pin_cpu" "$postmaster_pid" >/dev/null
	fi
	(cd "$work" && engram_as_postgres env PGOPTIONS="$options" \
		"${pin[@]}" pgbench -n -M prepared -c 1 -j 1 -T "$seconds" -f "$script" "$@" \
		-h "$sockdir" -p "$port" postgres >"$work/pgbench.out" 2>&1) ||
		{ cat "$work/pgbench.out" >&2; engram_die "pgbench failed"; }
	[ "$mode" = pinned ] && taskset -p -c "0-$pin_cpu" "$postmaster_pid" >/dev/null
	sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | tail -1
}
# median_of "RATE RATE ...": the median of the rates of the rounds
median_of() {
	tr ' ' '\n' <<<"$1" | grep . | sort -n |
		awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
# rounds_of "RATE RATE ...": the rates of the rounds, rounded, in order
rounds_of() {
	tr ' ' '\n' <<<"$1" | grep . | xargs printf '%.0f ' | sed 's/ $//'
}

# Query rates: --rounds rounds, each timing every ef_search of every access
# method in turn; the median q/s is kept, P50/P99 over all rounds' queries.
# Each pinning mode of --cpu-pin times every point in turn within a round.
declare -A tps_rounds floor_rounds
mkdir -p "$work/latency" && chown postgres: "$work/latency"
echo 'SELECT 1;' >"$work/floor.sql"
for round in $(seq 1 "$rounds"); do
	for mode in $pin_modes; do
		for ef in $efs; do
			for am in $ams; do
				items=items_$am queries_t=queries_$am
				engram_log "$am: ef_search $ef, timing round $round of $rounds, $mode"
				cat >"$work/query.sql" <<SQL
\\set q random(1, $queries)
SELECT id FROM $items ORDER BY v $op (SELECT v FROM $queries_t WHERE id = :q) LIMIT 10;
SQL
				rm -f "$work"/pgbench_log.*
				tps_rounds[$mode,$am,$ef]+="$(pgbench_tps "$mode" "${options[$am,$ef]}" query.sql --log --log-prefix=pgbench_log) "
				cat "$work"/pgbench_log.* | awk '{print $3}' >>"$work/latency/$mode-$am-$ef"
			done
		done
		# The round-trip floor: what one client's query costs with no work
		# in it (protocol, wake-ups, executor), the same for every access
		# method.
		floor_rounds[$mode]+="$(pgbench_tps "$mode" "" floor.sql) "
	done
done
for mode in $pin_modes; do
	for ef in $efs; do
		for am in $ams; do
			tps[$mode,$am,$ef]=$(median_of "${tps_rounds[$mode,$am,$ef]}")
			read -r p50[$mode,$am,$ef] p99[$mode,$am,$ef] < <(sort -n "$work/latency/$mode-$am-$ef" |
				awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')
		done
	done
done

# Inserts: three alternating rounds per access method, the median kept
# (none on a real set).
declare -A insert_rounds
insert_ams=$($measure_inserts && echo "$ams" || true)
for am in $insert_ams; do
	if [ "$insert_source" = distinct ]; then
		engram_log "$am: loading $insert_pool vectors to insert"
		psql_cmd <<SQL
CREATE TABLE pool_$am (LIKE queries_$am INCLUDING ALL);
COPY pool_$am FROM PROGRAM 'tail -n +$((rows + 1)) $pool_data/base.tsv';
CREATE SEQUENCE items_${am}_next START $((rows + 1));
VACUUM ANALYZE pool_$am;
SQL
	else
		psql_cmd -c "CREATE SEQUENCE items_${am}_extra START 10000001"
	fi
done
# write_insert_script AM: $work/insert.sql, one row into AM's table.
write_insert_script() {
	if [ "$insert_source" = distinct ]; then
		cat >"$work/insert.sql" <<SQL
INSERT INTO items_$1 SELECT n.id, p.v FROM (SELECT nextval('items_${1}_next') AS id) n JOIN pool_$1 p ON p.id = n.id;
SQL
	else
		cat >"$work/insert.sql" <<SQL
\\set q random(1, $queries)
INSERT INTO items_$1 SELECT nextval('items_${1}_extra'), v FROM queries_$1 WHERE id = :q;
SQL
	fi
}
psql_cmd -c "CHECKPOINT"
for round in 1 2 3; do
	for mode in $pin_modes; do
		for am in $insert_ams; do
			write_insert_script "$am"
			insert_rounds[$mode,$am]+="$(pgbench_tps "$mode" "" insert.sql) "
		done
	done
done
if [ "$insert_source" = distinct ]; then
	for am in $insert_ams; do
		[ "$(psql_cmd -Atc "SELECT last_value <= $((rows + insert_pool)) FROM items_${am}_next")" = t ] ||
			engram_die "$am: the $insert_pool vectors to insert ran out (the rate counts empty inserts): raise --insert-pool"
	done
fi

echo
echo "data: $data_line; m = $m, ef_construction = $efc"
if ! $measure_inserts; then
	echo "inserts: not measured (a real set has no spare vectors of its distribution)"
elif [ "$insert_source" = distinct ]; then
	echo "inserts: new vectors of the same distribution, each once"
else
	echo "inserts: random held-out queries (repeated vectors)"
fi
echo "exact search (sequential scan, one query): $exact_ms ms"
echo
print_build_rows
echo
# ef_table HEADER_CELL ALIGN CELL_FUNCTION: a table with a row per
# ef_search and a column per access method; HEADER_CELL is a printf format
# of the method's name, CELL_FUNCTION AM EF prints one cell.
ef_table() {
	local am ef
	printf '| ef_search |'; for am in $ams; do printf " $1 |" "$am"; done; echo
	printf '|---:|'; for am in $ams; do printf -- "$2|"; done; echo
	for ef in $efs; do
		printf '| %s |' "$ef"
		for am in $ams; do printf ' %s |' "$("$3" "$am" "$ef")"; done
		echo
	done
}
# Cells of the tables for pinning mode $mode: the query figures, the rate
# of every round; and the rows an index returned per query.
query_cell() {
	printf '%s / %.0f%s / %s / %s%s' "${recall[$1,$2]}" "${tps[$mode,$1,$2]}" \
		"$(ratio_to_pgvector "$1" "${tps[$mode,$1,$2]}" "${tps[$mode,pgvector_hnsw,$2]:-}")" \
		"${p50[$mode,$1,$2]}" "${p99[$mode,$1,$2]}" "${forced[$1,$2]}"
}
rounds_cell() { rounds_of "${tps_rounds[$mode,$1,$2]}"; }
rows_per_query_cell() { echo "${rows_per_query[$1,$2]}"; }
# ratio_to_pgvector AM RATE_OF_AM RATE_OF_PGVECTOR: " (N.NN x)" for an
# engram variant when pgvector was measured, else nothing.
ratio_to_pgvector() {
	case "$1" in
	engram_hnsw*) [ -n "$3" ] && printf ' (%.2f x)' "$(echo "$2 / $3" | bc -l)" ;;
	esac
	return 0
}
for mode in $pin_modes; do
	if [ "$mode" = pinned ]; then
		echo "== client and backend pinned to CPU $pin_cpu (--cpu-pin): no wait for an idle vCPU to wake =="
	else
		echo "== client and backend placed by the kernel (unpinned) =="
	fi
	if $measure_inserts; then
		pgvector_inserts=""
		[ -n "${insert_rounds[$mode,pgvector_hnsw]:-}" ] &&
			pgvector_inserts=$(median_of "${insert_rounds[$mode,pgvector_hnsw]}")
		printf '| single-row inserts/s (median of 3 rounds: all; x pgvector) |'
		for am in $ams; do
			inserts=$(median_of "${insert_rounds[$mode,$am]}")
			printf ' %.0f (%s)%s |' "$inserts" "$(rounds_of "${insert_rounds[$mode,$am]}")" \
				"$(ratio_to_pgvector "$am" "$inserts" "$pgvector_inserts")"
		done
		echo
		echo
	fi
	echo "q/s: median of $rounds alternating round(s) of $seconds s (x pgvector's q/s at the same ef_search); P50/P99 over all of them"
	ef_table '%s recall@10 / q/s / P50 / P99 ms' '---' query_cell
	floor_median=$(median_of "${floor_rounds[$mode]}")
	printf 'round-trip floor (SELECT 1, one client, prepared): %.0f q/s, %.0f us a query (rounds: %s); every q/s above includes it\n' \
		"$floor_median" "$(echo "1000000 / $floor_median" | bc -l)" "$(rounds_of "${floor_rounds[$mode]}")"
	echo "q/s of every timing round (in order):"
	ef_table '%s' '---' rounds_cell
	echo
done
echo "index rows returned to the executor per LIMIT 10 query (tuples returned by the index in the recall run, pg_stat_get_xact_tuples_returned):"
ef_table '%s' '---:' rows_per_query_cell
