# 099_worker_nap_snapshots.pl: no job of the worker holds a snapshot while
# it naps (engram.worker_cost_delay), so none holds back the xmin horizon
# for the seconds its naps add up to.  With a tiny cost limit every job
# that does work naps often: tier migration (listing and moves),
# consolidation (after reading the episodes, between semantic memories),
# soft forgetting (between the queries of its window), the pending-list
# flush (between batches).  pg_stat_activity is sampled while the worker
# runs them: each is seen napping (wait event "Extension") and hardly ever
# with a backend_xmin.  (warm_up and access_stats never nap: they charge
# nothing.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

# autovacuum off: VACUUM would flush the pending list too.
my $node = new_engram_node('nap_snapshots',
	extra_conf => "engram.worker_naptime = 1\nengram.consolidation_interval = 1\n"
	  . "engram.worker_cost_limit = 10\nengram.worker_cost_delay = 30\n"
	  . "engram.forgetting_scan_batch = 600\n"
	  # a short listing, so that the other jobs get their share of the time
	  . "engram.migration_scan_pages = 4\n"
	  # every row demoted to cold, 20 a cycle: moves in most cycles
	  . "engram.migration_warm_to_cold_window_seconds = 1\n"
	  . "engram.migration_batch = 20\nautovacuum = off");

# A space to list, consolidate and forget (600 episodes of 64 dimensions).
engram_random_space($node, 'memories', 600, 64, 0.3);
# A space whose index defers inserts: 2500 entries for the flush.
$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SET engram.space_deferred_insert = on;
	SELECT engram_create_space('deferred', 16);
	SELECT setseed(0.7);
	INSERT INTO deferred (content, embedding)
	SELECT 'memory ' || i,
		   (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 16) WHERE i > 0)::evector
	FROM generate_series(1, 2500) i;});

my @jobs = qw(tier_migration consolidation soft_forgetting pending_flush);
my $napping = q{SELECT query, backend_xmin IS NULL FROM pg_stat_activity
	WHERE backend_type = 'engram worker' AND datname = 'postgres' AND state = 'active'
	  AND wait_event_type = 'Extension'};
my (%naps, %with_xmin);
my $sampling_until = time() + 30;
while (time() < $sampling_until)
{
	my $sample = $node->safe_psql('postgres', $napping);
	if ($sample ne '')
	{
		my ($job, $xmin_free) = split /\|/, $sample;
		$naps{$job}++;
		$with_xmin{$job}++ if $xmin_free ne 't';
	}
	select(undef, undef, undef, 0.02);
}
diag($node->safe_psql('postgres',
	q{SELECT string_agg(job || ': ' || runs || ' runs, ' || detail, E'\n' ORDER BY job)
	  FROM engram_worker_status WHERE database = 'postgres'}));
foreach my $job (@jobs)
{
	my $seen = $naps{$job} // 0;
	my $held = $with_xmin{$job} // 0;
	cmp_ok($seen, '>=', 3, "$job: the worker was seen napping in it ($seen samples)");
	# (pg_stat_activity reads a backend's xmin a moment before its wait
	# event, so a sample taken as a nap ends may show the next snapshot: 10 %)
	cmp_ok($held, '<=', int($seen / 10),
		"$job: and hardly ever with an xmin ($held): it holds no snapshot across its naps");
}
is($node->safe_psql('postgres',
		q{SELECT coalesce(string_agg(job || ': ' || last_error, '; '), '') FROM engram_worker_status
		  WHERE database = 'postgres' AND errors > 0}),
	'', 'no job failed');
cmp_ok($node->safe_psql('postgres',
		q{SELECT rows_flushed FROM engram_worker_status
		  WHERE database = 'postgres' AND job = 'pending_flush'}),
	'>', 0, 'the flush merged entries');

$node->stop;
done_testing();
