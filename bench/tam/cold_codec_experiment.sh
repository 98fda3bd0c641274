#!/usr/bin/env bash
# cold_codec_experiment.sh TABLE: run bench/tam/cold_codec_experiment.c on
# the cold segments of TABLE (an engram table whose rows were moved to cold
# with engram.cold_embedding_precision = full), read through psql with the
# usual PG* environment (a superuser: engram.cold_segments is private).
# Needs cc, libzstd, zstd and xxd.  Prints compressed bytes per variant.
set -euo pipefail
table=${1:?usage: cold_codec_experiment.sh TABLE}
dir=$(mktemp -d "${TMPDIR:-/tmp}/engram-codec.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cc -O2 -o "$dir/experiment" "$(dirname "$0")/cold_codec_experiment.c" -lzstd
psql -X -A -t \
	-c "SELECT segment_id || ' ' || encode(data, 'hex') FROM engram.cold_segments
	     WHERE relid = '$table'::regclass ORDER BY segment_id" |
	while read -r id hex; do
		printf '%s' "$hex" | xxd -r -p | zstd -q -d -o "$dir/$(printf '%012d' "$id").raw"
	done
"$dir/experiment" "$dir"/*.raw
