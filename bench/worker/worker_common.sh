# worker_common.sh: what the worker benchmarks (worker_bench.sh,
# worker_profile.sh) share.  Source it from a script in this folder.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"

psql_q() { "$(engram_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off "$@"; }

# worker_bench_cluster NAME EXTRA_SETTING...: a throwaway cluster (Engram
# preloaded, fsync on, the worker idle: naptime 3600 s, consolidation weekly)
# with a database "bench" that has the extension; PGHOST, PGPORT, PGUSER
# and PGDATABASE point at it.
worker_bench_cluster() {
	engram_bench_cluster_dirs "$1"
	shift
	engram_cluster_init "$datadir" "$port" "$sockdir" "shared_buffers = 256MB" "max_wal_size = 4GB" \
		"engram.worker_naptime = 3600" "engram.consolidation_interval = 604800" "$@"
	engram_cluster_start "$datadir" "$work/server.log"
	export PGHOST=$sockdir PGPORT=$port PGUSER=postgres PGDATABASE=bench
	psql_q -d postgres -c "CREATE DATABASE bench"
	psql_q -c "SET client_min_messages = warning; CREATE EXTENSION engram"
}

# worker_settings busy|defaults|idle: the stress setting (every job every
# second, migration windows of 30 s so that rows do move), the shipped
# defaults (a cycle every 10 s, consolidation and soft forgetting every
# 300 s, windows of an hour and a day) or the idle one (naptime an hour),
# written with ALTER SYSTEM and reloaded.
# setting_default NAME: the built-in default (boot value) of a setting.
setting_default() {
	psql_q -At -c "SELECT boot_val FROM pg_settings WHERE name = '$1'"
}
worker_settings() {
	if [ "$1" = busy ]; then
		psql_q -c "ALTER SYSTEM SET engram.worker_naptime = 1" \
			-c "ALTER SYSTEM SET engram.consolidation_interval = 1" \
			-c "ALTER SYSTEM SET engram.migration_warm_to_cold_window_seconds = 30" \
			-c "ALTER SYSTEM SET engram.migration_hot_to_warm_window_seconds = 30" \
			-c "ALTER SYSTEM SET engram.migration_warm_to_hot_window_seconds = 30" \
			-c "ALTER SYSTEM SET engram.migration_cold_to_warm_window_seconds = 30"
	elif [ "$1" = defaults ]; then
		# SET to the built-in defaults: a RESET would fall back to the idle
		# values this cluster's configuration file starts with.
		psql_q -c "ALTER SYSTEM SET engram.worker_naptime = $(setting_default engram.worker_naptime)" \
			-c "ALTER SYSTEM SET engram.consolidation_interval = $(setting_default engram.consolidation_interval)" \
			-c "ALTER SYSTEM RESET engram.migration_warm_to_cold_window_seconds" \
			-c "ALTER SYSTEM RESET engram.migration_hot_to_warm_window_seconds" \
			-c "ALTER SYSTEM RESET engram.migration_warm_to_hot_window_seconds" \
			-c "ALTER SYSTEM RESET engram.migration_cold_to_warm_window_seconds"
	else
		psql_q -c "ALTER SYSTEM SET engram.worker_naptime = 3600" \
			-c "ALTER SYSTEM SET engram.consolidation_interval = 604800"
	fi
	psql_q -c "SELECT pg_reload_conf()" >/dev/null
}

# worker_pid: the pid of the database worker of "bench" (empty if none).
worker_pid() {
	psql_q -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram worker'
		AND datname = 'bench'"
}
