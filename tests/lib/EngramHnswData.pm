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
#
# The on-disk format (pageinspect must be installed):
# metapage_version(NODE, INDEX) is the version in the index's metapage;
# element_lengths(NODE, INDEX) the distinct lengths of its element tuples,
# comma-separated in numeric order (the level-0 length, the shortest,
# first).  checked_prunings(NODE, SQL) runs SQL with
# engram.hnsw_build_check_selection on and returns its psql exit code, the
# prunings from kept outcomes it checked (DEBUG1 messages) and its stderr.
package EngramHnswData;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(clustered_rows_sql recall_at_10 write_pgbench_script random_vector_scripts
  pgbench_start metapage_version element_lengths checked_prunings);

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

# The version: bytes 4..7 of the metapage's contents, after the 24-byte
# page header (little-endian; versions fit the first byte).
sub metapage_version
{
	my ($node, $index) = @_;
	return $node->safe_psql('postgres', "SELECT get_byte(get_raw_page('$index', 0), 28)");
}

# lp_len: the upper 15 bits of each 4-byte line pointer after the 24-byte
# page header, up to pd_lower, of every page but the metapage; unused line
# pointers (length 0) left out.  Numeric order: in text order a level-3
# element's 1008 would sort before a level-0 720.
sub element_lengths
{
	my ($node, $index) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(len::text, ',' ORDER BY len) FROM (
		  SELECT DISTINCT (get_byte(p, 24 + 4 * i + 2) >> 1) | (get_byte(p, 24 + 4 * i + 3) << 7) AS len
		  FROM (SELECT get_raw_page('$index', b::int) AS p
		        FROM generate_series(1, pg_relation_size('$index') / 8192 - 1) b) pages,
		       generate_series(0, ((get_byte(p, 12) | (get_byte(p, 13) << 8)) - 24) / 4 - 1) i) s
		WHERE len > 0});
}

sub checked_prunings
{
	my ($node, $sql) = @_;
	my ($out, $err);
	my $ret = $node->psql('postgres', qq{
		SET client_min_messages = debug1;
		SET engram.hnsw_build_check_selection = on;
		$sql
	}, stdout => \$out, stderr => \$err);
	my $checked = 0;
	$checked += $1 while $err =~ /engram_hnsw insert: (\d+) prunings from kept outcomes checked/g;
	return ($ret, $checked, $err);
}

1;
