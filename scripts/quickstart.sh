#!/usr/bin/env bash
# quickstart.sh: install, build, and run a local PostgreSQL 15 cluster with
# Engram preloaded; fill a memory space with sample data and print a recall.  Run as
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

# Sample data: a memory space "demo" holding real GloVe word vectors when
# the shared benchmark data is beside the project (each word a memory,
# associated both ways with its three nearest words), otherwise generated
# memories in twenty topics.  Both ways, so that a memory also receives the
# activation its neighbours spread (with one-way links, the memory nearest
# the cue relays activation to its neighbours and ranks under them).
glove=$ENGRAM_ROOT/../shared/data/glove-100d-1604
have_space=$(psql_as -d engram -tAc "SELECT count(*) FROM engram_spaces WHERE space_name = 'demo'")
if [ "$have_space" = 0 ]; then
	if [ -r "$glove/base.txt" ]; then
		engram_log "creating space 'demo' with $(wc -l <"$glove/base.txt") GloVe word memories"
		psql_as -d engram -c "SELECT engram_create_space('demo', 100)" >/dev/null
		paste "$glove/words.txt" "$glove/base.txt" |
			psql_as -d engram -c "COPY demo (content, embedding) FROM STDIN"
	else
		engram_log "creating space 'demo' with 2000 generated memories (GloVe sample not found at $glove)"
		psql_as -d engram >/dev/null <<'SQL'
SELECT engram_create_space('demo', 100);
SELECT setseed(0.42);
INSERT INTO demo (content, embedding, tags)
SELECT 'memory ' || i || ' about topic ' || (i % 20),
       (SELECT array_agg(((i % 20) * 0.37 + d) % 5 + random() * 0.5 ORDER BY d)
          FROM generate_series(1, 100) AS d),
       ARRAY['topic-' || (i % 20)]
FROM generate_series(1, 2000) AS i;
SQL
	fi
	engram_log "associating each memory with its three nearest neighbours, both ways"
	psql_as -d engram >/dev/null <<'SQL'
SELECT count(engram_associate('demo', m.id, n.id,
                              greatest(0.05, 1 - (m.embedding <=> n.embedding))::real,
                              bidirectional => true))
FROM demo m
CROSS JOIN LATERAL (SELECT o.id, o.embedding FROM demo o WHERE o.id <> m.id
                    ORDER BY o.embedding <=> m.embedding LIMIT 3) n;
ANALYZE demo;
SQL
fi

# The cue: the held-out GloVe query word "boy" (not in the loaded set), or
# the embedding of the first generated memory.
if [ -r "$glove/query_words.txt" ]; then
	line=$(grep -n -x -m1 boy "$glove/query_words.txt" | cut -d: -f1)
	cue_label="the word 'boy' (held out of the stored memories)"
	cue=$(sed -n "${line}p" "$glove/queries.txt")
else
	cue_label="the embedding of memory 1"
	cue=$(psql_as -d engram -tAc "SELECT embedding FROM demo ORDER BY id LIMIT 1")
fi
echo
echo "engram_recall('demo', <$cue_label>, k => 10), hybrid mode (similarity seeds + spreading activation):"
psql_as -d engram -P pager=off -v cue="$cue" <<'SQL'
SELECT id, content, round(score::numeric, 3) AS score,
       round(similarity::numeric, 3) AS similarity, round(activation::numeric, 3) AS activation,
       round(confidence::numeric, 3) AS confidence,
       '[' || round(confidence_low::numeric, 3) || ', ' || round(confidence_high::numeric, 3) || ']' AS interval,
       hops, tier
FROM engram_recall('demo', :'cue'::evector, k => 10);
SQL
cat <<TXT

Engram is running.  Connect with:
    psql -h 127.0.0.1 -p $port -U postgres engram
Stop and remove the cluster with:
    bash scripts/stop_cluster.sh
TXT
