#!/usr/bin/env bash
# profile_performance.sh [SECONDS] [OUTDIR]
#
# Profiles the PostgreSQL cluster that runs Engram for SECONDS (default 120)
# and writes into OUTDIR (default ./profile-<timestamp>) the files of the
# seed's profiling workflow:
#   cpu_profile.txt         CPU time per process type, per Engram operation,
#                           and hotspots (perf record) when perf works here
#   memory_usage.txt        RSS, PSS, VSZ, huge pages, Engram memory
#   numa_memory.txt         memory per NUMA node (numastat)
#   cache_stats.txt         CPU cache counters (perf stat) when the hardware
#                           exposes them; shared-buffer and activation-cache
#                           hit rates
#   thread_states.txt       process states and wait events, sampled each second
#   io_stats.txt            bytes read/written by the processes, device
#                           utilisation and latency, WAL and buffer writes
#   latency_percentiles.txt P50/P90/P95/P99/P99.9 per operation during the window
#   bottleneck_report.txt   findings against the seed's targets, with actions
# Every figure is measured during the window; what cannot be measured on
# this machine is said in the file, never estimated.
#
# The cluster is the one libpq's PGHOST/PGPORT/PGUSER/PGDATABASE name (the
# user needs pg_monitor); run as root (or the server's user) to read the
# processes' /proc files and to profile them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

seconds=${1:-120}
outdir=${2:-./profile-$(date -u +%Y%m%d-%H%M%S)}
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] ||
	{ echo "usage: $0 [SECONDS] [OUTDIR]" >&2; exit 2; }

psql_at() { "$(engram_bindir)/psql" -X -q -At -F '|' -v ON_ERROR_STOP=1 -c "$1"; }
psql_at 'SELECT 1' >/dev/null 2>&1 ||
	engram_die "PostgreSQL does not answer (PGHOST=${PGHOST:-default} PGPORT=${PGPORT:-5432})"
psql_at 'SELECT count(*) FROM engram_stats' >/dev/null 2>&1 ||
	engram_die "cannot read engram_stats (is the extension created and engram preloaded?)"
mkdir -p "$outdir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clk_tck=$(getconf CLK_TCK)
cores=$(nproc)

# The cluster's processes: every pid PostgreSQL reports, and their parent
# (the postmaster).
cluster_pids() {
	local pids
	pids=$(psql_at 'SELECT pid FROM pg_stat_activity' 2>/dev/null || true)
	{
		printf '%s\n' $pids
		for pid in $pids; do ps -o ppid= -p "$pid" 2>/dev/null; done
	} | tr -d ' ' | grep -E '^[0-9]+$' | sort -un | while read -r pid; do
		if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then echo "$pid"; fi
	done
}
postmaster_pid() { # the parent of the checkpointer, which lives as long as it
	local pid
	pid=$(psql_at "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
	[ -n "$pid" ] && ps -o ppid= -p "$pid" | tr -d ' '
}
# pid -> backend type (pg_stat_activity), refreshed by refresh_kinds.
declare -A kind_of=()
refresh_kinds() {
	local pid type
	while IFS='|' read -r pid type; do
		kind_of[$pid]=$type
	done < <(psql_at "SELECT pid, backend_type FROM pg_stat_activity" 2>/dev/null || true)
}
process_kind() {
	if [ "$1" = "${pm:-}" ]; then echo postmaster; else echo "${kind_of[$1]:-exited}"; fi
}

# ---------------------------------------------------------------- snapshots
snapshot_sql() { # snapshot_sql NAME: database-side counters to $work/NAME.*
	psql_at "SELECT operation, le, cumulative_count FROM engram_operation_latency" >"$work/$1.latency"
	psql_at "SELECT operation, operations, errors, cpu_seconds FROM engram_stats" >"$work/$1.stats"
	psql_at "SELECT sum(blks_hit), sum(blks_read) FROM pg_stat_database" >"$work/$1.buffers"
	psql_at "SELECT hits, requests FROM engram_cache_stats WHERE cache = 'activation'" >"$work/$1.cache"
	psql_at "SELECT writes, syncs, bytes, sync_seconds FROM engram_wal_stats" >"$work/$1.wal"
	psql_at "SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter" >"$work/$1.bgwriter"
	psql_at "SELECT sum(waits), sum(wait_seconds) FROM engram_lock_waits" >"$work/$1.locks"
}
data_dir=$(psql_at 'SHOW data_directory' 2>/dev/null || true)
device=""
if [ -n "$data_dir" ]; then
	source_dev=$(df --output=source "$data_dir" 2>/dev/null | tail -1 || true)
	if [ -b "$source_dev" ]; then
		device=$(basename "$source_dev")
	fi
fi
diskstats() { [ -n "$device" ] && awk -v d="$device" '$3 == d { print $4, $6, $7, $8, $10, $11, $13 }' /proc/diskstats; }

# ---------------------------------------------------------------- sampling
snapshot_sql start
diskstats >"$work/start.disk" || true
pm=$(postmaster_pid || true)
perf_status="perf not installed (Debian: linux-perf)"
perf_pid=""
if command -v perf >/dev/null; then
	pids=$(cluster_pids | paste -sd, -)
	perf record -F 99 -g -p "$pids" -o "$work/perf.data" -- sleep "$seconds" \
		>"$work/perf.record.log" 2>&1 &
	perf_pid=$!
	perf stat -e cache-references,cache-misses,L1-dcache-loads,L1-dcache-load-misses,LLC-loads,LLC-load-misses,instructions,cycles \
		-p "$pids" -o "$work/perf.stat" -- sleep "$seconds" >/dev/null 2>&1 &
	perf_stat_pid=$!
fi

declare -A cpu_last=() io_read_last=() io_write_last=()
declare -A cpu_kind=() read_kind=() write_kind=()
: >"$work/states"
: >"$work/waits"
sample() {
	local pid kind ticks r w
	refresh_kinds
	for pid in $(cluster_pids); do
		kind=$(process_kind "$pid")
		read -r ticks started < <(awk '{ print $14 + $15, $22 }' "/proc/$pid/stat" 2>/dev/null) || continue
		[ -n "$ticks" ] || continue
		# A process born inside the window spent all its CPU there.
		[ -n "${cpu_last[$pid]+x}" ] || [ "$started" -lt "$window_start_ticks" ] || cpu_last[$pid]=0
		r=$(awk '/^rchar:/ { print $2 }' "/proc/$pid/io" 2>/dev/null || echo "")
		w=$(awk '/^wchar:/ { print $2 }' "/proc/$pid/io" 2>/dev/null || echo "")
		if [ -n "${cpu_last[$pid]+x}" ]; then
			cpu_kind[$kind]=$((${cpu_kind[$kind]:-0} + ticks - cpu_last[$pid]))
			if [ -n "$r" ] && [ -n "${io_read_last[$pid]:-}" ]; then
				read_kind[$kind]=$((${read_kind[$kind]:-0} + r - io_read_last[$pid]))
				write_kind[$kind]=$((${write_kind[$kind]:-0} + w - io_write_last[$pid]))
			fi
		fi
		cpu_last[$pid]=$ticks
		io_read_last[$pid]=$r
		io_write_last[$pid]=$w
		echo "$kind|$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" >>"$work/states"
	done
	psql_at "SELECT backend_type, coalesce(wait_event_type || ':' || wait_event, 'running')
			   FROM pg_stat_activity
			  WHERE state = 'active' AND pid <> pg_backend_pid()" >>"$work/waits" 2>/dev/null || true
}
engram_log "profiling for ${seconds}s into $outdir"
start_time=$SECONDS
# The window's start in clock ticks since boot (/proc/<pid>/stat field 22's unit).
window_start_ticks=$(awk -v hz="$clk_tck" '{ printf "%d", $1 * hz }' /proc/uptime)
samples=1
sample
while [ $((SECONDS - start_time)) -lt "$seconds" ]; do
	sleep 1
	sample
	samples=$((samples + 1))
done
elapsed=$((SECONDS - start_time))
[ "$elapsed" -ge 1 ] || elapsed=1
snapshot_sql end
diskstats >"$work/end.disk" || true
[ -z "$perf_pid" ] || wait "$perf_pid" "$perf_stat_pid" 2>/dev/null || true

# ---------------------------------------------------------------- cpu_profile.txt
total_ticks=0
{
	echo "CPU time of the cluster's processes over ${elapsed}s (/proc/<pid>/stat utime+stime, sampled every second, a process started in the window counted from its start; CPU of a process that exited between samples is lost)"
	printf '%-28s %12s %10s\n' "process type" "cpu_seconds" "cores"
	for kind in "${!cpu_kind[@]}"; do
		printf '%-28s %12.2f %10.3f\n' "$kind" "$(echo "${cpu_kind[$kind]} $clk_tck" | awk '{ print $1 / $2 }')" \
			"$(echo "${cpu_kind[$kind]} $clk_tck $elapsed" | awk '{ print $1 / $2 / $3 }')"
	done | sort -k2 -rn
	for kind in "${!cpu_kind[@]}"; do total_ticks=$((total_ticks + cpu_kind[$kind])); done
	echo
	echo "CPU seconds inside Engram operations during the window (engram_cpu_seconds_total):"
	join -t'|' <(sort "$work/start.stats") <(sort "$work/end.stats") |
		awk -F'|' '{ d = $7 - $4; n = $5 - $2; if (n > 0) printf "  %-14s %10.3f s over %d operations\n", $1, d, n }'
	echo
	if [ -n "$perf_pid" ] && [ -s "$work/perf.data" ]; then
		echo "Hotspots (perf record -F 99 -g; self time by symbol):"
		{ perf report -i "$work/perf.data" --stdio --no-children -g none --sort dso,symbol 2>/dev/null |
			grep -E '^ +[0-9]' | head -30; } || true
	else
		echo "Hotspots: not measured: ${perf_status}$([ -s "$work/perf.record.log" ] && echo "; perf record said: $(tail -1 "$work/perf.record.log")")"
	fi
} >"$outdir/cpu_profile.txt"
cpu_cores_used=$(echo "$total_ticks $clk_tck $elapsed" | awk '{ printf "%.3f", $1 / $2 / $3 }')
cpu_pct=$(echo "$cpu_cores_used $cores" | awk '{ printf "%.1f", 100 * $1 / $2 }')

# ---------------------------------------------------------------- memory_usage.txt
{
	refresh_kinds
	echo "Memory of the cluster's processes at the end of the window"
	printf '%-8s %-28s %10s %10s %10s %14s\n' pid "process type" vsz_kb rss_kb pss_kb anon_huge_kb
	total_pss=0
	for pid in $(cluster_pids); do
		read -r vsz rss < <(ps -o vsz=,rss= -p "$pid") || continue
		pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		huge=$(awk '/^AnonHugePages:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
		total_pss=$((total_pss + ${pss:-0}))
		printf '%-8s %-28s %10s %10s %10s %14s\n' "$pid" "$(process_kind "$pid")" "$vsz" "$rss" "${pss:-?}" "${huge:-?}"
	done
	echo "total PSS (shared memory counted once): ${total_pss} kB"
	echo
	echo "Engram memory (engram_memory_usage, engram_storage_size):"
	psql_at "SELECT 'shared_memory_bytes=' || shared_memory_bytes || ' shared_buffers_bytes=' || shared_buffers_bytes FROM engram_memory_usage"
	psql_at "SELECT 'data_bytes=' || data_bytes || ' total_bytes=' || total_bytes FROM engram_storage_size"
	echo
	echo "Huge pages (/proc/meminfo) and the server's setting (huge_pages = $(psql_at 'SHOW huge_pages')):"
	grep -E '^(HugePages_|Hugepagesize|AnonHugePages|ShmemHugePages)' /proc/meminfo
} >"$outdir/memory_usage.txt"

# ---------------------------------------------------------------- numa_memory.txt
numa_nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
{
	echo "NUMA nodes: ${numa_nodes:-unknown} (/sys/devices/system/node)"
	if command -v numastat >/dev/null; then
		echo "numastat -p $pm (postmaster; shared memory is mapped by every process):"
		numastat -p "$pm" 2>&1
		echo
		echo "numastat (system-wide hits and misses):"
		numastat 2>&1
	else
		echo "numastat not installed (Debian: numactl): per-node memory not measured"
	fi
	if [ "${numa_nodes:-1}" -le 1 ]; then echo "One NUMA node: every access is local by construction."; fi
} >"$outdir/numa_memory.txt"

# ---------------------------------------------------------------- cache_stats.txt
read -r hit0 read0 <<<"$(tr '|' ' ' <"$work/start.buffers")"
read -r hit1 read1 <<<"$(tr '|' ' ' <"$work/end.buffers")"
buffer_hits=$((hit1 - hit0)) buffer_reads=$((read1 - read0))
buffer_hit_pct=$(echo "$buffer_hits $buffer_reads" | awk '{ t = $1 + $2; if (t > 0) printf "%.1f", 100 * $1 / t; else print "n/a" }')
read -r chit0 creq0 <<<"$(tr '|' ' ' <"$work/start.cache")"
read -r chit1 creq1 <<<"$(tr '|' ' ' <"$work/end.cache")"
cache_requests=$((creq1 - creq0))
cache_hit_pct=$(echo "$((chit1 - chit0)) $cache_requests" | awk '{ if ($2 > 0) printf "%.1f", 100 * $1 / $2; else print "n/a" }')
llc_miss_pct=""
{
	echo "CPU caches (perf stat on the cluster's processes):"
	if [ -s "$work/perf.stat" ]; then
		grep -vE '^\s*$|^#' "$work/perf.stat"
		if grep -q 'not supported' "$work/perf.stat"; then
			echo "(hardware cache counters are not exposed on this machine, typical of virtual machines: L1/L2/L3 miss rates not measured)"
		else
			llc_miss_pct=$(awk '/cache-references/ { gsub(",", "", $1); r = $1 } /cache-misses/ { gsub(",", "", $1); m = $1 } END { if (r > 0) printf "%.1f", 100 * m / r }' "$work/perf.stat")
			echo "cache miss rate: ${llc_miss_pct}% of cache references"
		fi
	else
		echo "not measured: ${perf_status}"
	fi
	echo
	echo "Shared buffers during the window (pg_stat_database): ${buffer_hits} hits, ${buffer_reads} reads from the kernel: hit rate ${buffer_hit_pct}%"
	echo "Engram activation cache during the window: ${cache_requests} lookups, hit rate ${cache_hit_pct}%"
} >"$outdir/cache_stats.txt"

# ---------------------------------------------------------------- thread_states.txt
{
	echo "Process states, ${samples} samples of every cluster process (R running, S sleeping, D disk wait):"
	printf '  %-28s %-6s %8s\n' "process type" state samples
	sort "$work/states" | uniq -c | sort -t'|' -k1,1 |
		awk '{ count = $1; $1 = ""; sub(/^ /, ""); split($0, f, "|"); printf "  %-28s %-6s %8d\n", f[1], f[2], count }'
	echo
	echo "Active sessions by wait event (pg_stat_activity, sampled each second; 'running' = on CPU or not waiting):"
	if [ -s "$work/waits" ]; then
		cut -d'|' -f2 "$work/waits" | sort | uniq -c | sort -rn
	else
		echo "  no active session was seen"
	fi
} >"$outdir/thread_states.txt"
active_samples=$(wc -l <"$work/waits")
lock_samples=$(grep -c '|Lock:\||LWLock:' "$work/waits" || true)

# ---------------------------------------------------------------- io_stats.txt
read -r wr0 sy0 wb0 st0 <<<"$(tr '|' ' ' <"$work/start.wal")"
read -r wr1 sy1 wb1 st1 <<<"$(tr '|' ' ' <"$work/end.wal")"
syncs=$((sy1 - sy0))
wal_sync_ms=$(echo "$st0 $st1 $syncs" | awk '{ if ($3 > 0) printf "%.3f", 1000 * ($2 - $1) / $3; else print "n/a" }')
await_ms="n/a"
util_pct="n/a"
{
	echo "Bytes the cluster's processes passed to read() and write() over ${elapsed}s (/proc/<pid>/io rchar, wchar: files, sockets and pipes alike; the device figures below say what reached the disk):"
	printf '%-28s %14s %14s\n' "process type" read_bytes write_bytes
	for kind in "${!read_kind[@]}"; do
		printf '%-28s %14s %14s\n' "$kind" "${read_kind[$kind]}" "${write_kind[$kind]}"
	done | sort -k3 -rn
	echo
	if [ -s "$work/start.disk" ] && [ -s "$work/end.disk" ]; then
		read -r r0 rs0 rt0 w0 ws0 wt0 io0 <"$work/start.disk"
		read -r r1 rs1 rt1 w1 ws1 wt1 io1 <"$work/end.disk"
		ios=$(((r1 - r0) + (w1 - w0)))
		await_ms=$(echo "$((rt1 - rt0 + wt1 - wt0)) $ios" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }')
		util_pct=$(echo "$((io1 - io0)) $elapsed" | awk '{ printf "%.1f", 100 * $1 / ($2 * 1000) }')
		echo "Device /dev/$device (data directory), /proc/diskstats: $((r1 - r0)) reads ($(((rs1 - rs0) * 512)) bytes), $((w1 - w0)) writes ($(((ws1 - ws0) * 512)) bytes), mean latency ${await_ms} ms per I/O, busy ${util_pct}% of the time"
	else
		echo "Device: not measured (the data directory is not on a block device this script can see, or SHOW data_directory is not allowed)"
	fi
	echo
	echo "WAL during the window (pg_stat_wal): $((wr1 - wr0)) writes, ${syncs} fsyncs, $((wb1 - wb0)) bytes; mean fsync ${wal_sync_ms} ms$([ "$(psql_at 'SHOW track_wal_io_timing')" = on ] || echo ' (track_wal_io_timing is off: fsync time not measured)')"
	echo "Data blocks written by checkpointer, background writer and backends: $((($(cat "$work/end.bgwriter") - $(cat "$work/start.bgwriter")) * $(psql_at 'SHOW block_size'))) bytes"
} >"$outdir/io_stats.txt"

# ---------------------------------------------------------------- latency_percentiles.txt
# Histogram of the window = end - start; quantiles by linear interpolation
# inside the bucket, as Prometheus's histogram_quantile does.
join -t'|' <(awk -F'|' '{ print $1 ":" $2 "|" $3 }' "$work/start.latency" | sort) \
	<(awk -F'|' '{ print $1 ":" $2 "|" $3 }' "$work/end.latency" | sort) |
	awk -F'|' '{ split($1, k, ":"); print k[1], k[2], $3 - $2 }' | sort -k1,1 -k2,2g >"$work/window.latency"
awk '
	function flush(   i, q, rank, lo, hi, c, prev, v, line) {
		if (op == "" || total == 0) { if (op != "") idle = idle " " op; return }
		line = sprintf("%-14s %8d", op, total)
		for (i = 1; i <= 5; i++) {
			q = qs[i]; rank = q * total; prev = 0; lo = 0
			for (b = 1; b <= n; b++) {
				if (cum[b] >= rank) {
					hi = le[b]
					if (hi == "Infinity") { v = "> 10000"; break }
					c = cum[b] - prev
					v = sprintf("%.3f", 1000 * (lo + (hi - lo) * (c > 0 ? (rank - prev) / c : 1)))
					break
				}
				prev = cum[b]; lo = le[b]
			}
			line = line sprintf(" %10s", v)
		}
		print line
	}
	BEGIN { qs[1] = 0.5; qs[2] = 0.9; qs[3] = 0.95; qs[4] = 0.99; qs[5] = 0.999
		print "Latency per operation during the window, in ms (Engram histograms, interpolated inside buckets)"
		printf "%-14s %8s %10s %10s %10s %10s %10s\n", "operation", "count", "p50", "p90", "p95", "p99", "p99.9" }
	$1 != op { flush(); op = $1; n = 0; total = 0 }
	{ n++; le[n] = $2; cum[n] = $3; total = $3 }
	END { flush(); if (idle != "") print "no operations during the window:" idle }
' "$work/window.latency" >"$outdir/latency_percentiles.txt"
recall_p99=$(awk '$1 == "recall" { print $6 }' "$outdir/latency_percentiles.txt")

# ---------------------------------------------------------------- bottleneck_report.txt
join -t'|' <(sort "$work/start.stats") <(sort "$work/end.stats") |
	awk -F'|' '{ ops += $5 - $2; err += $6 - $3 } END { print ops + 0, err + 0 }' >"$work/window.ops"
read -r window_ops window_errors <"$work/window.ops"
read -r lw0 lws0 <<<"$(tr '|' ' ' <"$work/start.locks")"
read -r lw1 lws1 <<<"$(tr '|' ' ' <"$work/end.locks")"
lock_waits=$((lw1 - lw0))
lock_wait_us=$(echo "$lws0 $lws1 $lock_waits" | awk '{ if ($3 > 0) printf "%.1f", 1e6 * ($2 - $1) / $3; else print "n/a" }')
memory_ratio=$(psql_at "SELECT CASE WHEN s.data_bytes > 0 THEN round((m.shared_memory_bytes + m.shared_buffers_bytes)::numeric / s.data_bytes, 2)::text ELSE 'n/a' END FROM engram_memory_usage m, engram_storage_size s")
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "n/a" && a != "" && a + 0 > b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "n/a" && a != "" && a + 0 < b + 0) }'; }
findings=()
gt "$cpu_pct" 70 && findings+=("CPU: the cluster used ${cpu_cores_used} of ${cores} cores (${cpu_pct}%), over the 70% sustained target. Look at cpu_profile.txt for the process type and operation; add cores or lower ef_search.")
[ "$recall_p99" = "> 10000" ] || gt "$recall_p99" 10 && findings+=("Recall latency: P99 ${recall_p99} ms during the window, over the 10 ms target. Run analyze_slow_queries.sh for the parameters of the slow recalls.")
gt "$memory_ratio" 2 && findings+=("Memory: Engram memory is ${memory_ratio}x its data, over the 2x target. Lower engram.hot_tier_size_mb or enable cold-tier compression.")
lt "$cache_hit_pct" 80 && findings+=("Activation cache: hit rate ${cache_hit_pct}% during the window, under the 80% target. Raise engram.hot_tier_size_mb.")
lt "$buffer_hit_pct" 90 && [ "$buffer_reads" -gt 1000 ] && findings+=("Shared buffers: hit rate ${buffer_hit_pct}% (${buffer_reads} blocks read from the kernel). The warm tier is smaller than the working set: raise shared_buffers.")
gt "$wal_sync_ms" 5 && findings+=("WAL: mean fsync ${wal_sync_ms} ms, over the 5 ms SSD target (20 ms for HDD). Put pg_wal on faster storage or use group commit (commit_delay).")
gt "$await_ms" 10 && findings+=("Disk: mean I/O latency ${await_ms} ms on /dev/$device, over the 10 ms target.")
gt "$util_pct" 80 && findings+=("Disk: /dev/$device busy ${util_pct}% of the time, over 80%: I/O bound.")
gt "$lock_wait_us" 100 && findings+=("Locks: Engram lock waits average ${lock_wait_us} us, over the 100 us target. Raise engram.hot_tier_shards to 2-4x the cores.")
[ "$active_samples" -gt 0 ] && gt "$(echo "$lock_samples $active_samples" | awk '{ print 100 * $1 / $2 }')" 20 &&
	findings+=("Locks: ${lock_samples} of ${active_samples} active-session samples were waiting on a lock (thread_states.txt).")
gt "$(echo "$window_errors $window_ops" | awk '{ if ($2 > 0) print 100 * $1 / $2; else print 0 }')" 0.1 &&
	findings+=("Errors: ${window_errors} of ${window_ops} Engram operations failed, over the 0.1% target.")
{
	echo "Bottleneck report: ${elapsed}s window, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "Measured: CPU ${cpu_cores_used}/${cores} cores (${cpu_pct}%); Engram operations ${window_ops} (${window_errors} errors); recall P99 ${recall_p99:-n/a} ms; memory/data ${memory_ratio}; activation cache hit ${cache_hit_pct}%; shared-buffer hit ${buffer_hit_pct}%; WAL fsync ${wal_sync_ms} ms; disk latency ${await_ms} ms, busy ${util_pct}%; Engram lock wait ${lock_wait_us} us"
	echo
	if [ ${#findings[@]} -eq 0 ]; then
		echo "No bottleneck: every measured figure is within the seed's targets (n/a = nothing to measure in the window)."
	else
		printf -- '- %s\n' "${findings[@]}"
	fi
} >"$outdir/bottleneck_report.txt"
cat "$outdir/bottleneck_report.txt"
engram_log "wrote $(ls "$outdir" | wc -l) files to $outdir"
