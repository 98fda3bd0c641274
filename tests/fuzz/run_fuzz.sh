#!/usr/bin/env bash
# run_fuzz.sh MINUTES | --seconds N [--seed S]
# Build the libFuzzer harnesses (build.sh) and run each of them for
# MINUTES minutes (or N seconds), starting from the committed seed corpus
# tests/fuzz/corpus/<harness>/.  New interesting inputs go to a scratch
# corpus, never into the committed one; a crashing input is kept in
# tests/fuzz/findings/ (reproduce: tests/fuzz/build.sh, then
# tests/fuzz/build/fuzz_<harness> FILE).
# Prints the executions and crashes of each harness and a total line;
# exits non-zero when any harness crashed.  The test suite runs
# `run_fuzz.sh --seconds 5 --seed 1`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=
seed=0
while [ $# -gt 0 ]; do
	case $1 in
		--seconds) seconds=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		[0-9]*) seconds=$(( $1 * 60 )); shift ;;
		*) echo "usage: run_fuzz.sh MINUTES | --seconds N [--seed S]" >&2; exit 2 ;;
	esac
done
[ -n "$seconds" ] || { echo "usage: run_fuzz.sh MINUTES | --seconds N [--seed S]" >&2; exit 2; }

# Private build and corpus directories: runs may overlap (test suite, long run).
scratch=$(mktemp -d /tmp/engram-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
bin=$scratch/bin
"$here/build.sh" "$bin" >/dev/null 2>"$scratch/build.log" || { cat "$scratch/build.log" >&2; exit 1; }
findings=$here/findings
total_runs=0
total_crashes=0
for harness in evector_text evector_recv cold_segment; do
	mkdir -p "$scratch/$harness"
	log=$scratch/$harness.log
	set +e
	"$bin/fuzz_$harness" -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=1024 \
		-timeout=10 -print_final_stats=1 -artifact_prefix="$scratch/$harness-" \
		"$scratch/$harness" "$here/corpus/$harness" >"$log" 2>&1
	status=$?
	set -e
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	crashes=0
	if [ "$status" -ne 0 ]; then
		crashes=1
		mkdir -p "$findings"
		cp "$scratch/$harness"-* "$findings/" 2>/dev/null || true
		grep -E "ERROR|SUMMARY|runtime error|unexpected|#[0-9]+ 0x" "$log" | head -30 >&2
	fi
	printf '%-14s executions %10s  crashes %d  corpus %d\n' "$harness" "${runs:-0}" "$crashes" \
		"$(ls "$scratch/$harness" "$here/corpus/$harness" | wc -l)"
	total_runs=$((total_runs + ${runs:-0}))
	total_crashes=$((total_crashes + crashes))
done
echo "fuzz total: $total_runs executions, $total_crashes crashes (${seconds}s per harness, seed $seed)"
[ "$total_crashes" -eq 0 ]
