#!/usr/bin/env bash
# bench/hnsw/pending_scan_ab.sh: what an engram_hnsw scan pays for its
# pending list, in two or more builds of engram.so, alternated round by
# round on one throwaway cluster (session 15: compact pending entries read
# every pending row's vector from its heap page instead of the list's).
#
# Each variant gets a database of its own, loaded with its own build (so
# that no build reads an index another wrote): a table of ROWS rows
# (DIMS dimensions, random, STORAGE main: inline), an engram_hnsw index
# (L2) built on them with deferred_insert = on and the largest
# pending_list_limit, then PENDING more rows inserted (all on the pending
# list).  Each round, per variant: stop, install its engram.so, start, then
# two pgbench runs of SECONDS (1 client, -M prepared, ef_search 40, LIMIT
# 10, a random one of 1,000 query vectors): against the table with its
# pending list, and against a copy whose index holds the same rows in the
# graph only (flushed at load).  Reported per run: queries/s and the
# backend CPU per query (the cluster's user + system CPU over the run,
# from /proc, divided by the queries); the difference of the two runs is
# the pending list's cost.  The report gives every round and the medians.
#
# Usage (as root, PG_CONFIG exported):
#   bash bench/hnsw/pending_scan_ab.sh [--rows 10000] [--pending 5000]
#       [--dims 768] [--rounds 3] [--seconds 8] --variant NAME SO [--variant NAME SO ...]
# Writes bench/hnsw/results-pending-scan-ab-<timestamp>/report.txt.
# Leaves the last variant installed.  Settings: shared_buffers 1GB, jit
# off, autovacuum off, no Engram database worker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../recall/recall_lib.sh"

rows=10000 pending=5000 dims=768 rounds=3 seconds=8
names=() sos=()
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--pending) pending=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--variant)
		[ $# -ge 3 ] || engram_die "--variant needs NAME SO"
		[ -f "$3" ] || engram_die "no such build: $3"
		names+=("$2") sos+=("$3")
		shift 3 ;;
	*) engram_die "unknown argument: $1 (see the header of $0)" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
[ ${#names[@]} -ge 1 ] || engram_die "at least one --variant NAME SO"
libdir=$("$PG_CONFIG" --pkglibdir)

out=$here/results-pending-scan-ab-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
engram_bench_cluster_dirs pending-scan-ab
engram_cluster_init "$datadir" "$port" "$sockdir" "shared_buffers = '1GB'" "jit = off" \
	"autovacuum = off" "max_wal_size = '8GB'" "engram.pending_flush_batch = 0" "engram.background_workers = 0"
psql_db() { local db=$1; shift; engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d "$db" "$@"; }
install_variant() {
	engram_cluster_stop "$datadir"
	install -m 755 "$1" "$libdir/engram.so"
	engram_cluster_start "$datadir" "$work/server.log"
}

vector="ARRAY(SELECT random()::real - 0.5 FROM generate_series(1, $dims) WHERE g > 0)::evector"
for i in "${!names[@]}"; do
	db=scan_${names[$i]}
	install_variant "${sos[$i]}"
	engram_log "variant ${names[$i]}: loading $rows + $pending rows"
	psql_db postgres -c "CREATE DATABASE $db" >/dev/null
	psql_db "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION engram;
SELECT setseed(0.42);
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
INSERT INTO queries SELECT g, $vector FROM generate_series(1, 1000) g;
CREATE TABLE pending_items (id int PRIMARY KEY, v evector($dims)) WITH (autovacuum_enabled = off);
INSERT INTO pending_items SELECT g, $vector FROM generate_series(1, $rows) g;
CREATE INDEX ON pending_items USING engram_hnsw (v) WITH (deferred_insert = on, pending_list_limit = 2147483647);
INSERT INTO pending_items SELECT g, $vector FROM generate_series($rows + 1, $rows + $pending) g;
CREATE TABLE graph_items (id int PRIMARY KEY, v evector($dims)) WITH (autovacuum_enabled = off);
INSERT INTO graph_items SELECT * FROM pending_items;
CREATE INDEX ON graph_items USING engram_hnsw (v);
ANALYZE;  -- (a VACUUM would merge the pending list)
CHECKPOINT;
SQL
	psql_db "$db" -Atc "SELECT 'pending entries ' || entries || ' on ' || pages || ' pages' FROM engram_hnsw_pending_stats('pending_items_v_idx')" |
		sed "s/^/${names[$i]}: /" | tee -a "$out/report.txt"
done

for table in pending_items graph_items; do
	cat >"$work/$table.sql" <<SQL
\\set q random(1, 1000)
SELECT id FROM $table ORDER BY v <-> (SELECT v FROM queries WHERE id = :q) LIMIT 10;
SQL
done
chown postgres: "$work"/*.sql

# run DB TABLE: "queries/s cpu_us_per_query"
run() {
	local db=$1 table=$2 before after tps
	before=$(cluster_ticks "$datadir")
	engram_as_postgres env PGOPTIONS="-c enable_seqscan=off -c engram.ef_search=40" \
		pgbench -n -M prepared -c 1 -T "$seconds" -h "$sockdir" -p "$port" -f "$work/$table.sql" "$db" \
		>"$out/run.txt" 2>&1 || { cat "$out/run.txt" >&2; engram_die "pgbench failed"; }
	sleep 1
	after=$(cluster_ticks "$datadir")
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/run.txt")
	awk -v tps="$tps" -v s="$seconds" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "%.1f %.0f\n", tps, t / hz * 1e6 / (tps * s) }'
}

results=$out/results.txt
: >"$results"
echo "load $(cut -d' ' -f1-3 /proc/loadavg); $rows rows in the graph + $pending pending, $dims dims; $rounds rounds of $seconds s" |
	tee -a "$out/report.txt"
count=${#names[@]}
for ((round = 1; round <= rounds; round++)); do
	for ((k = 0; k < count; k++)); do
		if ((round % 2 == 1)); then i=$k; else i=$((count - 1 - k)); fi
		install_variant "${sos[$i]}"
		for table in pending_items graph_items; do
			psql_db "scan_${names[$i]}" -c "SELECT count(*) FROM $table" >/dev/null	# warm the cache
			echo "$round ${names[$i]} $table $(run "scan_${names[$i]}" $table)" | tee -a "$results"
		done
	done
done
{
	echo
	echo "round variant table queries/s cpu_us_per_query"
	cat "$results"
	echo
	echo "medians (queries/s, CPU us per query):"
	for name in "${names[@]}"; do
		for table in pending_items graph_items; do
			awk -v v="$name" -v w="$table" '$2 == v && $3 == w { n++; r[n] = $4; c[n] = $5 }
				function median(a, n,   i, j, t) {
					for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
					return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
				}
				END { if (n) printf "%-10s %-14s %10.1f %10.0f\n", v, w, median(r, n), median(c, n) }' "$results"
		done
	done
} | tee -a "$out/report.txt"
engram_cluster_stop "$datadir"
engram_log "report: $out/report.txt"
