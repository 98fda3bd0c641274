# 086_worker_migration_crash.pl: the server stopped immediately while the
# worker moves rows between tiers loses nothing.
#  - 2000 memories of 768 dimensions; the warm -> cold window shortened to
#    one second, so one migration cycle moves every row to the cold tier
#    (a few seconds of work: each move rewrites the row and its index
#    entries, and the worker naps between chunks);
#  - the server is stopped with -m immediate while the cycle runs;
#  - after restart every memory is there, unchanged (checksum over the
#    rows read back), the cycle is all there or not at all (one
#    transaction), and the restarted worker completes the move; the rows
#    still read back unchanged from the cold tier;
#  - the engram_hnsw index, whose elements take the moved rows' new TIDs as
#    second TIDs (src/hnsw/hnsw.h, MOVED ROWS), holds every committed row
#    exactly once, an index scan returns every row exactly once, the index
#    verifies clean, before and after VACUUM; a streaming replica that
#    followed through the crash answers the same.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use EngramNode;

my $node = new_engram_node('migration_crash', allows_streaming => 1,
	extra_conf => "engram.worker_naptime = 1\nengram.migration_batch = 2000");
engram_random_space($node, 'memories', 2000, 768, 0.75);
$node->safe_psql('postgres', 'CHECKPOINT');
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('migration_crash_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;

my $index = $node->safe_psql('postgres', q{SELECT indexrelid::regclass FROM pg_index i
	JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
	WHERE indrelid = 'memories'::regclass AND amname = 'engram_hnsw'});
# Rows the index does not hold exactly once (among live elements' TIDs).
my $index_holds_sql = qq{SELECT count(*) FROM memories m LEFT JOIN
	(SELECT heap_tid, count(*) AS n FROM engram_hnsw_index_tids('$index') WHERE NOT deleted
	  GROUP BY heap_tid) t ON t.heap_tid = m.ctid WHERE coalesce(t.n, 0) <> 1};
# One index scan for all rows: "rows distinct_ids" of what it returns.
my $index_scan_sql = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SET engram.hnsw_max_scan_tuples = 100000;
	SELECT count(*) || ' ' || count(DISTINCT id) FROM (SELECT id FROM memories
	ORDER BY embedding <=> (SELECT embedding FROM memories WHERE id = 1) LIMIT 5000) x};
my $verify_sql = qq{SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'};

# check_index(NODE, WHAT, WITH_SCAN): the index holds (and returns) every row
# once, and verifies.
# (The index scan fetches every row, which counts as an access: only once
# the migration is over, or the rows would no longer be due for cold.)
sub check_index
{
	my ($on, $what, $with_scan) = @_;
	is($on->safe_psql('postgres', $index_holds_sql), '0', "$what: the index holds every row exactly once");
	is($on->safe_psql('postgres', $index_scan_sql), '2000 2000', "$what: an index scan returns every row once")
	  if $with_scan;
	is($on->safe_psql('postgres', $verify_sql), '0', "$what: the index verifies");
}

my $checksum_query = q{SELECT count(*) || ':' || md5(string_agg(id || content || embedding::text, ',' ORDER BY id))
	FROM memories};
my $checksum = $node->safe_psql('postgres', $checksum_query);
# Rows stored in the cold tier (stubs), whether or not also cached hot.
my $cold_query = q{SELECT rows FROM engram_tier_stats
	WHERE relation = 'memories'::regclass AND tier = 'cold'};
is($node->safe_psql('postgres', $cold_query), '0', 'every memory starts warm');

# Every warm row becomes due for the cold tier; stop the server under the cycle.
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET engram.migration_warm_to_cold_window_seconds = 1;
	SELECT pg_reload_conf();});
ok(wait_for_worker_job($node, 'tier_migration'), 'the worker is moving rows');
usleep(500_000);
$node->stop('immediate');
$node->start;

is($node->safe_psql('postgres', $checksum_query), $checksum, 'every memory survived, unchanged');
my $cold_after_crash = $node->safe_psql('postgres', $cold_query);
note("cold rows after the crash: $cold_after_crash");
ok($cold_after_crash eq '0' || $cold_after_crash eq '2000', 'the cycle is all there or not at all');
check_index($node, 'after the crash');

ok($node->poll_query_until('postgres', $cold_query, '2000'),
	'the restarted worker moves every row to the cold tier');
is($node->safe_psql('postgres', $checksum_query), $checksum, 'and they read back unchanged');
my $elements = $node->safe_psql('postgres',
	qq{SELECT count(DISTINCT element) FROM engram_hnsw_index_tids('$index') WHERE NOT deleted});
note("live elements after the moves: $elements");
ok($elements < 2100, 'moved rows were attached to their elements, not inserted again');
check_index($node, 'after the moves', 1);

$node->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', $checksum_query), $checksum, 'the standby reads every row unchanged');
is($standby->safe_psql('postgres', $index_scan_sql), '2000 2000',
	'an index scan on the standby returns every row once');
is($standby->safe_psql('postgres', $index_holds_sql), '0', 'the standby index holds every row exactly once');

$node->safe_psql('postgres', 'VACUUM memories');
check_index($node, 'after VACUUM', 1);
$node->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', $index_scan_sql), '2000 2000', 'the standby agrees after VACUUM');
is($node->safe_psql('postgres',
		q{SELECT errors FROM engram_worker_status WHERE database = 'postgres' AND job = 'tier_migration'}),
	'0', 'without errors');

$standby->stop;
$node->stop;
done_testing();
