#!/usr/bin/env bash
# bench/hnsw/insert_cost.sh: the cost of single-row inserts into a built
# engram_hnsw index, measured as the backend's own CPU time (utime + stime
# from /proc/self/stat) and WAL bytes, so that an A/B comparison of two
# builds is not swamped by the load of a shared machine the way a rate
# (pgbench tps) is.
#
# Usage (as root, PG_CONFIG exported, engram installed with make install):
#   bash bench/hnsw/insert_cost.sh [--rows 30000] [--dims 128] [--rounds 5]
#
# Uses the data set bench/hnsw/run.sh generates (run that once first with
# the same --rows / --dims).  Starts a throwaway cluster as the postgres
# user, builds the index (m = 16, ef_construction = 64), CHECKPOINTs, then
# per round inserts the 1,000 held-out query vectors one INSERT at a time
# (one transaction) and prints: CPU ms per 1,000 inserts | wall ms | WAL
# bytes per insert.  The first round after the checkpoint pays the
# full-page images; compare the later ones.
set -euo pipefail
. "$(dirname "$0")/cost_common.sh"

hnsw_cost_args 5 "$@"
hnsw_cost_cluster insert-cost 59000 "shared_buffers = '512MB'" \
	"maintenance_work_mem = '1GB'" "synchronous_commit = off" "jit = off" \
	"max_wal_size = '8GB'" "checkpoint_timeout = '30min'"

psql_cmd <<SQL
CREATE EXTENSION engram;
CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
COPY items FROM '$data/base.tsv';
COPY queries FROM '$data/queries.tsv';
CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64);
CHECKPOINT;
CREATE FUNCTION cpu_ticks() RETURNS bigint LANGUAGE sql AS
\$\$ SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
    FROM pg_read_file('/proc/self/stat') s \$\$;
SQL
ticks_ms=$((1000 / $(getconf CLK_TCK)))
echo "cpu ms per 1000 inserts | wall ms | WAL bytes per insert"
for round in $(seq 1 "$rounds"); do
	cat >"$work/round.sql" <<SQL
SELECT cpu_ticks() AS t0, pg_current_wal_insert_lsn() AS l0, clock_timestamp() AS c0 \\gset
DO \$\$ BEGIN FOR r IN 1..1000 LOOP
  INSERT INTO items SELECT 1000000 * $round + id, v FROM queries WHERE id = r;
END LOOP; END \$\$;
SELECT (cpu_ticks() - :t0) * $ticks_ms, round(extract(epoch FROM clock_timestamp() - :'c0') * 1000),
       round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'l0') / 1000);
SQL
	chmod 644 "$work/round.sql"
	psql_cmd -At -f "$work/round.sql" | tail -1
done
errors=$(psql_cmd -Atc "SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'")
[ "$errors" = 0 ] || engram_die "engram_hnsw_verify reports $errors errors"
