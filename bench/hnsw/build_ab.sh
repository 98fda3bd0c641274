#!/usr/bin/env bash
# bench/hnsw/build_ab.sh: engram_hnsw builds with each setting of
# engram.hnsw_build_search ("int8": the graph searched with 8-bit codes and
# the candidates re-ranked exactly; "exact": float distances throughout)
# side by side with pgvector's hnsw (when the "vector" extension is
# available), serially and with one parallel worker, and the recall@10 of
# every engram_hnsw index built, on the ground truth of bench/hnsw/run.sh.
#
# Usage (as root, PG_CONFIG exported as for scripts/test.sh):
#   bash bench/hnsw/build_ab.sh [--rows 100000] [--dims 128] [--rounds 3]
#                               [--ef "40 100 200"] [--workers "1 0"]
#                               [--baseline PG_CONFIG] [--variants "int8 exact"]
#
# --baseline: also build with the engram of another install of the same
# PostgreSQL (for example the main branch's build, "base"): the cluster is
# restarted with that install's server for those builds, and back.
# --variants: which settings of engram.hnsw_build_search to build with
# (any of exact, int8, auto).
#
# Every round builds, for each worker count, each variant in turn (base,
# int8, exact, pgvector), so that a load drifting over minutes favours none; it
# prints every build, then per variant the median build time, the median
# of the per-round ratios to pgvector, and the median recall@10 at each
# ef_search (all 1,000 held-out queries, enable_seqscan off so that the
# index answers).  m = 16, ef_construction = 64.  The load average is
# printed before and after.
set -euo pipefail
. "$(dirname "$0")/cost_common.sh"

rows=100000 dims=128 rounds=3 efs="40 100 200" workers_list="1 0" baseline="" engram_variants="int8 exact"
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--ef) efs=$2; shift 2 ;;
	--workers) workers_list=$2; shift 2 ;;
	--baseline) baseline=$2; shift 2 ;;
	--variants) engram_variants=$2; shift 2 ;;
	*) engram_die "unknown argument: $1" ;;
	esac
done

data=$(bench_dataset "$rows" "$dims" 1000 100 42)
engram_build_install
# the settings of bench/hnsw/run.sh
hnsw_cost_cluster build-ab 59000 "shared_buffers = '2GB'" \
	"maintenance_work_mem = '2GB'" "max_parallel_maintenance_workers = 1" \
	"max_parallel_workers_per_gather = 0" "synchronous_commit = off" "jit = off" \
	"checkpoint_timeout = '30min'" "max_wal_size = '8GB'"
now() { date +%s.%N; }

psql_cmd -c "CREATE EXTENSION engram"
variants=$engram_variants
if [ "$(psql_cmd -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ]; then
	psql_cmd -c "CREATE EXTENSION vector"
	variants="$variants pgvector"
fi
[ -n "$baseline" ] && variants="base $variants"
# restart_with INSTALL: the same cluster under another install's server
restart_with() {
	engram_cluster_stop "$datadir"
	PG_CONFIG=$1 engram_cluster_start "$datadir" "$work/server.log"
}
engram_log "loading $data"
psql_cmd <<SQL
CREATE TABLE gt (qid int PRIMARY KEY, ids int[]);
COPY gt FROM '$data/gt.tsv';
CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
COPY items FROM '$data/base.tsv';
COPY queries FROM '$data/queries.tsv';
SQL
if [[ $variants == *pgvector* ]]; then
	psql_cmd <<SQL
CREATE TABLE items_pgvector (id int PRIMARY KEY, v vector($dims));
COPY items_pgvector FROM '$data/base.tsv';
SQL
fi
psql_cmd -c "VACUUM ANALYZE" -c "CHECKPOINT"

create_sql() { # create_sql VARIANT
	case "$1" in
	pgvector) echo "CREATE INDEX items_pgvector_v ON items_pgvector USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64)" ;;
	base) echo "CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64)" ;;
	*) echo "SET engram.hnsw_build_search = $1; CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64)" ;;
	esac
}
recall_at() { # recall_at EF: recall@10 of the current engram_hnsw index
	psql_cmd -At <<SQL
BEGIN;
SET LOCAL engram.ef_search = $1;
SET LOCAL enable_seqscan = off;
SELECT round(sum(hits)::numeric / (10 * count(*)), 3) FROM (
  SELECT (SELECT count(*) FROM (SELECT i.id FROM items i ORDER BY i.v <-> q.v LIMIT 10) n
          WHERE n.id = ANY (g.ids)) AS hits
  FROM queries q JOIN gt g ON g.qid = q.id) s;
COMMIT;
SQL
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A times ratios recalls
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $rows x $dims, m = 16, ef_construction = 64, $rounds alternating rounds"
echo
echo "| round | workers | variant | build s | recall@10 at ef_search $efs |"
echo "|---:|---:|---|---:|---|"
for round in $(seq 1 "$rounds"); do
	for workers in $workers_list; do
		declare -A this_round=()
		for variant in $variants; do
			[ "$variant" = base ] && restart_with "$baseline"
			start=$(now)
			psql_cmd -c "SET max_parallel_maintenance_workers = $workers" -c "$(create_sql "$variant")" >/dev/null
			t=$(printf '%.2f' "$(echo "$(now) - $start" | bc)")
			this_round[$variant]=$t
			times[$variant,$workers]+="$t "
			r=""
			if [ "$variant" != pgvector ]; then
				for ef in $efs; do
					x=$(recall_at "$ef")
					recalls[$variant,$workers,$ef]+="$x "
					r+="$x "
				done
				psql_cmd -c "DROP INDEX items_v"
			else
				psql_cmd -c "DROP INDEX items_pgvector_v"
			fi
			psql_cmd -c "CHECKPOINT"
			[ "$variant" = base ] && restart_with "$PG_CONFIG"
			echo "| $round | $workers | $variant | $t | $r|"
		done
		if [ -n "${this_round[pgvector]:-}" ]; then
			for variant in $variants; do
				[ "$variant" = pgvector ] && continue
				ratios[$variant,$workers]+="$(printf '%.2f' "$(echo "scale=4; ${this_round[$variant]} / ${this_round[pgvector]}" | bc)") "
			done
		fi
	done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| variant | workers | build s: median (every round) | / pgvector: median (every round) |'
for ef in $efs; do printf ' recall@10 ef %s: median |' "$ef"; done
echo
printf '|---|---:|---:|---:|'; for ef in $efs; do printf -- '---:|'; done; echo
for workers in $workers_list; do
	for variant in $variants; do
		printf '| %s | %s | %s (%s) |' "$variant" "$workers" "$(median "${times[$variant,$workers]}")" "$(echo ${times[$variant,$workers]})"
		if [ "$variant" != pgvector ] && [ -n "${ratios[$variant,$workers]:-}" ]; then
			printf ' %s (%s) |' "$(median "${ratios[$variant,$workers]}")" "$(echo ${ratios[$variant,$workers]})"
		else
			printf ' |'
		fi
		for ef in $efs; do
			if [ "$variant" != pgvector ]; then
				printf ' %s |' "$(median "${recalls[$variant,$workers,$ef]}")"
			else
				printf ' |'
			fi
		done
		echo
	done
done
