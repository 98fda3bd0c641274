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
#  - the migration listing reads through a ring and naps page by page,
#    holding no snapshot (so not the xmin horizon) while it naps;
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

# The migration cycle's listing walks every row of the space: through a
# bulk-read ring (it must not push the pages queries use out of
# shared_buffers), charging its rows to the throttle page by page (so the
# worker naps during the walk, not once after it).  From an empty buffer
# cache (restart), with a throttle of 100 rows per 200 ms nap and nothing to
# move (the default thresholds), the cycle the worker runs when it starts
# (the next one an hour later) must keep at most a ring's worth
# of the table's pages in shared_buffers and last about rows / 100 naps
# of 200 ms.
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_buffercache;
	ALTER SYSTEM SET engram.worker_cost_limit = 100;
	ALTER SYSTEM SET engram.worker_cost_delay = 200;
	ALTER SYSTEM SET engram.worker_naptime = 3600;});
$node->restart;
ok($node->poll_query_until('postgres',
		q{SELECT runs >= 1 AND state <> 'running' FROM engram_worker_status
		  WHERE database = 'postgres' AND job = 'tier_migration'}),
	'a migration cycle ran after the restart');
# (pages counted before anything else reads the table)
my ($cached_pages, $table_pages) = split /\|/, $node->safe_psql('postgres',
	q{SELECT count(*), pg_relation_size('memories') / current_setting('block_size')::int
	  FROM pg_buffercache
	  WHERE relfilenode = pg_relation_filenode('memories') AND relforknumber = 0
		AND reldatabase = (SELECT oid FROM pg_database WHERE datname = 'postgres')});
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM memories');
cmp_ok($cached_pages, '<=', 64,
	"the listing read the table's $table_pages pages through a ring ($cached_pages cached)");
my $cycle_ms = $node->safe_psql('postgres',
	q{SELECT extract(epoch FROM last_end - last_start) * 1000 FROM engram_worker_status
	  WHERE database = 'postgres' AND job = 'tier_migration'});
# (the last page's rows may not fill a nap: one nap less, 10 % slack; one
# charge after the listing naps 4 delays at most)
cmp_ok($cycle_ms, '>=', 0.9 * (int($rows / 100) - 1) * 200,
	"the listing of $rows rows napped page by page ($cycle_ms ms)");

# While the listing naps it holds no snapshot, so it does not hold back the
# xmin horizon: a cycle a second, each about 2 s of naps, and the worker
# seen napping in the listing (wait event "Extension") has no backend_xmin;
# a table loaded while the worker naps in the middle of a listing is
# all-visible after a VACUUM (a snapshot taken when the listing began would
# keep its rows from being visible to all).
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET engram.worker_naptime = 1;
	SELECT pg_reload_conf();
	CREATE TABLE loaded_meanwhile (i int, filler text);});
my $napping_in_listing = q{SELECT backend_xmin IS NULL FROM pg_stat_activity
	WHERE backend_type = 'engram worker' AND datname = 'postgres' AND state = 'active'
	  AND query = 'tier_migration' AND wait_event_type = 'Extension'};
my ($naps_seen, $naps_with_xmin) = (0, 0);
my $sampling_until = time() + 8;
while (time() < $sampling_until)
{
	my $xmin_free = $node->safe_psql('postgres', $napping_in_listing);
	if ($xmin_free ne '')
	{
		$naps_seen++;
		$naps_with_xmin++ if $xmin_free ne 't';
	}
	select(undef, undef, undef, 0.05);
}
cmp_ok($naps_seen, '>=', 5, "the worker was seen napping in its listing ($naps_seen samples)");
# (pg_stat_activity reads a backend's xmin a moment before its wait event,
# so a sample taken as a slice ends may show the slice's snapshot: 5 %)
cmp_ok($naps_with_xmin, '<=', int($naps_seen / 20),
	"and hardly ever with an xmin ($naps_with_xmin): it holds no snapshot across its naps");
# The load commits while a listing is under way; the VACUUM follows a nap
# seen after the commit (any snapshot a slice takes after it sees the rows).
my $napping_now = "SELECT count(*) = 1 FROM ($napping_in_listing) s";
ok($node->poll_query_until('postgres', $napping_now), 'the worker naps in a listing');
$node->safe_psql('postgres',
	q{INSERT INTO loaded_meanwhile SELECT i, repeat('x', 200) FROM generate_series(1, 20000) i});
ok($node->poll_query_until('postgres', $napping_now), 'and naps again after the load');
$node->safe_psql('postgres', 'VACUUM loaded_meanwhile');
my ($visible_pages, $loaded_pages) = split /\|/, $node->safe_psql('postgres',
	q{SELECT relallvisible, relpages FROM pg_class WHERE relname = 'loaded_meanwhile'});
cmp_ok($loaded_pages, '>', 0, "the table loaded meanwhile has pages ($loaded_pages)");
is($visible_pages, $loaded_pages,
	'a VACUUM during the listing marks all its pages all-visible');
$node->safe_psql('postgres', q{
	DROP TABLE loaded_meanwhile;
	ALTER SYSTEM RESET engram.worker_cost_limit;
	ALTER SYSTEM RESET engram.worker_cost_delay;
	ALTER SYSTEM RESET engram.worker_naptime;
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
