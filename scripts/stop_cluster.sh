#!/usr/bin/env bash
# stop_cluster.sh: stop the quickstart cluster and remove its data
# (.engram/ in the project, and the directory it links to).  Run as root.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

state=$ENGRAM_ROOT/.engram
if [ ! -e "$state" ]; then
	engram_log "no quickstart cluster ($state does not exist)"
	exit 0
fi
real=$(cd "$state" && pwd -P)
if [ -f "$real/data/postmaster.pid" ]; then
	engram_log "stopping the cluster in $real/data"
	engram_cluster_stop "$real/data"
fi
rm -rf "$real"
[ -L "$state" ] && rm -f "$state"
engram_log "removed $real"
