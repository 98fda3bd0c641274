# bench/dataset.sh: the fixed-seed clustered data sets of the benchmarks,
# generated once by bench/hnsw/gen_dataset.c and cached.  Source it after
# scripts/lib/common.sh (it uses ENGRAM_ROOT and engram_log).

# bench_dataset_path ROWS DIMS QUERIES CENTRES SEED: where that set is
# cached (whether or not it exists yet).
bench_dataset_path() {
	echo "${ENGRAM_BENCH_DATA:-/tmp/engram-bench-data}/$1x$2-q$3-c$4-s$5"
}

# bench_dataset ROWS DIMS QUERIES CENTRES SEED: makes sure the set exists
# under $ENGRAM_BENCH_DATA (default /tmp/engram-bench-data), readable by
# the postgres user (COPY ... FROM reads it server side), and prints its
# directory: base.tsv (id, vector), queries.tsv (id, vector), gt.tsv (exact
# top-10 by L2 per query).
bench_dataset() {
	local root=${ENGRAM_BENCH_DATA:-/tmp/engram-bench-data}
	local dir
	dir=$(bench_dataset_path "$@")
	if [ ! -s "$dir/gt.tsv" ]; then
		engram_log "generating $1 x $2, $3 queries, $4 centres, seed $5 -> $dir" >&2
		mkdir -p "$dir"
		cc -O3 -o "$dir/gen_dataset" "$ENGRAM_ROOT/bench/hnsw/gen_dataset.c" -lm >&2
		"$dir/gen_dataset" "$1" "$2" "$3" "$4" "$5" "$dir" >&2
	fi
	chmod -R a+rX "$root"
	echo "$dir"
}
