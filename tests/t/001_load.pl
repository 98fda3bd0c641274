# 001_load.pl: the library loads from shared_preload_libraries and lazily,
# and the extension can be created and dropped in both cases.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('preloaded');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'engram'"),
	'0.1.0', 'extension created with engram preloaded');
$node->safe_psql('postgres', 'DROP EXTENSION engram');
$node->safe_psql('postgres', 'CREATE EXTENSION engram');
$node->stop;

# Lazily loaded: no shared_preload_libraries.
my $lazy = PostgreSQL::Test::Cluster->new('lazy');
$lazy->init;
$lazy->start;
$lazy->safe_psql('postgres', 'CREATE EXTENSION engram');
is($lazy->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'engram'"),
	'1', 'extension created without preloading');
$lazy->stop;

done_testing();
