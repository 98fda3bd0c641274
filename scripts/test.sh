#!/usr/bin/env bash
# test.sh: install what is needed, build, start a throwaway PostgreSQL 15
# with Engram preloaded, and run every test suite:
#   1. SIMD kernels against the scalar reference (standalone program),
#      and a bounded libFuzzer run (tests/fuzz/run_fuzz.sh)
#   2. pg_regress regression tests        (sql/*.sql, expected/*.out)
#   3. isolation specs, when there are any (tests/isolation/specs/*.spec,
#      expected output in tests/isolation/expected/)
#   4. TAP tests                          (tests/t/*.pl, own clusters)
# Ends with "N passed, N failed" and exits non-zero when anything failed.
#
# Usage: bash scripts/test.sh [--keep]   (as root; --keep leaves the work
# directory for inspection).  PG_CONFIG selects another PostgreSQL install;
# ENGRAM_TAP_TESTS="tests/t/010_x.pl ..." runs only those TAP files.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

keep=false
[ "${1:-}" = "--keep" ] && keep=true

engram_install_packages
engram_build_install

work=$(mktemp -d /tmp/engram-test.XXXXXX)
chmod 755 "$work"
datadir=$work/data
sockdir=$work/sock
port=$(engram_free_port $((56000 + RANDOM % 4000)))

cleanup() {
	engram_cluster_stop "$datadir"
	if $keep; then engram_log "work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The postgres user gets its own copy of what the suites read and write.
cp -r "$ENGRAM_ROOT/sql" "$ENGRAM_ROOT/expected" "$ENGRAM_ROOT/tests" "$ENGRAM_ROOT/monitoring" \
	"$ENGRAM_ROOT/scripts" "$ENGRAM_ROOT/bench" "$ENGRAM_ROOT/docs" "$ENGRAM_ROOT/src" \
	"$ENGRAM_ROOT/README.md" "$work/"
mkdir -p "$sockdir"
chown -R postgres: "$work"

passed=0
failed=0
failures=()
record() { # record NAME STATUS
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

# record_suite SUITE EXIT_STATUS EXPECTED OUTPUT: a pg_regress-style run
# that failed without a failing test line (a missing input file, a crash
# of the driver), or that reported fewer tests than it was given, is a
# failure of its own.
record_suite() {
	local reported
	reported=$(grep -cE '^(test |     )[^ ]+ +\.\.\. ' "$4" || true)
	if [ "$reported" -ne "$3" ]; then
		echo "$1: $reported of $3 tests reported"
		record "$1/(tests not run)" 1
	elif [ "$2" -ne 0 ] && ! grep -qE '\.\.\. +FAILED' "$4"; then
		record "$1/(driver exit $2)" 1
	fi
}

# 1. SIMD kernels.
engram_log "SIMD kernel test"
if make -C "$ENGRAM_ROOT" -s simd-test; then record simd 0; else record simd 1; fi

# 1b. Bounded fuzzing of the parsers and the cold-segment decoder (libFuzzer).
engram_log "fuzz harnesses (5 s each)"
if bash "$ENGRAM_ROOT/tests/fuzz/run_fuzz.sh" --seconds 5 --seed 1; then record fuzz 0; else record fuzz 1; fi

# 2 and 3. Regression and isolation suites against one shared server.
engram_cluster_init "$datadir" "$port" "$sockdir" "fsync = off" "max_prepared_transactions = 10"
engram_cluster_start "$datadir" "$work/server.log"
pgxs=$(engram_pgxs_dir)
regress_tests=$(cd "$ENGRAM_ROOT/expected" && ls *.out 2>/dev/null | sed -n 's/\.out$//p' | sort -u)
if [ -n "$regress_tests" ]; then
	engram_log "regression tests: $(echo $regress_tests | wc -w)"
	set +e
	(cd "$work" && engram_as_postgres "$pgxs/test/regress/pg_regress" \
		--inputdir=. --outputdir=regress --host="$sockdir" --port="$port" \
		--user=postgres --load-extension=engram --dbname=engram_regression \
		$regress_tests) | tee "$work/regress.out"
	suite_status=${PIPESTATUS[0]}
	set -e
	while read -r name status; do
		record "regress/$name" "$([ "$status" = ok ] && echo 0 || echo 1)"
	done < <(sed -n 's/^test \([^ ]*\) *\.\.\. \([a-zA-Z]*\).*/\1 \2/p; s/^     \([^ ]*\) *\.\.\. \([a-zA-Z]*\).*/\1 \2/p' "$work/regress.out")
	record_suite regress "$suite_status" "$(echo $regress_tests | wc -w)" "$work/regress.out"
	[ -f "$work/regress/regression.diffs" ] && cat "$work/regress/regression.diffs" | head -200
fi
specs=$( [ -d "$ENGRAM_ROOT/tests/isolation/specs" ] && cd "$ENGRAM_ROOT/tests/isolation/specs" && ls *.spec 2>/dev/null | sed 's/\.spec$//' || true)
if [ -n "$specs" ]; then
	engram_log "isolation specs: $(echo $specs | wc -w)"
	set +e
	(cd "$work" && engram_as_postgres "$pgxs/test/isolation/pg_isolation_regress" \
		--inputdir=tests/isolation --outputdir=isolation --host="$sockdir" --port="$port" \
		--user=postgres --load-extension=engram --dbname=engram_isolation \
		$specs) | tee "$work/isolation.out"
	suite_status=${PIPESTATUS[0]}
	set -e
	while read -r name status; do
		record "isolation/$name" "$([ "$status" = ok ] && echo 0 || echo 1)"
	done < <(sed -n 's/^test \([^ ]*\) *\.\.\. \([a-zA-Z]*\).*/\1 \2/p' "$work/isolation.out")
	record_suite isolation "$suite_status" "$(echo $specs | wc -w)" "$work/isolation.out"
	[ -f "$work/isolation/regression.diffs" ] && head -200 "$work/isolation/regression.diffs"
fi
engram_cluster_stop "$datadir"

# 4. TAP tests: each file starts its own nodes through PostgreSQL::Test::Cluster.
# show_tap_logs NAME: the ends of a failed TAP file's logs (its own log holds
# what it died of; the work directory is removed at exit).
show_tap_logs() {
	local log
	for log in "$work/tmp_check/log/regress_log_$1" "$work/tmp_check/log/$1"_*.log; do
		[ -f "$log" ] || continue
		echo "---- last lines of ${log#"$work"/}"
		tail -n 40 "$log"
	done
}
tap_tests=${ENGRAM_TAP_TESTS:-$(cd "$ENGRAM_ROOT" && ls tests/t/*.pl 2>/dev/null || true)}
if [ -n "$tap_tests" ]; then
	engram_log "TAP tests: $(echo $tap_tests | wc -w)"
	for t in $tap_tests; do
		set +e
		(cd "$work" && engram_as_postgres env TESTDIR="$work" \
			PG_REGRESS="$pgxs/test/regress/pg_regress" \
			ENGRAM_ROOT="$work" PGXS_DIR="$pgxs" \
			prove -I "$pgxs/test/perl" -I "$work/tests/lib" "$t")
		status=$?
		set -e
		record "tap/$(basename "$t")" "$status"
		[ "$status" -eq 0 ] || show_tap_logs "$(basename "$t" .pl)"
	done
fi

echo
if [ "$failed" -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
