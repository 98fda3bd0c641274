#!/usr/bin/env bash
# recall_bench.sh: throughput and latency of the cognitive layer, measured
# with pgbench against a throwaway cluster (Engram preloaded, fsync on).
#
#   engram_recall   hybrid, max_hops 2, k 10, a random query vector per call
#   plain query     SELECT ... ORDER BY embedding <=> $q LIMIT 10 on the same space
#   engram_store    one memory per call
#   engram_store_batch  1000 memories per call
#
# each with 1 and 2 clients (store_batch: 1).  Latency percentiles come from
# pgbench's --log files (PostgreSQL 15's pgbench prints none).
#
# Usage (as root, PG_CONFIG exported as for scripts/test.sh):
#   bash bench/recall/recall_bench.sh [--clustered] [--rounds R] [--tuned] [MEMORIES] [DIMS] [SECONDS] [ASSOCIATIONS_PER_MEMORY]
# defaults 100000 768 10 5, 1 round.  With R rounds the recall and plain
# query points run R times, alternated (recall 1 client, plain 1, recall 2,
# plain 2, then again), on the one loaded space; the report then gives each
# point's median calls/s over the rounds, P50 and P99 of all its calls
# pooled, and the recall's cost against the plain query (plain calls/s over
# recall calls/s) per round and its median: a ratio read within a round,
# minutes apart at most, moves far less with the machine than two runs do.
# The store points run once, after the rounds.  The vectors are uniformly random in [-1, 1]^DIMS
# (the hardest case for the index), or with --clustered the fixed-seed
# clustered set of bench/hnsw/gen_dataset.c (100 Gaussian centres, seed 42,
# its 1,000 held-out queries: the data of benchmark_deployment.sh and
# bench/hnsw/run.sh), generated once and cached (bench/dataset.sh).  Writes bench/recall/results-<timestamp>/report.txt.
# With --tuned the cluster runs with scripts/tune_config.sh's configuration
# for this machine (a hot tier of 10-20 % of RAM, shared_buffers, ...),
# written against the started cluster and included in its postgresql.conf
# before the load, so the recall and the plain query both run with it; the
# settings are printed and kept in the report.  Without it, the defaults
# (64 MB hot tier, shared_buffers 512MB).
# To compare two builds of engram.so on one loaded cluster, alternately,
# see recall_ab.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"

clustered=false
rounds=1
tuned=false
while [ $# -gt 0 ]; do
	case $1 in
	--clustered) clustered=true; shift ;;
	--tuned) tuned=true; shift ;;
	--rounds)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || engram_die "--rounds needs a positive integer"
		rounds=$2
		shift 2
		;;
	--*) engram_die "unknown option $1" ;;
	*) break ;;
	esac
done
memories=${1:-100000}
dims=${2:-768}
seconds=${3:-10}
fanout=${4:-5}

[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
engram_build_install

out=$here/results-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
engram_bench_cluster_dirs recall-bench

engram_cluster_init "$datadir" "$port" "$sockdir" "shared_buffers = 512MB" "max_wal_size = 4GB"
engram_cluster_start "$datadir" "$work/server.log"
settings="defaults (engram.hot_tier_size_mb 64, shared_buffers 512MB)"
if $tuned; then
	# Asked of the running cluster (its settings and data directory); no
	# Prometheus of another run may choose the workload mix.
	PGHOST=$sockdir PGPORT=$port PGUSER=postgres PGDATABASE=postgres \
		ENGRAM_PROMETHEUS_URL=http://127.0.0.1:9 \
		bash "$ENGRAM_ROOT/scripts/tune_config.sh" "$work/tuned.conf" >"$out/tune_config.txt" 2>&1 ||
		{ cat "$out/tune_config.txt" >&2; engram_die "scripts/tune_config.sh failed"; }
	chown postgres: "$work/tuned.conf"
	echo "include '$work/tuned.conf'" >>"$datadir/postgresql.conf"
	engram_cluster_stop "$datadir"
	engram_cluster_start "$datadir" "$work/server.log"
	settings="scripts/tune_config.sh: $(grep -v '^[[:space:]]*\(#\|$\)' "$work/tuned.conf" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
	engram_log "tuned settings: $settings"
fi
psql_as() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" "$@"; }
psql_as -d postgres -c "CREATE DATABASE bench"
psql_as -d bench -c "SET client_min_messages = warning; CREATE EXTENSION engram"

engram_log "loading $memories memories of $dims dimensions, $fanout associations each"
start=$(date +%s)
psql_as -d bench -v dims="$dims" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT engram_create_space('bench', :dims);
-- The vector index is built after the load: 100,000 single inserts into
-- the graph take hours on a small machine, one build minutes.
DROP INDEX bench_embedding_idx;
CREATE TABLE bench_queries (i int PRIMARY KEY, v evector);
CREATE TABLE bench_base (i int PRIMARY KEY, v evector);
SQL
if $clustered; then
	. "$ENGRAM_ROOT/bench/dataset.sh"
	data=$(bench_dataset "$memories" "$dims" 1000 100 42)
	psql_as -d bench -c "COPY bench_base FROM '$data/base.tsv'" -c "COPY bench_queries FROM '$data/queries.tsv'" >/dev/null
	vectors="clustered (bench/hnsw/gen_dataset.c: 100 centres, sigma 0.35, seed 42; its held-out queries)"
else
	# Query and memory vectors, made once.
	psql_as -d bench -v dims="$dims" -v memories="$memories" >/dev/null <<'SQL'
SELECT setseed(0.5);
INSERT INTO bench_queries
SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, :dims) WHERE i > 0)::evector
  FROM generate_series(1, 1000) i;
INSERT INTO bench_base
SELECT i, (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, :dims) WHERE i > 0)::evector
  FROM generate_series(1, :memories) i;
SQL
	vectors="uniformly random in [-1, 1]"
fi
# Load in batches of 1000 through engram_store_batch (bounded loop).
batches=$(( (memories + 999) / 1000 ))
for ((b = 0; b < batches; b++)); do
	psql_as -d bench -c "SELECT count(*) FROM engram_store_batch('bench',
		ARRAY(SELECT 'memory ' || i FROM bench_base WHERE i > $b * 1000 AND i <= ($b + 1) * 1000 ORDER BY i),
		ARRAY(SELECT v FROM bench_base WHERE i > $b * 1000 AND i <= ($b + 1) * 1000 ORDER BY i))" >/dev/null
done
psql_as -d bench -c "DROP TABLE bench_base" >/dev/null
psql_as -d bench -v memories="$memories" -v fanout="$fanout" <<'SQL'
SET maintenance_work_mem = '1GB';
CREATE INDEX bench_embedding_idx ON bench USING engram_hnsw (embedding evector_cosine_ops);
INSERT INTO bench_associations (src, dst, weight)
SELECT src, dst, weight
  FROM (SELECT s.i AS src, 1 + floor(random() * :memories)::bigint AS dst, 0.3 + random() * 0.7 AS weight
		  FROM generate_series(1, :memories) s(i), generate_series(1, :fanout) f) e
 WHERE src <> dst
ON CONFLICT DO NOTHING;
VACUUM ANALYZE bench;
VACUUM ANALYZE bench_associations;
SQL
# Recall reads associations index-only where the visibility map says a page
# is all-visible, else it fetches the heap row (about 1.4 x the CPU per
# recall at this size); a VACUUM that ran while some snapshot older than the
# load was held (a worker job, another session) leaves pages unmarked.  VACUUM
# again, a bounded number of times, until both tables are all-visible, and
# report what they are.
visibility() {
	psql_as -d bench -tAc "SELECT string_agg(relname || ' ' || relallvisible || '/' || relpages, ', '
		ORDER BY relname) || CASE WHEN bool_and(relallvisible >= relpages) THEN '' ELSE ' (short)' END
		FROM pg_class WHERE relname IN ('bench', 'bench_associations') AND relkind = 'r'"
}
visible=$(visibility)
for ((try = 1; try <= 5; try++)); do
	case $visible in *'(short)') ;; *) break ;; esac
	engram_log "pages all-visible after VACUUM: $visible; VACUUM again in 3 s ($try/5)"
	sleep 3
	psql_as -d bench -c "VACUUM bench" -c "VACUUM bench_associations" >/dev/null
	visible=$(visibility)
done
load_seconds=$(( $(date +%s) - start ))
index=$(psql_as -d bench -tAc "SELECT coalesce(vector_index::text, 'none') FROM engram_spaces WHERE space_name = 'bench'")
table_am=$(psql_as -d bench -tAc "SELECT table_access_method FROM engram_spaces WHERE space_name = 'bench'")
edges=$(psql_as -d bench -tAc "SELECT count(*) FROM bench_associations")
# Does the planner use the vector index for the plain query?  (It decides
# for recall's seed query the same way.)
if psql_as -d bench -tAc "EXPLAIN (COSTS OFF) SELECT id FROM bench
		ORDER BY embedding <=> (SELECT v FROM bench_queries WHERE i = 1) LIMIT 10" | grep -q "Index Scan using"; then
	plan="index scan"
else
	plan="no index scan (sequential scan and sort)"
fi

write_recall_scripts "$work"
cat >"$work/batch.sql" <<'SQL'
SELECT count(*) FROM engram_store_batch('bench', array_fill('stored in a batch'::text, ARRAY[1000]),
	(SELECT array_agg(v ORDER BY i) FROM bench_queries));
SQL
chown postgres: "$work"/*.sql

# run NAME SCRIPT CLIENTS [TAG]: pgbench for $seconds, logs in
# $work/log-NAME-CLIENTS[-TAG]; prints the point's line (calls/s, P50, P99).
run() {
	local name=$1 script=$2 clients=$3 dir=$work/log-$1-$3${4:+-$4}
	mkdir -p "$dir" && chown postgres: "$dir"
	(cd "$dir" && engram_as_postgres pgbench -n -h "$sockdir" -p "$port" -f "$script" \
		-c "$clients" -j "$clients" -T "$seconds" --log --log-prefix="$dir/log" bench) >"$dir/summary.txt" 2>&1 || true
	local tps failed
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/summary.txt")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/summary.txt")
	echo "${tps:-0}" >"$dir/tps"
	local n p50 p99
	read -r n p50 p99 < <(pgbench_latencies "$dir")
	printf '%-20s clients %d: %10.1f calls/s  P50 %8.3f ms  P99 %8.3f ms  (%d calls, %s failed)%s\n' \
		"$name" "$clients" "${tps:-0}" "${p50:-0}" "${p99:-0}" "$n" "${failed:-0}" "${4:+  [$4]}"
}

# median: the median of the numbers on stdin (the lower middle of an even
# count: give --rounds an odd number).
median() {
	sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print 0}'
}

# summarize NAME CLIENTS: a point's median calls/s over the rounds and the
# P50/P99 of all its rounds' calls pooled.
summarize() {
	local name=$1 clients=$2 pooled=$work/log-$1-$2-all tps n p50 p99
	mkdir -p "$pooled"
	cat "$work"/log-"$name"-"$clients"-r*/log.* >"$pooled/log.all"
	tps=$(cat "$work"/log-"$name"-"$clients"-r*/tps | median)
	read -r n p50 p99 < <(pgbench_latencies "$pooled")
	printf '%-20s clients %d: %10.1f calls/s (median of %d rounds)  P50 %8.3f ms  P99 %8.3f ms  (%d calls pooled)\n' \
		"$name" "$clients" "$tps" "$rounds" "$p50" "$p99" "$n"
}

# cost_ratios CLIENTS: the plain query's calls/s over the recall's, per round and median.
cost_ratios() {
	local clients=$1 r ratios=()
	for ((r = 1; r <= rounds; r++)); do
		ratios+=("$(awk -v p="$(cat "$work/log-plain_order_by-$clients-r$r/tps")" \
			-v s="$(cat "$work/log-recall-$clients-r$r/tps")" 'BEGIN {printf "%.2f", (s > 0 ? p / s : 0)}')")
	done
	printf 'recall cost / plain query, clients %d: rounds %s; median %s x\n' \
		"$clients" "${ratios[*]}" "$(printf '%s\n' "${ratios[@]}" | median)"
}

{
	echo "Engram recall benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
	echo "space: $memories memories x $dims dims, $edges associations; table AM $table_am, vector index $index"
	echo "vectors: $vectors"
	echo "settings: $settings"
	echo "plan of the plain query: $plan"
	echo "load (engram_store_batch x1000, index build, associations, VACUUM ANALYZE): ${load_seconds}s"
	echo "pages all-visible after VACUUM (relallvisible/relpages): $visible"
	echo "each run: pgbench -T $seconds; $rounds round(s) of the recall and plain query points"
	echo
	for ((r = 1; r <= rounds; r++)); do
		run recall "$work/recall.sql" 1 "r$r"
		run plain_order_by "$work/plain.sql" 1 "r$r"
		run recall "$work/recall.sql" 2 "r$r"
		run plain_order_by "$work/plain.sql" 2 "r$r"
	done
	if [ "$rounds" -gt 1 ]; then
		echo
		summarize recall 1
		summarize recall 2
		summarize plain_order_by 1
		summarize plain_order_by 2
	fi
	cost_ratios 1
	cost_ratios 2
	echo
	run store "$work/store.sql" 1
	run store "$work/store.sql" 2
	run store_batch_1000 "$work/batch.sql" 1
} | tee "$out/report.txt"
echo "(store_batch_1000: multiply calls/s by 1000 for rows/s)" | tee -a "$out/report.txt"
engram_log "report: $out/report.txt"
