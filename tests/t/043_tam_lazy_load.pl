# 043_tam_lazy_load.pl: without shared_preload_libraries the engram table
# access method still works (warm and cold tiers); only the hot tier and
# access statistics, which need shared memory, refuse with a hint.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lazy');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION engram;
	CREATE TABLE lazy_mem (id int PRIMARY KEY, content text) USING engram;
	INSERT INTO lazy_mem SELECT g, 'lazy ' || g FROM generate_series(1, 1000) g;
});
my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(l::text, '|' ORDER BY l.id)) FROM lazy_mem l};
my $before = $node->safe_psql('postgres', $checksum_sql);
is($node->safe_psql('postgres',
	"SELECT engram_move_to_tier('lazy_mem', (SELECT array_agg(ctid) FROM lazy_mem WHERE id % 2 = 0), 'cold')"),
	'500', 'rows move to cold without preloading');
is($node->safe_psql('postgres', $checksum_sql), $before, 'contents unchanged');
is($node->safe_psql('postgres', q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT content FROM lazy_mem WHERE id = 42}), 'lazy 42', 'index fetch of a cold row');
$node->safe_psql('postgres', 'DELETE FROM lazy_mem WHERE id <= 100; VACUUM lazy_mem');
is($node->safe_psql('postgres', 'SELECT count(*) FROM lazy_mem'), '900', 'delete and vacuum');

my ($ret, $stdout, $stderr) = $node->psql('postgres', 'SELECT * FROM engram_hot_tier_info()');
like($stderr, qr/requires engram to be loaded via shared_preload_libraries/, 'hot tier refused with a hint');
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT engram_move_to_tier('lazy_mem', (SELECT array_agg(ctid) FROM lazy_mem), 'hot')");
like($stderr, qr/requires engram to be loaded via shared_preload_libraries/, 'hot moves refused');
($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT * FROM engram_row_access_stats('lazy_mem')});
like($stderr, qr/requires engram to be loaded via shared_preload_libraries/, 'access statistics refused');

$node->stop;
done_testing();
