#!/usr/bin/env bash
# worker_bench.sh: what the background worker costs, on a throwaway cluster
# (Engram preloaded, fsync on).
#
#   A. Cost of each job on one space of MEMORIES memories of DIMS
#      dimensions (100 topics of noisy episodes, generated in SQL), through
#      engram_run_maintenance(), which reports each job's time
#      (duration_ms) and rows: a migration cycle with nothing to move
#      (listing), one moving every row warm -> cold and one moving them
#      back, consolidation passes with engram.consolidation_batch_size 100
#      (pool 1000) and 1000 (pool 10,000), and soft forgetting scanning every
#      row (nothing under the threshold, then every row, moved to cold).
#   B. Recall P50/P99 under load (pgbench, 2 clients, bench/pgbench/recall.sql
#      on a second space of MEMORIES memories: bench/pgbench/load_space.sh's
#      clustered set, noise sigma 0.35 unless ENGRAM_BENCH_NOISE=SIGMA; at
#      0.35 consolidation finds no cluster over its 0.8 threshold and writes
#      nothing, at 0.2 its passes create semantic memories) with the worker idle
#      (naptime 3600 s) and with the worker running every job continuously
#      (engram.worker_naptime = 1 s, engram.consolidation_interval = 1 s;
#      the migration windows shortened so that rows do move), the two
#      conditions alternated ROUNDS times in one run (a busy round starts
#      once the worker has completed a cycle under the busy settings).
#      Reports each round, the medians, and the worker's CPU time and work
#      per round.
#      With ENGRAM_BENCH_NICE=N each round has a third condition, the busy
#      worker at engram.worker_nice = N ("busy-nice"; "busy" is then nice
#      0), the two busy conditions in alternating order; each busy round is
#      paired with the idle round of its round.  (A worker cannot lower its
#      own nice value: going back to 0 restarts it, while it is idle.)
#      With ENGRAM_BENCH_DEFAULTS=1 each round also has the worker at its
#      shipped settings ("defaults": a cycle every 10 s, consolidation and
#      soft forgetting every 300 s, migration windows of an hour and a
#      day), consolidation and soft forgetting made due once about 20 s
#      into each such round (at the shipped interval a round would hold
#      them only by chance).  The conditions other than idle run in an order rotated each
#      round, after the idle one.
#
# Usage (as root, PG_CONFIG exported as for scripts/test.sh):
#   bash bench/worker/worker_bench.sh [MEMORIES] [DIMS] [SECONDS] [ROUNDS] [EXTRA_SETTING...]
# defaults 10000 768 20 3.  ENGRAM_BENCH_SKIP_COSTS=1 skips part A;
# ENGRAM_BENCH_NICE=N adds the busy worker at nice N to part B;
# ENGRAM_BENCH_DEFAULTS=1 adds the worker at its defaults; ENGRAM_BENCH_NOISE=SIGMA
# sets part B's noise (see B above); with ENGRAM_BENCH_DEFAULTS,
# ENGRAM_BENCH_SKIP_BUSY=1 leaves the busy condition out (idle against
# defaults only: more rounds in the same time).  Each EXTRA_SETTING ("name = value") goes into
# the server's configuration (for example "engram.worker_cost_delay = 0").
# Writes bench/worker/results-<timestamp>/report.txt.  Bounded: SECONDS x
# 2 x ROUNDS of pgbench plus the loads (about 4 minutes with the defaults on
# 2 shared cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/worker_common.sh"

memories=${1:-10000}
dims=${2:-768}
seconds=${3:-20}
rounds=${4:-3}
shift $(($# < 4 ? $# : 4))
extra_settings=("$@")

[ "$(id -u)" -eq 0 ] || engram_die "run as root (PostgreSQL runs as the postgres user)"
for n in "$memories" "$dims" "$seconds" "$rounds"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || engram_die "arguments must be positive integers"
done
bench_nice=${ENGRAM_BENCH_NICE:-}
bench_defaults=${ENGRAM_BENCH_DEFAULTS:-}
[ -z "$bench_defaults" ] || [ "$bench_defaults" = 1 ] || engram_die "ENGRAM_BENCH_DEFAULTS must be 1 or unset"
bench_skip_busy=${ENGRAM_BENCH_SKIP_BUSY:-}
[ -z "$bench_skip_busy" ] || { [ "$bench_skip_busy" = 1 ] && [ -n "$bench_defaults" ] && [ -z "$bench_nice" ]; } ||
	engram_die "ENGRAM_BENCH_SKIP_BUSY=1 needs ENGRAM_BENCH_DEFAULTS=1 and no ENGRAM_BENCH_NICE"
[ -z "$bench_nice" ] || { [[ $bench_nice =~ ^[0-9]+$ ]] && [ "$bench_nice" -le 19 ]; } ||
	engram_die "ENGRAM_BENCH_NICE must be an integer from 0 to 19"
bench_noise=${ENGRAM_BENCH_NOISE:-0.35}
[[ $bench_noise =~ ^[0-9]+(\.[0-9]+)?$ ]] || engram_die "ENGRAM_BENCH_NOISE must be a non-negative decimal number"
engram_build_install

out=$here/results-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
worker_bench_cluster worker-bench "${extra_settings[@]}"

report=$out/report.txt
{
	echo "# Engram background worker benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# memories=$memories dims=$dims seconds=$seconds rounds=$rounds; part B data noise sigma $bench_noise"
	echo "# settings: ${extra_settings[*]:-(defaults)}${bench_nice:+; busy-nice: engram.worker_nice = $bench_nice}"
	echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
		"load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$report"

# --- A. Cost of each job ----------------------------------------------------
if [ "${ENGRAM_BENCH_SKIP_COSTS:-0}" = 1 ]; then
	echo "(part A skipped: ENGRAM_BENCH_SKIP_COSTS=1)" >>"$report"
else
# Episodes in 100 topics (as bench/worker_consolidation.sql): each a topic
# centre plus uniform noise of width 0.1 per component, so that
# consolidation finds clusters (cosine >= 0.8 to their centroid).
engram_log "A: generating $memories episodes of $dims dimensions in 100 topics (space wcost)"
psql_q -v dims="$dims" -v memories="$memories" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT setseed(0.42);
SELECT engram_create_space('wcost', :dims);
CREATE TEMP TABLE topics AS
SELECT t, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, :dims) WHERE t > 0) AS center
FROM generate_series(1, 100) t;
INSERT INTO wcost (content, embedding, occurred_at)
SELECT 'topic ' || t || ' episode ' || e,
	   (SELECT array_agg(c + (random()::real - 0.5) * 0.1) FROM unnest(center) c)::evector,
	   now() - (e || ' seconds')::interval
FROM topics, generate_series(1, GREATEST(:memories / 100, 1)) e;
ANALYZE wcost;
SQL
psql_q -At -c "SELECT pg_size_pretty(pg_total_relation_size('wcost'))" >"$work/size"
sleep 1.1 # every row a second in its tier: the 1 s windows below apply
engram_log "A: job costs"
psql_q -At -F ' | ' >"$work/costs" <<'SQL'
SET engram.migration_batch = 1000000;
-- 1. Default thresholds, nothing accessed: migration only lists; a
--    consolidation pass with the default batch; forgetting finds nothing.
SELECT 'default thresholds', job, rows_moved, memories_consolidated, episodes_linked,
	   episodes_selected, round(duration_ms::numeric, 1)
  FROM engram_run_maintenance('wcost') WHERE job <> 'access_stats';
-- 2. Every warm row under 1 access per second after a second in warm:
--    all move to cold.  Consolidation with the largest batch.
SET engram.migration_warm_to_cold_window_seconds = 1;
SET engram.consolidation_batch_size = 1000;
SELECT 'all warm -> cold', job, rows_moved, memories_consolidated, episodes_linked,
	   episodes_selected, round(duration_ms::numeric, 1)
  FROM engram_run_maintenance('wcost') WHERE job IN ('tier_migration', 'consolidation');
-- 3. Cold rows promoted at 0 accesses: all move back to warm.
SET engram.migration_warm_to_cold_accesses = 0;
SET engram.migration_cold_to_warm_accesses = 0;
SELECT 'all cold -> warm', job, rows_moved, memories_consolidated, episodes_linked,
	   episodes_selected, round(duration_ms::numeric, 1)
  FROM engram_run_maintenance('wcost') WHERE job IN ('tier_migration', 'consolidation');
-- 4. Soft forgetting with threshold 1: every episode is under it and sinks.
SET engram.migration_cold_to_warm_accesses = 1e9;
SET engram.min_confidence_threshold = 1;
SELECT 'forget everything', job, rows_moved, memories_consolidated, episodes_linked,
	   episodes_selected, round(duration_ms::numeric, 1)
  FROM engram_run_maintenance('wcost') WHERE job = 'soft_forgetting';
SQL
{
	echo
	echo "## A. Job costs on one space of $memories memories x $dims dims ($(cat "$work/size") with its index)"
	echo "step | job | rows_moved | memories_consolidated | episodes_linked | episodes_selected | ms"
	cat "$work/costs"
} >>"$report"
psql_q -c "SELECT engram_drop_space('wcost')" >/dev/null
fi

# --- B. Recall P99 with the worker idle and busy --------------------------------
engram_log "B: loading $memories memories (space engram_bench, noise sigma $bench_noise)"
bash "$here/../pgbench/load_space.sh" --rows "$memories" --dims "$dims" --noise "$bench_noise" >/dev/null
pgbench=$(engram_bindir)/pgbench

# set_condition idle|busy: the worker's settings, reloaded.
set_condition() {
	local cycles_before=""
	[ "$1" != idle ] && cycles_before=$(worker_work | cut -d' ' -f4)
	worker_settings "$1"
	sleep 1
	# Busy means busy: wait (at most 30 s) until the worker has completed a
	# cycle under the busy settings, so that a measured round never starts
	# with a worker still waking up (at a high nice value on a loaded
	# machine a cycle can take several seconds).
	if [ "$1" != idle ]; then
		for _ in $(seq 1 150); do
			[ "$(worker_work | cut -d' ' -f4)" -gt "$cycles_before" ] && break
			sleep 0.2
		done
	fi
	# Idle means idle: let a cycle started under the busy settings finish:
	# no job running, and the counters still, for 3 s in a row (at most 60 s;
	# a throttled job naps inside its run, so a still counter alone is not
	# enough).
	if [ "$1" = idle ]; then
		local last="" now still=0
		for _ in $(seq 1 60); do
			now="$(worker_work) $(psql_q -At -c "SELECT count(*) FROM engram_worker_status
				WHERE database = 'bench' AND state = 'running'")"
			if [ "$now" = "$last" ] && [ "${now##* }" = 0 ]; then still=$((still + 1)); else still=0; fi
			[ "$still" -ge 3 ] && break
			last=$now
			sleep 1
		done
	fi
}

# schedule_passes_in_round: at the shipped settings consolidation and soft
# forgetting run every engram.consolidation_interval (300 s), longer than a
# round, so a round would include them only by chance.  Make each of them
# due once, about 20 s into the round: the interval set to 20 s (at its next
# cycle the worker brings a later next run forward to now + 20 s), then
# back to the default, which leaves that earlier next run in place.  A
# round of under 300 s so holds one pass of each: more than the shipped
# rate, a pessimistic reading.
schedule_passes_in_round() {
	local cycles_before
	cycles_before=$(worker_work | cut -d' ' -f4)
	psql_q -c "ALTER SYSTEM SET engram.consolidation_interval = 20" -c "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 150); do
		[ "$(worker_work | cut -d' ' -f4)" -gt "$cycles_before" ] && break
		sleep 0.2
	done
	worker_settings defaults
}

# worker_cpu_ticks: utime + stime of the database worker of "bench" (0 if none).
worker_cpu_ticks() {
	local pid
	pid=$(worker_pid)
	[ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || { echo 0; return; }
	awk '{ print $14 + $15 }' "/proc/$pid/stat"
}
# proc_nice PID: the nice value of PID (/proc/PID/stat field 19), empty if gone.
proc_nice() {
	[ -r "/proc/$1/stat" ] && sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $17 }'
}
# worker_nice: the nice value of the database worker of "bench" ("-" if none).
worker_nice() {
	local pid value
	pid=$(worker_pid)
	value=$([ -n "$pid" ] && proc_nice "$pid")
	echo "${value:--}"
}
# set_worker_nice N: engram.worker_nice = N, reloaded; when the worker runs
# at a higher value (it cannot lower its own), make it idle and stop it: the
# launcher starts a new one, which begins at the postmaster's value.  Waits
# (at most 30 s) until the worker runs at N.
set_worker_nice() {
	local want=$1 pid now
	psql_q -c "ALTER SYSTEM SET engram.worker_nice = $want" >/dev/null
	psql_q -c "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 150); do
		pid=$(worker_pid)
		now=$([ -n "$pid" ] && proc_nice "$pid")
		[ "$now" = "$want" ] && return 0
		if [ -n "$now" ] && [ "$now" -gt "$want" ]; then
			set_condition idle
			psql_q -c "SELECT pg_terminate_backend($pid)" >/dev/null
			sleep 1
		fi
		sleep 0.2
	done
	engram_die "the worker did not reach nice $want"
}

# worker_work: "job_runs rows_moved memories_consolidated cycles passes" so
# far (a cycle runs tier_migration once; passes: runs of consolidation and
# soft forgetting).
worker_work() {
	psql_q -At -c "SELECT coalesce(sum(runs), 0) || ' ' || coalesce(sum(rows_moved), 0) || ' ' ||
		coalesce(sum(memories_consolidated), 0) || ' ' ||
		coalesce(sum(runs) FILTER (WHERE job = 'tier_migration'), 0) || ' ' ||
		coalesce(sum(runs) FILTER (WHERE job IN ('consolidation', 'soft_forgetting')), 0)
		FROM engram_worker_status WHERE database = 'bench'"
}

# percentiles FILE...: "count p50_ms p99_ms" of pgbench --log latencies (column 3, us).
percentiles() {
	cat "$@" | awk '{ print $3 }' | sort -n | awk '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { print "0 0 0"; exit }
			p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)]
			printf "%d %.3f %.3f\n", NR, p50 / 1000, p99 / 1000
		}'
}

# Warm-up with the worker busy, so the tiers reach the state its policy
# keeps under this load before the first measured round.  Without the busy
# condition the warm-up runs with the worker idle, so that no move made
# under the busy settings shapes the tiers the compared rounds read.
warmup_condition=busy
[ -z "$bench_skip_busy" ] || warmup_condition=idle
engram_log "B: warm-up run (worker $warmup_condition)"
set_condition "$warmup_condition"
"$pgbench" -n -M prepared -c 2 -j 2 -T 15 -D space=engram_bench -D queries=200 \
	-f "$here/../pgbench/recall.sql" bench >/dev/null 2>&1
{
	echo
	echo "## B. Recall under load: pgbench -n -M prepared -c 2 -j 2 -T $seconds -f bench/pgbench/recall.sql (space of $memories x $dims)"
	echo "round | worker | recalls | tps | p50 ms | p99 ms | worker cpu s | worker job runs | rows moved | memories consolidated | cycles | cpu s per cycle | worker nice | consolidation + forgetting passes"
} >>"$report"
# The measured conditions besides idle, and rotate N WORD...: the words
# rotated left N times.
measured="${bench_nice:+busy-nice }${bench_defaults:+defaults}"
[ -n "$bench_skip_busy" ] || measured="busy $measured"
rotate() {
	local n=$1
	shift
	local words=("$@") count=$#
	for i in $(seq 0 $((count - 1))); do
		printf '%s ' "${words[$(((i + n) % count))]}"
	done
}
ticks_per_second=$(getconf CLK_TCK)
: >"$work/rounds"
for round in $(seq 1 "$rounds"); do
	# the idle round first, then the others, their order rotated each round
	conditions="idle $(rotate $((round - 1)) $measured)"
	for condition in $conditions; do
		case $condition in
		idle) set_condition idle ;;
		busy)
			[ -z "$bench_nice" ] || set_worker_nice 0
			set_condition busy
			;;
		busy-nice)
			set_worker_nice "$bench_nice"
			set_condition busy
			;;
		defaults)
			[ -z "$bench_nice" ] || set_worker_nice 0
			set_condition defaults
			schedule_passes_in_round
			;;
		esac
		engram_log "B: round $round, worker $condition"
		logdir=$work/log-$round-$condition
		mkdir -p "$logdir" && chown postgres: "$logdir"
		cpu_before=$(worker_cpu_ticks)
		read -r runs_before moved_before consolidated_before cycles_before passes_before <<<"$(worker_work)"
		(cd "$logdir" && "$pgbench" -n -M prepared -c 2 -j 2 -T "$seconds" -D space=engram_bench -D queries=200 \
			-f "$here/../pgbench/recall.sql" --log --log-prefix=recall bench >"$logdir/pgbench.out" 2>&1) ||
			{ cat "$logdir/pgbench.out" >&2; engram_die "pgbench failed"; }
		cpu_after=$(worker_cpu_ticks)
		read -r runs_after moved_after consolidated_after cycles_after passes_after <<<"$(worker_work)"
		read -r count p50 p99 <<<"$(percentiles "$logdir"/recall.*)"
		tps=$(awk -v n="$count" -v s="$seconds" 'BEGIN { printf "%.1f", n / s }')
		cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$ticks_per_second" \
			'BEGIN { d = b - a; if (d < 0) d = b; printf "%.2f", d / t }')
		cycles=$((cycles_after - cycles_before))
		per_cycle=$(awk -v c="$cpu" -v n="$cycles" 'BEGIN { if (n > 0) printf "%.3f", c / n; else print "-" }')
		echo "$round | $condition | $count | $tps | $p50 | $p99 | $cpu | $((runs_after - runs_before)) |" \
			"$((moved_after - moved_before)) | $((consolidated_after - consolidated_before)) | $cycles | $per_cycle |" \
			"$(worker_nice) | $((passes_after - passes_before))" |
			tee -a "$report"
		echo "$condition $p50 $p99 $tps $cpu $cycles $round" >>"$work/rounds"
	done
done
set_condition idle
[ -z "$bench_nice" ] || set_worker_nice 0

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_median() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$work/rounds" | median; }
# pair_ratios CONDITION: its p99 over the idle p99 of the same round, one per line
pair_ratios() {
	awk -v c="$1" '$1 == "idle" { i[$7] = $3 } $1 == c && i[$7] > 0 { printf "%.4f\n", $3 / i[$7] }' "$work/rounds"
}
idle_p99=$(column_median idle 3)
{
	echo
	echo "median over $rounds rounds: idle p50 $(column_median idle 2) ms, p99 $idle_p99 ms, $(column_median idle 4) tps"
	echo "idle p99 per round: $(awk '$1 == "idle" { printf "%s ", $3 }' "$work/rounds")"
	for condition in $measured; do
		busy_p99=$(column_median "$condition" 3)
		echo "$condition: p50 $(column_median "$condition" 2) ms, p99 $busy_p99 ms, $(column_median "$condition" 4) tps (medians)"
		awk -v i="$idle_p99" -v b="$busy_p99" -v c="$condition" 'BEGIN {
			d = (b / i - 1) * 100
			printf "%s: the worker adds %.1f%% to recall p99 (target: under 10%%): %s\n", c, d, d < 10 ? "PASS" : "FAIL" }'
		echo "$condition p99 per round: $(awk -v c="$condition" '$1 == c { printf "%s ", $3 }' "$work/rounds")"
		ratios=$(pair_ratios "$condition")
		echo "$condition/idle p99 per pair: $(echo $ratios); median $(echo "$ratios" | median)," \
			"$(echo "$ratios" | awk '$1 > 1.10 { n++ } END { print n + 0 }') of $rounds pairs over 1.10"
		awk -v c="$condition" '$1 == c { cpu += $5; cycles += $6 } END {
			if (cycles > 0) printf "%s worker: %.2f s of CPU in %d cycles, %.3f s per cycle\n", c, cpu, cycles, cpu / cycles }' \
			"$work/rounds"
	done
	if [ -n "$bench_nice" ]; then
		ratios=$(awk '$1 == "busy" { b[$7] = $3 } $1 == "busy-nice" { n[$7] = $3 }
			END { for (r in n) if (b[r] > 0) printf "%.4f\n", n[r] / b[r] }' "$work/rounds")
		echo "busy-nice/busy p99 per round: median $(echo "$ratios" | median) over $(echo "$ratios" | grep -c .) rounds"
	fi
	echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$report"
engram_log "report: $report"
