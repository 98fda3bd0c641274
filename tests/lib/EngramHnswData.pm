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
package EngramHnswData;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(clustered_rows_sql recall_at_10);

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

1;
