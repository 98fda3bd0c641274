# 011_simd_setting.pl: engram.simd set in postgresql.conf is honoured,
# both when the library is preloaded and when it is loaded lazily; a level
# this build lacks is refused with a warning at startup and on reload,
# and the server keeps running on the previous kernels.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('simd', extra_conf => "engram.simd = 'scalar'");
is($node->safe_psql('postgres', 'SELECT engram_simd_active()'),
	'scalar', 'engram.simd from postgresql.conf applies with the library preloaded');

# A level this x86-64 build lacks, on reload: refused, scalar stays.
my $best = $node->safe_psql('postgres',
	"SELECT level FROM engram_simd_info() WITH ORDINALITY AS i(level, c, supported, a, k, rank)
	 WHERE supported ORDER BY rank LIMIT 1");
my $log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "engram.simd = 'neon'\n");
$node->reload;
ok($node->wait_for_log(qr/invalid value for parameter "engram\.simd": "neon"/, $log_offset),
	'an unsupported level in postgresql.conf is reported on reload');
is($node->safe_psql('postgres', 'SELECT engram_simd_active()'),
	'scalar', 'the kernels in force stay after a refused reload');

# At startup the refused value falls back to the default, auto.
$log_offset = -s $node->logfile;
$node->restart;
like(slurp_file($node->logfile, $log_offset),
	qr/invalid value for parameter "engram\.simd": "neon"/,
	'an unsupported level is reported at startup');
is($node->safe_psql('postgres', 'SELECT engram_simd_active()'),
	$best, 'the server starts on the best kernels when the setting is refused');
$node->stop;

# Lazily loaded: the placeholder from postgresql.conf applies at first use.
my $lazy = PostgreSQL::Test::Cluster->new('simd_lazy');
$lazy->init;
$lazy->append_conf('postgresql.conf', "engram.simd = 'scalar'\n");
$lazy->start;
$lazy->safe_psql('postgres', 'CREATE EXTENSION engram');
is($lazy->safe_psql('postgres', 'SELECT engram_simd_active()'),
	'scalar', 'engram.simd from postgresql.conf applies when the library loads lazily');
$lazy->stop;

done_testing();
