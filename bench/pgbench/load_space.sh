#!/usr/bin/env bash
# load_space.sh: load memory spaces for the pgbench workloads of this
# directory, unless they are already loaded with the same shape.
#
#   bash bench/pgbench/load_space.sh [--rows N] [--dims D] [--spaces S]
#        [--dataset generated|glove|sift] [--queries Q] [--space NAME]
#        [--seed SEED] [--noise SIGMA] [--force]
#
# generated (default): fixed-seed clustered Gaussian embeddings from
#   bench/hnsw/gen_dataset.c (N rows, D dims, 100 centres, seed 42, noise
#   sigma 0.35 unless --noise): the same arguments give the same vectors on
#   any machine.  A space is reloaded when it was loaded with another seed
#   or noise (the loader records both in the space's comment).
# glove / sift: the real sets of ../shared/data (relative to the project
#   root, or $ENGRAM_DATA_DIR; read in place, never copied), 1,604 x 100 and
#   4,500 x 128; --rows and --dims do not apply.  Absent sets are an error
#   with a clear message.
#
# Creates (through engram_create_space) the space NAME (default engram_bench)
# holding N memories, and for S > 1 also NAME_1 ... NAME_S holding N / S
# memories each (the multi-space workload), plus the table
# engram_bench_queries(id, embedding) of Q held-out query vectors that the
# workloads draw from.  A space already holding at least its rows with the
# right dimensions is kept (--force drops and reloads).  The server is the
# one libpq's PG* variables name.  Bounded: every step is one COPY or one
# statement.  Prints "loaded: ..." or "kept: ..." per space.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../scripts/lib/common.sh"

rows=100000 dims=768 spaces=1 dataset=generated queries=200 space=engram_bench seed=42 noise=0.35 force=0
usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case "$1" in
	--rows) rows=$2; shift 2 ;;
	--dims) dims=$2; shift 2 ;;
	--spaces) spaces=$2; shift 2 ;;
	--dataset) dataset=$2; shift 2 ;;
	--queries) queries=$2; shift 2 ;;
	--space) space=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--noise) noise=$2; shift 2 ;;
	--force) force=1; shift ;;
	*) usage ;;
	esac
done
for n in "$rows" "$dims" "$spaces" "$queries" "$seed"; do
	[[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || usage
done
[[ $space =~ ^[a-z_][a-z0-9_]*$ ]] || engram_die "--space must be a lower-case SQL identifier"
[[ $noise =~ ^[0-9]+(\.[0-9]+)?$ ]] || engram_die "--noise must be a non-negative decimal number"

psql_cmd=("$(engram_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -P pager=off)
"${psql_cmd[@]}" -At -c 'SELECT 1' >/dev/null 2>&1 ||
	engram_die "PostgreSQL does not answer (PGHOST=${PGHOST:-default} PGPORT=${PGPORT:-5432})"
"${psql_cmd[@]}" -At -c "SELECT 1 FROM pg_extension WHERE extname = 'engram'" | grep -q 1 ||
	engram_die "extension engram is not installed in database ${PGDATABASE:-(default)}; run CREATE EXTENSION engram"

work=$(mktemp -d "${TMPDIR:-/tmp}/engram-load.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# The data: base.tsv (id, content, vector) and queries.tsv (id, vector).
case "$dataset" in
generated)
	cc -O2 -o "$work/gen_dataset" "$ENGRAM_ROOT/bench/hnsw/gen_dataset.c" -lm ||
		engram_die "cannot compile bench/hnsw/gen_dataset.c (is a C compiler installed?)"
	"$work/gen_dataset" "$rows" "$dims" "$queries" 100 "$seed" "$work" "$noise" >/dev/null ||
		engram_die "gen_dataset failed"
	awk -F'\t' '{ print $1 "\tgenerated memory " $1 "\t" $2 }' "$work/base.tsv" >"$work/base3.tsv"
	mv "$work/base3.tsv" "$work/base.tsv"
	;;
glove | sift)
	dir=${ENGRAM_DATA_DIR:-$ENGRAM_ROOT/../shared/data}/$([ "$dataset" = glove ] && echo glove-100d-1604 || echo sift-128-5k)
	[ -r "$dir/base.txt" ] ||
		engram_die "data set $dataset not found in $dir (read from ../shared/data beside the project; ENGRAM_DATA_DIR=DIR names another place)"
	# content: the word (GloVe), else "<set> memory <line>".
	if [ -r "$dir/words.txt" ]; then
		paste "$dir/words.txt" "$dir/base.txt" | awk -F'\t' '{ print NR "\t" $1 "\t" $2 }' >"$work/base.tsv"
	else
		awk -v set="$dataset" '{ print NR "\t" set " memory " NR "\t" $0 }' "$dir/base.txt" >"$work/base.tsv"
	fi
	awk -v q="$queries" 'NR <= q { print NR "\t" $0 }' "$dir/queries.txt" >"$work/queries.tsv"
	rows=$(wc -l <"$work/base.tsv")
	dims=$(head -1 "$dir/base.txt" | tr -cd ',' | wc -c)
	dims=$((dims + 1))
	queries=$(wc -l <"$work/queries.tsv")
	;;
*) usage ;;
esac

# What the data is, recorded as the comment of each table loaded: a table
# loaded from other data is replaced.
origin="engram bench data: $dataset"
[ "$dataset" != generated ] || origin="$origin seed=$seed noise=$noise"

# Queries: replaced when their dimensions, count or origin differ.
have=$("${psql_cmd[@]}" -At -c "SELECT CASE WHEN to_regclass('engram_bench_queries') IS NULL THEN ''
	ELSE (SELECT count(*) || ':' || coalesce(max(vector_dims(embedding)), 0) FROM engram_bench_queries)
		|| ':' || coalesce(obj_description('engram_bench_queries'::regclass, 'pg_class'), '') END" 2>/dev/null ||
	"${psql_cmd[@]}" -At -c "SELECT ''")
if [ "$have" != "$queries:$dims:$origin" ] || [ $force = 1 ]; then
	"${psql_cmd[@]}" -c "DROP TABLE IF EXISTS engram_bench_queries" \
		-c "CREATE TABLE engram_bench_queries (id integer PRIMARY KEY, embedding evector($dims) NOT NULL)"
	"${psql_cmd[@]}" -c "\\copy engram_bench_queries FROM STDIN" <"$work/queries.tsv"
	"${psql_cmd[@]}" -v origin="$origin" <<<"COMMENT ON TABLE engram_bench_queries IS :'origin'"
fi

# load_one NAME FIRST_ROW COUNT: the space NAME with base rows FIRST_ROW..
load_one() {
	local name=$1 first=$2 count=$3 state
	state=$("${psql_cmd[@]}" -At -v name="$name" <<'SQL'
SELECT s.dims || ':' || coalesce(obj_description(s.space, 'pg_class'), '')
  FROM engram_spaces s WHERE s.space_name = :'name'
SQL
)
	if [ -n "$state" ] && [ $force = 0 ] && [ "$state" = "$dims:$origin" ]; then
		local current
		current=$("${psql_cmd[@]}" -At -c "SELECT count(*) FROM $name")
		if [ "$current" -ge "$count" ]; then
			echo "kept: $name ($current memories, $dims dims)"
			return 0
		fi
	fi
	[ -n "$state" ] && "${psql_cmd[@]}" -c "SELECT engram_drop_space('$name')" >/dev/null
	"${psql_cmd[@]}" -c "SELECT engram_create_space('$name', $dims)" >/dev/null
	awk -F'\t' -v first="$first" -v count="$count" \
		'NR >= first && NR < first + count { print $2 "\t" $3 }' "$work/base.tsv" |
		"${psql_cmd[@]}" -c "\\copy $name (content, embedding) FROM STDIN"
	"${psql_cmd[@]}" -v origin="$origin" <<<"COMMENT ON TABLE $name IS :'origin'"
	"${psql_cmd[@]}" -c "ANALYZE $name" >/dev/null
	echo "loaded: $name ($count memories, $dims dims, $dataset)"
}

load_one "$space" 1 "$rows"
if [ "$spaces" -gt 1 ]; then
	per=$((rows / spaces))
	[ "$per" -gt 0 ] || engram_die "--rows must be at least --spaces"
	for i in $(seq 1 "$spaces"); do
		load_one "${space}_$i" $(((i - 1) * per + 1)) "$per"
	done
fi
