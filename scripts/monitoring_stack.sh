#!/usr/bin/env bash
# monitoring_stack.sh start|stop|status
#
# Runs postgres_exporter (with monitoring/queries.yaml) and Prometheus (with
# monitoring/prometheus.yml and engram_rules.yml) on 127.0.0.1 against one
# PostgreSQL cluster, as background processes whose pids are kept in the
# state directory; "stop" ends exactly those pids.
#
# The cluster is the one libpq's variables name:
#   PGHOST (host name or Unix-socket directory; default /var/run/postgresql)
#   PGPORT (default 5432), PGUSER (default postgres), PGDATABASE (default
#   postgres).  The user needs pg_monitor; Engram must be preloaded.
# Settings:
#   ENGRAM_MONITORING_DIR   state directory (default /tmp/engram-monitoring-$PGPORT)
#   ENGRAM_SCRAPE_INTERVAL  Prometheus scrape and rule interval (default 15s)
#   ENGRAM_PROMETHEUS_PORT  default: 9090 or the next free port
#   ENGRAM_EXPORTER_PORT    default: 9187 or the next free port
# "start" prints the Prometheus URL; "status" exits 0 only when both run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/common.sh"
monitoring=$ENGRAM_ROOT/monitoring

command=${1:-}
export PGHOST=${PGHOST:-/var/run/postgresql}
export PGPORT=${PGPORT:-5432}
export PGUSER=${PGUSER:-postgres}
export PGDATABASE=${PGDATABASE:-postgres}
state=${ENGRAM_MONITORING_DIR:-/tmp/engram-monitoring-$PGPORT}
interval=${ENGRAM_SCRAPE_INTERVAL:-15s}

usage() {
	echo "usage: $0 start|stop|status   (cluster from PGHOST/PGPORT/PGUSER/PGDATABASE)" >&2
	exit 2
}

find_binary() { # find_binary NAME... : print the first one on PATH
	local name
	for name in "$@"; do
		command -v "$name" 2>/dev/null && return 0
	done
	return 1
}

# pid_alive FILE: the pid in FILE names a live process.
pid_alive() {
	[ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# wait_http URL SECONDS: until URL answers 200, or fail.
wait_http() {
	local url=$1 deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
		sleep 0.3
	done
	return 1
}

free_port_from() {
	local port=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

stop_pid_file() { # stop_pid_file FILE NAME
	local file=$1 name=$2 pid i
	[ -s "$file" ] || return 0
	pid=$(cat "$file")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		engram_log "stopped $name (pid $pid)"
	fi
	rm -f "$file"
}

do_stop() {
	stop_pid_file "$state/prometheus.pid" prometheus
	stop_pid_file "$state/exporter.pid" postgres_exporter
}

do_status() {
	local ok=0
	if pid_alive "$state/exporter.pid"; then
		echo "postgres_exporter: running, pid $(cat "$state/exporter.pid"), http://127.0.0.1:$(cat "$state/exporter.port")/metrics"
	else
		echo "postgres_exporter: not running"
		ok=3
	fi
	if pid_alive "$state/prometheus.pid"; then
		echo "prometheus: running, pid $(cat "$state/prometheus.pid"), http://127.0.0.1:$(cat "$state/prometheus.port")"
	else
		echo "prometheus: not running"
		ok=3
	fi
	return $ok
}

do_start() {
	local exporter prometheus exporter_port prometheus_port dsn
	exporter=$(find_binary prometheus-postgres-exporter postgres_exporter) ||
		engram_die "postgres_exporter not found (Debian: apt-get install prometheus-postgres-exporter)"
	prometheus=$(find_binary prometheus) ||
		engram_die "prometheus not found (Debian: apt-get install prometheus)"
	command -v curl >/dev/null || engram_die "curl not found"
	if pid_alive "$state/exporter.pid" || pid_alive "$state/prometheus.pid"; then
		do_status
		engram_die "already running (state in $state); stop it first"
	fi
	"$(engram_bindir)/pg_isready" -q -h "$PGHOST" -p "$PGPORT" ||
		engram_die "PostgreSQL does not answer at host=$PGHOST port=$PGPORT"
	mkdir -p "$state/tsdb"
	"$(engram_bindir)/psql" -X -q -At -c "SELECT count(*) FROM engram_stats" \
		>/dev/null 2>"$state/check.err" || {
		cat "$state/check.err" >&2
		engram_die "cannot read engram_stats in database $PGDATABASE (is the extension created and engram preloaded?)"
	}
	exporter_port=${ENGRAM_EXPORTER_PORT:-$(free_port_from 9187)}
	prometheus_port=${ENGRAM_PROMETHEUS_PORT:-$(free_port_from 9090)}
	[ "$exporter_port" != "$prometheus_port" ] || prometheus_port=$(free_port_from $((prometheus_port + 1)))
	echo "$exporter_port" >"$state/exporter.port"
	echo "$prometheus_port" >"$state/prometheus.port"

	cp "$monitoring/queries.yaml" "$monitoring/engram_rules.yml" "$state/"
	sed -e "s/^\(  scrape_interval:\).*/\1 $interval/" \
		-e "s/^\(  evaluation_interval:\).*/\1 $interval/" \
		-e "s/127\.0\.0\.1:9187/127.0.0.1:$exporter_port/" \
		"$monitoring/prometheus.yml" >"$state/prometheus.yml"

	dsn="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$PGDATABASE sslmode=disable"
	DATA_SOURCE_NAME=$dsn setsid "$exporter" \
		--web.listen-address="127.0.0.1:$exporter_port" \
		--extend.query-path="$state/queries.yaml" \
		>"$state/exporter.log" 2>&1 </dev/null &
	echo $! >"$state/exporter.pid"
	wait_http "http://127.0.0.1:$exporter_port/metrics" 20 || {
		tail -5 "$state/exporter.log" >&2
		do_stop
		engram_die "postgres_exporter did not start (log: $state/exporter.log)"
	}

	setsid "$prometheus" --config.file="$state/prometheus.yml" \
		--storage.tsdb.path="$state/tsdb" \
		--web.listen-address="127.0.0.1:$prometheus_port" \
		>"$state/prometheus.log" 2>&1 </dev/null &
	echo $! >"$state/prometheus.pid"
	wait_http "http://127.0.0.1:$prometheus_port/-/ready" 30 || {
		tail -5 "$state/prometheus.log" >&2
		do_stop
		engram_die "prometheus did not start (log: $state/prometheus.log)"
	}
	engram_log "postgres_exporter on http://127.0.0.1:$exporter_port/metrics (pid $(cat "$state/exporter.pid"))"
	engram_log "prometheus on http://127.0.0.1:$prometheus_port (pid $(cat "$state/prometheus.pid")), scrape every $interval"
	echo "http://127.0.0.1:$prometheus_port"
}

case "$command" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac
