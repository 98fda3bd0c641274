#!/usr/bin/env bash
# store_ab.sh: engram_store and engram_store_batch rates of two or more
# variants (builds of engram.so, each with an SQL statement that sets the
# space up the way that build would), alternated round by round on one
# throwaway cluster, so that their ratios come from the same machine state.
#
# The space "mem" (DIMS dimensions, cosine) is created once with
# engram.space_deferred_insert = DEFERRED and its engram_hnsw index's
# pending_list_limit raised to the maximum, so that with deferral on every
# store appends to the pending list and no inserter merges (the rates are
# those of a burst under the limit, as in bench/hnsw/pending_bench.sh);
# ROWS memories are stored first.  Each round runs, for each variant (in
# turn, the order reversed on even rounds): stop the cluster, install the
# variant's engram.so, start, run its SQL, warm up (2 s of stores), then,
# for each number of clients in CLIENTS (default "1"; "1 2" runs each
# workload with 1 and then 2 clients, reported as workload/cN), four
# pgbench runs of SECONDS, -M prepared:
#
#   store_short   engram_store, content 'pgbench store <n>' (what
#                 bench/pgbench/store.sql stores)
#   store_long    engram_store of a 255-byte content with two tags and a
#                 small metadata object (a memory as an agent writes it)
#   batch_short   engram_store_batch of 1,000 short contents per call
#   batch_long    engram_store_batch of 1,000 255-byte contents per call
#
# all with embeddings drawn from 1,000 random vectors.  Per run: rows/s
# (calls/s x rows per call), the cluster's CPU per stored row (user +
# system of every process of the cluster over the run, from /proc; pgbench
# excluded) and, for single-row stores, the backend CPU per call that
# engram_stats counts (engram_store measures its own); the part of the
# cluster's CPU that the Engram database worker used (its tier migration
# reads the whole space every cycle, stores or not); and the WAL bytes and
# WAL flushes per stored row (pg_stat_wal).  The report gives every round
# and the medians.
#
# Usage (as root, PG_CONFIG exported, engram installed):
#   bash bench/recall/store_ab.sh [--dims 768] [--rows 5000] [--rounds 3]
#       [--seconds 8] [--deferred on|off] [--clients "1 2"] [--worker on|off] [--fresh-space]
#       --variant NAME SO SQL [--variant NAME SO SQL ...]
# SO is a path to an engram.so, or "-" for the one installed; SQL runs in
# database postgres after each start ("" for none), for example
#   --variant old /tmp/old/engram.so "ALTER TABLE mem RESET (toast_tuple_target)"
# --fresh-space drops the space and stores its ROWS memories again after
# each variant's start (before its warm-up), with that variant's build:
# every run then starts from the same state, and no build reads an index
# another wrote (needed when builds write pending-list entries the other
# cannot read: compact entries, session 15, are misread by older builds).
# The space is then ANALYZEd, not VACUUMed (a VACUUM merges a deferred
# list of ROWS into the graph, minutes each time): its ROWS stay pending.
# Writes bench/recall/results-store-ab-<timestamp>/report.txt.  Leaves the
# last variant run installed.  Settings: shared_buffers 1GB,
# synchronous_commit off (the rates measure the work of a store, not the
# WAL flush of its commit), jit off, autovacuum off, and the background
# worker's pending-list flush off (engram.pending_flush_batch = 0: it
# would merge the space's list during the rounds and count in the
# cluster's CPU).  --worker off (default on) runs no Engram database
# worker at all (engram.background_workers = 0): its tier migration reads
# every block of the space each cycle, a cost that grows with the space
# (which the rounds grow by millions of rows), not with the stores.
# WAL segments: a backend that needs a new one first writes its 16 MB
# of zeros (18 % of a batch's backend CPU in one of session 15's profiles),
# a recycled one costs nothing of the kind, and the rounds write gigabytes
# of WAL.  So the setup creates 4 GB of segments and, with min_wal_size as
# large as max_wal_size (8GB), every restart's checkpoint recycles all that
# the rounds wrote: the runs reuse segments, as a server that has run a
# while does, whatever their order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"

dims=768 rows=5000 rounds=3 seconds=8 deferred=on clients=1 worker=on fresh_space=false
names=() sos=() sqls=()
while [ $# -gt 0 ]; do
	case "$1" in
	--dims) dims=$2; shift 2 ;;
	--rows) rows=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--deferred) deferred=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	--worker) worker=$2; shift 2 ;;
	--fresh-space) fresh_space=true; shift ;;
	--variant)
		[ $# -ge 4 ] || engram_die "--variant needs NAME SO SQL"
		names+=("$2") sos+=("$3") sqls+=("$4")
		shift 4 ;;
	*) engram_die "unknown argument: $1 (see the header of $0)" ;;
	esac
done
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
[ ${#names[@]} -ge 1 ] || engram_die "at least one --variant NAME SO SQL"
case "$deferred" in on | off) ;; *) engram_die "--deferred on or off" ;; esac
case "$worker" in on) worker_setting=() ;; off) worker_setting=("engram.background_workers = 0") ;;
	*) engram_die "--worker on or off" ;; esac
for so in "${sos[@]}"; do
	[ "$so" = - ] || [ -f "$so" ] || engram_die "no such build: $so"
done
libdir=$("$PG_CONFIG" --pkglibdir)

out=$here/results-store-ab-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
engram_bench_cluster_dirs store-ab
engram_cluster_init "$datadir" "$port" "$sockdir" "shared_buffers = '1GB'" \
	"synchronous_commit = off" "jit = off" "autovacuum = off" "max_wal_size = '8GB'" \
	"checkpoint_timeout = '30min'" "min_wal_size = '8GB'" \
	"engram.pending_flush_batch = 0" \
	${worker_setting[@]+"${worker_setting[@]}"}
psql_cmd() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d postgres "$@"; }

install_variant() {
	engram_cluster_stop "$datadir"
	[ "$1" = - ] || install -m 755 "$1" "$libdir/engram.so"
	engram_cluster_start "$datadir" "$work/server.log"
	[ -z "$2" ] || psql_cmd -c "$2" >/dev/null
}

long_content="pgbench store: the user asked to move the weekly sync to Thursday afternoon because the design review now takes Tuesday; the team agreed, and the calendar invite was updated for everyone except the two contractors, who will be told by email before Monday."
cat >"$work/store_short.sql" <<SQL
\\set q random(1, 1000)
SELECT engram_store('mem', 'pgbench store ' || :q, (SELECT v FROM queries WHERE id = :q));
SQL
cat >"$work/store_long.sql" <<SQL
\\set q random(1, 1000)
SELECT engram_store('mem', '$long_content', (SELECT v FROM queries WHERE id = :q),
	tags => ARRAY['calendar', 'team-sync'], metadata => '{"source": "pgbench", "session": 42}');
SQL
cat >"$work/batch_short.sql" <<'SQL'
SELECT count(*) FROM engram_store_batch('mem', (SELECT contents FROM batch_short), (SELECT vs FROM batch_short));
SQL
cat >"$work/batch_long.sql" <<'SQL'
SELECT count(*) FROM engram_store_batch('mem', (SELECT contents FROM batch_long), (SELECT vs FROM batch_long));
SQL
chown postgres: "$work"/*.sql

install_variant "${sos[0]}" ""
engram_log "space mem: $rows x $dims memories, deferred_insert = $deferred"
psql_cmd <<SQL
SET client_min_messages = warning;
CREATE EXTENSION engram;
SELECT setseed(0.42);
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
ALTER TABLE queries ALTER COLUMN v SET STORAGE MAIN;
INSERT INTO queries
SELECT i, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $dims) WHERE i > 0)::evector
  FROM generate_series(1, 1000) i;
CREATE TABLE batch_short AS
SELECT array_agg('pgbench batch ' || id ORDER BY id) AS contents, array_agg(v ORDER BY id) AS vs FROM queries;
CREATE TABLE batch_long AS
SELECT array_agg(id || ' $long_content' ORDER BY id) AS contents,
	   array_agg(v ORDER BY id) AS vs FROM queries;
SQL
# create_space: (re)creates the space mem and stores its ROWS memories.
create_space() {
	local i
	psql_cmd -c "SET client_min_messages = warning" -c "SELECT engram_drop_space('mem', true)" \
		-c "SET engram.space_deferred_insert = $deferred" -c "SELECT engram_create_space('mem', $dims)" >/dev/null
	space_index=$(psql_cmd -Atc "SELECT indexrelid::regclass FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'mem'::regclass AND a.amname = 'engram_hnsw'")
	[ "$deferred" = off ] || psql_cmd -c "ALTER INDEX $space_index SET (pending_list_limit = 2147483647)" >/dev/null
	for ((i = 0; i < (rows + 999) / 1000; i++)); do
		psql_cmd -Atc "SELECT count(*) FROM engram_store_batch('mem', (SELECT contents FROM batch_short), (SELECT vs FROM batch_short))" >/dev/null
	done
	# (a VACUUM would merge a deferred list into the graph: minutes per variant)
	if $fresh_space; then psql_cmd -c 'ANALYZE' -c 'CHECKPOINT' >/dev/null
	else psql_cmd -c 'VACUUM ANALYZE' -c 'CHECKPOINT' >/dev/null; fi
}
$fresh_space || create_space
# 256 WAL segments (4 GB) for the checkpoint to recycle: each switch that
# follows a record starts the next segment.
psql_cmd <<'SQL'
CREATE TABLE wal_segments (n int);
DO $$
BEGIN
	FOR i IN 1..256 LOOP
		INSERT INTO wal_segments VALUES (i);
		PERFORM pg_switch_wal();
	END LOOP;
END
$$;
DROP TABLE wal_segments;
CHECKPOINT;
SQL

# The stores engram_stats counted so far and their backend CPU seconds (a
# single-row engram_store measures its own CPU; a batch does not).
store_cpu() {
	psql_cmd -Atc "SELECT operations || ' ' || coalesce(cpu_seconds, 0) FROM engram_stats WHERE operation = 'store'"
}

# The WAL the cluster wrote so far: "bytes flushes" (pg_stat_wal).
wal_counters() {
	psql_cmd -Atc "SELECT wal_bytes || ' ' || wal_sync FROM pg_stat_wal"
}

# run LABEL SCRIPT ROWS_PER_CALL CLIENTS: prints "rows/s cluster_cpu_us_per_row
# store_cpu_us_per_call worker_cpu_us_per_row wal_bytes_per_row
# wal_flushes_per_row" (store_cpu 0 for batches; worker_cpu is the part of
# cluster_cpu that the Engram database worker used, whatever its job)
run() {
	local label=$1 script=$2 per_call=$3 nclients=$4 before after tps stats_before stats_after
	local worker_before worker_after wal_before wal_after
	stats_before=$(store_cpu)
	wal_before=$(wal_counters)
	worker_before=$(worker_ticks "$datadir")
	before=$(cluster_ticks "$datadir")
	(cd "$work" && engram_as_postgres pgbench -n -M prepared -c "$nclients" -j "$nclients" -T "$seconds" \
		-h "$sockdir" -p "$port" -f "$script" postgres) >"$out/$label.txt" 2>&1 ||
		{ cat "$out/$label.txt" >&2; engram_die "pgbench failed ($label)"; }
	sleep 1		# let the postmaster reap the backend (its CPU then counts in cutime)
	after=$(cluster_ticks "$datadir")
	worker_after=$(worker_ticks "$datadir")
	wal_after=$(wal_counters)
	stats_after=$(store_cpu)
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/$label.txt")
	awk -v tps="$tps" -v n="$per_call" -v s="$seconds" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		-v sb="$stats_before" -v sa="$stats_after" -v w=$((worker_after - worker_before)) \
		-v wb="$wal_before" -v wa="$wal_after" \
		'BEGIN { rows = tps * n; split(sb, b, " "); split(sa, a, " "); calls = a[1] - b[1]
			own = (n == 1 && calls > 0) ? (a[2] - b[2]) * 1e6 / calls : 0
			split(wb, x, " "); split(wa, y, " "); stored = rows * s
			if (stored <= 0) stored = 1
			printf "%.1f %.1f %.1f %.1f %.0f %.3f\n", rows, t / hz * 1e6 / stored, own,
				(w > 0 ? w : 0) / hz * 1e6 / stored, (y[1] - x[1]) / stored, (y[2] - x[2]) / stored }'
}

results=$out/results.txt
: >"$results"
{
	echo "Engram store A/B, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "space: $rows x $dims (cosine) stored first$($fresh_space && echo ' by each variant before its runs'), deferred_insert = $deferred; $rounds rounds, pgbench -T $seconds, $clients client(s), -M prepared; Engram worker $worker"
	for i in "${!names[@]}"; do
		echo "variant ${names[$i]}: ${sos[$i]} ($(cat "$(dirname "${sos[$i]}")/COMMIT" 2>/dev/null || echo installed)); SQL: ${sqls[$i]:-none}"
	done
} | tee "$out/report.txt"

count=${#names[@]}
for ((round = 1; round <= rounds; round++)); do
	for ((k = 0; k < count; k++)); do
		if ((round % 2 == 1)); then i=$k; else i=$((count - 1 - k)); fi
		install_variant "${sos[$i]}" "${sqls[$i]}"
		! $fresh_space || create_space
		(cd "$work" && engram_as_postgres pgbench -n -M prepared -c 1 -T 2 -h "$sockdir" -p "$port" \
			-f store_short.sql postgres) >/dev/null 2>&1 || true
		for nclients in $clients; do
			for workload in store_short store_long batch_short batch_long; do
				case $workload in store_*) per_call=1 ;; *) per_call=1000 ;; esac
				line=$(run "r$round-${names[$i]}-$workload-c$nclients" "$work/$workload.sql" "$per_call" "$nclients")
				echo "$round ${names[$i]} $workload/c$nclients $line" | tee -a "$results"
			done
		done
	done
done
errors=$(psql_cmd -Atc "SELECT count(*) FROM engram_hnsw_verify('$space_index') WHERE severity = 'error'")
if [ "$errors" != 0 ]; then
	psql_cmd -c "SELECT * FROM engram_hnsw_verify('$space_index') WHERE severity = 'error' LIMIT 20" |
		tee "$out/verify.txt" >&2
	engram_log "engram_hnsw_verify reports $errors errors (above; the figures follow anyway)"
fi

{
	echo
	echo "round variant workload rows/s cluster_cpu_us_per_row store_cpu_us_per_call worker_cpu_us_per_row wal_bytes_per_row wal_flushes_per_row"
	cat "$results"
	echo
	echo "medians over the rounds (rows/s, cluster CPU us per row, engram_store's own CPU us per call,"
	echo "the worker's CPU us per row, WAL bytes per row, WAL flushes per row):"
	for name in "${names[@]}"; do
		for workload in $(for c in $clients; do printf '%s ' store_short/c$c store_long/c$c batch_short/c$c batch_long/c$c; done); do
			awk -v v="$name" -v w="$workload" '$2 == v && $3 == w { n++; r[n] = $4; c[n] = $5; o[n] = $6; k[n] = $7; b[n] = $8; f[n] = $9 }
				function median(a, n,   i, j, t) {
					for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
					return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
				}
				END { if (n) printf "%-12s %-16s %10.1f %10.1f %10.1f %10.1f %8.0f %8.3f\n", v, w, median(r, n), median(c, n),
					median(o, n), median(k, n), median(b, n), median(f, n) }' "$results"
		done
	done
} | tee -a "$out/report.txt"
engram_log "report: $out/report.txt"
