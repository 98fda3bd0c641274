# 085_worker_tiers.pl: the worker's tier work on a real engram space.
#  - warm-up: rows used before a restart are loaded into the hot tier by the
#    worker after it (from the access statistics saved at shutdown), and
#    only those;
#  - one migration cycle makes at most engram.migration_batch moves;
#  - the worker promoting every row continuously never takes the hot tier
#    over engram.hot_tier_size_mb (1 MB here, the rows take about 3 MB);
#    rows that consolidation or a lineage foreign key locked FOR KEY SHARE
#    (the maintenance run before) can still be promoted once the lock is
#    gone;
#  - engram.background_workers: 0 stops the database workers (reload), 1
#    serves one database of two, reset serves both.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('tiers',
	extra_conf => "engram.worker_naptime = 1\nengram.hot_tier_size_mb = 1");

# 1000 memories of 768 dimensions (about 3 kB each).
engram_random_space($node, 'memories', 1000, 768, 0.25);

# Five memories used (recall records an access for what it returns).
$node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 5) i,
		LATERAL engram_recall('memories', memory_id => i * 100, mode => 'similarity') r;});
is($node->safe_psql('postgres',
		q{SELECT string_agg(id::text, ',' ORDER BY id) FROM engram_memory_stats('memories')
		  WHERE access_count > 0}),
	'100,200,300,400,500', 'five memories have been used');

# Restart: the hot tier starts empty; the worker's warm-up fills it with
# the five used rows (nothing else reads the table meanwhile).
$node->restart;
my $warmup = q{SELECT state || ' ' || rows_moved FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'warm_up'};
ok($node->poll_query_until('postgres', $warmup, 'done 5'),
	'after a restart the warm-up job loads the five used rows');
is($node->safe_psql('postgres', q{SELECT entries FROM engram_hot_tier_info()}), '5',
	'the hot tier holds exactly them');
is($node->safe_psql('postgres',
		q{SET engram.hot_tier_lookups = off;
		  SELECT string_agg(id::text, ',' ORDER BY id) FROM engram_memory_stats('memories')
		  WHERE tier = 'hot'}),
	'100,200,300,400,500', 'and they are the used memories');

# One cycle, every warm row eligible for hot: engram.migration_batch moves.
is($node->safe_psql('postgres', q{
		SET engram.migration_warm_to_hot_accesses = 0;
		SET engram.migration_batch = 7;
		SELECT rows_moved FROM engram_run_maintenance('memories') WHERE job = 'tier_migration';}),
	'7', 'a migration cycle makes at most engram.migration_batch moves');

# The worker promoting every row, 100 a cycle, every second: the hot tier
# stays within its 1 MB.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET engram.migration_warm_to_hot_accesses = 0;
	ALTER SYSTEM SET engram.migration_batch = 100;
	SELECT pg_reload_conf();});
my $migration = q{SELECT runs FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'tier_migration'};
my $runs_before = $node->safe_psql('postgres', $migration);
ok($node->poll_query_until('postgres',
		"SELECT runs >= $runs_before + 12 FROM engram_worker_status
		 WHERE database = 'postgres' AND job = 'tier_migration'"),
	'the worker runs migration cycles');
is($node->safe_psql('postgres',
		q{SELECT errors FROM engram_worker_status WHERE database = 'postgres' AND job = 'tier_migration'}),
	'0', 'without errors');
my ($runs, $moved) = split /\|/, $node->safe_psql('postgres',
	q{SELECT runs, rows_moved FROM engram_worker_status
	  WHERE database = 'postgres' AND job = 'tier_migration'});
cmp_ok($moved, '>', 1000, "it moved rows ($moved in $runs cycles)");
cmp_ok($moved, '<=', 100 * $runs, 'never more than engram.migration_batch a cycle');
my ($size, $used, $entries) = split /\|/,
  $node->safe_psql('postgres', q{SELECT size_bytes, used_bytes, entries FROM engram_hot_tier_info()});
cmp_ok($size, '<=', 1024 * 1024, "the hot tier takes at most 1 MB ($size bytes)");
cmp_ok($used, '<=', $size, "the hot tier never holds more ($used bytes used)");
cmp_ok($entries, '<', 1000, "so it holds part of the rows ($entries)");
cmp_ok($node->safe_psql('postgres',
		q{SELECT coalesce(sum(bytes), 0) FROM engram_tier_stats WHERE tier = 'hot'}),
	'<=', $size, 'engram_tier_stats agrees');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET engram.migration_warm_to_hot_accesses;
	ALTER SYSTEM RESET engram.migration_batch;
	SELECT pg_reload_conf();});

# engram.background_workers.
$node->safe_psql('postgres', 'CREATE DATABASE second');
$node->safe_psql('second', 'CREATE EXTENSION engram');
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker'};
ok($node->poll_query_until('postgres', $workers, '2'), 'two databases, two workers');
$node->safe_psql('postgres', q{ALTER SYSTEM SET engram.background_workers = 0; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', $workers, '0'),
	'engram.background_workers = 0 stops the database workers');
$node->safe_psql('postgres', q{ALTER SYSTEM SET engram.background_workers = 1; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', $workers, '1'), 'engram.background_workers = 1 starts one');
sleep(3);
is($node->safe_psql('postgres', $workers), '1', 'and only one');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET engram.background_workers; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres', $workers, '2'), 'reset: both databases are served again');

$node->stop;
done_testing();
