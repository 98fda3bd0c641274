#!/usr/bin/env bash
# bench/hnsw/answers_ab.sh: whether builds of engram return the same
# answers from the same index.  The first install makes a template cluster
# with the data set of bench/hnsw/run.sh and two engram_hnsw indexes on it
# (evector_l2_ops and evector_cosine_ops, m = 16, ef_construction = 64);
# every install then searches a fresh copy of those same index files with
# the 1,000 held-out queries at each ef_search, and prints per metric and
# ef_search a digest (md5) of every query's top-10 ids in order, and how
# many of those ids are among the exact top-10 (recall@10, L2 ground truth
# of the data set; cosine against its own exact answers is not computed).
# Builds that must answer alike (a change that only makes a search
# cheaper) print the same digests.  When an install defines
# engram.hnsw_early_exit, it runs each point with it on and off.
#
# Usage (as root; each PG_CONFIG names an install where engram is installed):
#   bash bench/hnsw/answers_ab.sh [--rows 30000] [--dims 768] [--ef "40 100"] PG_CONFIG...
set -euo pipefail
. "$(dirname "$0")/ab_harness.sh"

rows=30000 dims=768 efs="40 100" installs=()
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--ef) efs=$2; shift 2 ;;
	-*) engram_die "unknown argument: $1" ;;
	*) installs+=("$1"); shift ;;
	esac
done
[ ${#installs[@]} -gt 0 ] || engram_die "usage: answers_ab.sh [options] PG_CONFIG..."
data=$(ab_data_dir)

ab_template_start answers-ab "shared_buffers = '512MB'" "maintenance_work_mem = '1GB'" \
	"jit = off" "max_parallel_maintenance_workers = 0"
psql_in "${installs[0]}" <<SQL
CREATE EXTENSION engram;
CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
CREATE TABLE truth (query int, rank int, id int);
COPY items FROM '$data/base.tsv';
COPY queries FROM '$data/queries.tsv';
CREATE TEMP TABLE truth_lines (query int, ids int[]);
COPY truth_lines FROM '$data/gt.tsv';
INSERT INTO truth SELECT query, ord, id FROM truth_lines, unnest(ids) WITH ORDINALITY AS u(id, ord);
CREATE INDEX items_l2 ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX items_cosine ON items USING engram_hnsw (v evector_cosine_ops) WITH (m = 16, ef_construction = 64);
VACUUM ANALYZE;
CREATE FUNCTION answers(op text, OUT digest text, OUT recall numeric) LANGUAGE plpgsql AS \$\$
DECLARE
	q record;
	ids int[];
	all_ids text := '';
	hits bigint := 0;
BEGIN
	SET LOCAL enable_seqscan = off;
	FOR q IN SELECT id, v FROM queries ORDER BY id LOOP
		IF op = 'l2' THEN
			SELECT array_agg(id) INTO ids FROM (SELECT id FROM items ORDER BY v <-> q.v LIMIT 10) t;
		ELSE
			SELECT array_agg(id) INTO ids FROM (SELECT id FROM items ORDER BY v <=> q.v LIMIT 10) t;
		END IF;
		all_ids := all_ids || array_to_string(ids, ',') || ';';
		hits := hits + (SELECT count(*) FROM truth WHERE query = q.id AND id = ANY (ids));
	END LOOP;
	digest := md5(all_ids);
	recall := round(hits / 10000.0, 4);
END \$\$;
SQL
ab_template_stop

echo "rows $rows x $dims; the same two indexes for every install; digest of the 1,000 top-10 answers"
echo "| install | metric | ef_search | engram.hnsw_early_exit | digest | recall@10 (L2 truth) |"
echo "|---|---|---:|---|---|---:|"
for install in "${installs[@]}"; do
	ab_copy_start "$install"
	settings=default
	if [ -n "$(psql_in "$install" -At -c "SELECT 1 FROM pg_settings WHERE name = 'engram.hnsw_early_exit'")" ]; then
		settings="on off"
	fi
	for metric in l2 cosine; do
		for ef in $efs; do
			for setting in $settings; do
				set_exit=""
				[ "$setting" = default ] || set_exit="SET engram.hnsw_early_exit = $setting;"
				read -r digest recall < <(psql_in "$install" -At -F ' ' \
					-c "SET engram.ef_search = $ef; $set_exit SELECT * FROM answers('$metric')" | tail -1)
				printf '| %s | %s | %d | %s | %s | %s |\n' "$install" "$metric" "$ef" "$setting" "$digest" \
					"$([ "$metric" = l2 ] && echo "$recall" || echo "-")"
			done
		done
	done
	ab_copy_stop "$install"
done
