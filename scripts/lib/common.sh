# common.sh: shell helpers shared by the quickstart, test and benchmark
# scripts.  Source it; it defines functions and variables, runs nothing.
#
# Contract: everything here runs as root (installing packages, `make
# install`), while every PostgreSQL process runs as the postgres user in a
# directory that user owns.

ENGRAM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
ENGRAM_APT_PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-contrib libzstd-dev
  libnuma-dev libipc-run-perl make gcc clang-14 libclang-rt-14-dev llvm-14 perl curl prometheus
  prometheus-postgres-exporter numactl procps"

engram_log() { printf '==> %s\n' "$*" >&2; }
engram_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install the Debian packages the project needs, only those missing.
engram_install_packages() {
	local missing=() pkg
	for pkg in $ENGRAM_APT_PACKAGES; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || engram_die "missing packages (${missing[*]}); run as root to install them"
	engram_log "installing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		engram_die "apt-get install failed"
	# Debian's packages may try to start their services; we run our own.
	engram_stop_package_services
}

# The Debian packages start a default cluster and exporters where an init
# system runs; the project never uses them and keeps the machine quiet.
engram_stop_package_services() {
	local pid
	for pid in $(pgrep -x prometheus 2>/dev/null) $(pgrep -f 'prometheus-postgres-exporter' 2>/dev/null); do
		# Only the packaged daemons, started by init: never ones a test started.
		[ "$(ps -o ppid= -p "$pid" | tr -d ' ')" = 1 ] && kill "$pid" 2>/dev/null
	done
	return 0
}

engram_bindir() { "$PG_CONFIG" --bindir; }
engram_pgxs_dir() { dirname "$(dirname "$("$PG_CONFIG" --pgxs)")"; }

# Build with warnings as errors and install into the PostgreSQL of $PG_CONFIG.
engram_build_install() {
	engram_log "building engram (PG_CONFIG=$PG_CONFIG)"
	make -C "$ENGRAM_ROOT" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" ENGRAM_WERROR=1 >/dev/null ||
		engram_die "build failed"
	make -C "$ENGRAM_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null ||
		engram_die "make install failed"
}

# Run a command as the postgres user, with the server binaries first in PATH.
engram_as_postgres() {
	runuser -u postgres -- env PATH="$(engram_bindir):$PATH" "$@"
}

# Print a TCP port on 127.0.0.1 that nothing listens on, from $1 upward.
engram_free_port() {
	local port=${1:-55432}
	while [ "$port" -lt 65000 ]; do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
			[ ! -e "/tmp/.s.PGSQL.$port" ]; then
			echo "$port"
			return 0
		fi
		port=$((port + 1))
	done
	engram_die "no free port found"
}

# engram_cluster_init DATADIR PORT SOCKDIR [extra conf lines...]
# initdb (as postgres) unless DATADIR already holds a cluster, then write
# the Engram settings into DATADIR/engram.conf (included from
# postgresql.conf).
engram_cluster_init() {
	local datadir=$1 port=$2 sockdir=$3
	shift 3
	if [ ! -f "$datadir/PG_VERSION" ]; then
		engram_as_postgres initdb -D "$datadir" -U postgres -A trust -E UTF8 \
			--locale=C.UTF-8 >/dev/null || engram_die "initdb failed in $datadir"
		echo "include 'engram.conf'" >>"$datadir/postgresql.conf"
	fi
	{
		echo "port = $port"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$sockdir'"
		echo "shared_preload_libraries = 'engram'"
		printf '%s\n' "$@"
	} >"$datadir/engram.conf"
	chown postgres: "$datadir/engram.conf"
}

# engram_cluster_start DATADIR LOGFILE: start and wait until it accepts.
engram_cluster_start() {
	local datadir=$1 logfile=$2
	engram_as_postgres pg_ctl -D "$datadir" -l "$logfile" -w -t 120 start >/dev/null ||
		{ tail -20 "$logfile" >&2; engram_die "server failed to start (log: $logfile)"; }
}

# engram_cluster_stop DATADIR: fast stop if running; no error otherwise.
engram_cluster_stop() {
	local datadir=$1
	[ -f "$datadir/postmaster.pid" ] || return 0
	engram_as_postgres pg_ctl -D "$datadir" -m fast -w -t 120 stop >/dev/null 2>&1 ||
		engram_as_postgres pg_ctl -D "$datadir" -m immediate -w stop >/dev/null 2>&1
	return 0
}

# engram_bench_cluster_dirs NAME: a throwaway work directory for a
# benchmark's cluster.  Sets work, datadir, sockdir (owned by postgres) and
# port (free, 60000-63999), and on exit stops the cluster and removes work.
engram_bench_cluster_dirs() {
	work=$(mktemp -d "/tmp/engram-$1.XXXXXX")
	chmod 755 "$work"
	chown postgres: "$work"
	datadir=$work/data
	sockdir=$work/sock
	mkdir -p "$sockdir" && chown postgres: "$sockdir"
	port=$(engram_free_port $((60000 + RANDOM % 4000)))
	trap 'engram_cluster_stop "$datadir"; rm -rf "$work"' EXIT
}

engram_cluster_running() {
	engram_as_postgres pg_ctl -D "$1" status >/dev/null 2>&1
}
