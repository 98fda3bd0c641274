#!/usr/bin/env bash
# recall_ab.sh: two builds of engram.so measured alternately on one loaded
# cluster, so that their ratios come from the same machine state.
#
#   engram_recall   hybrid, max_hops 2, k 10 (recall_bench.sh's recall.sql)
#   plain query     SELECT ... ORDER BY embedding <=> $q LIMIT 10 (plain.sql)
#
# Each round runs, for build A then build B (B first on even rounds): stop
# the cluster, install that build's engram.so into the PostgreSQL of
# $PG_CONFIG, start the cluster, warm up (recall and plain, WARMUP seconds
# each, not recorded), then recall and plain with 1 client and with 2
# clients for SECONDS each.  Per run it records calls/s, P50 and P99
# (nearest rank, from pgbench's --log) and the server's CPU per call: the
# user + system time of every process of the cluster (from /proc, pgbench
# excluded, background workers included) over the run divided by the calls,
# and for recall the backend CPU time engram_stats counts per recall.  The report gives every
# round and the median of the rounds per cell, and the ratio recall/plain
# of the medians within each build.
#
# Usage (as root, PG_CONFIG exported; the cluster is one recall_bench.sh
# would load, with its "bench" database, kept by the caller):
#   bash bench/recall/recall_ab.sh DATADIR SOCKDIR PORT A.so B.so [ROUNDS] [SECONDS] [WARMUP]
# defaults 3 rounds, 8 s, 4 s.  Leaves build B installed and the cluster
# running on it (the caller stops it: pg_ctl stop -D DATADIR).  Writes
# bench/recall/results-ab-<timestamp>/report.txt and the per-run logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recall_lib.sh"

[ $# -ge 5 ] || engram_die "usage: recall_ab.sh DATADIR SOCKDIR PORT A.so B.so [ROUNDS] [SECONDS] [WARMUP]"
datadir=$1 sockdir=$2 port=$3 build_a=$4 build_b=$5
rounds=${6:-3} seconds=${7:-8} warmup=${8:-4}
[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
[ -f "$build_a" ] && [ -f "$build_b" ] || engram_die "both builds must exist"
libdir=$("$PG_CONFIG" --pkglibdir)

out=$here/results-ab-$(date -u +%Y%m%dT%H%M%SZ)
work=$(mktemp -d /tmp/engram-recall-ab.XXXXXX)
chmod 755 "$work" && chown postgres: "$work"
mkdir -p "$out"
trap 'rm -rf "$work"' EXIT

write_recall_scripts "$work"

# Recall's own CPU so far as the server measures it (engram_stats).
recall_cpu() {
	engram_as_postgres psql -X -qAt -h "$sockdir" -p "$port" -d bench -c \
		"SELECT coalesce(sum(operations), 0) || ' ' || coalesce(sum(cpu_seconds), 0)
		   FROM engram_stats WHERE operation = 'recall'"
}

# pgbench_run LABEL SCRIPT CLIENTS SECONDS: prints "calls/s p50 p99 cpu_ms_per_call"
pgbench_run() {
	local label=$1 script=$2 clients=$3 secs=$4 dir=$work/$1
	local before after stats_before stats_after n tps p50 p99 hz
	mkdir -p "$dir" && chown postgres: "$dir"
	stats_before=$(recall_cpu)
	before=$(cluster_ticks "$datadir")
	(cd "$dir" && engram_as_postgres pgbench -n -h "$sockdir" -p "$port" -f "$script" \
		-c "$clients" -j "$clients" -T "$secs" --log --log-prefix="$dir/log" bench) \
		>"$dir/summary.txt" 2>&1 || true
	sleep 1		# let the postmaster reap the backends
	after=$(cluster_ticks "$datadir")
	stats_after=$(recall_cpu)
	hz=$(getconf CLK_TCK)
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/summary.txt")
	read -r n p50 p99 < <(pgbench_latencies "$dir")
	cp "$dir/summary.txt" "$out/$label.summary.txt"
	cp "$dir/latencies_ms" "$out/$label.latencies_ms"
	rm -rf "$dir"
	awk -v tps="${tps:-0}" -v p50="${p50:-0}" -v p99="${p99:-0}" -v ticks=$((after - before)) \
		-v hz="$hz" -v n="$n" -v sb="$stats_before" -v sa="$stats_after" \
		'BEGIN { split(sb, b, " "); split(sa, a, " "); calls = a[1] - b[1];
			printf "%.1f %.3f %.3f %.3f %.3f\n", tps, p50, p99, (n > 0 ? ticks / hz * 1000 / n : 0),
				(calls > 0 ? (a[2] - b[2]) * 1000 / calls : 0) }'
}

install_build() {
	engram_cluster_stop "$datadir"
	install -m 755 "$1" "$libdir/engram.so"
	engram_cluster_start "$datadir" "$datadir/recall_ab_server.log"
}

results=$out/results.txt
: >"$results"
{
	echo "Engram recall A/B, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "A: $build_a ($(cat "$(dirname "$build_a")/COMMIT" 2>/dev/null || echo '?'))"
	echo "B: $build_b ($(cat "$(dirname "$build_b")/COMMIT" 2>/dev/null || echo '?'))"
	echo "rounds $rounds, pgbench -T $seconds per run, warm-up ${warmup}s per script after each restart"
} | tee "$out/report.txt"

for ((round = 1; round <= rounds; round++)); do
	if ((round % 2 == 1)); then order="A B"; else order="B A"; fi
	for which in $order; do
		if [ "$which" = A ]; then so=$build_a; else so=$build_b; fi
		install_build "$so"
		pgbench_run "r$round-$which-warm-recall" "$work/recall.sql" 2 "$warmup" >/dev/null
		pgbench_run "r$round-$which-warm-plain" "$work/plain.sql" 2 "$warmup" >/dev/null
		for clients in 1 2; do
			for call in recall plain; do
				line=$(pgbench_run "r$round-$which-$call-c$clients" "$work/$call.sql" "$clients" "$seconds")
				echo "$round $which $call $clients $line" | tee -a "$results"
			done
		done
	done
done
engram_cluster_stop "$datadir"
install -m 755 "$build_b" "$libdir/engram.so"
engram_cluster_start "$datadir" "$datadir/recall_ab_server.log"

{
	echo
	echo "round build call clients calls/s P50_ms P99_ms server_cpu_ms_per_call recall_cpu_ms_per_call(engram_stats)"
	cat "$results"
	echo
	echo "medians over the rounds:"
	printf '%-5s %-7s %7s %10s %9s %9s %13s %13s\n' build call clients calls/s P50_ms P99_ms cpu_ms/call recall_cpu_ms
	for which in A B; do
		for clients in 1 2; do
			for call in recall plain; do
				awk -v w="$which" -v c="$call" -v k="$clients" '$2 == w && $3 == c && $4 == k' "$results" |
					awk -v w="$which" -v c="$call" -v k="$clients" '
					function median(a, n,   i, j, t) {
						for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
						return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
					}
					{ n++; tps[n] = $5; p50[n] = $6; p99[n] = $7; cpu[n] = $8; own[n] = $9 }
					END { printf "%-5s %-7s %7d %10.1f %9.3f %9.3f %13.3f %13.3f\n", w, c, k, median(tps, n), median(p50, n), median(p99, n), median(cpu, n), median(own, n) }'
			done
		done
	done | tee "$work/medians.txt"
	echo
	echo "recall / plain (medians, same build): P50, P99, CPU per call; plain / recall calls/s"
	awk '{ key = $1 " " $3; v[key, $2] = $0; tps[key, $2] = $4; p50[key, $2] = $5; p99[key, $2] = $6; cpu[key, $2] = $7; keys[key] = 1 }
		END { for (k in keys) printf "%s clients: P50 %.2fx  P99 %.2fx  CPU %.2fx  throughput %.2fx\n", k,
			p50[k, "recall"] / p50[k, "plain"], p99[k, "recall"] / p99[k, "plain"],
			(cpu[k, "plain"] > 0 ? cpu[k, "recall"] / cpu[k, "plain"] : 0), tps[k, "plain"] / tps[k, "recall"] }' \
		"$work/medians.txt" | sort
} | tee -a "$out/report.txt"
engram_log "report: $out/report.txt"
