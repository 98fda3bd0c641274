#!/usr/bin/env bash
# bench/hnsw/build_cpu.sh: the CPU time of index builds, engram_hnsw and
# pgvector's hnsw (when the "vector" extension is available), serial and
# with one parallel worker.  A build's wall time on a shared machine
# depends on how much CPU the scheduler grants its processes; its CPU time
# much less so.  Per build it prints the wall time, the CPU time of the
# leader (the backend running CREATE INDEX: /proc/self/stat) and of the
# parallel workers (what the postmaster's children that exited during the
# build used: cutime + cstime of the postmaster; autovacuum is off so that
# nothing else exits meanwhile).  The leader's CPU time is the critical
# path when every process gets a core.
#
# Usage (as root, PG_CONFIG exported, engram and pgvector installed there):
#   bash bench/hnsw/build_cpu.sh [--rows 30000] [--dims 128] [--rounds 2]
#
# Uses the data set bench/hnsw/run.sh generates (run that once first with
# the same --rows / --dims).  m = 16, ef_construction = 64; the access
# methods alternate within every round.
set -euo pipefail
. "$(dirname "$0")/cost_common.sh"

hnsw_cost_args 2 "$@"
hnsw_cost_cluster build-cpu 59500 "shared_buffers = '1GB'" \
	"maintenance_work_mem = '1GB'" "max_parallel_maintenance_workers = 1" \
	"autovacuum = off" "jit = off" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'"

psql_cmd <<SQL
CREATE EXTENSION engram;
CREATE TABLE items_engram_hnsw (id int PRIMARY KEY, v evector($dims));
COPY items_engram_hnsw FROM '$data/base.tsv';
CREATE FUNCTION cpu_ticks(stat text, first int) RETURNS bigint LANGUAGE sql AS
\$\$ SELECT split_part(stat, ' ', first)::bigint + split_part(stat, ' ', first + 1)::bigint \$\$;
SQL
ams=engram_hnsw
if [ "$(psql_cmd -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")" = 1 ]; then
	ams="engram_hnsw pgvector_hnsw"
	psql_cmd <<SQL
CREATE EXTENSION vector;
CREATE TABLE items_pgvector_hnsw (id int PRIMARY KEY, v vector($dims));
COPY items_pgvector_hnsw FROM '$data/base.tsv';
SQL
fi
psql_cmd -c "VACUUM ANALYZE" -c "CHECKPOINT"
postmaster=$(head -1 "$datadir/postmaster.pid")
ticks=$(getconf CLK_TCK)

echo "data: $rows x $dims; m = 16, ef_construction = 64; $rounds rounds"
echo "| access method | workers | wall s | leader CPU s | workers CPU s |"
echo "|---|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
	for workers in 0 1; do
		for am in $ams; do
			if [ "$am" = engram_hnsw ]; then
				using="engram_hnsw (v evector_l2_ops)"
			else
				using="hnsw (v vector_l2_ops)"
			fi
			cat >"$work/build.sql" <<SQL
SET max_parallel_maintenance_workers = $workers;
SELECT cpu_ticks(pg_read_file('/proc/self/stat'), 14) AS l0,
       cpu_ticks(pg_read_file('/proc/$postmaster/stat'), 16) AS w0,
       clock_timestamp() AS c0 \\gset
CREATE INDEX items_${am}_v ON items_$am USING $using WITH (m = 16, ef_construction = 64);
SELECT pg_sleep(0.5);
SELECT '| $am | $workers | ' || round(extract(epoch FROM clock_timestamp() - :'c0')::numeric - 0.5, 1)
       || ' | ' || round((cpu_ticks(pg_read_file('/proc/self/stat'), 14) - :l0)::numeric / $ticks, 2)
       || ' | ' || round((cpu_ticks(pg_read_file('/proc/$postmaster/stat'), 16) - :w0)::numeric / $ticks, 2)
       || ' |';
DROP INDEX items_${am}_v;
CHECKPOINT;
SQL
			chmod 644 "$work/build.sql"
			psql_cmd -At -f "$work/build.sql" | grep '^|'
		done
	done
done
