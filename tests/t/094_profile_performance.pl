# 094_profile_performance.pl: scripts/profile_performance.sh end to end at
# small scale.
#
# A 5-second profile while a write workload runs and Engram operations are
# recorded through the testing aids (the operations themselves are not
# instrumented yet): the eight files exist, their figures parse, the
# latency percentiles are the ones the recorded durations imply, and the
# findings of bottleneck_report.txt follow the seed's thresholds.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);
use EngramNode;

my $root = $ENV{ENGRAM_ROOT} // '.';
my $node = new_engram_node('profile', extra_conf => "fsync = on\ntrack_wal_io_timing = on");
$node->safe_psql('postgres', 'CREATE TABLE profile_load (id int, payload text)');
my $tmp = $PostgreSQL::Test::Utils::tmp_check;

# Run the profiler for 5 s and, once it has taken its start snapshot (it
# says "profiling for"), run "sql" (if defined) in another session; returns
# the exit status, the output and the directory.
sub profile
{
	my ($name, $sql) = @_;
	my $dir = "$tmp/$name";
	my $output = '';
	local %ENV = (%ENV, PGHOST => $node->host, PGPORT => $node->port,
		PGUSER => scalar(getpwuid($<)), PGDATABASE => 'postgres');
	my $profiler = IPC::Run::start([ 'bash', "$root/scripts/profile_performance.sh", 5, $dir ],
		'>&', \$output);
	if (defined $sql)
	{
		my $deadline = time() + 60;
		while ($output !~ /profiling for/ && $profiler->pumpable && time() < $deadline)
		{
			$profiler->pump_nb;
			sleep 0.1;
		}
		$node->safe_psql('postgres', $sql);
	}
	$profiler->finish;
	return ($? >> 8, $output, $dir);
}

# 1000 recalls of 4 ms, 10 of them failed (1% errors), inserts committing
# all along.
my ($status, $output, $dir) = profile('normal', q{
SELECT engram_metrics_test_record('recall', 0.004, g > 10) FROM generate_series(1, 1000) g;
DO $$ BEGIN FOR i IN 1..300 LOOP INSERT INTO profile_load VALUES (i, repeat('x', 100)); COMMIT; PERFORM pg_sleep(0.01); END LOOP; END $$;
});
is($status, 0, 'profile_performance.sh exits 0') or diag($output);
for my $file (qw(cpu_profile memory_usage numa_memory cache_stats thread_states io_stats
	latency_percentiles bottleneck_report))
{
	ok(-s "$dir/$file.txt", "$file.txt written");
}
my $report = slurp_file("$dir/bottleneck_report.txt");
note($report);
like($report, qr/CPU \d+\.\d{3}\/\d+ cores \(\d+\.\d%\)/, 'report: CPU use parses');
like($report, qr/Engram operations 1000 \(10 errors\)/, 'report: operations in the window');
like($report, qr/recall P99 4\.975 ms/, 'report: recall P99 from the histogram');
like($report, qr/Errors: 10 of 1000 Engram operations failed, over the 0\.1% target/,
	'finding: 1% errors is over the 0.1% target');
unlike($report, qr/Recall latency:/, 'no recall finding: 4.975 ms is under the 10 ms target');

my $latency = slurp_file("$dir/latency_percentiles.txt");
like($latency, qr/^recall\s+1000\s+3\.750\s+4\.750\s+4\.875\s+4\.975\s+4\.99\d/m,
	'percentiles of 1000 recalls of 4 ms, interpolated in the (2.5, 5] ms bucket');
like(slurp_file("$dir/cpu_profile.txt"), qr/^client backend\s+\d+\.\d\d\s+\d+\.\d{3}$/m,
	'cpu_profile: CPU seconds of client backends');
like(slurp_file("$dir/cpu_profile.txt"), qr/Hotspots( \(perf record|: not measured)/,
	'cpu_profile: hotspots, or why not');
like(slurp_file("$dir/io_stats.txt"), qr/WAL during the window \(pg_stat_wal\): \d+ writes, [1-9]\d* fsyncs/,
	'io_stats: the committed inserts show as WAL fsyncs');
like(slurp_file("$dir/memory_usage.txt"), qr/shared_memory_bytes=[1-9]\d*/, 'memory_usage: Engram shared memory');
like(slurp_file("$dir/thread_states.txt"), qr/postmaster\s+S\s+\d+/, 'thread_states: process states sampled');
like(slurp_file("$dir/cache_stats.txt"), qr/Shared buffers during the window .* hit rate/,
	'cache_stats: shared-buffer hit rate');

# Slow recalls: the P99 finding appears.
($status, $output, $dir) = profile('slow', q{
SELECT engram_metrics_test_record('recall', 0.02) FROM generate_series(1, 100);
});
is($status, 0, 'second profile exits 0');
$report = slurp_file("$dir/bottleneck_report.txt");
like($report, qr/Recall latency: P99 24\.\d+ ms during the window, over the 10 ms target/,
	'finding: recall P99 over 10 ms');
unlike($report, qr/Errors:/, 'no error finding without errors');

$node->stop;
($status, $output) = profile('down', undef);
is($status, 1, 'a stopped server fails');
like($output, qr/PostgreSQL does not answer/, 'with a clear message');
done_testing();
