#!/usr/bin/perl
# benchmark_report.pl: the report of scripts/benchmark_deployment.sh, from
# pgbench --log files.
#
#   perl bench/pgbench/benchmark_report.pl --dir DIR --seconds S \
#       [--meta KEY=VALUE ...] WORKLOAD:OP[,OP...] ...
#
# For each WORKLOAD it reads DIR/logs/WORKLOAD.* (pgbench --log
# --log-prefix=DIR/logs/WORKLOAD) and, when present, DIR/WORKLOAD.out
# (pgbench's own output, for clients aborted by an error).  OPs name the
# pgbench scripts in -f order: a log line's script number picks its OP.
#
# Log line (PostgreSQL 15): client_id transaction_no time script_no
# time_epoch time_us [schedule_lag]; time is the latency in microseconds,
# or "failed" / "serialization" / "deadlock" for a failed transaction.
#
# Per workload and operation: transactions, throughput (transactions /
# S), errors (failed transactions, plus one per aborted client: the
# transaction it died in, "client N script M aborted" in WORKLOAD.out),
# error rate = errors / (transactions + errors),
# mean and percentiles P50 P90 P95 P99 P99.9 by the nearest-rank method
# (the smallest latency with at least p% of the transactions at or below
# it).  Writes DIR/results.tsv and DIR/benchmark_report.txt, whose last
# section holds one PASS / FAIL / N/A line per seed target (table
# below).  Meta keys printed in the header; memory_bytes, data_bytes and
# cpu_percent also feed targets.  Exit status 0 (a FAIL is a finding, not
# an error), 2 on bad arguments or unreadable logs.
use strict;
use warnings;
use Getopt::Long;
use POSIX qw(ceil);

my ($dir, $seconds, @meta);
GetOptions('dir=s' => \$dir, 'seconds=f' => \$seconds, 'meta=s' => \@meta)
  && $dir && $seconds && $seconds > 0 && @ARGV
  or die "usage: $0 --dir DIR --seconds S [--meta K=V ...] WORKLOAD:OP[,OP...] ...\n";
my @meta_pairs = map { [ split /=/, $_, 2 ] } @meta;
my %meta = map { @$_ } @meta_pairs;

# The seed's targets (../shared/seeds/, docs/operations/performance-tuning.md).
# kind: max = measured must be below, min = at least.
my @targets = (
	{ what => 'P99 recall latency', workload => 'recall', op => 'recall', field => 'p99_ms',
	  kind => 'max', limit => 10, unit => 'ms',
	  seed => '000 Performance Targets: P99 recall latency < 10 ms' },
	{ what => 'P99 store latency', workload => 'store', op => 'store', field => 'p99_ms',
	  kind => 'max', limit => 5, unit => 'ms',
	  seed => '000 Slow Store Operations: P99 > 5 ms is high' },
	{ what => 'mixed 70/30 throughput', workload => 'mixed', op => 'all', field => 'tps',
	  kind => 'min', limit => 10000, unit => 'ops/s',
	  seed => '000 Performance Targets: sustained throughput 10,000 ops/s' },
	{ what => 'store throughput', workload => 'store', op => 'store', field => 'tps',
	  kind => 'min', limit => 1000, unit => 'ops/s',
	  seed => '001 WAL Tuning: write throughput > 1000 ops/s' },
	{ what => 'error rate', workload => '*', op => 'all', field => 'error_pct',
	  kind => 'max', limit => 0.1, unit => '%',
	  seed => '000 Monitoring Dashboard: error rate < 0.1%' },
	{ what => 'memory overhead', meta => 'memory_ratio', kind => 'max', limit => 2, unit => 'x data',
	  seed => '000 Performance Targets: memory overhead < 2x data size' },
	{ what => 'CPU utilization', meta => 'cpu_percent', kind => 'max', limit => 70, unit => '%',
	  seed => '000 Performance Targets: CPU < 70% at sustained load' },
);

# Nearest rank: the ceil(p/100 * n)-th smallest (1-based) of sorted values.
sub percentile
{
	my ($sorted, $p) = @_;
	return undef unless @$sorted;
	# p * n / 100 in floating point can land a hair above an integer
	# (99.9 * 1000 / 100 = 999.0000000000001): round that off first.
	my $rank = ceil(sprintf('%.6f', $p * @$sorted / 100));
	$rank = 1 if $rank < 1;
	return $sorted->[ $rank - 1 ];
}

my (@rows, %by_key, @workloads);
for my $spec (@ARGV)
{
	my ($workload, $ops) = $spec =~ /^([\w-]+):([\w,-]+)$/
	  or die "bad workload spec $spec (WORKLOAD:OP[,OP...])\n";
	my @ops = split /,/, $ops;
	push @workloads, $workload;
	my @files = grep { -f $_ } glob("$dir/logs/$workload.*");
	die "no pgbench log for workload $workload in $dir/logs\n" unless @files;
	my (%latencies, %failed);
	for my $file (@files)
	{
		open my $fh, '<', $file or die "$file: $!\n";
		while (my $line = <$fh>)
		{
			my @f = split ' ', $line;
			next unless @f >= 6;
			my $op = $ops[ $f[3] ] // die "$file: script number $f[3] has no operation name\n";
			if ($f[2] =~ /^\d+$/) { push @{ $latencies{$op} }, $f[2] / 1000.0; }
			else { $failed{$op}++; }
		}
		close $fh;
	}
	# "pgbench: error: client 2 script 0 aborted in command 1 ...": the
	# transaction the client died in is an error of that script's operation.
	my $aborted = 0;
	if (open my $out, '<', "$dir/$workload.out")
	{
		while (<$out>)
		{
			next unless /client \d+ (?:script (\d+) )?aborted/;
			$aborted++;
			$failed{ $ops[ $1 // 0 ] // $ops[0] }++;
		}
		close $out;
	}
	my @all;
	for my $op (@ops, 'all')
	{
		my @values = sort { $a <=> $b } ($op eq 'all' ? @all : @{ $latencies{$op} // [] });
		push @all, @values unless $op eq 'all';
		next if $op eq 'all' && @ops == 1;
		my $errors = 0;
		$errors += $failed{$_} // 0 for ($op eq 'all' ? @ops : ($op));
		my $n = scalar @values;
		my $sum = 0;
		$sum += $_ for @values;
		my $row = {
			workload => $workload, op => $op, transactions => $n, errors => $errors,
			tps => $n / $seconds,
			error_pct => ($n + $errors) ? 100.0 * $errors / ($n + $errors) : undef,
			mean_ms => $n ? $sum / $n : undef,
			p50_ms => percentile(\@values, 50), p90_ms => percentile(\@values, 90),
			p95_ms => percentile(\@values, 95), p99_ms => percentile(\@values, 99),
			p999_ms => percentile(\@values, 99.9),
		};
		push @rows, $row;
		$by_key{"$workload/$op"} = $row;
	}
	# A one-script workload's "all" is its operation.
	$by_key{"$workload/all"} //= $by_key{"$workload/$ops[0]"} if @ops == 1;
}

my @fields = qw(transactions tps errors error_pct mean_ms p50_ms p90_ms p95_ms p99_ms p999_ms);
sub fmt
{
	my ($v, $field) = @_;
	return 'n/a' unless defined $v;
	return $v if $field =~ /^(transactions|errors)$/;
	return sprintf($field eq 'tps' ? '%.1f' : '%.3f', $v);
}

open my $tsv, '>', "$dir/results.tsv" or die "$dir/results.tsv: $!\n";
print $tsv join("\t", 'workload', 'operation', @fields), "\n";
for my $row (@rows)
{
	print $tsv join("\t", $row->{workload}, $row->{op}, map { fmt($row->{$_}, $_) } @fields), "\n";
}
close $tsv;

# Verdicts.
my @verdicts;
for my $t (@targets)
{
	my @measured;
	if ($t->{meta})
	{
		my $v = $t->{meta} eq 'memory_ratio'
		  ? (($meta{memory_bytes} // '') =~ /^\d+$/ && ($meta{data_bytes} // 0) > 0
			? $meta{memory_bytes} / $meta{data_bytes} : undef)
		  : $meta{ $t->{meta} };
		push @measured, [ 'server', $v ] if defined $v && $v =~ /^-?[\d.]+(e[-+]?\d+)?$/i;
	}
	else
	{
		for my $workload (@workloads)
		{
			next unless $t->{workload} eq '*' || $workload eq $t->{workload};
			my $row = $by_key{"$workload/$t->{op}"} or next;
			push @measured, [ $workload, $row->{ $t->{field} } ] if defined $row->{ $t->{field} };
		}
	}
	if (!@measured)
	{
		push @verdicts, sprintf('N/A   %-24s not measured in this run  [%s]', $t->{what}, $t->{seed});
		next;
	}
	for my $m (@measured)
	{
		my ($where, $v) = @$m;
		my $pass = $t->{kind} eq 'max' ? $v < $t->{limit} : $v >= $t->{limit};
		push @verdicts, sprintf('%-5s %-24s %s %s (target %s %s %s)  [%s]',
			$pass ? 'PASS' : 'FAIL', $t->{what} . ($where eq 'server' ? '' : " ($where)"),
			sprintf('%.3f', $v), $t->{unit}, $t->{kind} eq 'max' ? '<' : '>=', $t->{limit},
			$t->{unit}, $t->{seed});
	}
}

open my $report, '>', "$dir/benchmark_report.txt" or die "$dir/benchmark_report.txt: $!\n";
print $report "Engram deployment benchmark\n";
printf $report "%-16s %s\n", "$_->[0]:", $_->[1] for @meta_pairs;
printf $report "%-16s %s\n", 'seconds:', $seconds;
print $report "\nLatency in ms (nearest-rank percentiles from pgbench --log), throughput in transactions/s\n";
my $header = sprintf "%-12s %-8s %12s %10s %7s %8s %9s %9s %9s %9s %9s %9s\n",
  qw(workload operation transactions tps errors error% mean P50 P90 P95 P99 P99.9);
print $report $header;
for my $row (@rows)
{
	printf $report "%-12s %-8s %12s %10s %7s %8s %9s %9s %9s %9s %9s %9s\n",
	  $row->{workload}, $row->{op}, map { fmt($row->{$_}, $_) } @fields;
}
print $report "\nTargets (the seed's tables; set for 32 cores)\n";
print $report "$_\n" for @verdicts;
close $report;
print "$dir/benchmark_report.txt\n";
