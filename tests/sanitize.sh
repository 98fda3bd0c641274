#!/usr/bin/env bash
# sanitize.sh [TEST...]: build Engram with UndefinedBehaviorSanitizer (gcc
# -fsanitize=undefined, every check including alignment, recover mode) and
# run the regression suite (pg_regress: every expected/*.out, or the named
# tests) against a server that loads the instrumented library.
#
# What works on this platform, and why it is UBSan only:
#	- PostgreSQL itself is not built with sanitizers, so ASan would need its
#	  runtime preloaded into the postmaster (LD_PRELOAD=libasan.so).  On
#	  Debian 12 (glibc 2.36, PostgreSQL 15) every postgres process, even
#	  `postgres -V`, then hangs at startup: set_pglocale_pgservice() ->
#	  bindtextdomain() waits forever on glibc's _nl_state_lock.  Same with
#	  gcc's libasan and clang-14's libclang_rt.asan.  So ASan does not run
#	  inside the server here; the parsers and the cold-segment decoder run
#	  under ASan+UBSan in the libFuzzer harnesses instead (tests/fuzz/).
#	- UBSan needs no preloading: the runtime (libubsan) is a dependency of
#	  the instrumented engram.so.  It checks all of our code (signed
#	  overflow, shifts, misaligned and null pointers, out-of-bounds indexes
#	  of arrays with known bounds, bad enum/bool values, float casts).
#	- Reports do not stop the server (recover mode); each process writes its
#	  own report file under the work directory, and they are counted.
# Exit status is non-zero when a test failed or any report was written.
# The build happens in a copy of the tree and installs into a private copy
# of the PostgreSQL install (scripts/dev/private_pg.sh): neither the normal
# build nor a shared install is touched.  Run as root (like
# scripts/test.sh); takes about two minutes.  KEEP=1 keeps the work dir.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib/common.sh"

work=$(mktemp -d /tmp/engram-sanitize.XXXXXX)
chmod 755 "$work"
pg=$work/pg
bash "$ENGRAM_ROOT/scripts/dev/private_pg.sh" "$pg" >/dev/null
PG_CONFIG=$pg/lib/postgresql/15/bin/pg_config
export PG_CONFIG

# 1. Build a copy of the tree with the sanitizers and install it.
mkdir -p "$work/src"
(cd "$ENGRAM_ROOT" && git ls-files -z 2>/dev/null | xargs -0 cp --parents -t "$work/src") ||
	cp -r "$ENGRAM_ROOT/." "$work/src"
sanitize="-fsanitize=undefined -fno-omit-frame-pointer"
engram_log "building engram with $sanitize"
make -C "$work/src" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" with_llvm=no \
	PG_CFLAGS="$sanitize -g -O1" SHLIB_LINK="-lzstd -lnuma -lm $sanitize" >/dev/null
make -C "$work/src" -s PG_CONFIG="$PG_CONFIG" with_llvm=no install >/dev/null

# 2. A server loading the instrumented library.
reports=$work/reports
mkdir -p "$reports" "$work/sock"
chown -R postgres: "$work"
port=$(engram_free_port $((52000 + RANDOM % 4000)))
datadir=$work/data
cleanup() {
	runuser -u postgres -- "$pg/lib/postgresql/15/bin/pg_ctl" -D "$datadir" -m immediate -w stop \
		>/dev/null 2>&1 || true
	[ "${KEEP:-0}" = 1 ] && engram_log "work directory kept: $work" || rm -rf "$work"
}
trap cleanup EXIT
bindir=$pg/lib/postgresql/15/bin
runuser -u postgres -- "$bindir/initdb" -D "$datadir" -U postgres -A trust -E UTF8 \
	--locale=C.UTF-8 >/dev/null
cat >>"$datadir/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$work/sock'
shared_preload_libraries = 'engram'
fsync = off
max_prepared_transactions = 10
EOF
sanitizer_env=("UBSAN_OPTIONS=print_stacktrace=1:log_path=$reports/ubsan:halt_on_error=0")
runuser -u postgres -- env "${sanitizer_env[@]}" "$bindir/pg_ctl" -D "$datadir" \
	-l "$work/server.log" -w -t 180 start >/dev/null ||
	{ tail -30 "$work/server.log" >&2; engram_die "sanitized server failed to start"; }

# 3. The regression suite.
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	mapfile -t tests < <(cd "$work/src/expected" && ls *.out | sed 's/\.out$//' | sort)
fi
engram_log "regression tests under UBSan: ${#tests[@]}"
set +e
(cd "$work/src" && runuser -u postgres -- "$pg/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress" \
	--inputdir=. --outputdir="$work/regress" --bindir="$bindir" --host="$work/sock" --port="$port" \
	--user=postgres --load-extension=engram --dbname=engram_sanitize "${tests[@]}") |
	tee "$work/regress.out"
regress_status=${PIPESTATUS[0]}
set -e
[ -f "$work/regress/regression.diffs" ] && head -100 "$work/regress/regression.diffs"

# 4. Sanitizer reports (one file per reporting process).
runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null 2>&1 || true
nreports=$(find "$reports" -type f | wc -l)
if [ "$nreports" -gt 0 ]; then
	for f in "$reports"/*; do
		echo "---- $f"
		head -40 "$f"
	done
fi
grep -c "runtime error" "$work/server.log" >/dev/null 2>&1 && grep "runtime error" "$work/server.log" | head
passed=$(grep -c '\.\.\. ok' "$work/regress.out" || true)
echo "sanitize: $passed of ${#tests[@]} regression tests passed; $nreports sanitizer report file(s)"
[ "$regress_status" -eq 0 ] && [ "$nreports" -eq 0 ]
