# bench/hnsw/cost_common.sh: what the CPU-cost scripts of bench/hnsw
# (insert_cost.sh, build_cpu.sh, build_ab.sh) share; sourced, not run.
#
#   hnsw_cost_args DEFAULT_ROUNDS "$@"   sets rows, dims, rounds from
#       --rows (30000) / --dims (128) / --rounds, and data, the data set
#       bench/hnsw/run.sh generated for them (an error when absent).
#   hnsw_cost_cluster NAME PORT_BASE SETTING...   a throwaway cluster as
#       the postgres user in /tmp/engram-NAME.XXXXXX with those settings,
#       started, stopped and removed on exit; sets work, datadir, port and
#       defines psql_cmd.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dataset.sh"

hnsw_cost_args() {
	rows=30000 dims=128 rounds=$1
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--rows) rows=$2; shift 2 ;;
		--dims) dims=$2; shift 2 ;;
		--rounds) rounds=$2; shift 2 ;;
		*) engram_die "unknown argument: $1" ;;
		esac
	done
	data=$(bench_dataset_path "$rows" "$dims" 1000 100 42)
	[ -s "$data/base.tsv" ] || engram_die "no data set at $data: run bench/hnsw/run.sh --rows $rows --dims $dims first"
}

hnsw_cost_cluster() {
	local name=$1 port_base=$2
	shift 2
	work=$(mktemp -d "/tmp/engram-$name.XXXXXX")
	chmod 755 "$work"
	datadir=$work/data sockdir=$work/sock
	mkdir -p "$sockdir" && chown -R postgres: "$work"
	port=$(engram_free_port $((port_base + RANDOM % 400)))
	trap 'engram_cluster_stop "$datadir"; rm -rf "$work"' EXIT
	engram_cluster_init "$datadir" "$port" "$sockdir" "$@"
	engram_cluster_start "$datadir" "$work/server.log"
	psql_cmd() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" -d postgres "$@"; }
}
