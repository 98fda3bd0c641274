# 022_hnsw_replica.pl: engram_hnsw changes reach a streaming standby
# through generic WAL (build, inserts, deletes with VACUUM), and the
# standby returns the same nearest neighbours as the primary.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $primary = new_engram_node('hnsw_primary', allows_streaming => 1);
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;

my $dims = 16;
sub rows
{
	my ($first, $last) = @_;
	return qq{INSERT INTO items SELECT i, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	          FROM generate_series($first, $last) i;};
}
$primary->safe_psql('postgres', qq{
	CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE queries AS SELECT g, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE g > 0)::real[]::evector AS v
	  FROM generate_series(1, 50) g;
} . rows(1, 2000) . q{
	CREATE INDEX items_v ON items USING engram_hnsw (v);
	CREATE INDEX items_cos ON items USING engram_hnsw (v evector_cosine_ops);
} . rows(2001, 2500) . q{
	DELETE FROM items WHERE id % 7 = 0;
	VACUUM items;
} . rows(2501, 2800));

$primary->wait_for_catchup($standby);

# Same top-10 (as id lists) for every query, through the index on both.
sub top10
{
	my ($node, $op) = @_;
	return $node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		SELECT string_agg(ids, ';' ORDER BY g) FROM (
		  SELECT q.g, (SELECT string_agg(id::text, ',') FROM
		    (SELECT id FROM items i ORDER BY i.v $op q.v LIMIT 10) n) AS ids
		  FROM queries q) s;
	});
}
for my $op ('<->', '<=>')
{
	like($standby->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v $op '[} . join(',', (0.5) x $dims) . qq{]' LIMIT 10}),
		qr/Index Scan using items_/, "standby plans an index scan for $op");
	my $on_primary = top10($primary, $op);
	is(top10($standby, $op), $on_primary, "standby returns the primary's top-10 for $op");
	is(scalar(split /,/, (split /;/, $on_primary)[0]), 10, "ten rows per query for $op");
}

for my $index ('items_v', 'items_cos')
{
	is($standby->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'"),
		'0', "standby copy of $index verifies clean");
}
is($standby->safe_psql('postgres', q{
	SELECT count(*) FROM items WHERE ctid NOT IN
	  (SELECT heap_tid FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted)}),
	'0', 'every row has its element in the standby copy of the index');

$standby->stop;
$primary->stop;
done_testing();
