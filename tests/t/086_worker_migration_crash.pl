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
#    still read back unchanged from the cold tier.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use EngramNode;

my $node = new_engram_node('migration_crash',
	extra_conf => "engram.worker_naptime = 1\nengram.migration_batch = 2000");
engram_random_space($node, 'memories', 2000, 768, 0.75);
$node->safe_psql('postgres', 'CHECKPOINT');

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

ok($node->poll_query_until('postgres', $cold_query, '2000'),
	'the restarted worker moves every row to the cold tier');
is($node->safe_psql('postgres', $checksum_query), $checksum, 'and they read back unchanged');
is($node->safe_psql('postgres',
		q{SELECT errors FROM engram_worker_status WHERE database = 'postgres' AND job = 'tier_migration'}),
	'0', 'without errors');

$node->stop;
done_testing();
