#!/usr/bin/env bash
# soak.sh [MINUTES] [CLIENTS]: run the mixed workload (70 % hybrid recall,
# 30 % store) with pgbench for MINUTES (default 5) against a throwaway
# cluster whose background worker is active (tier migration, consolidation
# every 30 s, soft forgetting, access statistics), and report over time:
#	- throughput (pgbench progress, every 10 s)
#	- errors: failed transactions, aborted clients, worker job errors (must be 0)
#	- memory: private RSS (RssAnon: without the shared buffers a backend
#	  touches, which grow with the table) of the pgbench backends (sum and
#	  largest), PostgreSQL's
#	  shared memory (pg_shmem_allocations) and the hot tier's used bytes
#	  (must stay flat: the verdict compares the last sample with the first
#	  one after a one-minute warm-up, allowing 20 % for RSS)
# SOAK_STORE_PERCENT (default 30) sets the share of stores; 0 runs recall
# only, so the table keeps its size (to tell memory that grows with the
# data from a leak).
# Writes soak-<timestamp>/soak_report.txt (and the raw samples) in the
# current directory and exits non-zero when the verdict is FAIL.  As root,
# like scripts/test.sh (builds and installs into $PG_CONFIG's PostgreSQL).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib/common.sh"

minutes=${1:-5}
clients=${2:-2}
store_percent=${SOAK_STORE_PERCENT:-30}
[[ "$store_percent" =~ ^[0-9]+$ ]] && [ "$store_percent" -le 100 ] || engram_die "SOAK_STORE_PERCENT must be 0..100"
seconds=$((minutes * 60))
out=$PWD/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

engram_build_install
work=$(mktemp -d /tmp/engram-soak.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/sock"
chown -R postgres: "$work"
port=$(engram_free_port $((54000 + RANDOM % 2000)))
datadir=$work/data
cleanup() { engram_cluster_stop "$datadir"; rm -rf "$work"; }
trap cleanup EXIT
engram_cluster_init "$datadir" "$port" "$work/sock" \
	"engram.worker_naptime = 1" "engram.consolidation_interval = 30" \
	"engram.hot_tier_size_mb = 32" "max_connections = 40"
engram_cluster_start "$datadir" "$work/server.log"
psql_cmd() { engram_as_postgres psql -X -q -At -h "$work/sock" -p "$port" -d postgres "$@"; }

engram_log "loading 5000 memories of 32 dimensions"
psql_cmd -c "CREATE EXTENSION engram" -c "SELECT engram_create_space('soak', 32)" >/dev/null
psql_cmd -c "SELECT count(*) FROM engram_store_batch('soak',
	ARRAY(SELECT 'memory ' || g || ' about topic ' || (g % 50) FROM generate_series(1, 5000) g),
	ARRAY(SELECT ARRAY(SELECT (sin((g % 50) * 1.3 + d) + 0.1 * cos(g + d))::real
					   FROM generate_series(1, 32) d) FROM generate_series(1, 5000) g))" >/dev/null

cat >"$work/recall.sql" <<'EOF'
\set q random(1, 1000000)
SELECT count(*) FROM engram_recall('soak',
	ARRAY(SELECT (sin((:q % 50) * 1.3 + d) + 0.1 * cos(:q + d))::real FROM generate_series(1, 32) d),
	10, 'hybrid');
EOF
cat >"$work/store.sql" <<'EOF'
\set q random(1, 1000000)
SELECT engram_store('soak', 'soak memory ' || :q || ' about topic ' || (:q % 50),
	ARRAY(SELECT (sin((:q % 50) * 1.3 + d) + 0.1 * cos(:q + d))::real FROM generate_series(1, 32) d));
EOF
chown postgres: "$work"/*.sql

# Sampler: every 10 s, one line of memory figures.
sample() {
	local elapsed=$1 pids rss_total=0 rss_max=0 rss
	pids=$(psql_cmd -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'")
	for pid in $pids; do
		rss=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		rss=${rss:-0}
		rss_total=$((rss_total + rss))
		[ "$rss" -gt "$rss_max" ] && rss_max=$rss
	done
	printf '%s %s %s %s\n' "$elapsed" "$rss_total" "$rss_max" "$(psql_cmd -F ' ' -c "
		SELECT (SELECT sum(allocated_size) FROM pg_shmem_allocations),
			   (SELECT used_bytes FROM engram_hot_tier_info()),
			   (SELECT count(*) FROM soak),
			   (SELECT coalesce(sum(errors), 0) FROM engram_worker_state())")"
}

workload=""
[ "$store_percent" -lt 100 ] && workload="-f recall.sql@$((100 - store_percent))"
[ "$store_percent" -gt 0 ] && workload="$workload -f store.sql@$store_percent"
engram_log "soak: ${minutes} min, $clients clients, $store_percent % stores, worker active"
(cd "$work" && engram_as_postgres pgbench -n -h "$work/sock" -p "$port" -c "$clients" -j "$clients" \
	-T "$seconds" -P 10 $workload postgres) >"$out/pgbench.out" 2>&1 &
bench_pid=$!
echo "elapsed_s backend_private_rss_total_kb backend_private_rss_max_kb shmem_bytes hot_tier_used_bytes memories worker_errors" \
	>"$out/samples.txt"
start=$(date +%s)
while kill -0 "$bench_pid" 2>/dev/null; do
	sleep 10
	kill -0 "$bench_pid" 2>/dev/null || break
	sample $(($(date +%s) - start)) >>"$out/samples.txt"
done
set +e
wait "$bench_pid"
bench_status=$?
set -e

failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out/pgbench.out")
aborted=$(grep -c 'aborted' "$out/pgbench.out" || true)
worker_errors=$(tail -1 "$out/samples.txt" | awk '{print $7}')
errors=$(( ${failed:-0} + aborted + ${worker_errors:-0} ))
# Memory flatness: first sample after 60 s against the last one.
read -r rss_first shm_first < <(awk 'NR > 1 && $1 >= 60 {print $2, $4; exit}' "$out/samples.txt")
read -r rss_last shm_last < <(tail -1 "$out/samples.txt" | awk '{print $2, $4}')
verdict=PASS
[ "$bench_status" -eq 0 ] && [ "$errors" -eq 0 ] || verdict=FAIL
if [ -n "${rss_first:-}" ] && [ "${rss_first:-0}" -gt 0 ]; then
	[ $((rss_last * 100)) -le $((rss_first * 120)) ] || verdict=FAIL
	[ "$shm_last" = "$shm_first" ] || verdict=FAIL
fi

{
	echo "Engram soak: $minutes min, $clients clients, $((100 - store_percent)) % recall (hybrid) / $store_percent % store, worker active"
	echo "command: SOAK_STORE_PERCENT=$store_percent bench/soak.sh $minutes $clients    ($(date -u +%FT%TZ), $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo "throughput over time (pgbench -P 10):"
	grep '^progress' "$out/pgbench.out" || true
	echo
	grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' \
		"$out/pgbench.out" || true
	echo
	echo "memory over time:"
	column -t "$out/samples.txt"
	echo
	echo "errors: ${failed:-0} failed transactions, $aborted aborted clients, ${worker_errors:-0} worker job errors"
	echo "backend private RSS (sum of pgbench backends) after warm-up: ${rss_first:-n/a} kB -> ${rss_last:-n/a} kB"
	echo "shared memory: ${shm_first:-n/a} -> ${shm_last:-n/a} bytes"
	echo "verdict: $verdict (errors must be 0, backend RSS within +20 %, shared memory unchanged)"
} >"$out/soak_report.txt"
cat "$out/soak_report.txt"
[ "$verdict" = PASS ]
