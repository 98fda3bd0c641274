#!/usr/bin/env bash
# build.sh [OUTDIR]: build the libFuzzer harnesses (clang-14,
# -fsanitize=fuzzer,address,undefined) against the project's own sources:
#   fuzz_evector_text   src/vector/vector_io.c  engram_evector_in/out
#   fuzz_evector_recv   src/vector/vector_io.c  engram_evector_recv/send
#   fuzz_cold_segment   src/tam/engram_tam_codec.c  (the backend's decoder)
# vector_io.c is compiled unchanged; fuzz_shim.c stands in for palloc,
# ereport (setjmp/longjmp) and pqformat.  Needs clang-14 and Debian's
# libclang-rt-14-dev (the fuzzer and sanitizer runtimes), the PostgreSQL
# server headers ($PG_CONFIG) and libzstd.  OUTDIR defaults to
# tests/fuzz/build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/build}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
CC=${FUZZ_CC:-clang-14}

command -v "$CC" >/dev/null || { echo "build.sh: $CC not found (apt-get install clang-14)" >&2; exit 1; }
mkdir -p "$out"
includes="-I$("$PG_CONFIG" --includedir-server) -I$root/src -I$root/simd -I$here"
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  -Wall -Wno-ignored-attributes -Wno-unused-parameter $includes"
libdir=$("$PG_CONFIG" --pkglibdir)  # Debian keeps libpgcommon.a here

build() { # build NAME SOURCES... -- LIBS...
	local name=$1
	shift
	local sources=() libs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do sources+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	libs=("$@")
	# shellcheck disable=SC2086
	"$CC" $flags -fsanitize=fuzzer -o "$out/$name" "${sources[@]}" "${libs[@]}"
}

build fuzz_evector_text "$here/fuzz_evector_text.c" "$here/fuzz_shim.c" \
	"$root/src/vector/vector_io.c" -- "$libdir/libpgcommon.a" "$libdir/libpgport.a" -lm
build fuzz_evector_recv "$here/fuzz_evector_recv.c" "$here/fuzz_shim.c" \
	"$root/src/vector/vector_io.c" -- "$libdir/libpgcommon.a" "$libdir/libpgport.a" -lm
build fuzz_cold_segment "$here/fuzz_cold_segment.c" "$root/src/tam/engram_tam_codec.c" \
	-- "$libdir/libpgcommon.a" "$libdir/libpgport.a" -lzstd
echo "$out"
