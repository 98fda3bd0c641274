# 011_vector_dump_restore.pl: evector data survives pg_dump/pg_restore and
# a binary COPY round trip (send/recv) unchanged, typmod and indexes
# included; and the type works when the library is loaded lazily (not in
# shared_preload_libraries).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('dump');
$node->safe_psql(
	'postgres', q{
	SELECT setseed(0.17);
	CREATE TABLE memories (id int PRIMARY KEY, small evector(3), embedding evector(768),
						   huge evector);
	INSERT INTO memories
	SELECT i, ARRAY[i, -i, i / 7.0]::evector,
		   (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, 768) WHERE i > 0)::evector,
		   CASE WHEN i % 50 = 0 THEN array_fill((i / 3.0)::real, ARRAY[16000])::evector END
	FROM generate_series(1, 200) i;
	CREATE INDEX memories_small ON memories (small);
	CREATE INDEX memories_embedding_hash ON memories USING hash (embedding)});

my $checksum_query = q{SELECT md5(string_agg(format('%s|%s|%s|%s', id, small, embedding, huge), ';' ORDER BY id))
	FROM memories};
my $checksum = $node->safe_psql('postgres', $checksum_query);
like($checksum, qr/^[0-9a-f]{32}$/, 'checksum of the original data');

# pg_dump / pg_restore into a second database
my $dump_file = $node->basedir . '/memories.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump_file, '-d', $node->connstr('postgres') ],
	'pg_dump of a database with evector data');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump_file ],
	'pg_restore of the dump');
is($node->safe_psql('restored', $checksum_query), $checksum, 'restored data is identical');
is($node->safe_psql('restored',
	q{SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute
	  WHERE attrelid = 'memories'::regclass AND attnum > 1}),
	'evector(3),evector(768),evector', 'typmods restored');
is($node->safe_psql('restored',
	q{SET enable_seqscan = off; SELECT id FROM memories WHERE small = '[7,-7,1]'}),
	'7', 'restored btree index answers');

# binary COPY out and back in: every value through send and recv
my $copy_file = $node->basedir . '/memories.copy';
$node->safe_psql('postgres',
	"COPY memories TO '$copy_file' WITH (FORMAT binary);"
	  . "CREATE TABLE memories_copy (LIKE memories INCLUDING ALL);"
	  . "COPY memories_copy FROM '$copy_file' WITH (FORMAT binary)");
is($node->safe_psql('postgres', $checksum_query =~ s/FROM memories/FROM memories_copy/r),
	$checksum, 'binary COPY round trip keeps every value');
my ($ok, $stdout, $stderr) = (0, '', '');
$node->psql('postgres',
	"CREATE TABLE memories_narrow (id int, small evector(2), embedding evector, huge evector);"
	  . "COPY memories_narrow FROM '$copy_file' WITH (FORMAT binary)",
	stdout => \$stdout, stderr => \$stderr);
like($stderr, qr/expected 2 dimensions, not 3/, 'binary COPY checks the column typmod');
$node->stop;

# lazily loaded library: the type works without shared_preload_libraries
my $lazy = PostgreSQL::Test::Cluster->new('lazy_vector');
$lazy->init;
$lazy->start;
$lazy->safe_psql('postgres', 'CREATE EXTENSION engram');
is($lazy->safe_psql('postgres',
	q{SELECT format('%s %s %s', '[1,2,3]'::evector <-> '[4,5,6]', '[1,2,3]'::evector <#> '[4,5,6]',
		avg(v)) FROM (VALUES ('[1,2]'::evector), ('[3,4]')) t(v)}),
	'5.196152422706632 -32 [2,3]', 'evector works when engram is loaded lazily');
$lazy->stop;

done_testing();
