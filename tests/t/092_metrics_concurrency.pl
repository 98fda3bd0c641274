# 092_metrics_concurrency.pl: the shared-memory metrics under concurrent
# writers, and their refusal when Engram is not preloaded.
#
# Four pgbench clients record operations at the same time through the
# testing aids (the same C entry points the subsystems call): no update may
# be lost (counters, histogram buckets and sums are lock-free atomics), and
# the slow-operation ring keeps exactly its capacity.  Also measures what
# one begin/end pair costs, for docs/operations/monitoring.md.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('metrics');
$node->safe_psql('postgres', 'SELECT engram_metrics_reset()');

my $clients = 4;
my $per_client = 2000;
# Each transaction: one 12 ms recall (over the 10 ms threshold: logged), one 0.1 ms store, one
# timed consolidate, one failing migrate (an error counted at abort), one
# cache hit.
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --transactions=$per_client",
	0,
	[qr{processed: @{[ $clients * $per_client ]}/@{[ $clients * $per_client ]}}],
	[qr{^$}],
	'concurrent metric updates',
	{
		'092_record' => q{
SELECT engram_metrics_test_record('recall', 0.012);
SELECT engram_metrics_test_record('store', 0.0001);
SELECT engram_metrics_test_record_timed('consolidate', false);
DO $$ BEGIN PERFORM engram_metrics_test_record_timed('migrate', true); EXCEPTION WHEN raise_exception THEN NULL; END $$;
SELECT engram_metrics_test_record_cache('activation', true);
}
	});

my $n = $clients * $per_client;
is( $node->safe_psql('postgres',
		"SELECT string_agg(operation || '=' || operations || '/' || errors, ' ' ORDER BY operation)
		   FROM engram_stats WHERE operations > 0"),
	"consolidate=$n/0 migrate=$n/$n recall=$n/0 store=$n/0",
	'no operation or error lost');
is( $node->safe_psql('postgres',
		"SELECT bool_and(cumulative_counts[17] = count) FROM engram_operation_histogram"),
	't', 'histogram buckets add up to the count for every operation');
is( $node->safe_psql('postgres',
		"SELECT round(sum_seconds::numeric, 6) FROM engram_operation_histogram WHERE operation = 'recall'"),
	sprintf('%.6f', $n * 0.012), 'histogram sum of the 12 ms recalls');
is($node->safe_psql('postgres', q{SELECT hits || '/' || requests FROM engram_cache_stats}),
	"$n/$n", 'cache lookups');
is( $node->safe_psql('postgres',
		"SELECT count(*) || ' ' || bool_and(operation = 'recall' AND round(duration_ms::numeric, 6) = 12)
		   FROM engram_slow_operations"),
	'256 true', 'the slow-operation ring holds its 256 most recent entries, all the slow recalls');

# Cost of one engram_metrics_begin/end pair through SQL, against a call of
# a plain C function of the same shape (the difference is the timer).
my $calls = 200000;
my $timed = $node->safe_psql('postgres',
	"SET engram.slow_operation_threshold_ms = -1;
	 SELECT extract(epoch FROM clock_timestamp() - now()) * 1e6 / $calls
	   FROM (SELECT count(engram_metrics_test_record_timed('spread', false))
			   FROM generate_series(1, $calls)) s");
my $baseline = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM clock_timestamp() - now()) * 1e6 / $calls
	   FROM (SELECT count(engram_metrics_latency_bounds()) FROM generate_series(1, $calls)) s");
note(sprintf('begin/end through SQL: %.3f us per call; plain C function call: %.3f us',
		$timed, $baseline));
cmp_ok($timed, '<', 20, 'a timed empty operation costs well under the 50 us first bucket');

# Privileges: pg_monitor reads every view (what the exporter needs), other
# roles read none, and only superusers reset.
$node->safe_psql('postgres',
	'CREATE ROLE metrics_monitor LOGIN IN ROLE pg_monitor; CREATE ROLE metrics_nobody LOGIN');
my @views = qw(engram_stats engram_operation_latency engram_operation_histogram
  engram_cache_stats engram_tier_moves engram_lock_waits engram_slow_operations
  engram_storage_relations engram_storage_size engram_memory_usage engram_wal_stats
  engram_disk_io engram_thread_pools);
my @unreadable = grep {
	my ($r) = $node->psql('postgres', "SELECT count(*) FROM $_", extra_params => [ '-U', 'metrics_monitor' ]);
	$r != 0
} (@views, 'engram_wal_flush_sample()');
is_deeply(\@unreadable, [], 'a pg_monitor member reads every metrics view');
my @readable = grep {
	my ($r) = $node->psql('postgres', "SELECT count(*) FROM $_", extra_params => [ '-U', 'metrics_nobody' ]);
	$r == 0
} @views;
is_deeply(\@readable, [], 'a role outside pg_monitor reads none');
my ($reset_status, $reset_out, $reset_err) = $node->psql('postgres', 'SELECT engram_metrics_reset()',
	extra_params => [ '-U', 'metrics_monitor' ]);
like($reset_err, qr/permission denied for function engram_metrics_reset/, 'pg_monitor cannot reset');
$node->stop;

# Loaded lazily (not preloaded): the views refuse with a hint.
my $lazy = PostgreSQL::Test::Cluster->new('metrics_lazy');
$lazy->init;
$lazy->start;
$lazy->safe_psql('postgres', 'CREATE EXTENSION engram');
my ($ret, $stdout, $stderr) = $lazy->psql('postgres', 'SELECT * FROM engram_stats');
isnt($ret, 0, 'engram_stats fails without preloading');
like($stderr, qr/Engram metrics requires engram to be loaded via shared_preload_libraries/,
	'the error names what is missing');
like($stderr, qr/HINT:  Add engram to shared_preload_libraries/, 'and says how to fix it');
$lazy->stop;

done_testing();
