#!/usr/bin/env bash
# quickstart.sh: install, build, and run a local PostgreSQL 15 cluster with
# Engram preloaded; load sample data and print a query result.  Run as
# root on Debian 12.  Idempotent: a second run reuses the cluster and data.
#
# The cluster lives in .engram/ in the project (a link to a directory under
# /var/lib/postgresql when the postgres user cannot reach the project
# directory, e.g. a clone under /root).  Stop and remove it with
# `bash scripts/stop_cluster.sh` (or `make stop-cluster`).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

[ "$(id -u)" -eq 0 ] || engram_die "run as root (it installs packages and runs PostgreSQL as postgres)"
engram_install_packages
engram_build_install

state=$ENGRAM_ROOT/.engram
if [ ! -e "$state" ]; then
	if runuser -u postgres -- test -x "$ENGRAM_ROOT" 2>/dev/null; then
		mkdir -p "$state"
	else
		alt=/var/lib/postgresql/engram-quickstart/$(printf '%s' "$ENGRAM_ROOT" | md5sum | cut -c1-12)
		mkdir -p "$alt"
		ln -s "$alt" "$state"
		engram_log "postgres cannot reach $ENGRAM_ROOT; cluster data in $alt (linked from .engram)"
	fi
fi
state=$(cd "$state" && pwd -P)
chown postgres: "$state"
datadir=$state/data
sockdir=$state/run
mkdir -p "$sockdir" && chown postgres: "$sockdir"
if [ $((${#sockdir} + 20)) -gt 100 ]; then
	engram_die "socket directory path too long for a Unix socket: $sockdir"
fi

if [ -f "$state/port" ]; then
	port=$(cat "$state/port")
else
	port=$(engram_free_port 5433)
	echo "$port" >"$state/port"
fi

if ! engram_cluster_running "$datadir"; then
	engram_log "starting cluster in $datadir on 127.0.0.1:$port"
	engram_cluster_init "$datadir" "$port" "$sockdir"
	engram_cluster_start "$datadir" "$state/server.log"
else
	engram_log "cluster already running in $datadir on 127.0.0.1:$port"
fi

psql_as() { engram_as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$sockdir" -p "$port" "$@"; }
psql_as -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'engram'" | grep -q 1 ||
	psql_as -d postgres -c "CREATE DATABASE engram"
psql_as -d engram -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS engram"

# Sample data: real GloVe word vectors when the shared benchmark data is
# beside the project, otherwise a generated set of clustered vectors.
glove=$ENGRAM_ROOT/../shared/data/glove-100d-1604
loaded=$(psql_as -d engram -tAc "SELECT count(*) FROM pg_tables WHERE tablename = 'demo_words'")
if [ "$loaded" = 0 ]; then
	psql_as -d engram -c "CREATE TABLE demo_words (id int PRIMARY KEY, word text NOT NULL, embedding evector(100) NOT NULL)"
	if [ -r "$glove/base.txt" ]; then
		engram_log "loading $(wc -l <"$glove/base.txt") GloVe word vectors"
		paste <(seq 1 "$(wc -l <"$glove/words.txt")") "$glove/words.txt" "$glove/base.txt" |
			psql_as -d engram -c "COPY demo_words (id, word, embedding) FROM STDIN"
	else
		engram_log "loading 2000 generated vectors (GloVe sample not found at $glove)"
		psql_as -d engram <<'SQL'
SELECT setseed(0.42);
INSERT INTO demo_words (id, word, embedding)
SELECT i, 'item-' || i || '-cluster-' || (i % 20),
       (SELECT array_agg(((i % 20) * 0.37 + d) % 5 + random() * 0.5 ORDER BY d)
          FROM generate_series(1, 100) AS d)::evector(100)
FROM generate_series(1, 2000) AS i;
SQL
	fi
	psql_as -d engram -c "ANALYZE demo_words"
fi

# The cue: the held-out GloVe query word "boy" (not in the loaded set), or
# one of the generated vectors.
if [ -r "$glove/query_words.txt" ]; then
	line=$(grep -n -x -m1 boy "$glove/query_words.txt" | cut -d: -f1)
	cue_label="the word 'boy' (held out of the loaded set)"
	cue=$(sed -n "${line}p" "$glove/queries.txt")
else
	cue_label="item-1"
	cue=$(psql_as -d engram -tAc "SELECT embedding FROM demo_words WHERE id = 1")
fi
echo
echo "Nearest neighbours of $cue_label by cosine distance:"
psql_as -d engram -P pager=off -v cue="$cue" <<'SQL'
SELECT word, round((embedding <=> :'cue')::numeric, 4) AS cosine_distance
FROM demo_words
ORDER BY embedding <=> :'cue'
LIMIT 10;
SQL
cat <<TXT

Engram is running.  Connect with:
    psql -h 127.0.0.1 -p $port -U postgres engram
Stop and remove the cluster with:
    bash scripts/stop_cluster.sh
TXT
