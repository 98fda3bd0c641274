# 042_tam_dump.pl: (on a node with NUMA placement asked for) pg_dump /
# pg_restore round trip of a database holding an
# engram table with warm and cold rows: the restored table uses the engram
# access method and has the same contents; cold segments are not dumped
# (the rows are, decoded).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('dump',
	extra_conf => "engram.numa_aware = on\nengram.numa_interleave = on\nengram.hot_tier_size_mb = 16");

# The NUMA placement asked for is reported (this machine may have no NUMA).
like($node->safe_psql('postgres', 'SELECT numa_policy FROM engram_hot_tier_info()'),
	qr/^(interleave|unavailable)$/, 'NUMA placement of the hot tier reported');
is($node->safe_psql('postgres', 'SELECT size_bytes <= 16 * 1024 * 1024 AND shards = 16 FROM engram_hot_tier_info()'),
	't', 'hot tier sized by engram.hot_tier_size_mb and engram.hot_tier_shards');
$node->safe_psql('postgres', q{
	CREATE DATABASE source;
	CREATE DATABASE target;
});
$node->safe_psql('source', q{
	CREATE EXTENSION engram;
	CREATE TABLE dump_mem (id bigint PRIMARY KEY, content text, emb real[], meta jsonb) USING engram;
	INSERT INTO dump_mem
	SELECT g, 'memory ' || g, array(SELECT (g + k)::real FROM generate_series(1, 16) k),
	       jsonb_build_object('g', g)
	  FROM generate_series(1, 3000) g;
	CREATE INDEX dump_mem_content_idx ON dump_mem (content);
	SELECT engram_move_to_tier('dump_mem', (SELECT array_agg(ctid) FROM dump_mem WHERE id % 2 = 0), 'cold');
});
my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(d::text, '|' ORDER BY d.id)) FROM dump_mem d};
my $before = $node->safe_psql('source', $checksum_sql);

my $dumpfile = PostgreSQL::Test::Utils::tempdir() . '/source.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $node->connstr('source') ], 'pg_dump');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('target'), $dumpfile ], 'pg_restore');

is($node->safe_psql('target', $checksum_sql), $before, 'restored contents are identical');
is($node->safe_psql('target',
	q{SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'dump_mem'}),
	'engram', 'restored table uses the engram access method');
is($node->safe_psql('target', 'SELECT count(*) FROM engram.cold_segments'), '0',
	'segments are not dumped: restored rows are warm');
is($node->safe_psql('target', q{SET enable_seqscan = off;
	SELECT content FROM dump_mem WHERE content = 'memory 42'}), 'memory 42', 'restored index works');
# The restored table can go cold again.
is($node->safe_psql('target',
	"SELECT engram_move_to_tier('dump_mem', (SELECT array_agg(ctid) FROM dump_mem), 'cold')"),
	'3000', 'restored rows move to cold');
is($node->safe_psql('target', $checksum_sql), $before, 'contents unchanged after the move');

$node->stop;
done_testing();
