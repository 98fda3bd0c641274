#!/usr/bin/env bash
# tam_bench.sh [ROWS]: measure the engram table AM's tiers on
# realistic memory rows (about 40 words of text, a 768-dimension evector
# with normally distributed components, a jsonb of metadata).
#
# Starts a throwaway cluster (engram preloaded, hot tier 256 MB), loads ROWS
# (default 20000) rows into a heap table and an identical engram table, and
# prints:
#   - point lookups by id through the primary key, inside one query (a
#     nested loop of 50000 index scans spread over the table, best of 3
#     after a warm-up; each lookup reads the whole row: text length, a
#     metadata key, the embedding's inner product with itself), so that
#     client round trips (about 100 us with pgbench) do not drown the
#     difference: heap; engram warm; engram hot; engram cold
#   - sequential scan throughput per tier (rows/s, best of 3)
#   - compression: bytes of the rows warm vs cold (segments + stubs), and
#     the table's size warm vs cold, with cold stored at both settings of
#     engram.cold_embedding_precision ('full', lossless; 'half', binary16
#     embeddings); sizes are taken once the table and the segment store are
#     compacted (VACUUM FULL), so that neither side counts free space
#   - recall@10 of exact nearest-neighbour queries (20 random queries, L2)
#     on the cold rows against the answers on the warm rows, per setting
#   - decompression speed: raw segment bytes decoded per second in a scan
#   - memory overhead at 768 dimensions:
#     (table + indexes + hot tier bytes) / raw data bytes
# Run as root with PG_CONFIG pointing at the PostgreSQL to use (after
# `make install`).  Everything it starts is stopped at exit.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/common.sh"

rows=${1:-20000}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/engram-tam-bench.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/sock"
chown -R postgres: "$work"
datadir=$work/data
port=$(engram_free_port $((52000 + RANDOM % 2000)))
trap 'engram_cluster_stop "$datadir"; rm -rf "$work"' EXIT

engram_cluster_init "$datadir" "$port" "$work/sock" \
	"shared_buffers = 512MB" "engram.hot_tier_size_mb = 256" "fsync = off" \
	"max_parallel_workers_per_gather = 0" "jit = off"
engram_cluster_start "$datadir" "$work/server.log"
psql_q() { engram_as_postgres psql -X -q -A -t -h "$work/sock" -p "$port" -d postgres "$@"; }

engram_log "loading $rows rows into a heap and an engram table"
psql_q -v rows="$rows" <<'SQL'
CREATE EXTENSION engram;
CREATE TABLE words (w text[]);
INSERT INTO words SELECT array_agg(w) FROM unnest(string_to_array(
  'memory agent recall user said prefers coffee morning meeting project deadline '
  'remember location office home travel paris berlin tokyo friday weekly report '
  'customer asked about pricing plan upgrade feedback positive negative bug issue '
  'fixed deployed release version database index query latency vector embedding '
  'the a of to and in that it with for on was as is be by this at from', ' ')) w;
CREATE FUNCTION bench_text(seed int) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg((SELECT w[1 + ((seed * 7919 + i * 104729) % array_length(w, 1))] FROM words), ' ')
    FROM generate_series(1, 40) i $$;
CREATE TABLE mem_heap (id bigint PRIMARY KEY, content text, embedding evector(768), metadata jsonb) USING heap;
SELECT setseed(0.42);
INSERT INTO mem_heap
SELECT g, bench_text(g),
       (SELECT array_agg(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) / 27.7)::real[]
          FROM generate_series(1, 768) WHERE g > 0)::evector,
       jsonb_build_object('source', 'chat', 'session', g / 50, 'tags', jsonb_build_array('t' || g % 7, 'u' || g % 3))
  FROM generate_series(1, :rows) g;
CREATE TABLE mem_engram (LIKE mem_heap INCLUDING ALL) USING engram;
INSERT INTO mem_engram SELECT * FROM mem_heap;
VACUUM ANALYZE mem_heap;
VACUUM ANALYZE mem_engram;
-- Exact top-10 of 20 random queries on the warm rows: the reference for
-- recall after the moves to cold.
CREATE TABLE bench_queries AS
SELECT q, (SELECT array_agg(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) / 27.7)::real[]
             FROM generate_series(1, 768) WHERE q > 0)::evector AS v
  FROM generate_series(1, 20) q;
CREATE TABLE bench_knn_warm AS
SELECT q, n.id FROM bench_queries, LATERAL (SELECT id FROM mem_engram ORDER BY embedding <-> v LIMIT 10) n;
SQL

lookups=50000
lookup() { # lookup TABLE HOT_LOOKUPS: microseconds per lookup, best of 3 after a warm-up
	local best=999999999 t
	for run in 0 1 2 3; do
		t=$(psql_q -c "SET engram.hot_tier_lookups = $2" -c "SET enable_seqscan = off" \
			-c "SET enable_bitmapscan = off" -c "SET enable_hashjoin = off" -c "SET enable_mergejoin = off" \
			-c "SET enable_material = off" -c "SET enable_memoize = off" -c "SET jit = off" -c '\timing on' \
			-c "SELECT count(*), sum(l.x) FROM generate_series(1, $lookups) i,
			      LATERAL (SELECT length(content) + length(metadata->>'source') + (embedding <#> embedding) AS x
			                 FROM $1 WHERE id = 1 + (i * 7919) % $rows) l" |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
		[ "$run" -eq 0 ] && continue
		best=$(awk -v b="$best" -v t="$t" 'BEGIN { print (t < b ? t : b) }')
	done
	awk -v t="$best" -v n="$lookups" 'BEGIN { printf "%.1f\n", t * 1000 / n }'
}
seqscan() { # seqscan TABLE: best rows/s of three full scans that detoast everything
	local best=0 t
	for _ in 1 2 3; do
		t=$(psql_q -c "SET engram.hot_tier_lookups = off" -c '\timing on' \
			-c "SELECT count(*), sum(length(content)), sum(embedding <#> embedding), count(metadata->>'source') FROM $1" |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		best=$(awk -v b="$best" -v t="$t" -v n="$rows" 'BEGIN { r = n / (t / 1000); print (r > b ? r : b) }')
	done
	printf '%.0f\n' "$best"
}
all_tids="(SELECT array_agg(ctid) FROM mem_engram)"
recall() { # recall@10 of the exact queries now, against the warm answers
	psql_q -c "SET max_parallel_workers_per_gather = 0" -c "SELECT round(count(*) / 200.0, 3)
	  FROM bench_queries b, LATERAL (SELECT id FROM mem_engram ORDER BY embedding <-> b.v LIMIT 10) n,
	       bench_knn_warm w WHERE w.q = b.q AND w.id = n.id"
}
compact_cold_size() { # table + segment store, both compacted (superuser)
	psql_q -c "VACUUM FULL mem_engram" -c "VACUUM FULL engram.cold_segments" >/dev/null
	psql_q -c "SELECT pg_table_size('mem_engram') + pg_total_relation_size('engram.cold_segments')"
}

engram_log "point lookups and scans, warm"
heap_lookup=$(lookup mem_heap off); warm_lookup=$(lookup mem_engram off)
heap_scan=$(seqscan mem_heap); warm_scan=$(seqscan mem_engram)
warm_bytes=$(psql_q -c "SELECT bytes FROM engram_tier_stats_for('mem_engram') WHERE tier = 'warm'")
warm_size=$(psql_q -c "SELECT pg_table_size('mem_engram')")

engram_log "hot tier"
psql_q -c "SELECT engram_move_to_tier('mem_engram', $all_tids, 'hot')" >/dev/null
hot_lookup=$(lookup mem_engram on)
hot_info=$(psql_q -c "SELECT entries || ' ' || used_bytes FROM engram_hot_tier_info()")

engram_log "cold tier"
move_ms=$(psql_q -c '\timing on' -c "SELECT engram_move_to_tier('mem_engram', $all_tids, 'cold')" |
	sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
psql_q -c "VACUUM mem_engram" >/dev/null
cold_lookup=$(lookup mem_engram off)
cold_scan=$(seqscan mem_engram)
read -r cold_rows cold_bytes cold_compressed <<<"$(psql_q -F ' ' -c "SELECT rows, bytes, compressed_bytes FROM engram_tier_stats_for('mem_engram') WHERE tier = 'cold'")"
read -r seg_raw seg_compressed <<<"$(psql_q -F ' ' -c "SELECT sum(raw_bytes), sum(compressed_bytes) FROM engram.cold_segments")"
cold_size=$(psql_q -c "SELECT pg_table_size('mem_engram') + pg_total_relation_size('engram.cold_segments')")
raw_data=$(psql_q -c "SELECT sum(8 + octet_length(content) + 768 * 4 + octet_length(metadata::text)) FROM mem_heap")
index_size=$(psql_q -c "SELECT pg_indexes_size('mem_engram')")
read -r hot_entries hot_used <<<"$hot_info"
recall_full=$(recall)
cold_full_compact=$(compact_cold_size)

engram_log "cold tier, engram.cold_embedding_precision = half"
psql_q -c "SELECT engram_move_to_tier('mem_engram', $all_tids, 'warm')" -c "VACUUM FULL mem_engram" >/dev/null
half_move_ms=$(psql_q -c "SET engram.cold_embedding_precision = half" -c '\timing on' \
	-c "SELECT engram_move_to_tier('mem_engram', $all_tids, 'cold')" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
psql_q -c "VACUUM mem_engram" >/dev/null
half_scan=$(seqscan mem_engram)
read -r half_seg_raw half_seg_compressed <<<"$(psql_q -F ' ' -c "SELECT sum(raw_bytes), sum(compressed_bytes) FROM engram.cold_segments")"
read -r half_bytes half_compressed <<<"$(psql_q -F ' ' -c "SELECT bytes, compressed_bytes FROM engram_tier_stats_for('mem_engram') WHERE tier = 'cold'")"
recall_half=$(recall)
cold_half_compact=$(compact_cold_size)

cat <<REPORT

engram table AM tiers: $rows rows (40-word text, evector(768), jsonb), $(date -u +%F)
PostgreSQL $(psql_q -c 'SHOW server_version'), shared_buffers 512MB, hot tier 256MB, 1 client

point lookup by primary key (us per lookup, $lookups lookups in one query, every column read):
  heap table          $heap_lookup
  engram warm         $warm_lookup
  engram hot          $hot_lookup
  engram cold         $cold_lookup
sequential scan (rows/s, best of 3, every value read):
  heap table          $heap_scan
  engram warm         $warm_scan
  engram cold         $cold_scan
moving all rows to cold: $move_ms ms
compression (cold rows):
  rows' own bytes     $cold_bytes   (warm tuples on their pages: $warm_bytes, plus TOAST)
  stored bytes        $cold_compressed   (segments + stubs) ratio $(awk -v a="$cold_bytes" -v b="$cold_compressed" 'BEGIN { printf "%.2f", a / b }')
  table size warm     $warm_size bytes (heap + TOAST)
  table size cold     $cold_size bytes (heap + segments) ratio $(awk -v a="$warm_size" -v b="$cold_size" 'BEGIN { printf "%.2f", a / b }')
  segment raw/zstd    $seg_raw / $seg_compressed bytes
  compacted (VACUUM FULL of the table and of engram.cold_segments):
    warm table                 $warm_size bytes (heap + TOAST, as loaded)
    cold, precision full       $cold_full_compact bytes   warm / cold = $(awk -v a="$warm_size" -v b="$cold_full_compact" 'BEGIN { printf "%.2f", a / b }')
    cold, precision half       $cold_half_compact bytes   warm / cold = $(awk -v a="$warm_size" -v b="$cold_half_compact" 'BEGIN { printf "%.2f", a / b }')
  precision half: rows' own bytes / stored (segments + stubs) $half_bytes / $half_compressed = $(awk -v a="$half_bytes" -v b="$half_compressed" 'BEGIN { printf "%.2f", a / b }'); segment raw/zstd $half_seg_raw / $half_seg_compressed; move $half_move_ms ms; scan $half_scan rows/s
recall@10 of 20 exact L2 queries on the cold rows vs the warm answers:
  precision full      $recall_full
  precision half      $recall_half
decompression during the cold scan: $(awk -v r="$seg_raw" -v n="$rows" -v s="$cold_scan" 'BEGIN { printf "%.0f MB/s of raw segment", r / (n / s) / 1e6 }')
memory overhead at 768 dimensions, (table + indexes + hot tier) / raw data:
  raw data            $raw_data bytes
  warm, all rows hot  $(awk -v t="$warm_size" -v i="$index_size" -v h="$hot_used" -v r="$raw_data" 'BEGIN { printf "%.2f", (t + i + h) / r }')   (hot tier: $hot_entries rows, $hot_used bytes)
  warm, no hot tier   $(awk -v t="$warm_size" -v i="$index_size" -v r="$raw_data" 'BEGIN { printf "%.2f", (t + i) / r }')
  cold                $(awk -v t="$cold_size" -v i="$index_size" -v r="$raw_data" 'BEGIN { printf "%.2f", (t + i) / r }')   (after VACUUM; compacted: full $(awk -v t="$cold_full_compact" -v i="$index_size" -v r="$raw_data" 'BEGIN { printf "%.2f", (t + i) / r }'), half $(awk -v t="$cold_half_compact" -v i="$index_size" -v r="$raw_data" 'BEGIN { printf "%.2f", (t + i) / r }'))
  index bytes         $index_size
REPORT
