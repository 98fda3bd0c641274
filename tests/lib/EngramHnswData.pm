# EngramHnswData.pm: the synthetic data and the recall measure shared by
# the engram_hnsw TAP tests.
#
# clustered_rows_sql(TABLE, FIRST, LAST, SEED[, DIMS]) returns SQL that
# inserts rows FIRST..LAST (id, evector(DIMS), DIMS 32 by default) around
# 20 centres: Gaussian noise by Box-Muller over random() after
# setseed(SEED), so deterministic.
#
# recall_at_10(NODE, BASE, QUERIES, OP, EF) returns recall@10 of the index
# (enable_seqscan off, engram.ef_search EF) against exact results (index
# scans off) over every row of QUERIES, rounded to 3 decimals.
#
# Concurrent loads through pgbench on a table items (id, v evector(DIMS)):
# write_pgbench_script(NAME, SQL) writes a script into a temporary
# directory and returns its path; random_vector_scripts(DIMS) returns the
# paths of a single-row insert of a random vector and of an index query
# for a random vector; pgbench_start(NODE, SECONDS, SCRIPT...) starts
# pgbench (4 clients, 2 threads) in the background and returns its
# IPC::Run handle and references to its stdout and stderr.
package EngramHnswData;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(clustered_rows_sql recall_at_10 write_pgbench_script random_vector_scripts
  pgbench_start);

sub clustered_rows_sql
{
	my ($table, $first, $last, $seed, $dims) = @_;
	$dims //= 32;
	return qq{
		SELECT setseed($seed);
		INSERT INTO $table
		SELECT i, ARRAY(SELECT sin(i % 20 * 7 + d) * 2
		                       + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())
		                FROM generate_series(1, $dims) d WHERE i > 0)::real[]::evector
		FROM generate_series($first, $last) i;
	};
}

sub recall_at_10
{
	my ($node, $base, $queries, $op, $ef) = @_;
	return $node->safe_psql('postgres', qq{
		SET engram.ef_search = $ef;
		SET enable_seqscan = off;
		CREATE TEMP TABLE got AS SELECT q.id AS qid, n.id FROM $queries q,
		  LATERAL (SELECT id FROM $base b ORDER BY b.v $op q.v LIMIT 10) n;
		RESET enable_seqscan;
		SET enable_indexscan = off;
		CREATE TEMP TABLE truth AS SELECT q.id AS qid, n.id FROM $queries q,
		  LATERAL (SELECT id FROM $base b ORDER BY b.v $op q.v LIMIT 10) n;
		SELECT round(count(got.id)::numeric / count(*), 3)
		FROM truth LEFT JOIN got USING (qid, id);
	});
}

my $script_dir;

sub write_pgbench_script
{
	my ($name, $sql) = @_;
	$script_dir //= PostgreSQL::Test::Utils::tempdir;
	open(my $fh, '>', "$script_dir/$name") or die "cannot write $script_dir/$name: $!";
	print $fh $sql;
	close $fh;
	return "$script_dir/$name";
}

sub random_vector_scripts
{
	my ($dims) = @_;
	my $vector = "ARRAY(SELECT random() FROM generate_series(1, $dims))::real[]::evector";
	return (
		write_pgbench_script('insert.sql', "INSERT INTO items (v) SELECT $vector;\n"),
		write_pgbench_script('query.sql',
			"SET enable_seqscan = off;\n"
			  . "SELECT id FROM items ORDER BY v <-> (SELECT $vector) LIMIT 10;\n"));
}

sub pgbench_start
{
	my ($node, $seconds, @scripts) = @_;
	my ($out, $err) = ('', '');
	my @cmd = ('pgbench', '-n', '-c', '4', '-j', '2', '-T', $seconds,
		(map { ('-f', $_) } @scripts),
		'-h', $node->host, '-p', $node->port, 'postgres');
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

1;
