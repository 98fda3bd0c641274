#!/usr/bin/env bash
# tune_config.sh [OUT]: write an Engram configuration for this machine.
#
# Detects CPU cores, RAM, NUMA nodes, the SIMD level, whether the data
# directory is on an SSD or an HDD, and (when Prometheus answers) the
# recall/store mix of the running workload; chooses the engram.* settings
# of DESIGN section 5 and the PostgreSQL settings they imply; writes them
# to OUT (default ./engram.conf; on Debian put it in
# /etc/postgresql/15/main/conf.d/engram.conf) and prints every choice with
# its reason.  Apply with a server restart (some settings are
# postmaster-only), or SELECT pg_reload_conf() for the others.
#
# Only settings the server knows are written: an engram.* setting that this
# Engram build does not define yet is written as a comment (the engram
# prefix is reserved, so an unknown engram.* line would be an error).  What
# exists is read from the running server (pg_settings, through libpq's
# PGHOST/PGPORT/PGUSER/PGDATABASE) or, when no server answers, from the
# DefineCustom*Variable calls in the source tree.
#
# Overrides (to tune for another machine, or to test):
#   ENGRAM_TUNE_CORES, ENGRAM_TUNE_RAM_MB, ENGRAM_TUNE_NUMA_NODES,
#   ENGRAM_TUNE_SIMD (avx512|avx2|neon|scalar), ENGRAM_TUNE_DISK (ssd|hdd),
#   ENGRAM_TUNE_WORKLOAD (read-heavy|write-heavy|mixed),
#   ENGRAM_PROMETHEUS_URL (default http://127.0.0.1:9090).
# tune_config.sh --list-engram-settings prints the engram.* names it knows.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"

# Every engram.* setting this script chooses (DESIGN section 5, plus the
# metrics threshold).  Keep in step with docs/reference/configuration.md.
ENGRAM_SETTINGS="engram.hot_tier_size_mb engram.relay_state_cache_mb engram.warm_tier_size_mb
 engram.hot_tier_shards
 engram.cold_tier_compression engram.cold_tier_compression_level
 engram.migration_hot_to_warm_accesses engram.migration_hot_to_warm_window_seconds
 engram.migration_warm_to_cold_accesses engram.migration_warm_to_cold_window_seconds
 engram.migration_cold_to_warm_accesses engram.migration_cold_to_warm_window_seconds
 engram.migration_warm_to_hot_accesses engram.migration_warm_to_hot_window_seconds
 engram.migration_batch engram.ef_search engram.prefetch_distance engram.simd
 engram.visit_budget_hot engram.visit_budget_warm engram.visit_budget_cold
 engram.consolidation_workers engram.background_workers
 engram.numa_aware engram.numa_prefer_local engram.numa_interleave
 engram.consolidation_interval engram.consolidation_batch_size
 engram.min_confidence_threshold engram.slow_operation_threshold_ms"

if [ "${1:-}" = "--list-engram-settings" ]; then
	printf '%s\n' $ENGRAM_SETTINGS
	exit 0
fi
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
fi
out=${1:-engram.conf}
prometheus_url=${ENGRAM_PROMETHEUS_URL:-http://127.0.0.1:9090}

say() { printf '%s\n' "$*"; }
psql_value() { # psql_value SQL: one value from the server, or fail
	"$(engram_bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null
}

# ---------------------------------------------------------------- detection
server_up=false
if command -v "$(engram_bindir)/psql" >/dev/null && psql_value 'SELECT 1' >/dev/null; then
	server_up=true
fi

cores=${ENGRAM_TUNE_CORES:-$(nproc)}
ram_mb=${ENGRAM_TUNE_RAM_MB:-$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)}
[ "$cores" -ge 1 ] && [ "$ram_mb" -ge 256 ] || engram_die "implausible machine: $cores cores, $ram_mb MB"

numa_source="/sys/devices/system/node"
if [ -n "${ENGRAM_TUNE_NUMA_NODES:-}" ]; then
	numa_nodes=$ENGRAM_TUNE_NUMA_NODES
	numa_source="ENGRAM_TUNE_NUMA_NODES"
elif [ -d /sys/devices/system/node ]; then
	numa_nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
elif command -v numactl >/dev/null; then
	numa_nodes=$(numactl --hardware | awk '/^available:/ { print $2 }')
	numa_source="numactl --hardware"
else
	numa_nodes=1
	numa_source="no NUMA information (assumed 1 node)"
fi
[ "$numa_nodes" -ge 1 ] || numa_nodes=1

if [ -n "${ENGRAM_TUNE_SIMD:-}" ]; then
	simd=$ENGRAM_TUNE_SIMD
	simd_reason="ENGRAM_TUNE_SIMD"
else
	flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || true)
	if echo "$flags" | grep -qw avx512f; then
		simd=avx512 simd_reason="/proc/cpuinfo flags include avx512f"
	elif echo "$flags" | grep -qw avx2 && echo "$flags" | grep -qw fma; then
		simd=avx2 simd_reason="/proc/cpuinfo flags include avx2 and fma"
	elif echo "$flags" | grep -qw asimd; then
		simd=neon simd_reason="/proc/cpuinfo features include asimd"
	else
		simd=scalar simd_reason="no AVX2/FMA, AVX-512 or NEON in /proc/cpuinfo"
	fi
fi

# The block device under the data directory (or under OUT's directory).
data_dir=""
$server_up && data_dir=$(psql_value 'SHOW data_directory' || true)
probe_dir=${data_dir:-$(dirname "$(readlink -f "$out" 2>/dev/null || echo "$out")")}
[ -d "$probe_dir" ] || probe_dir=.
if [ -n "${ENGRAM_TUNE_DISK:-}" ]; then
	disk=$ENGRAM_TUNE_DISK disk_reason="ENGRAM_TUNE_DISK"
else
	source_dev=$(df --output=source "$probe_dir" 2>/dev/null | tail -1)
	block=""
	if [ -b "$source_dev" ]; then
		block=$(lsblk -no pkname "$source_dev" 2>/dev/null | head -1)
		[ -n "$block" ] || block=$(basename "$source_dev")
	fi
	if [ -n "$block" ] && [ -r "/sys/block/$block/queue/rotational" ]; then
		rotational=$(cat "/sys/block/$block/queue/rotational")
		disk_reason="$probe_dir is on /dev/$block, queue/rotational=$rotational"
	else
		# No block device (overlay, tmpfs): any rotational disk makes it HDD.
		rotational=0
		for f in /sys/block/*/queue/rotational; do
			case "$f" in */loop*|*/ram*|*/zram*) continue ;; esac
			[ "$(cat "$f")" = 1 ] && rotational=1
		done
		disk_reason="$probe_dir has no block device of its own ($source_dev); rotational=$rotational over the machine's disks"
	fi
	if [ "$rotational" = 1 ]; then
		disk=hdd
		disk_reason="$disk_reason (virtual disks often report 1: set ENGRAM_TUNE_DISK=ssd if it is flash)"
	else
		disk=ssd
	fi
fi

# Read/write mix from the running workload, over the last hour.
workload=${ENGRAM_TUNE_WORKLOAD:-}
workload_reason="ENGRAM_TUNE_WORKLOAD"
if [ -z "$workload" ]; then
	workload=mixed
	prom_rate() {
		curl -fsS --max-time 3 "$prometheus_url/api/v1/query" \
			--data-urlencode "query=sum(rate(engram_operations_total{operation=\"$1\"}[1h]))" 2>/dev/null |
			sed -n 's/.*"value":\[[^,]*,"\([^"]*\)"\].*/\1/p'
	}
	if command -v curl >/dev/null && curl -fsS --max-time 3 -o /dev/null "$prometheus_url/-/ready" 2>/dev/null; then
		recalls=$(prom_rate recall)
		stores=$(prom_rate store)
		if [ -n "$recalls" ] && [ -n "$stores" ] &&
			awk -v r="$recalls" -v s="$stores" 'BEGIN { exit !(r + s > 0) }'; then
			recall_share=$(awk -v r="$recalls" -v s="$stores" 'BEGIN { printf "%.0f", 100 * r / (r + s) }')
			if [ "$recall_share" -gt 70 ]; then
				workload=read-heavy
			elif [ "$((100 - recall_share))" -gt 30 ]; then
				workload=write-heavy
			fi
			workload_reason="Prometheus at $prometheus_url: recall ${recall_share}% of recall+store over the last hour (seed: >70% recall = read-heavy, >30% store = write-heavy)"
		else
			workload_reason="Prometheus at $prometheus_url has no recall/store rates yet: defaults for a mixed workload"
		fi
	else
		workload_reason="Prometheus does not answer at $prometheus_url: defaults for a mixed workload"
	fi
fi
case "$workload" in read-heavy | write-heavy | mixed) ;; *) engram_die "unknown workload $workload" ;; esac
case "$disk" in ssd | hdd) ;; *) engram_die "unknown disk kind $disk" ;; esac
case "$simd" in avx512 | avx2 | neon | scalar) ;; *) engram_die "unknown SIMD level $simd" ;; esac

# ---------------------------------------------------------------- choices
names=() values=() reasons=()
choose() { # choose NAME VALUE REASON
	names+=("$1")
	values+=("$2")
	reasons+=("$3")
}
pct() { echo $(($1 * $2 / 100)); }
pow2_at_least() { local n=1; while [ "$n" -lt "$1" ]; do n=$((n * 2)); done; echo "$n"; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }

case "$workload" in
read-heavy) hot_pct=20 recall_workers=$((2 * cores)) store_workers=$(max 1 $((cores / 2))) consolidation_workers=2 ;;
write-heavy) hot_pct=10 recall_workers=$cores store_workers=$cores consolidation_workers=4 ;;
mixed) hot_pct=15 recall_workers=$((2 * cores)) store_workers=$cores consolidation_workers=2 ;;
esac
hot_mb=$(pct "$ram_mb" "$hot_pct")
warm_mb=$(pct "$ram_mb" 30)
background_workers=$(min 4 "$(max 1 "$cores")")
consolidation_workers=$(min "$consolidation_workers" "$(max 1 "$cores")")

choose engram.hot_tier_size_mb "$hot_mb" "hot tier = ${hot_pct}% of ${ram_mb} MB RAM (seed: 10-20%; ${workload})"
choose engram.relay_state_cache_mb "$(max 8 $((hot_mb / 16)))" "relay state cache = 1/16 of the hot tier, at least 8 MB (72 bytes a memory: about 14,000 memories a MB)"
choose shared_buffers "${warm_mb}MB" "warm tier = shared buffers = 30% of RAM (seed: 30-40%; PostgreSQL also caches through the OS)"
choose engram.warm_tier_size_mb "$warm_mb" "the warm tier is the shared-buffers share above"
choose effective_cache_size "$(pct "$ram_mb" 70)MB" "70% of RAM: shared buffers plus the OS page cache"
choose engram.hot_tier_shards "$(pow2_at_least $((4 * cores)))" "4 x ${cores} cores, rounded up to a power of two (seed: 2-4x cores)"
choose engram.numa_aware "$([ "$numa_nodes" -gt 1 ] && echo on || echo off)" "${numa_nodes} NUMA node(s) ($numa_source)"
choose engram.numa_prefer_local "$([ "$numa_nodes" -gt 1 ] && echo on || echo off)" "local-node placement only matters with more than one node"
choose engram.numa_interleave off "seed: prefer local allocation over interleaving"
# Pin the level (the seed's avx_version) only when this server's build
# accepts it; otherwise let auto choose at load.
if $server_up && psql_value "SET engram.simd = '$simd'; SELECT 1" >/dev/null; then
	choose engram.simd "$simd" "$simd_reason; this server accepts it (pinned, as the seed's avx_version)"
else
	choose engram.simd auto "$simd_reason; not verified against a server build, so auto picks at load"
fi
choose engram.prefetch_distance "$([ "$simd" = avx512 ] && echo 16 || echo 12)" "seed: 16 on AVX-512 server parts with large caches, 12 otherwise"
choose engram.visit_budget_hot 3 "seed visit_budget_per_tier hot = 3"
choose engram.visit_budget_warm 2 "seed visit_budget_per_tier warm = 2"
choose engram.visit_budget_cold 1 "seed visit_budget_per_tier cold = 1"
choose engram.ef_search 100 "seed production range 100-200: the low end keeps P99 recall latency down"
case "$workload" in
write-heavy)
	choose engram.cold_tier_compression_level 1 "write-heavy: zstd level 1 compresses fastest (seed)"
	choose engram.consolidation_interval 600 "write-heavy: consolidate every 10 minutes to cut write amplification (seed)"
	choose engram.consolidation_batch_size 5000 "write-heavy: larger, rarer consolidation batches (seed)"
	;;
*)
	choose engram.cold_tier_compression_level 3 "balanced zstd level (seed default)"
	choose engram.consolidation_interval 300 "every 5 minutes (seed default)"
	choose engram.consolidation_batch_size 100 "10-100 episodes a run (reference default)"
	;;
esac
choose engram.cold_tier_compression zstd "seed: zstd for the cold tier"
choose engram.min_confidence_threshold 0.3 "reference default; raising it to 0.4 cuts updates but forgets more"
# Migration thresholds: seed defaults, promotion made easier when reads dominate.
choose engram.migration_hot_to_warm_accesses "$([ "$workload" = write-heavy ] && echo 5 || echo 10)" "demote below this many accesses per window ($([ "$workload" = write-heavy ] && echo 'write-heavy: keep memories hot longer' || echo 'seed default'))"
choose engram.migration_hot_to_warm_window_seconds 3600 "seed: 1 hour"
choose engram.migration_warm_to_cold_accesses 1 "seed: below 1 access a day"
choose engram.migration_warm_to_cold_window_seconds 86400 "seed: 24 hours"
choose engram.migration_cold_to_warm_accesses "$([ "$workload" = read-heavy ] && echo 3 || echo 5)" "reactivate at this many accesses per hour ($([ "$workload" = read-heavy ] && echo 'read-heavy: promote sooner' || echo 'seed default'))"
choose engram.migration_cold_to_warm_window_seconds 3600 "seed: 1 hour"
choose engram.migration_warm_to_hot_accesses "$([ "$workload" = read-heavy ] && echo 10 || echo 20)" "promote at this many accesses per hour ($([ "$workload" = read-heavy ] && echo 'read-heavy: promote sooner' || echo 'seed default'))"
choose engram.migration_warm_to_hot_window_seconds 3600 "seed: 1 hour"
choose engram.migration_batch 1000 "moves per worker cycle: bounds the work of one cycle"
choose engram.consolidation_workers "$consolidation_workers" "seed: 2 (4 when write-heavy), at most the core count"
choose engram.background_workers "$background_workers" "seed: 4, at most the core count"
choose max_connections "$(max 100 $((recall_workers + store_workers + 20)))" "seed thread pools: ${recall_workers} recall + ${store_workers} store workers become client connections, +20 for maintenance (use a pooler above this)"
choose max_worker_processes "$(max 8 $((cores + background_workers + consolidation_workers + 2)))" "parallel workers (${cores}) + Engram workers ($((background_workers + consolidation_workers))) + 2 spare"
choose max_parallel_workers "$cores" "one per core"
choose max_parallel_workers_per_gather "$(min 4 "$(max 1 $((cores / 2)))")" "half the cores, at most 4, per query"
choose max_parallel_maintenance_workers "$(min 4 "$(max 1 $((cores / 2)))")" "parallel HNSW builds: half the cores, at most 4"
# WAL: the seed's [wal] section.
if [ "$disk" = ssd ]; then
	choose wal_buffers 64MB "SSD: seed buffer_size_mb = 64"
	choose synchronous_commit on "SSD: seed sync_mode = immediate (every commit durable)"
	choose commit_delay 0 "SSD: fsync is cheap, no group-commit delay"
	choose wal_writer_delay 100ms "SSD: seed flush_interval_ms = 100"
	choose random_page_cost 1.1 "SSD: random reads cost about as much as sequential ones"
	choose effective_io_concurrency 200 "SSD: deep queues"
else
	choose wal_buffers 128MB "HDD: seed buffer_size_mb = 128"
	choose synchronous_commit on "HDD: commits stay durable; batching comes from commit_delay (seed sync_mode = batch)"
	choose commit_delay 1000 "HDD: wait 1 ms for other commits to share one fsync (group commit)"
	choose commit_siblings 5 "HDD: only when at least 5 transactions are active"
	choose wal_writer_delay 1000ms "HDD: seed flush_interval_ms = 1000 for write batching"
	choose random_page_cost 4 "HDD: seeks are expensive"
	choose effective_io_concurrency 2 "HDD: shallow queues"
fi
choose track_wal_io_timing on "feeds engram_wal_flush_duration_seconds (pg_stat_wal fsync times)"
choose track_io_timing on "block read/write times for analyze_slow_queries.sh and pg_stat_statements"
choose engram.slow_operation_threshold_ms 10 "the seed's P99 recall target: slower operations go to engram_slow_operations"
# Huge pages: "on" only when enough are reserved, else "try" (never fails to start).
shmem_mb=$((warm_mb + hot_mb + 64))
hugepage_kb=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 2048)
hugepages_total=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
hugepages_needed=$(((shmem_mb * 1024 + hugepage_kb - 1) / hugepage_kb))
if [ "$hugepages_total" -ge "$hugepages_needed" ]; then
	choose huge_pages on "$hugepages_total huge pages reserved, ${hugepages_needed} needed for ~${shmem_mb} MB of shared memory"
else
	choose huge_pages try "only $hugepages_total huge pages reserved, ${hugepages_needed} needed (echo $hugepages_needed > /proc/sys/vm/nr_hugepages, then huge_pages = on)"
fi
# shared_preload_libraries: keep what the server has, add engram (and
# pg_stat_statements when installed, for analyze_slow_queries.sh).
preload=""
$server_up && preload=$(psql_value 'SHOW shared_preload_libraries' || true)
libs=$(echo "$preload" | tr -d " '\"" | tr ',' ' ')
want="engram"
[ -f "$("$PG_CONFIG" --pkglibdir 2>/dev/null)/pg_stat_statements.so" ] && want="$want pg_stat_statements"
for lib in $want; do
	echo " $libs " | grep -q " $lib " || libs="$libs $lib"
done
libs=$(echo $libs | tr ' ' ',')
preload_reason="Engram's shared memory and worker need preloading"
[ -z "$preload" ] || preload_reason="$preload_reason; kept the server's list ($preload)"
choose shared_preload_libraries "$libs" "$preload_reason"

# ---------------------------------------------------------------- what exists
# "name|unit|context" for every engram.* setting this build defines.
declare -A engram_known=()
if $server_up && psql_value "SELECT 1 FROM pg_settings WHERE name LIKE 'engram.%' LIMIT 1" | grep -q 1; then
	known_source="pg_settings of the running server"
	while IFS='|' read -r name unit context; do
		engram_known[$name]="$unit|$context"
	done < <(psql_value "SELECT name, coalesce(unit, ''), context FROM pg_settings WHERE name LIKE 'engram.%'")
else
	known_source="DefineCustom*Variable calls in $ENGRAM_ROOT/src"
	while IFS='|' read -r name unit; do
		engram_known[$name]="$unit|"
	done < <(find "$ENGRAM_ROOT/src" "$ENGRAM_ROOT/simd" -name '*.c' -print0 2>/dev/null |
		xargs -0 cat 2>/dev/null |
		awk '/DefineCustom[A-Za-z]*Variable\("engram\./ {
				match($0, /"engram\.[a-z0-9_.]*"/); name = substr($0, RSTART + 1, RLENGTH - 2); unit = ""; open = 1
			}
			open && /GUC_UNIT/ { unit = "unit" }
			open && /\);/ { print name "|" unit; open = 0 }')
fi

# A value for the conf file: quoted; a unit suffix only where the setting
# has units (a unit-less setting rejects "100ms").
format_value() { # format_value NAME VALUE
	local name=$1 value=$2 unit
	if [[ $name == engram.* ]] && [ -n "${engram_known[$name]+x}" ]; then
		unit=${engram_known[$name]%%|*}
		[ -n "$unit" ] || value=$(echo "$value" | sed -E 's/^([0-9][0-9.]*)[a-zA-Z]+$/\1/')
	fi
	printf "'%s'" "$value"
}

# ---------------------------------------------------------------- write
tmp=$(mktemp "${out}.XXXXXX" 2>/dev/null) || engram_die "cannot write next to $out"
missing=()
{
	say "# Engram configuration written by scripts/tune_config.sh on $(date -u '+%Y-%m-%d %H:%M UTC')"
	say "# Machine: ${cores} cores, ${ram_mb} MB RAM, ${numa_nodes} NUMA node(s), SIMD ${simd}, ${disk}; workload ${workload}."
	say "# Include it from postgresql.conf (Debian: conf.d/engram.conf); restart the server."
	for i in "${!names[@]}"; do
		name=${names[$i]}
		say ""
		say "# ${reasons[$i]}"
		if [[ $name == engram.* ]] && [ -z "${engram_known[$name]+x}" ]; then
			missing+=("$name")
			say "# $name = $(format_value "$name" "${values[$i]}")    (not defined by this Engram build)"
		else
			say "$name = $(format_value "$name" "${values[$i]}")"
		fi
	done
} >"$tmp"
mv "$tmp" "$out"
chmod 644 "$out"

# ---------------------------------------------------------------- report
say "Engram tuning for ${cores} cores, ${ram_mb} MB RAM, ${numa_nodes} NUMA node(s), SIMD ${simd}, ${disk}, ${workload} workload"
say "  workload: $workload_reason"
say "  disk:     $disk_reason"
say "  SIMD:     $simd_reason"
say "  settings known from: $known_source"
for i in "${!names[@]}"; do
	name=${names[$i]}
	if [[ $name == engram.* ]] && [ -z "${engram_known[$name]+x}" ]; then
		continue
	fi
	printf '  %-40s %-14s %s\n' "$name" "${values[$i]}" "${reasons[$i]}"
done
if [ ${#missing[@]} -gt 0 ]; then
	say "Not written (this Engram build does not define them yet): ${missing[*]}"
fi
say "Wrote $out.  Restart PostgreSQL to apply (shared_buffers, huge_pages, max_connections and shared_preload_libraries need a restart)."
