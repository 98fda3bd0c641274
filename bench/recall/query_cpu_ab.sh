#!/usr/bin/env bash
# query_cpu_ab.sh: builds of engram.so measured alternately on one loaded
# cluster, per call of pgbench scripts run with prepared statements: calls/s,
# P50/P99 (nearest rank, from pgbench's --log) and the server's CPU per call
# (user + system time of every process of the cluster over the run, from
# /proc, divided by the calls: the backends, the background worker and the
# postmaster; pgbench excluded).
#
# Each round installs each build in turn (the order reversed on even rounds),
# restarts the cluster, runs every script 4 s with 2 clients (warm-up, not
# recorded), optionally prints the answer of a check query (to see that the
# builds return the same rows), then runs every script for SECONDS with
# CLIENTS clients.  Prints one line per run:
#   round build script clients calls/s P50_ms P99_ms cpu_ms_per_call load
# and, at the end, the median of the rounds per build, script and clients.
#
# Usage (as root, PG_CONFIG exported; the cluster is the caller's, loaded):
#   bash bench/recall/query_cpu_ab.sh DATADIR SOCKDIR PORT DATABASE ROUNDS SECONDS CLIENTS \
#        SCRIPT.sql[,SCRIPT.sql...] BUILD.so [BUILD.so ...]
# Environment: CHECK='SELECT ...' prints that query's answer after each restart.
# Leaves the last build of the last round installed and the cluster running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"

[ $# -ge 9 ] || engram_die "usage: query_cpu_ab.sh DATADIR SOCKDIR PORT DATABASE ROUNDS SECONDS CLIENTS SCRIPTS BUILD.so..."
datadir=$1 sockdir=$2 port=$3 database=$4 rounds=$5 seconds=$6 clients=$7 scripts=$8
shift 8
builds=("$@")
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
for so in "${builds[@]}"; do [ -f "$so" ] || engram_die "no build $so"; done
IFS=, read -r -a script_list <<<"$scripts"
for s in "${script_list[@]}"; do [ -r "$s" ] || engram_die "no script $s"; done
libdir=$("$PG_CONFIG" --pkglibdir)
work=$(mktemp -d /tmp/engram-query-cpu-ab.XXXXXX)
chmod 755 "$work" && chown postgres: "$work"
trap 'rm -rf "$work"' EXIT
for s in "${script_list[@]}"; do cp "$s" "$work/" ; done
chown postgres: "$work"/*

# run SCRIPT CLIENTS SECONDS: prints "calls/s p50 p99 cpu_ms_per_call"
run() {
	local script=$1 c=$2 secs=$3 dir before after n p50 p99
	dir=$(mktemp -d "$work/run.XXXXXX")
	chown postgres: "$dir"
	before=$(cluster_ticks "$datadir")
	(cd "$dir" && engram_as_postgres pgbench -n -M prepared -h "$sockdir" -p "$port" \
		-f "$work/$(basename "$script")" -c "$c" -j "$c" -T "$secs" --log --log-prefix="$dir/log" \
		"$database") >"$dir/out" 2>&1 || true
	sleep 0.5		# let the postmaster reap the backends
	after=$(cluster_ticks "$datadir")
	read -r n p50 p99 < <(pgbench_latencies "$dir")
	awk -v n="$n" -v s="$secs" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		-v p50="${p50:-0}" -v p99="${p99:-0}" \
		'BEGIN { printf "%.1f %.3f %.3f %.3f\n", n / s, p50, p99, (n > 0 ? t / hz * 1000 / n : 0) }'
	rm -rf "$dir"
}

results=$work/results
: >"$results"
echo "round build script clients calls/s P50_ms P99_ms cpu_ms_per_call load1"
for ((round = 1; round <= rounds; round++)); do
	count=${#builds[@]}
	for ((k = 0; k < count; k++)); do
		if ((round % 2 == 1)); then i=$k; else i=$((count - 1 - k)); fi
		so=${builds[$i]}
		engram_cluster_stop "$datadir"
		install -m 755 "$so" "$libdir/engram.so"
		engram_cluster_start "$datadir" "$datadir/query_cpu_ab_server.log"
		for s in "${script_list[@]}"; do run "$s" 2 4 >/dev/null; done
		if [ -n "${CHECK:-}" ]; then
			echo "# $round $(basename "$so") check: $(engram_as_postgres psql -X -qAt -h "$sockdir" -p "$port" -d "$database" -c "$CHECK")"
		fi
		for s in "${script_list[@]}"; do
			echo "$round $(basename "$so" .so) $(basename "$s" .sql) $clients $(run "$s" "$clients" "$seconds") $(cut -d' ' -f1 /proc/loadavg)" |
				tee -a "$results"
		done
	done
done
echo
echo "medians over the rounds: build script clients calls/s P50_ms P99_ms cpu_ms_per_call"
awk '{ key = $2 " " $3 " " $4; n[key]++; for (f = 5; f <= 8; f++) v[key, f, n[key]] = $f }
	function median(key, f, c,   a, i, j, t) {
		for (i = 1; i <= c; i++) a[i] = v[key, f, i]
		for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
	}
	END { for (k in n) printf "%s %.1f %.3f %.3f %.3f\n", k, median(k, 5, n[k]), median(k, 6, n[k]), median(k, 7, n[k]), median(k, 8, n[k]) }' \
	"$results" | sort
