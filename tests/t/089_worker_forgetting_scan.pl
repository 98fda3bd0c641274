# 089_worker_forgetting_scan.pl: the worker's soft forgetting works in
# bounded windows.
#  - each run examines at most engram.forgetting_scan_batch rows (40 here)
#    of the space, going on after the last id the previous run examined;
#  - at the end of the space it goes on from the lowest id, up to where the
#    run started, and the status detail says it wrapped around;
#  - the episodes under engram.min_confidence_threshold among the rows a
#    run examined, and only those, sink to the cold tier, each exactly once
#    (cold ones are skipped when the scan comes round again); a memory
#    behind the window that fades waits until the scan comes round;
#  - the windows are index range scans on id (auto_explain shows the plan
#    of the worker's queries);
#  - engram_run_maintenance, and the worker with a batch of 0, examine the
#    whole space.
# The pinned clock runs one soft-forgetting pass per step (as in 081).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('forgetting_scan',
	extra_conf => "shared_preload_libraries = 'engram, auto_explain'\n"
	  . "auto_explain.log_min_duration = 0\n"
	  . "auto_explain.log_nested_statements = on\n"
	  . "engram.worker_naptime = 1\n"
	  . "engram.pinned_now = '2030-01-01 00:00:00+00'\n"
	  . "engram.consolidation_interval = 300\n"
	  . "engram.forgetting_scan_batch = 40\n"
	  # no warm -> cold demotions by tier migration: only forgetting moves rows
	  . "engram.migration_warm_to_cold_accesses = 0",
	start => 0);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION engram');

# 100 episodes, ids 1-100, created a minute before the pinned start: those
# with an id divisible by 3 have confidence 0.1 (effective about 0.1,
# under 0.3), the others 0.9 (about 0.88); then 5 doubtful semantic
# memories, ids 101-105, which are never forgotten.  Random embeddings of
# 64 dimensions: no cluster for consolidation, which runs on the same
# schedule.
$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT engram_create_space('fading', 64);
	SELECT setseed(0.89);
	INSERT INTO fading (content, embedding, kind, confidence, occurred_at, created_at)
	SELECT 'memory ' || i,
		   (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 64) WHERE i > 0)::evector,
		   CASE WHEN i <= 100 THEN 'episodic' ELSE 'semantic' END,
		   CASE WHEN i % 3 = 0 OR i > 100 THEN 0.1 ELSE 0.9 END,
		   '2029-12-31 23:59:00+00', '2029-12-31 23:59:00+00'
	FROM generate_series(1, 105) i;});
is($node->safe_psql('postgres', q{SELECT min(id) || '-' || max(id) FROM fading}), '1-105',
	'105 memories, ids 1-105');

my $status = q{SELECT state || ' ' || runs FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'soft_forgetting'};
ok($node->poll_query_until('postgres',
		q{SELECT next_run FROM engram_worker_status WHERE database = 'postgres' AND job = 'soft_forgetting'},
		'2030-01-01 00:05:00+00'),
	'the first soft-forgetting run is scheduled one interval after the start');

my $cold = q{SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM engram_memory_stats('fading')
	WHERE tier = 'cold'};
my $step = 0;

# run_step(DETAIL, COLD_IDS, NAME): move the clock to the next run, wait
# for it, compare its detail and the cold rows.
sub run_step
{
	my ($detail, $cold_ids, $name) = @_;
	$step++;
	$node->safe_psql('postgres',
		sprintf(q{ALTER SYSTEM SET engram.pinned_now = '2030-01-01 00:%02d:00+00'}, 5 * $step));
	$node->reload;
	ok($node->poll_query_until('postgres', $status, "scheduled $step"), "run $step: $name");
	is($node->safe_psql('postgres',
			q{SELECT detail FROM engram_worker_status WHERE database = 'postgres' AND job = 'soft_forgetting'}),
		"1 space: $detail", "run $step: detail");
	is($node->safe_psql('postgres', $cold), join(',', @$cold_ids), "run $step: cold rows");
}

my @thirds = grep { $_ % 3 == 0 } 1 .. 100;
run_step('13 episodes under the threshold, 13 moved to cold; 40 rows examined, 0 wrapped around',
	[ grep { $_ <= 40 } @thirds ], 'ids 1-40 examined');
run_step('13 episodes under the threshold, 13 moved to cold; 40 rows examined, 0 wrapped around',
	[ grep { $_ <= 80 } @thirds ], 'ids 41-80 examined');
# 81-105 (25 rows) then, wrapping around, 1-15: 81, 84, ..., 99 are new.
run_step('7 episodes under the threshold, 7 moved to cold; 40 rows examined, 1 wrapped around',
	[@thirds], 'ids 81-105 and 1-15 examined');

# Two memories fade now: 10 (behind the scan, at 15) and 50 (ahead of it).
$node->safe_psql('postgres', q{UPDATE fading SET confidence = 0.1 WHERE id IN (10, 50)});
run_step('1 episodes under the threshold, 1 moved to cold; 40 rows examined, 0 wrapped around',
	[ sort { $a <=> $b } @thirds, 50 ], 'ids 16-55 examined: 50 is found, 10 waits');
run_step('0 episodes under the threshold, 0 moved to cold; 40 rows examined, 0 wrapped around',
	[ sort { $a <=> $b } @thirds, 50 ], 'ids 56-95 examined');
run_step('1 episodes under the threshold, 1 moved to cold; 40 rows examined, 1 wrapped around',
	[ sort { $a <=> $b } @thirds, 10, 50 ], 'ids 96-105 and 1-30 examined: 10 is found');

is($node->safe_psql('postgres',
		q{SELECT episodes_selected || ' ' || rows_moved || ' ' || errors FROM engram_worker_status
		  WHERE database = 'postgres' AND job = 'soft_forgetting'}),
	'35 35 0', 'every faded episode selected and moved exactly once, no error');
is($node->safe_psql('postgres',
		q{SELECT count(*) || ' ' || count(*) FILTER (WHERE kind = 'semantic') || ' ' ||
				 count(*) FILTER (WHERE confidence = 0.1::real) FROM fading}),
	'105 5 40', 'nothing deleted or changed; no semantic memory created');

# The windows were index range scans on id, never a sequential scan.
my $log = slurp_file($node->logfile);
my @plans = $log =~ /Query Text: (SELECT id, ctid, confidence, [^\n]* WHERE id BETWEEN \$1 AND \$2 ORDER BY id LIMIT \$3\n(?:\t[^\n]*\n)+)/g;
cmp_ok(scalar(@plans), '>=', 8, 'auto_explain logged the worker\'s window queries: ' . scalar(@plans));
is(scalar(grep { /Index Scan using fading_pkey on fading/ && !/Seq Scan/ } @plans), scalar(@plans),
	'each is an index range scan on id');

# engram_run_maintenance examines the whole space: at threshold 0.95 every
# episode not cold yet (100 - 35) is selected in one call.
is($node->safe_psql('postgres', q{
		BEGIN;
		SET LOCAL engram.min_confidence_threshold = 0.95;
		SELECT detail FROM engram_run_maintenance('fading') WHERE job = 'soft_forgetting';
		ROLLBACK;}),
	'1 space: 65 episodes under the threshold, 65 moved to cold',
	'engram_run_maintenance examines the whole space, whatever the window');

# With engram.forgetting_scan_batch = 0 the worker examines the whole space
# every run: 20 (behind the scan, at 30) is found at once.
$node->safe_psql('postgres', q{UPDATE fading SET confidence = 0.1 WHERE id = 20});
$node->safe_psql('postgres', q{ALTER SYSTEM SET engram.forgetting_scan_batch = 0});
run_step('1 episodes under the threshold, 1 moved to cold',
	[ sort { $a <=> $b } @thirds, 10, 20, 50 ], 'batch 0: the whole space');

$node->stop;
done_testing();
