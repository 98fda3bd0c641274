# 096_benchmark_deployment.pl: scripts/benchmark_deployment.sh and its report.
#
# 1. The report computation (bench/pgbench/benchmark_report.pl) on crafted
#    pgbench logs whose percentiles are known: nearest-rank values, error
#    counting (failed lines and aborted clients), and PASS / FAIL on each
#    side of the seed's thresholds.
# 2. The script end to end at small scale (300 memories of 16 dims, 2 s per
#    workload, 2 clients): exit status, files, figures that parse and hold
#    together, verdicts that follow the thresholds from the measured figures
#    (pgbench -M prepared, the script's default); then each workload script
#    of bench/pgbench/ alone in each of pgbench's protocols (-M simple,
#    extended, prepared).
# 3. Clear errors: server down, pgbench missing, bad arguments.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $root = $ENV{ENGRAM_ROOT} // '.';
my $tmp = $PostgreSQL::Test::Utils::tmp_check;

sub write_file
{
	my ($path, $text) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $text;
	close $fh;
}

# Parse results.tsv into { "workload/op" => { field => value } }.
sub read_results
{
	my ($dir) = @_;
	open my $fh, '<', "$dir/results.tsv" or die "$dir/results.tsv: $!";
	my @header = split /\t/, scalar(<$fh>) =~ s/\n//r;
	my %rows;
	while (my $line = <$fh>)
	{
		chomp $line;
		my %row;
		@row{@header} = split /\t/, $line;
		$rows{"$row{workload}/$row{operation}"} = \%row;
	}
	return \%rows;
}

# --- 1. crafted logs ---------------------------------------------------
my $crafted = "$tmp/crafted";
mkdir $crafted;
mkdir "$crafted/logs";
# recall: 1000 transactions of 1, 2, ..., 1000 ms over two thread logs.
write_file("$crafted/logs/recall.100", join('', map { "0 $_ " . ($_ * 1000) . " 0 1700000000 0\n" } grep { $_ % 2 } 1 .. 1000));
write_file("$crafted/logs/recall.100.1", join('', map { "1 $_ " . ($_ * 1000) . " 0 1700000000 0\n" } grep { !($_ % 2) } 1 .. 1000));
# store: 199 transactions of 1 ms (3 ms for the last 9) and one failed:
# P95 is the 190th value (1 ms), P99 the 198th (3 ms).
write_file("$crafted/logs/store.200",
	join('', map { "0 $_ " . ($_ > 190 ? 3000 : 1000) . " 0 1700000000 0\n" } 1 .. 199)
	  . "0 200 failed 0 1700000000 0\n");
# mixed: 70 recalls of 2 ms (script 0), 30 stores of 4 ms (script 1), and a
# client aborted in the store script.
write_file("$crafted/logs/mixed.300",
	join('', map { "0 $_ 2000 0 1700000000 0\n" } 1 .. 70)
	  . join('', map { "0 $_ 4000 1 1700000000 0\n" } 71 .. 100));
write_file("$crafted/mixed.out",
	"pgbench (15)\npgbench: error: client 1 script 1 aborted in command 1 query 0: ERROR:  boom\n");

my $out = `perl $root/bench/pgbench/benchmark_report.pl --dir $crafted --seconds 10 --meta memory_bytes=150 --meta data_bytes=100 --meta cpu_percent=80 recall:recall store:store mixed:recall,store 2>&1`;
is($?, 0, 'benchmark_report.pl runs on crafted logs') or diag($out);
my $r = read_results($crafted);
is_deeply(
	[ map { $r->{'recall/recall'}{$_} } qw(transactions tps errors p50_ms p90_ms p95_ms p99_ms p999_ms mean_ms) ],
	[ 1000, '100.0', 0, '500.000', '900.000', '950.000', '990.000', '999.000', '500.500' ],
	'recall: count, throughput, nearest-rank P50/P90/P95/P99/P99.9 and mean from both thread logs');
is_deeply(
	[ map { $r->{'store/store'}{$_} } qw(transactions errors error_pct p50_ms p95_ms p99_ms) ],
	[ 199, 1, '0.500', '1.000', '1.000', '3.000' ],
	'store: a failed line is an error (1 of 200 = 0.5%), not a latency');
is_deeply(
	[ map { $r->{$_}{transactions} . '/' . $r->{$_}{errors} } qw(mixed/recall mixed/store mixed/all) ],
	[ '70/0', '30/1', '100/1' ],
	'mixed: script numbers pick the operation; the aborted client counts against its script');
is($r->{'mixed/all'}{tps}, '10.0', 'mixed: throughput of all operations');
is($r->{'mixed/all'}{p50_ms}, '2.000', 'mixed: P50 over all operations');
is($r->{'mixed/all'}{p99_ms}, '4.000', 'mixed: P99 over all operations');

my $report = slurp_file("$crafted/benchmark_report.txt");
like($report, qr/^FAIL\s+P99 recall latency \(recall\) 990\.000 ms/m, 'verdict: recall P99 990 ms fails < 10 ms');
like($report, qr/^PASS\s+P99 store latency \(store\) 3\.000 ms/m, 'verdict: store P99 3 ms passes < 5 ms');
like($report, qr/^FAIL\s+mixed 70\/30 throughput \(mixed\) 10\.000 ops\/s/m, 'verdict: 10 ops/s fails >= 10000');
like($report, qr/^FAIL\s+error rate \(store\)\s+0\.500 %/m, 'verdict: 0.5% errors fails < 0.1%');
like($report, qr/^PASS\s+error rate \(recall\)\s+0\.000 %/m, 'verdict: no errors passes');
like($report, qr/^PASS\s+memory overhead\s+1\.500 x data/m, 'verdict: memory 1.5x data passes < 2x');
like($report, qr/^FAIL\s+CPU utilization\s+80\.000 %/m, 'verdict: CPU 80% fails < 70%');

# Thresholds are strict on the right side: exactly 10 ms is a FAIL, 9.999 a PASS.
my $edge = "$tmp/edge";
mkdir $edge;
mkdir "$edge/logs";
write_file("$edge/logs/recall.1", "0 1 10000 0 1 0\n");
write_file("$edge/logs/store.1", "0 1 4999 0 1 0\n");
system("perl $root/bench/pgbench/benchmark_report.pl --dir $edge --seconds 1 recall:recall store:store >/dev/null");
$report = slurp_file("$edge/benchmark_report.txt");
like($report, qr/^FAIL\s+P99 recall latency \(recall\) 10\.000 ms/m, 'edge: P99 of exactly 10 ms is not under 10 ms');
like($report, qr/^PASS\s+P99 store latency \(store\) 4\.999 ms/m, 'edge: 4.999 ms is under 5 ms');
like($report, qr/^N\/A\s+mixed 70\/30 throughput/m, 'a workload not run is N/A, not PASS');

# --- 2. end to end -----------------------------------------------------
my $node = new_engram_node('bench', extra_conf => "fsync = off");
my %env = (
	PGHOST => $node->host, PGPORT => $node->port,
	PGUSER => scalar(getpwuid($<)), PGDATABASE => 'postgres');
my $run_dir = "$tmp/run";
my $output;
{
	local %ENV = (%ENV, %env);
	$output = `cd $tmp && bash $root/scripts/benchmark_deployment.sh 2 2 --rows 300 --dims 16 --spaces 2 --out $run_dir 2>&1`;
}
is($?, 0, 'benchmark_deployment.sh 2 2 --rows 300 --dims 16 runs') or diag($output);
ok(-s "$run_dir/benchmark_report.txt", 'benchmark_report.txt written');
ok(-s "$run_dir/$_.out", "pgbench output kept for $_") for qw(recall store mixed multi);
like($output, qr/loaded: engram_bench \(300 memories, 16 dims, generated\)/, 'the space was loaded');
is($node->safe_psql('postgres', 'SELECT count(*) FROM engram_bench_queries'), '200', 'query vectors loaded');
is($node->safe_psql('postgres', "SELECT string_agg(space_name || ':' || dims, ',' ORDER BY space_name) FROM engram_spaces WHERE space_name LIKE 'engram_bench%'"),
	'engram_bench:16,engram_bench_1:16,engram_bench_2:16', 'the main space and two multi-space spaces exist');

$r = read_results($run_dir);
my $number = qr/^\d+(\.\d+)?$/;
for my $key (qw(recall/recall store/store mixed/recall mixed/store mixed/all multi/recall multi/store multi/all))
{
	my $row = $r->{$key};
	ok($row && $row->{transactions} > 0, "$key: transactions measured") or next;
	ok(!(grep { $row->{$_} !~ $number } qw(tps error_pct mean_ms p50_ms p90_ms p95_ms p99_ms p999_ms)),
		"$key: every figure parses");
	ok($row->{p50_ms} <= $row->{p90_ms} && $row->{p90_ms} <= $row->{p95_ms}
		  && $row->{p95_ms} <= $row->{p99_ms} && $row->{p99_ms} <= $row->{p999_ms},
		"$key: percentiles are ordered");
	is($row->{errors}, 0, "$key: no errors");
}
my $mix = $r->{'mixed/recall'}{transactions} / $r->{'mixed/all'}{transactions};
ok($mix > 0.55 && $mix < 0.85, "mixed: recall share $mix is near 70%");

# Each verdict follows from the measured figure and the threshold.
$report = slurp_file("$run_dir/benchmark_report.txt");
my %expect = (
	'P99 recall latency \(recall\)' => [ $r->{'recall/recall'}{p99_ms}, 'max', 10 ],
	'P99 store latency \(store\)' => [ $r->{'store/store'}{p99_ms}, 'max', 5 ],
	'mixed 70/30 throughput \(mixed\)' => [ $r->{'mixed/all'}{tps}, 'min', 10000 ],
	'store throughput \(store\)' => [ $r->{'store/store'}{tps}, 'min', 1000 ],
	'error rate \(multi\)' => [ $r->{'multi/all'}{error_pct}, 'max', 0.1 ]);
for my $what (sort keys %expect)
{
	my ($value, $kind, $limit) = @{ $expect{$what} };
	my $verdict = ($kind eq 'max' ? $value < $limit : $value >= $limit) ? 'PASS' : 'FAIL';
	like($report, qr/^$verdict\s+$what /m, "verdict for $what is $verdict ($value vs $limit)");
}
like($report, qr/^clients:\s+2 clients, 2 pgbench threads, -M prepared$/m,
	'the report names the protocol (prepared by default)');
like($report, qr/^(PASS|FAIL)\s+memory overhead\s+\d/m, 'memory overhead measured from the server');
like($report, qr/^(PASS|FAIL)\s+CPU utilization\s+\d/m, 'CPU utilization measured');
my ($server_ops) = $report =~ /server_ops:\s+(\d+) recall\+store operations/;
my $client_ops = 0;
$client_ops += $r->{$_}{transactions} for qw(recall/recall store/store mixed/all multi/all);
ok(defined $server_ops && $server_ops >= $client_ops,
	"engram_stats counted the benchmark's operations ($server_ops >= $client_ops)");

# A second run keeps the loaded spaces.
{
	local %ENV = (%ENV, %env);
	$output = `cd $tmp && bash $root/scripts/benchmark_deployment.sh 1 1 --rows 300 --dims 16 --spaces 2 --workloads recall --out $tmp/run2 2>&1`;
}
is($?, 0, 'second run, recall only') or diag($output);
like($output, qr/kept: engram_bench \(\d+ memories, 16 dims\)/, 'second run keeps the loaded space');
ok(-s "$tmp/run2/benchmark_report.txt" && !-e "$tmp/run2/logs/store.1", 'second run: only the recall workload');

# Every workload script in each of pgbench's query protocols (-M simple,
# extended, prepared): the space passed as its OID, and by name where the
# protocol sends it as a parameter.  Each run is 5 transactions of one
# client; a store script must have stored exactly its 5 rows.
my $space_oid = $node->safe_psql('postgres', "SELECT 'engram_bench'::regclass::oid");
my %space_rows_sql = (
	'store.sql' => 'SELECT count(*) FROM engram_bench',
	'multi_space_store.sql' =>
	  'SELECT (SELECT count(*) FROM engram_bench_1) + (SELECT count(*) FROM engram_bench_2)');
for my $mode (qw(simple extended prepared))
{
	for my $script (qw(recall.sql store.sql multi_space_recall.sql multi_space_store.sql))
	{
		my @spaces = ($space_oid);
		push @spaces, 'engram_bench' if $mode ne 'simple';
		for my $space (@spaces)
		{
			my $what = "$script, -M $mode, space " . ($space eq $space_oid ? 'OID' : 'name');
			my $before = $space_rows_sql{$script} ? $node->safe_psql('postgres', $space_rows_sql{$script}) : 0;
			my ($stdout, $stderr) = ('', '');
			IPC::Run::run(
				[ 'pgbench', '-n', '-M', $mode, '-c', '1', '-t', '5',
				  '-D', "space=$space", '-D', 'spaces=2', '-D', 'queries=200',
				  '-f', "$root/bench/pgbench/$script",
				  '-h', $node->host, '-p', $node->port, 'postgres' ],
				'>', \$stdout, '2>', \$stderr);
			my $status = $?;
			ok($status == 0 && $stdout =~ /number of transactions actually processed: 5\/5/
				  && $stdout =~ /number of failed transactions: 0 /,
				"$what: 5 transactions, none failed")
			  or diag("status $status\n$stdout\n$stderr");
			if ($space_rows_sql{$script})
			{
				is($node->safe_psql('postgres', $space_rows_sql{$script}) - $before, 5,
					"$what: stored 5 memories");
			}
		}
	}
}

# The real GloVe set, read in place (ENGRAM_DATA_DIR, default /work/shared/data).
my $data = $ENV{ENGRAM_DATA_DIR} // '/work/shared/data';
SKIP:
{
	skip "GloVe set not found in $data/glove-100d-1604 (set ENGRAM_DATA_DIR)", 3
	  unless -r "$data/glove-100d-1604/base.txt";
	local %ENV = (%ENV, %env, ENGRAM_DATA_DIR => $data);
	$output = `bash $root/bench/pgbench/load_space.sh --dataset glove --space glove_bench --queries 20 2>&1`;
	is($?, 0, 'load_space.sh --dataset glove') or diag($output);
	like($output, qr/loaded: glove_bench \(1604 memories, 100 dims, glove\)/, 'GloVe: 1,604 words of 100 dims');
	my ($first_word) = split /\n/, slurp_file("$data/glove-100d-1604/words.txt");
	is($node->safe_psql('postgres', 'SELECT content FROM glove_bench ORDER BY id LIMIT 1'),
		$first_word, 'GloVe: each memory holds its word');
}
{
	local %ENV = (%ENV, %env, ENGRAM_DATA_DIR => "$tmp/no-data");
	$output = `bash $root/bench/pgbench/load_space.sh --dataset sift 2>&1`;
	is($? >> 8, 1, 'absent data set: exit status 1');
	like($output, qr/data set sift not found in \Q$tmp\E\/no-data/, 'absent data set: says where it looked');
}

# --- 3. clear errors ---------------------------------------------------
{
	local %ENV = (%ENV, %env, PGPORT => 1);
	$output = `bash $root/scripts/benchmark_deployment.sh 1 1 --out $tmp/down 2>&1`;
	is($? >> 8, 1, 'server down: exit status 1');
	like($output, qr/PostgreSQL does not answer/, 'server down: says so');
}
{
	local %ENV = (%ENV, %env, ENGRAM_PGBENCH => '/nonexistent/pgbench');
	$output = `bash $root/scripts/benchmark_deployment.sh 1 1 --out $tmp/nopgbench 2>&1`;
	is($? >> 8, 1, 'pgbench missing: exit status 1');
	like($output, qr/pgbench not found/, 'pgbench missing: says so');
}
$output = `bash $root/scripts/benchmark_deployment.sh ten 2>&1`;
is($? >> 8, 2, 'bad SECONDS: usage, exit status 2');
$output = `bash $root/scripts/benchmark_deployment.sh 1 1 --mode fast 2>&1`;
is($? >> 8, 2, 'bad --mode: usage, exit status 2');

$node->stop;
done_testing();
