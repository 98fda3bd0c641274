# 061_recall_dump_restore.pl: a memory space (table, associations, catalog
# row, row-level security) survives pg_dump/pg_restore and answers recall
# identically; recall works when the library is loaded lazily.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('recall_dump');
$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SET engram.pinned_now = '2026-01-01 10:00:00+00';
	CREATE ROLE recall_dump_reader;
	SELECT engram_create_space('dumped', 3, 'l2', 'hybrid', 'simple');
	SELECT count(*) FROM engram_store_batch('dumped',
		ARRAY(SELECT 'memory number ' || i FROM generate_series(1, 100) i),
		ARRAY(SELECT ARRAY[i % 7, i % 11, i % 13]::real[] FROM generate_series(1, 100) i)::real[]);
	INSERT INTO dumped_associations (src, dst, weight)
	SELECT i, i % 100 + 1, 0.9 FROM generate_series(1, 100) i;
	ALTER TABLE dumped ENABLE ROW LEVEL SECURITY;
	CREATE POLICY even_only ON dumped FOR SELECT TO recall_dump_reader USING (id % 2 = 0);
	GRANT SELECT ON dumped, dumped_associations TO recall_dump_reader;
});

# Access statistics belong to row versions in shared memory, not to the
# data: a restored space has none.  Recall is compared at the memories'
# creation time, when every memory is fresh whatever its access history.
my $recall = q{
	SET engram.pinned_now = '2026-01-01 10:00:00+00';
	SELECT id, round(score::numeric, 10), round(confidence::numeric, 10), hops
	  FROM engram_recall('dumped', '[3,4,5]', k => 15, mode => 'spreading');
};
my $as_reader = q{
	SET ROLE recall_dump_reader;
	SELECT string_agg(id::text, ',' ORDER BY id) FROM engram_recall('dumped', '[3,4,5]', k => 15);
};
my $before = $node->safe_psql('postgres', $recall);
my $before_reader = $node->safe_psql('postgres', $as_reader);
unlike($before_reader, qr/\b\d*[13579]\b/, 'the reader sees only even ids before the dump');

my $dump_file = $node->basedir . '/space.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump_file, '-d', $node->connstr('postgres') ],
	'pg_dump of a database with a memory space');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump_file ],
	'pg_restore of the dump');

is($node->safe_psql('restored',
		q{SELECT format('%s %s %s %s %s', space, associations, dims, distance, default_decay)
		  FROM engram_spaces}),
	'dumped dumped_associations 3 l2 hybrid', 'the space catalog row is restored');
is($node->safe_psql('restored', $recall), $before, 'recall after restore is identical');
is($node->safe_psql('restored', $as_reader), $before_reader,
	'row-level security still applies to recall after restore');
is($node->safe_psql('restored',
		q{SELECT engram_store('dumped', 'after restore', '[1,1,1]') > 100}),
	't', 'the identity continues after restore');
$node->stop;

# Lazily loaded library (not preloaded): the recall layer needs no shared memory.
my $lazy = PostgreSQL::Test::Cluster->new('recall_lazy');
$lazy->init;
$lazy->start;
$lazy->safe_psql('postgres', 'CREATE EXTENSION engram');
$lazy->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT engram_create_space('lazy', 2);
	SELECT engram_store('lazy', 'a', '[1,0]'), engram_store('lazy', 'b', '[0,1]');
	SELECT engram_associate('lazy', 1, 2, 1.0);
});
is($lazy->safe_psql('postgres',
		q{SELECT string_agg(id || ':' || hops, ' ' ORDER BY id) FROM engram_recall('lazy', '[1,0]', k => 2)}),
	'1:0 2:0', 'recall works without shared_preload_libraries');
is($lazy->safe_psql('postgres',
		q{SELECT string_agg(id || ':' || hops, ' ' ORDER BY id) FROM engram_spread('lazy', 1)}),
	'2:1', 'spread works without shared_preload_libraries');
$lazy->stop;

done_testing();
