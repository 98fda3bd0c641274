#!/usr/bin/env bash
# soak.sh [MINUTES] [CLIENTS]: run the mixed workload (70 % hybrid recall,
# 30 % store) with pgbench for MINUTES (default 5) against a throwaway
# cluster whose background worker is active (tier migration, consolidation
# every 30 s, soft forgetting, access statistics), and report over time:
#	- throughput (pgbench progress, every 10 s)
#	- errors: failed transactions, aborted clients, worker job errors (must be 0)
#	- memory: private RSS (RssAnon: without the shared buffers a backend
#	  touches, which grow with the table) of the pgbench backends (sum and
#	  largest), PostgreSQL's
#	  shared memory (pg_shmem_allocations) and the hot tier's used bytes
#	  (must stay flat: the verdict compares the last sample with the first
#	  one after a one-minute warm-up, allowing 20 % for RSS)
# SOAK_STORE_PERCENT (default 30) sets the share of stores; 0 runs recall
# only, so the table keeps its size (to tell memory that grows with the
# data from a leak).
# SOAK_MEMORY_CONTEXTS (default 1): at the first sample and then every
# SOAK_CONTEXT_INTERVAL seconds (default 60), pg_log_backend_memory_contexts()
# of every pgbench backend; the grand totals (bytes palloc'd from malloc by
# the backend's memory contexts: what a leak in a context moves) go into
# contexts.txt, and the full dump of the busiest backend into
# memory-contexts/<elapsed>s-<pid>.txt.  With it on, the memory verdict
# judges the context total (within +10 %), and RSS is reported only: RSS
# also holds malloc's high-water mark, which glibc does not give back.
# SOAK_MALLOC_TRIM (default 1 when gdb is installed): about 40 s before the
# end, RssAnon of every pgbench backend before and after calling glibc's
# malloc_trim(0) in it (gdb -p): memory that malloc_trim gives back was
# free in malloc (freed by the memory contexts), not leaked.
# Writes soak-<timestamp>/soak_report.txt (and the raw samples) in the
# current directory and exits non-zero when the verdict is FAIL.  As root,
# like scripts/test.sh (builds and installs into $PG_CONFIG's PostgreSQL).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib/common.sh"

minutes=${1:-5}
clients=${2:-2}
store_percent=${SOAK_STORE_PERCENT:-30}
[[ "$store_percent" =~ ^[0-9]+$ ]] && [ "$store_percent" -le 100 ] || engram_die "SOAK_STORE_PERCENT must be 0..100"
seconds=$((minutes * 60))
out=$PWD/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

engram_build_install
work=$(mktemp -d /tmp/engram-soak.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/sock"
chown -R postgres: "$work"
port=$(engram_free_port $((54000 + RANDOM % 2000)))
datadir=$work/data
cleanup() { engram_cluster_stop "$datadir"; rm -rf "$work"; }
trap cleanup EXIT
engram_cluster_init "$datadir" "$port" "$work/sock" \
	"engram.worker_naptime = 1" "engram.consolidation_interval = 30" \
	"engram.hot_tier_size_mb = 32" "max_connections = 40" \
	"log_line_prefix = '%m [%p] '"
engram_cluster_start "$datadir" "$work/server.log"
psql_cmd() { engram_as_postgres psql -X -q -At -h "$work/sock" -p "$port" -d postgres "$@"; }

engram_log "loading 5000 memories of 32 dimensions"
psql_cmd -c "CREATE EXTENSION engram" -c "SELECT engram_create_space('soak', 32)" >/dev/null
psql_cmd -c "SELECT count(*) FROM engram_store_batch('soak',
	ARRAY(SELECT 'memory ' || g || ' about topic ' || (g % 50) FROM generate_series(1, 5000) g),
	ARRAY(SELECT ARRAY(SELECT (sin((g % 50) * 1.3 + d) + 0.1 * cos(g + d))::real
					   FROM generate_series(1, 32) d) FROM generate_series(1, 5000) g))" >/dev/null

cat >"$work/recall.sql" <<'EOF'
\set q random(1, 1000000)
SELECT count(*) FROM engram_recall('soak',
	ARRAY(SELECT (sin((:q % 50) * 1.3 + d) + 0.1 * cos(:q + d))::real FROM generate_series(1, 32) d),
	10, 'hybrid');
EOF
cat >"$work/store.sql" <<'EOF'
\set q random(1, 1000000)
SELECT engram_store('soak', 'soak memory ' || :q || ' about topic ' || (:q % 50),
	ARRAY(SELECT (sin((:q % 50) * 1.3 + d) + 0.1 * cos(:q + d))::real FROM generate_series(1, 32) d));
EOF
chown postgres: "$work"/*.sql

# The pgbench backends' process ids, space-separated.
backend_pids() {
	psql_cmd -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench'"
}

# Sampler: every 10 s, one line of memory figures.
sample() {
	local elapsed=$1 pids rss_total=0 rss_max=0 rss
	pids=$(backend_pids)
	for pid in $pids; do
		rss=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		rss=${rss:-0}
		rss_total=$((rss_total + rss))
		[ "$rss" -gt "$rss_max" ] && rss_max=$rss
	done
	printf '%s %s %s %s\n' "$elapsed" "$rss_total" "$rss_max" "$(psql_cmd -F ' ' -c "
		SELECT (SELECT sum(allocated_size) FROM pg_shmem_allocations),
			   (SELECT used_bytes FROM engram_hot_tier_info()),
			   (SELECT count(*) FROM soak),
			   (SELECT coalesce(sum(errors), 0) FROM engram_worker_state())")"
}

# Memory contexts: ask every pgbench backend to log its contexts, wait
# until each has written its grand total, keep each dump in
# memory-contexts/<elapsed>s-<pid>.txt and print "elapsed total used
# long_lived" (sums over the backends, bytes).  The dump is taken while the
# backend runs a query, so the grand total includes that query's memory
# (executor, index insert, spreading activation): noise of a few hundred kB.
# long_lived leaves out the per-query subtrees (TopTransactionContext,
# TopPortalContext, MessageContext), which are reset after every
# transaction; what is left (CacheMemoryContext, plan caches, Engram's
# per-backend caches in TopMemoryContext, ...) is where a leak across
# transactions has to live.
contexts_on=${SOAK_MEMORY_CONTEXTS:-1}
context_interval=${SOAK_CONTEXT_INTERVAL:-60}
# context_subtrees DUMP: "name bytes" for every level-1 subtree (and
# "TopMemoryContext" for the level-0 context's own blocks), then
# "long_lived bytes" and "grand_total bytes".
context_subtrees() {
	awk '
	/^level: 0;/ { split($0, f, "; "); sub(/^[^:]*: /, "", f[2]); sub(/ total.*/, "", f[2]);
		top = "TopMemoryContext"; sums[top] += f[2] + 0; next }
	/^level: [0-9]+;/ {
		lvl = $2 + 0; line = $0; sub(/^level: [0-9]+; /, "", line)
		if (line ~ /^[0-9]+ more child contexts containing /) {
			n = line; sub(/^.* containing /, "", n); sub(/ total.*/, "", n)
			name = (lvl == 0) ? "other children of TopMemoryContext" : top
		} else {
			n = line; sub(/^[^:]*: /, "", n); sub(/ total.*/, "", n)
			if (lvl == 1) { top = line; sub(/:.*/, "", top) }
			name = top
		}
		sums[name] += n + 0; next }
	/^Grand total:/ { grand = $3 }
	END {
		for (k in sums) {
			printf "%s\t%d\n", k, sums[k]
			if (k != "TopTransactionContext" && k != "TopPortalContext" && k != "MessageContext")
				ll += sums[k]
		}
		printf "long_lived\t%d\ngrand_total\t%d\n", ll, grand
	}' "$1"
}
sample_contexts() {
	local elapsed=$1 pids pid offset total=0 used=0 long_lived=0 line t u tries dump
	pids=$(backend_pids)
	[ -n "$pids" ] || return 0
	offset=$(stat -c %s "$work/server.log")
	for pid in $pids; do
		psql_cmd -c "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null
	done
	for pid in $pids; do
		line=""
		for tries in $(seq 1 50); do
			line=$(tail -c +"$((offset + 1))" "$work/server.log" | grep -a "\[$pid\] LOG:  Grand total:" | head -1 || true)
			[ -n "$line" ] && break
			sleep 0.2
		done
		[ -n "$line" ] || continue
		dump=$out/memory-contexts/${elapsed}s-$pid.txt
		tail -c +"$((offset + 1))" "$work/server.log" | grep -a "\[$pid\] LOG:  " |
			sed 's/^.*\] LOG:  //' | sed '/^Grand total:/q' >"$dump" || true
		t=$(sed -n 's/.*Grand total: \([0-9]*\) bytes.*/\1/p' <<<"$line")
		u=$(sed -n 's/.*; \([0-9]*\) used$/\1/p' <<<"$line")
		total=$((total + t))
		used=$((used + u))
		long_lived=$((long_lived + $(context_subtrees "$dump" | awk -F '\t' '$1 == "long_lived" {print $2}')))
	done
	printf '%s %s %s %s\n' "$elapsed" "$total" "$used" "$long_lived"
}
[ "$contexts_on" = 1 ] && mkdir -p "$out/memory-contexts" &&
	echo "elapsed_s context_total_bytes context_used_bytes long_lived_bytes" >"$out/contexts.txt"

malloc_trim_on=${SOAK_MALLOC_TRIM:-$(command -v gdb >/dev/null && echo 1 || echo 0)}
malloc_trim_done=0
malloc_trim_at=""
# trim_backends: "pid rss_before_kb rss_after_kb" per pgbench backend.
trim_backends() {
	local pids pid before after
	pids=$(backend_pids)
	for pid in $pids; do
		before=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		timeout 60 gdb -p "$pid" -batch -nx -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 || true
		after=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		echo "$pid ${before:-0} ${after:-0}"
	done
}

workload=""
[ "$store_percent" -lt 100 ] && workload="-f recall.sql@$((100 - store_percent))"
[ "$store_percent" -gt 0 ] && workload="$workload -f store.sql@$store_percent"
engram_log "soak: ${minutes} min, $clients clients, $store_percent % stores, worker active"
(cd "$work" && engram_as_postgres pgbench -n -h "$work/sock" -p "$port" -c "$clients" -j "$clients" \
	-T "$seconds" -P 10 $workload postgres) >"$out/pgbench.out" 2>&1 &
bench_pid=$!
echo "elapsed_s backend_private_rss_total_kb backend_private_rss_max_kb shmem_bytes hot_tier_used_bytes memories worker_errors" \
	>"$out/samples.txt"
start=$(date +%s)
next_contexts=0
while kill -0 "$bench_pid" 2>/dev/null; do
	sleep 10
	kill -0 "$bench_pid" 2>/dev/null || break
	now=$(($(date +%s) - start))
	sample "$now" >>"$out/samples.txt"
	if [ "$contexts_on" = 1 ] && [ "$now" -ge "$next_contexts" ]; then
		sample_contexts "$now" >>"$out/contexts.txt"
		next_contexts=$(( (now / context_interval + 1) * context_interval ))
	fi
	if [ "$malloc_trim_on" = 1 ] && [ "$malloc_trim_done" = 0 ] && [ "$now" -ge $((seconds - 40)) ]; then
		echo "# at ${now} s: pid rss_anon_before_kb rss_anon_after_malloc_trim_kb" >"$out/malloc_trim.txt"
		trim_backends >>"$out/malloc_trim.txt"
		malloc_trim_done=1
		malloc_trim_at=$now
	fi
done
set +e
wait "$bench_pid"
bench_status=$?
set -e

failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out/pgbench.out")
aborted=$(grep -c 'aborted' "$out/pgbench.out" || true)
worker_errors=$(tail -1 "$out/samples.txt" | awk '{print $7}')
errors=$(( ${failed:-0} + aborted + ${worker_errors:-0} ))
# Memory flatness: first sample after 60 s against the last one.
read -r rss_first shm_first < <(awk 'NR > 1 && $1 >= 60 {print $2, $4; exit}' "$out/samples.txt") || true
read -r rss_last shm_last < <(tail -1 "$out/samples.txt" | awk '{print $2, $4}') || true
# The RSS figure to judge is the last one before malloc_trim ran.
if [ "$malloc_trim_done" = 1 ]; then
	read -r rss_last < <(awk -v at="$malloc_trim_at" 'NR > 1 && $1 == at {print $2}' "$out/samples.txt") || true
fi
verdict=PASS
[ "$bench_status" -eq 0 ] && [ "$errors" -eq 0 ] || verdict=FAIL
ctx_first="" ctx_last="" ctx_first_s="" ctx_last_s=""
if [ "$contexts_on" = 1 ]; then
	read -r ctx_first_s ctx_first < <(awk 'NR > 1 && $1 >= 60 {print $1, $4; exit}' "$out/contexts.txt") || true
	read -r ctx_last_s ctx_last < <(tail -1 "$out/contexts.txt" | awk '$1 ~ /^[0-9]+$/ {print $1, $4}') || true
fi
memory_rule="backend RSS within +20 %"
if [ -n "${ctx_first:-}" ] && [ "${ctx_first:-0}" -gt 0 ]; then
	memory_rule="long-lived memory contexts of the backends within +10 %; RSS reported only"
	[ $((ctx_last * 100)) -le $((ctx_first * 110)) ] || verdict=FAIL
elif [ -n "${rss_first:-}" ] && [ "${rss_first:-0}" -gt 0 ]; then
	[ $((rss_last * 100)) -le $((rss_first * 120)) ] || verdict=FAIL
fi
if [ -n "${shm_first:-}" ]; then
	[ "$shm_last" = "$shm_first" ] || verdict=FAIL
fi

{
	echo "Engram soak: $minutes min, $clients clients, $((100 - store_percent)) % recall (hybrid) / $store_percent % store, worker active"
	echo "command: SOAK_STORE_PERCENT=$store_percent SOAK_MEMORY_CONTEXTS=$contexts_on SOAK_MALLOC_TRIM=$malloc_trim_on bench/soak.sh $minutes $clients    ($(date -u +%FT%TZ), $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
	echo
	echo "throughput over time (pgbench -P 10):"
	grep '^progress' "$out/pgbench.out" || true
	echo
	grep -E '^(number of transactions actually processed|number of failed|latency average|tps)' \
		"$out/pgbench.out" || true
	echo
	echo "memory over time:"
	column -t "$out/samples.txt"
	echo
	echo "errors: ${failed:-0} failed transactions, $aborted aborted clients, ${worker_errors:-0} worker job errors"
	echo "backend private RSS (sum of pgbench backends) after warm-up: ${rss_first:-n/a} kB -> ${rss_last:-n/a} kB${malloc_trim_at:+ (at ${malloc_trim_at} s, before malloc_trim)}"
	if [ "$contexts_on" = 1 ]; then
		echo
		echo "memory contexts of the pgbench backends (sum of pg_log_backend_memory_contexts grand totals):"
		column -t "$out/contexts.txt"
		echo "long-lived memory contexts (sum of the backends) after warm-up: ${ctx_first:-n/a} -> ${ctx_last:-n/a} bytes (dumps in memory-contexts/)"
		if [ -n "${ctx_first_s:-}" ] && [ -n "${ctx_last_s:-}" ]; then
			echo "by subtree (level-1 context and its children, sum of the backends), ${ctx_first_s} s -> ${ctx_last_s} s:"
			for f in "$out"/memory-contexts/"${ctx_first_s}"s-*.txt; do context_subtrees "$f"; done |
				awk -F '\t' '{a[$1] += $2} END {for (k in a) printf "%s\t%d\n", k, a[k]}' | sort >"$out/subtrees_first.txt"
			for f in "$out"/memory-contexts/"${ctx_last_s}"s-*.txt; do context_subtrees "$f"; done |
				awk -F '\t' '{a[$1] += $2} END {for (k in a) printf "%s\t%d\n", k, a[k]}' | sort >"$out/subtrees_last.txt"
			join -t "$(printf '\t')" -a 1 -a 2 -e 0 -o 0,1.2,2.2 "$out/subtrees_first.txt" "$out/subtrees_last.txt" |
				awk -F '\t' '{printf "  %-40s %10d -> %10d  (%+d)\n", $1, $2, $3, $3 - $2}'
		fi
	fi
	if [ -s "$out/malloc_trim.txt" ]; then
		echo
		awk 'NR == 1 {sub(/^# /, ""); sub(/:.*/, ""); at = $0; next} {b += $2; a += $3}
			END {printf "malloc_trim(0) in the pgbench backends (%s): private RSS %d kB -> %d kB\n", at, b, a}' \
			"$out/malloc_trim.txt"
	fi
	echo "shared memory: ${shm_first:-n/a} -> ${shm_last:-n/a} bytes"
	echo "verdict: $verdict (errors must be 0, $memory_rule, shared memory unchanged)"
} >"$out/soak_report.txt"
cat "$out/soak_report.txt"
[ "$verdict" = PASS ]
