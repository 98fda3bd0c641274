# 091_tune_config.pl: scripts/tune_config.sh writes a file a real server
# loads without error.
#
# 1. Tuned for a 1 GB machine (ENGRAM_TUNE_RAM_MB), the file is included,
#    pg_file_settings reports no error, the server restarts with it, every
#    line is applied, and the log has no complaint.
# 2. Tuned with this machine's real detection, pg_file_settings reports no
#    error (not restarted: it would size shared memory for the whole box).
# 3. Every engram.* setting the script chooses is written only when the
#    server defines it; the ones not defined yet are TODO, listed in the
#    test output and written as comments.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $root = $ENV{ENGRAM_ROOT} // '.';
my $script = "$root/scripts/tune_config.sh";
my $node = new_engram_node('tune');
my $tmp = $PostgreSQL::Test::Utils::tmp_check;

sub tune
{
	my ($out, %env) = @_;
	local %ENV = (
		%ENV,
		PGHOST => $node->host,
		PGPORT => $node->port,
		PGUSER => scalar(getpwuid($<)),
		PGDATABASE => 'postgres',
		ENGRAM_PROMETHEUS_URL => 'http://127.0.0.1:1',
		%env);
	my $output = `bash $script $out 2>&1`;
	return ($? >> 8, $output);
}

# Errors pg_file_settings finds in the configuration files.  A changed
# postmaster-only parameter reads "setting could not be applied" until the
# restart: those are validated by postgres -C (config_valid) instead.
sub file_errors
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(format('%s:%s %s: %s', f.sourcefile, f.sourceline, f.name, f.error), E'\\n')
		   FROM pg_file_settings f LEFT JOIN pg_settings s ON s.name = f.name
		  WHERE f.error IS NOT NULL
			AND NOT (s.context = 'postmaster' AND f.error = 'setting could not be applied')");
}

# postgres -C reads every configuration file as a starting postmaster would
# and fails on any invalid value.
sub config_valid
{
	my ($parameter) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'postgres', '-D', $node->data_dir, '-C', $parameter ],
		'>', \$stdout, '2>', \$stderr);
	chomp $stdout;
	diag($stderr) unless $ok;
	return $ok ? $stdout : undef;
}

# 1. A 1 GB machine, restarted with the file.
my $small = "$tmp/engram-small.conf";
my ($status, $output) = tune($small, ENGRAM_TUNE_RAM_MB => 1024, ENGRAM_TUNE_DISK => 'ssd');
is($status, 0, 'tune_config.sh exits 0') or diag($output);
note($output);
like($output, qr/Prometheus does not answer at http:\/\/127\.0\.0\.1:1: defaults for a mixed workload/,
	'says why it assumed a mixed workload');
like($output, qr/1024 MB RAM/, 'reports the RAM it tuned for');
my $conf = slurp_file($small);
like($conf, qr/^shared_buffers = '307MB'$/m, 'warm tier: 30% of 1024 MB in shared_buffers');
like($conf, qr/^shared_preload_libraries = '[^']*engram[^']*'$/m, 'keeps engram preloaded');
like($conf, qr/^track_wal_io_timing = 'on'$/m, 'turns on the WAL timing the flush histogram needs');
like($conf, qr/^random_page_cost = '1\.1'$/m, 'SSD planner cost');
like($conf, qr/^engram\.simd = '(avx512|avx2|neon|scalar)'$/m,
	'pins the detected SIMD level the server accepts');

$node->append_conf('postgresql.conf', "include '$small'");
is(file_errors(), '', 'pg_file_settings: no error in the tuned file');
# postgres -C prints shared_buffers in 8 kB pages.
is(config_valid('shared_buffers'), 307 * 128, 'postgres -C accepts every value of the tuned file');
my $log_offset = -s $node->logfile;
$node->restart;
is($node->safe_psql('postgres', 'SHOW shared_buffers'), '307MB', 'restarted with the tuned shared_buffers');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_file_settings WHERE sourcefile = '$small' AND (NOT applied OR error IS NOT NULL)"),
	'0', 'every line of the tuned file is applied');
my ($written) = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_file_settings WHERE sourcefile = '$small'");
cmp_ok($written, '>=', 15, "the file sets $written parameters");
my $log = substr(slurp_file($node->logfile), $log_offset);
unlike($log, qr/unrecognized configuration parameter|invalid value for parameter|FATAL|contains errors/,
	'the server log has no complaint about the file');

# 2. This machine, as detected (checked, not restarted).
my $real = "$tmp/engram-real.conf";
($status, $output) = tune($real);
is($status, 0, 'tune_config.sh with real detection exits 0') or diag($output);
note($output);
like($output, qr/(avx512|avx2|neon|scalar)/, 'reports the SIMD level');
like($output, qr/disk: .*(rotational=\d|ENGRAM_TUNE_DISK)/, 'reports how it decided SSD or HDD');
$node->append_conf('postgresql.conf', "include '$real'");
is(file_errors(), '', 'pg_file_settings: no error in the file tuned for this machine');
my ($real_buffers_mb) = slurp_file($real) =~ /^shared_buffers = '(\d+)MB'$/m;
is(config_valid('shared_buffers'), $real_buffers_mb * 128,
	'postgres -C accepts every value of the file tuned for this machine');

# 3. engram.* settings: written when defined, commented out otherwise.
my @names = split /\n/, `bash $script --list-engram-settings`;
cmp_ok(scalar(@names), '>=', 25, 'the script knows the engram.* settings of DESIGN section 5');
my %defined = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', "SELECT name FROM pg_settings WHERE name LIKE 'engram.%'");
my @missing;
for my $name (@names)
{
	if ($defined{$name})
	{
		like($conf, qr/^\Q$name\E = /m, "$name is defined and written");
	}
	else
	{
		push @missing, $name;
		like($conf, qr/^# \Q$name\E = .*not defined by this Engram build/m,
			"$name is written as a comment");
	  TODO:
		{
			local $TODO = 'defined by another subsystem, not in this build yet';
			ok(0, "$name is defined by the server");
		}
	}
}
diag('engram.* settings tune_config.sh chooses that this build does not define yet: '
	  . join(' ', @missing)) if @missing;

$node->stop;
done_testing();
