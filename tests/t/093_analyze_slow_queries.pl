# 093_analyze_slow_queries.pl: scripts/analyze_slow_queries.sh end to end.
#
# The slow operations come from the engram_metrics_test_record* testing aids
# (the operations themselves are not instrumented yet); what is tested is
# the script: its figures, the window and threshold, pg_stat_statements,
# and that each finding appears exactly when its seed threshold is crossed.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);
use EngramNode;

my $root = $ENV{ENGRAM_ROOT} // '.';
my $node = new_engram_node('slow',
	extra_conf => "shared_preload_libraries = 'engram,pg_stat_statements'");
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');

sub analyze
{
	my @args = @_;
	local %ENV = (%ENV, PGHOST => $node->host, PGPORT => $node->port,
		PGUSER => scalar(getpwuid($<)), PGDATABASE => 'postgres');
	my $output = `bash $root/scripts/analyze_slow_queries.sh @args 2>&1`;
	return ($? >> 8, $output);
}

# Nothing slow yet.
$node->safe_psql('postgres', 'SELECT engram_metrics_reset()');
my ($status, $out) = analyze(10, '5m');
is($status, 0, 'runs on an idle server');
like($out, qr/no finding: 0 slow operations in the window/, 'idle: no finding');

# Slow recalls that read the cold tier with a large ef_search and deep
# spreading, many fast recalls, one failed store, a poor cache.
$node->safe_psql(
	'postgres', q{
SELECT engram_metrics_test_record('recall', 0.025, ef_search => 400, nodes_visited => 9000,
								  hops => 4, tiers => ARRAY['hot', 'cold']) FROM generate_series(1, 5);
SELECT engram_metrics_test_record('recall', 0.002) FROM generate_series(1, 100);
SELECT engram_metrics_test_record('store', 0.012, false);
SELECT engram_metrics_test_record_cache('activation', g % 2 = 0) FROM generate_series(1, 10) g;
SELECT pg_sleep(0.02) FROM generate_series(1, 2);
});
($status, $out) = analyze(10, '5m');
is($status, 0, 'runs with slow operations');
note($out);
like($out, qr/^ recall\s+\|\s+105\s+\|\s+0\s+\|\s+3\.095\s+\|\s+<= 2\.5\s+\|\s+<= 25\s+\|/m,
	'latency table: 105 recalls, mean 3.095 ms, P50 and P99 bucket bounds');
like($out, qr/^ recall\s+\|\s+5\s+\|\s+0\s+\|\s+25\.00\s+\|\s+25\.00\s+\|\s+25\.00\s+\|\s+400\s+\|\s+9000\s+\|\s+100\s+\|\s+4\.0/m,
	'slow table: 5 slow recalls, durations, ef_search, nodes, cold share, hops');
like($out, qr/recall P99 is in the \(10, 25\] ms histogram bucket, over the 10 ms target/, 'finding: recall P99');
like($out, qr/store P99 is in the \(10, 25\] ms histogram bucket, over the 5 ms target/, 'finding: store P99');
like($out, qr/100% of the slow recall operations read the cold tier/, 'finding: cold tier');
like($out, qr/ef_search 400 on average, above the seed production range 100-200/, 'finding: ef_search');
like($out, qr/reached 4\.0 hops on average/, 'finding: hops');
like($out, qr/1 of the slow operations in the window ended in an error/, 'finding: errors');
like($out, qr/activation cache hit rate is 50\.0%, under the 80% target/, 'finding: cache');
like($out, qr/pg_stat_statements.*\n(.*\n)*.*pg_sleep/, 'pg_stat_statements lists the slow statement');
unlike($out, qr/Every slow operation/, 'summary mode does not list each operation');

($status, $out) = analyze(10, '5m', 'full');
is((() = $out =~ /^ \S+ \S+\+00\s+\| recall\s+\| t/mg), 5, 'full mode lists the 5 slow recalls');

# Threshold above the slow recalls: they leave the slow table.
($status, $out) = analyze(30, '5m');
unlike($out, qr/^ recall\s+\|\s+5\s+\|/m, 'threshold 30 ms excludes the 25 ms recalls');
# Threshold under the log's: the script says what the log cannot show.
($status, $out) = analyze(5, '5m');
like($out, qr/only keeps operations of at least 10ms: operations between 5 ms and that are not in it/,
	'warns when asked for less than the log keeps');
# Window: one second later, none of them is in the last second.
sleep 1.5;
($status, $out) = analyze(10, '1s');
unlike($out, qr/^ recall\s+\|\s+5\s+\|/m, 'a 1 s window excludes older slow operations');

# Control: slow recalls within the seed ranges raise none of those findings.
$node->safe_psql(
	'postgres', q{
SELECT engram_metrics_reset();
SELECT engram_metrics_test_record('recall', 0.015, ef_search => 150, nodes_visited => 800,
								  hops => 1, tiers => ARRAY['hot']) FROM generate_series(1, 3);
SELECT engram_metrics_test_record('recall', 0.001) FROM generate_series(1, 400);
SELECT engram_metrics_test_record_cache('activation', true) FROM generate_series(1, 10);
});
($status, $out) = analyze(10, '5m');
like($out, qr/^ recall\s+\|\s+3\s+\|/m, 'control: the 3 slow recalls are listed');
unlike($out, qr/cold tier|ef_search \d+ on average|hops on average|ended in an error|cache hit rate|P99 is in/,
	'control: no finding when every figure is within the seed targets');
like($out, qr/no finding: 3 slow operations in the window/, 'control: says so');

# Errors.
($status, $out) = analyze('ten');
is($status, 2, 'a threshold that is not a number is a usage error');
($status, $out) = analyze(10, 'yesterday');
is($status, 1, 'a bad window fails');
like($out, qr/WINDOW must be a PostgreSQL interval/, 'and says what a window is');
$node->stop;
($status, $out) = analyze(10, '5m');
is($status, 1, 'a stopped server fails');
like($out, qr/PostgreSQL does not answer/, 'with a clear message');

done_testing();
