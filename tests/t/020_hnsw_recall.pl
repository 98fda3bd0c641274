# 020_hnsw_recall.pl: recall@10 of engram_hnsw against exact search on a
# fixed-seed clustered dataset after the build, after 10% more inserts,
# after deleting 30% and VACUUM; then on the real SIFT and GloVe sets of
# ../shared/data when present (ENGRAM_DATA_DIR overrides the location).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $node = new_engram_node('hnsw_recall',
	extra_conf => "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '64MB'");

# 3,000 base and 200 query vectors of 32 dimensions around 20 centres.
$node->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, v evector(32));
	CREATE TABLE queries (id int PRIMARY KEY, v evector(32));
} . clustered_rows_sql('items', 1, 3000, 0.11) . clustered_rows_sql('queries', 1, 200, 0.22));
$node->safe_psql('postgres',
	'CREATE INDEX items_v ON items USING engram_hnsw (v) WITH (m = 16, ef_construction = 64)');

# Tables this small may well be cheaper to scan sequentially, so index
# results are taken with enable_seqscan off; the plan must then use the index.
like($node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT q.id, n.id FROM queries q,
	  LATERAL (SELECT id FROM items i ORDER BY i.v <-> q.v LIMIT 10) n}),
	qr/Index Scan using items_v/, 'the recall query uses the index');

sub errors
{
	my ($node, $index) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'");
}

my $r = recall_at_10($node, 'items', 'queries', '<->', 40);
diag("synthetic, after build: recall\@10 = $r (ef_search 40)");
cmp_ok($r, '>=', 0.97, 'recall@10 after build');
my $r100 = recall_at_10($node, 'items', 'queries', '<->', 100);
diag("synthetic, after build: recall\@10 = $r100 (ef_search 100)");
cmp_ok($r100, '>=', $r, 'a larger ef_search does not lower recall');
cmp_ok($r100, '>=', 0.98, 'recall@10 after build at ef_search 100');
is(errors($node, 'items_v'), '0', 'verify: no damage after build');

# 10% more rows through aminsert.
$node->safe_psql('postgres', clustered_rows_sql('items', 3001, 3300, 0.33));
$r = recall_at_10($node, 'items', 'queries', '<->', 40);
diag("synthetic, after 10% inserts: recall\@10 = $r");
cmp_ok($r, '>=', 0.97, 'recall@10 after 10% inserts');
is(errors($node, 'items_v'), '0', 'verify: no damage after inserts');

# Delete 30%, VACUUM: dead elements go, the graph is repaired.
my $size_before = $node->safe_psql('postgres', "SELECT pg_relation_size('items_v')");
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 IN (1, 4, 7)');
$node->safe_psql('postgres', 'VACUUM items');
$r = recall_at_10($node, 'items', 'queries', '<->', 40);
diag("synthetic, after deleting 30% and VACUUM: recall\@10 = $r");
cmp_ok($r, '>=', 0.97, 'recall@10 after deleting 30% and VACUUM');
is(errors($node, 'items_v'), '0', 'verify: no damage after VACUUM');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class WHERE relname = 'items_v' AND reltuples = 2310}),
	'1', 'VACUUM counted the live elements');
# The freed space is reused: 30% new rows fit without growing the index.
$node->safe_psql('postgres', clustered_rows_sql('items', 4001, 4900, 0.44));
cmp_ok($node->safe_psql('postgres', "SELECT pg_relation_size('items_v')"), '<=', $size_before,
	'inserts after VACUUM reuse the freed space');
$r = recall_at_10($node, 'items', 'queries', '<->', 40);
diag("synthetic, after refilling: recall\@10 = $r");
cmp_ok($r, '>=', 0.97, 'recall@10 after refilling the freed space');
is(errors($node, 'items_v'), '0', 'verify: no damage after refilling');

# Real data sets, with their published exact ground truth.
my $data = $ENV{ENGRAM_DATA_DIR} // '/work/shared/data';
sub load_set
{
	my ($node, $dir, $name, $dims, $gt) = @_;
	$node->safe_psql('postgres', qq{
		CREATE TABLE $name (id int GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START 0), v evector($dims));
		CREATE TABLE ${name}_q (id int GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START 0), v evector($dims));
		CREATE TABLE ${name}_gt_text (id int GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START 0), ids text);
		COPY $name (v) FROM '$dir/base.txt';
		COPY ${name}_q (v) FROM '$dir/queries.txt';
		COPY ${name}_gt_text (ids) FROM '$dir/$gt';
		CREATE TABLE ${name}_gt AS
		  SELECT id AS qid, string_to_array(ids, ' ')::int[] AS ids FROM ${name}_gt_text;
	});
}
sub recall_gt
{
	my ($node, $name, $op, $ef) = @_;
	return $node->safe_psql('postgres', qq{
		SET engram.ef_search = $ef;
		SET enable_seqscan = off;
		SELECT round(sum(found)::numeric / (10 * count(*)), 3) FROM (
		  SELECT (SELECT count(*) FROM
		           (SELECT b.id FROM $name b ORDER BY b.v $op q.v LIMIT 10) n
		          WHERE n.id = ANY (g.ids)) AS found
		  FROM ${name}_q q JOIN ${name}_gt g ON g.qid = q.id) s;
	});
}

SKIP:
{
	skip "SIFT set not found in $data/sift-128-5k (set ENGRAM_DATA_DIR)", 4
	  unless -r "$data/sift-128-5k/base.txt";
	load_set($node, "$data/sift-128-5k", 'sift', 128, 'gt10_l2.txt');
	$node->safe_psql('postgres', 'CREATE INDEX sift_v ON sift USING engram_hnsw (v evector_l2_ops)');
	like($node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT (SELECT count(*) FROM (SELECT b.id FROM sift b ORDER BY b.v <-> q.v LIMIT 10) n)
		FROM sift_q q}), qr/Index Scan using sift_v/, 'SIFT: the recall query uses the index');
	my $s40 = recall_gt($node, 'sift', '<->', 40);
	my $s100 = recall_gt($node, 'sift', '<->', 100);
	diag("SIFT 4,500 x 128: recall\@10 = $s40 (ef_search 40), $s100 (ef_search 100)");
	cmp_ok($s40, q{>=}, 0.96, 'SIFT recall@10 at ef_search 40');
	cmp_ok($s100, q{>=}, 0.985, 'SIFT recall@10 at ef_search 100');
	is(errors($node, 'sift_v'), '0', 'SIFT: verify finds no damage');
}

SKIP:
{
	skip "GloVe set not found in $data/glove-100d-1604 (set ENGRAM_DATA_DIR)", 3
	  unless -r "$data/glove-100d-1604/base.txt";
	load_set($node, "$data/glove-100d-1604", 'glove', 100, 'gt10_cosine.txt');
	$node->safe_psql('postgres', 'CREATE INDEX glove_v ON glove USING engram_hnsw (v evector_cosine_ops)');
	like($node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT (SELECT count(*) FROM (SELECT b.id FROM glove b ORDER BY b.v <=> q.v LIMIT 10) n)
		FROM glove_q q}), qr/Index Scan using glove_v/, 'GloVe: the recall query uses the index');
	my $g40 = recall_gt($node, 'glove', '<=>', 40);
	diag("GloVe 1,604 x 100 (cosine): recall\@10 = $g40 (ef_search 40)");
	cmp_ok($g40, '>=', 0.95, 'GloVe recall@10 at ef_search 40');
	is(errors($node, 'glove_v'), '0', 'GloVe: verify finds no damage');
}

$node->stop;
done_testing();
