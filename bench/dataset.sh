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

# bench_real_dataset NAME: the real set NAME ("sift": sift-128-5k, L2;
# "glove": glove-100d-1604, cosine) of $ENGRAM_DATA_DIR (default
# ../shared/data beside the project), converted once into the layout of
# bench_dataset (ids from 1; gt.tsv the set's own exact top 10) under
# $ENGRAM_BENCH_DATA/real-NAME; prints that directory.  Dies with a clear
# message when the set is absent (the shared files are only read).
bench_real_dataset() {
	local root=${ENGRAM_BENCH_DATA:-/tmp/engram-bench-data}
	local source_dir gt dir
	case "$1" in
	sift) source_dir=sift-128-5k gt=gt10_l2.txt ;;
	glove) source_dir=glove-100d-1604 gt=gt10_cosine.txt ;;
	*) engram_die "unknown real data set: $1 (sift or glove)" ;;
	esac
	source_dir=${ENGRAM_DATA_DIR:-$ENGRAM_ROOT/../shared/data}/$source_dir
	[ -r "$source_dir/base.txt" ] && [ -r "$source_dir/queries.txt" ] && [ -r "$source_dir/$gt" ] ||
		engram_die "real data set $1 not found in $source_dir (set ENGRAM_DATA_DIR)"
	dir=$root/real-$1
	if [ ! -s "$dir/gt.tsv" ]; then
		engram_log "converting $source_dir -> $dir" >&2
		mkdir -p "$dir"
		awk '{print NR "\t" $0}' "$source_dir/base.txt" >"$dir/base.tsv"
		awk '{print NR "\t" $0}' "$source_dir/queries.txt" >"$dir/queries.tsv"
		# the set's ground truth numbers its base vectors from 0
		awk '{s = ""; for (i = 1; i <= NF; i++) s = s (i > 1 ? "," : "") ($i + 1); print NR "\t{" s "}"}' \
			"$source_dir/$gt" >"$dir/gt.tsv"
	fi
	chmod -R a+rX "$root"
	echo "$dir"
}
