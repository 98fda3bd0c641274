#!/usr/bin/env bash
# benchmark_deployment.sh [SECONDS] [CLIENTS] [options]
#
# Runs Engram's pgbench workloads (bench/pgbench/) against a loaded memory
# space and writes benchmark-<timestamp>/benchmark_report.txt in the current
# directory: throughput, P50/P90/P95/P99/P99.9 latency per operation (from
# the pgbench --log files), error rate, and PASS/FAIL against the seed's
# targets (bench/pgbench/benchmark_report.pl holds the table).
#
#   SECONDS   run time of each workload (default 60)
#   CLIENTS   pgbench clients (default 10); threads = min(CLIENTS, cores)
#   --rows N      memories in the benchmark space (default 100000)
#   --small       shorthand for --rows 10000
#   --dims D      embedding dimensions of generated data (default 768)
#   --dataset generated|glove|sift   (default generated; see load_space.sh)
#   --spaces S    spaces of the multi-space workload (default 4)
#   --workloads LIST   comma-separated subset of recall,store,mixed,multi
#   --mode simple|extended|prepared   pgbench's query protocol (-M); default
#                 prepared: each statement parsed and planned once a client
#   --out DIR     report directory (default benchmark-<timestamp>)
#
# The server: PGHOST/PGPORT/PGDATABASE/PGUSER when PGHOST or PGPORT is set,
# otherwise the quickstart's cluster in .engram/ (database engram, user
# postgres).  Needs pgbench (Debian package postgresql-15 /
# postgresql-client-15; ENGRAM_PGBENCH=PATH picks another) and a C
# compiler for generated data.  The memory
# overhead target reads engram_memory_usage and engram_storage_size (a
# pg_monitor member or superuser).  Exit status: 0 report written (FAIL
# lines are findings), 1 error, 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

usage() {
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
seconds=60 clients=10 rows=100000 dims=768 dataset=generated spaces=4
workloads=recall,store,mixed,multi out= mode=prepared
positional=()
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=${2:-}; shift 2 || usage ;;
	--small) rows=10000; shift ;;
	--dims) dims=${2:-}; shift 2 || usage ;;
	--dataset) dataset=${2:-}; shift 2 || usage ;;
	--spaces) spaces=${2:-}; shift 2 || usage ;;
	--workloads) workloads=${2:-}; shift 2 || usage ;;
	--mode) mode=${2:-}; shift 2 || usage ;;
	--out) out=${2:-}; shift 2 || usage ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) positional+=("$1"); shift ;;
	esac
done
[ ${#positional[@]} -le 2 ] || usage
seconds=${positional[0]:-$seconds}
clients=${positional[1]:-$clients}
for n in "$seconds" "$clients" "$rows" "$dims" "$spaces"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || usage
done
for w in ${workloads//,/ }; do
	case "$w" in recall | store | mixed | multi) ;; *) usage ;; esac
done
case "$mode" in simple | extended | prepared) ;; *) usage ;; esac

# The server.
if [ -z "${PGHOST:-}" ] && [ -z "${PGPORT:-}" ] && [ -f "$ENGRAM_ROOT/.engram/port" ]; then
	export PGHOST=$ENGRAM_ROOT/.engram/run PGPORT=$(cat "$ENGRAM_ROOT/.engram/port")
	export PGDATABASE=${PGDATABASE:-engram} PGUSER=${PGUSER:-postgres}
fi
pgbench=${ENGRAM_PGBENCH:-$(engram_bindir)/pgbench}
[ -x "$pgbench" ] || [ -n "${ENGRAM_PGBENCH:-}" ] || pgbench=$(command -v pgbench || true)
[ -n "$pgbench" ] && [ -x "$pgbench" ] || engram_die "pgbench not found (Debian package postgresql-15 or postgresql-client-15)"
psql_cmd=("$(engram_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off)
"${psql_cmd[@]}" -At -c 'SELECT 1' >/dev/null 2>&1 ||
	engram_die "PostgreSQL does not answer (PGHOST=${PGHOST:-default} PGPORT=${PGPORT:-5432}); start it with scripts/quickstart.sh or set PGHOST/PGPORT"

space=engram_bench
engram_log "loading the benchmark space if needed ($rows memories, $dataset)"
bash "$ENGRAM_ROOT/bench/pgbench/load_space.sh" --rows "$rows" --dims "$dims" \
	--dataset "$dataset" --spaces "$spaces" --space "$space" >&2 ||
	engram_die "loading the benchmark space failed"
queries=$("${psql_cmd[@]}" -At -c "SELECT count(*) FROM engram_bench_queries")
memories=$("${psql_cmd[@]}" -At -c "SELECT count(*) FROM $space")
space_dims=$("${psql_cmd[@]}" -At -c "SELECT dims FROM engram_spaces WHERE space_name = '$space'")
# The workloads take the space as a regclass: its OID works in every -M mode.
space_oid=$("${psql_cmd[@]}" -At -c "SELECT '$space'::regclass::oid")

out=${out:-benchmark-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out/logs"
cores=$(nproc)
threads=$((clients < cores ? clients : cores))

# Busy and total jiffies of the whole machine (/proc/stat, first line).
cpu_sample() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6; exit }' /proc/stat; }

specs=()
cpu_mixed=
operations_sql="SELECT coalesce(sum(operations), 0) || ' ' || coalesce(sum(errors), 0) FROM engram_stats WHERE operation IN ('recall', 'store')"
server_before=$("${psql_cmd[@]}" -At -c "$operations_sql" 2>/dev/null || echo "")
bench=$ENGRAM_ROOT/bench/pgbench
for w in ${workloads//,/ }; do
	case "$w" in
	recall) files=(-f "$bench/recall.sql"); ops=recall ;;
	store) files=(-f "$bench/store.sql"); ops=store ;;
	mixed) files=(-f "$bench/recall.sql@7" -f "$bench/store.sql@3"); ops=recall,store ;;
	multi) files=(-f "$bench/multi_space_recall.sql@7" -f "$bench/multi_space_store.sql@3"); ops=recall,store ;;
	esac
	engram_log "workload $w: $clients clients, $threads threads, $seconds s, -M $mode"
	read -r busy0 total0 < <(cpu_sample)
	status=0
	"$pgbench" -n -M "$mode" -c "$clients" -j "$threads" -T "$seconds" -P "$((seconds < 10 ? seconds : 10))" \
		-D space="$space_oid" -D spaces="$spaces" -D queries="$queries" \
		--log --log-prefix="$out/logs/$w" "${files[@]}" >"$out/$w.out" 2>&1 || status=$?
	read -r busy1 total1 < <(cpu_sample)
	[ "$status" -eq 0 ] || engram_log "pgbench exited with status $status for $w (see $out/$w.out)"
	ls "$out/logs/$w".* >/dev/null 2>&1 || engram_die "pgbench wrote no log for $w: $(tail -3 "$out/$w.out")"
	cpu=$(awk -v b="$((busy1 - busy0))" -v t="$((total1 - total0))" 'BEGIN { if (t > 0) printf "%.1f", 100 * b / t }')
	[ "$w" = mixed ] && cpu_mixed=$cpu
	echo "$w cpu_percent $cpu" >>"$out/cpu.txt"
	specs+=("$w:$ops")
done
server_after=$("${psql_cmd[@]}" -At -c "$operations_sql" 2>/dev/null || echo "")
memory=$("${psql_cmd[@]}" -At -c "SELECT shared_memory_bytes + shared_buffers_bytes FROM engram_memory_usage" 2>/dev/null || true)
data=$("${psql_cmd[@]}" -At -c "SELECT data_bytes FROM engram_storage_size" 2>/dev/null || true)

meta=(--meta "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	--meta "host=$(hostname), $cores cores, $(awk '/MemTotal/ { printf "%.1f GB RAM", $2 / 1048576 }' /proc/meminfo)"
	--meta "server=$("${psql_cmd[@]}" -At -c 'SHOW server_version')"
	--meta "space=$space: $memories memories at the start, $space_dims dims, $dataset data, $spaces spaces for multi"
	--meta "clients=$clients clients, $threads pgbench threads, -M $mode")
if [ -n "$server_before" ] && [ -n "$server_after" ]; then
	read -r ops0 err0 <<<"$server_before"
	read -r ops1 err1 <<<"$server_after"
	meta+=(--meta "server_ops=$((ops1 - ops0)) recall+store operations counted by engram_stats, $((err1 - err0)) errors")
fi
[ -n "$memory" ] && meta+=(--meta "memory_bytes=$memory")
[ -n "$data" ] && meta+=(--meta "data_bytes=$data")
[ -n "$cpu_mixed" ] && meta+=(--meta "cpu_percent=$cpu_mixed")
perl "$bench/benchmark_report.pl" --dir "$out" --seconds "$seconds" "${meta[@]}" "${specs[@]}" >/dev/null ||
	engram_die "computing the report failed"
cat "$out/benchmark_report.txt"
echo "report: $out/benchmark_report.txt"
