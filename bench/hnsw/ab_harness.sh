# ab_harness.sh: what the A/B benchmarks of this folder (cpu_ab.sh,
# grow_ab.sh) share: the generated data set, a template cluster made once
# with the first install, and a fresh copy of it for each install and round,
# so that every install starts from the same bytes.  Source it after the
# arguments are parsed, with rows, dims and installs (PG_CONFIG paths) set.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dataset.sh"

# The data set of bench/hnsw/run.sh for $rows x $dims (dies when missing).
ab_data_dir() {
	local dir
	dir=$(bench_dataset_path "$rows" "$dims" 1000 100 42)
	[ -s "$dir/base.tsv" ] || engram_die "no data set at $dir: run bench/hnsw/run.sh --rows $rows --dims $dims first"
	echo "$dir"
}

run_as() { runuser -u postgres -- "$@"; }
bin_of() { "$1" --bindir; }
# psql_in INSTALL ARGS...: psql of that install against the running copy.
psql_in() { run_as "$(bin_of "$1")/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d postgres "${@:2}"; }

# SQL of cpu_ticks(): the CPU time of the calling backend, in clock ticks.
ab_cpu_ticks_sql='CREATE FUNCTION cpu_ticks() RETURNS bigint LANGUAGE sql AS
$$ SELECT split_part(s, '"' '"', 14)::bigint + split_part(s, '"' '"', 15)::bigint
    FROM pg_read_file('"'/proc/self/stat'"') s $$;'
ab_ticks_ms=$((1000 / $(getconf CLK_TCK)))

# ab_template_start NAME SETTING...: work directories (engram_bench_cluster_dirs)
# and the template cluster, started with the first install; fill it with
# psql_in "${installs[0]}", then ab_template_stop.
ab_template_start() {
	local name=$1
	shift
	engram_bench_cluster_dirs "$name"
	template=$work/template
	ab_settings=("$@")
	trap 'PG_CONFIG=${installs[0]} engram_cluster_stop "$template"; engram_cluster_stop "$datadir"; rm -rf "$work"' EXIT
	PG_CONFIG=${installs[0]} engram_cluster_init "$template" "$port" "$sockdir" "${ab_settings[@]}"
	PG_CONFIG=${installs[0]} engram_cluster_start "$template" "$work/template.log"
}
ab_template_stop() { PG_CONFIG=${installs[0]} engram_cluster_stop "$template"; }

# ab_copy_start INSTALL: a fresh copy of the template, started with INSTALL.
ab_copy_start() {
	rm -rf "$datadir"
	cp -a "$template" "$datadir"
	PG_CONFIG=$1 engram_cluster_start "$datadir" "$work/server.log"
}
ab_copy_stop() { PG_CONFIG=$1 engram_cluster_stop "$datadir"; }
