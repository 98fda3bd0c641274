# 027_hnsw_quant.pl: the compact representation (quantization = 'int8').
# recall@10 of int8 indexes against exact search after the build, after
# 10% inserts, after deleting 30% and VACUUM, compared with a float index
# of the same table at the same ef_search (re-ranking must keep the float
# index's level); every operator class; engram_hnsw_verify after each
# step; a parallel int8 build; WAL: a streaming standby with wal_consistency_checking = 'generic'
# replays every record of the int8 indexes and returns the primary's
# top-k, and so does the primary after an immediate stop.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $primary = new_engram_node('hnsw_quant', allows_streaming => 1,
	extra_conf => "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '64MB'\n"
	  . "wal_consistency_checking = 'generic'");
$primary->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('hnsw_quant_standby')");
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_quant_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'hnsw_quant_standby'");
$standby->start;

# 3,000 base and 200 query vectors of 96 dimensions around 20 centres
# (EngramHnswData.pm): at 96 dimensions the vectors, not the neighbour
# lists, are most of a float element.
my $dims = 96;
sub generate_rows
{
	my ($table, $first, $last, $seed) = @_;
	return clustered_rows_sql($table, $first, $last, $seed, $dims);
}

$primary->safe_psql('postgres', qq{
	CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
} . generate_rows('items', 1, 3000, 0.11) . generate_rows('queries', 1, 200, 0.22));
$primary->safe_psql('postgres', q{
	CREATE INDEX items_l2_float ON items USING engram_hnsw (v evector_l2_ops);
	CREATE INDEX items_l2_int8 ON items USING engram_hnsw (v evector_l2_ops) WITH (quantization = 'int8');
	CREATE INDEX items_ip_int8 ON items USING engram_hnsw (v evector_ip_ops) WITH (quantization = 'int8');
	CREATE INDEX items_cos_int8 ON items USING engram_hnsw (v evector_cosine_ops) WITH (quantization = 'int8');
});

my $sizes = $primary->safe_psql('postgres',
	q{SELECT pg_relation_size('items_l2_int8') || ' ' || pg_relation_size('items_l2_float')});
my ($int8_bytes, $float_bytes) = split / /, $sizes;
diag("index size at $dims dimensions: int8 $int8_bytes bytes, float $float_bytes bytes");
cmp_ok($int8_bytes, '<', 0.6 * $float_bytes, 'the int8 index is well under the float index size');

# The index the planner must use for operator $op, with the other L2 index
# dropped inside the measuring transaction (rolled back).
sub without_other
{
	my ($index) = @_;
	return $index eq 'items_l2_int8' ? 'DROP INDEX items_l2_float;'
	  : $index eq 'items_l2_float' ? 'DROP INDEX items_l2_int8;' : '';
}

# recall@10 of index results against exact results (a sequential scan).
sub recall
{
	my ($node, $index, $op, $ef) = @_;
	my $drop = without_other($index);
	my $plan = $node->safe_psql('postgres', qq{
		BEGIN; $drop
		SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT q.id, n.id FROM queries q,
		  LATERAL (SELECT id FROM items i ORDER BY i.v $op q.v LIMIT 10) n;
		ROLLBACK;
	});
	die "the recall query does not use $index:\n$plan" unless $plan =~ /Index Scan using $index /;
	return $node->safe_psql('postgres', qq{
		BEGIN; $drop
		SET LOCAL engram.ef_search = $ef;
		SET LOCAL enable_seqscan = off;
		CREATE TEMP TABLE got ON COMMIT DROP AS SELECT q.id AS qid, n.id FROM queries q,
		  LATERAL (SELECT id FROM items i ORDER BY i.v $op q.v LIMIT 10) n;
		SET LOCAL enable_seqscan = on;
		SET LOCAL enable_indexscan = off;
		CREATE TEMP TABLE truth ON COMMIT DROP AS SELECT q.id AS qid, n.id FROM queries q,
		  LATERAL (SELECT id FROM items i ORDER BY i.v $op q.v LIMIT 10) n;
		SELECT round(count(got.id)::numeric / count(*), 3)
		FROM truth LEFT JOIN got USING (qid, id);
		ROLLBACK;
	});
}

sub errors
{
	my ($node, $index) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'");
}

# Every check of one stage: int8 recall floors, int8 against float at the
# same ef_search, the other operator classes, verification.
sub check_stage
{
	my ($stage) = @_;
	for my $ef (40, 100)
	{
		my $q = recall($primary, 'items_l2_int8', '<->', $ef);
		my $f = recall($primary, 'items_l2_float', '<->', $ef);
		diag("$stage, ef_search $ef: recall\@10 int8 $q, float $f");
		cmp_ok($q, '>=', $ef == 40 ? 0.97 : 0.98, "$stage: int8 recall\@10 at ef_search $ef");
		cmp_ok($q, '>=', $f - 0.01, "$stage: int8 recall at ef_search $ef keeps the float index's level");
	}
	my $ip = recall($primary, 'items_ip_int8', '<#>', 40);
	my $cos = recall($primary, 'items_cos_int8', '<=>', 40);
	diag("$stage, ef_search 40: recall\@10 inner product $ip, cosine $cos");
	cmp_ok($ip, '>=', 0.9, "$stage: int8 inner product recall\@10");
	cmp_ok($cos, '>=', 0.97, "$stage: int8 cosine recall\@10");
	for my $index (qw(items_l2_int8 items_ip_int8 items_cos_int8))
	{
		is(errors($primary, $index), '0', "$stage: verify finds no damage in $index");
	}
}

check_stage('after build');

# A parallel build (workers inserting into the shared in-memory graph)
# writes the same int8 format.
$primary->safe_psql('postgres', q{
	ALTER TABLE items SET (parallel_workers = 2);
	SET max_parallel_maintenance_workers = 2;
	CREATE INDEX items_l2_int8_parallel ON items USING engram_hnsw (v evector_l2_ops)
	  WITH (quantization = 'int8');
	ALTER TABLE items RESET (parallel_workers);
});
is(errors($primary, 'items_l2_int8_parallel'), '0', 'verify finds no damage in a parallel int8 build');
my $parallel_recall = $primary->safe_psql('postgres', q{
	BEGIN;
	DROP INDEX items_l2_int8, items_l2_float;
	SET LOCAL enable_seqscan = off;
	SET LOCAL engram.ef_search = 40;
	CREATE TEMP TABLE got ON COMMIT DROP AS SELECT q.id AS qid, n.id FROM queries q,
	  LATERAL (SELECT id FROM items i ORDER BY i.v <-> q.v LIMIT 10) n;
	SET LOCAL enable_seqscan = on;
	SET LOCAL enable_indexscan = off;
	CREATE TEMP TABLE truth ON COMMIT DROP AS SELECT q.id AS qid, n.id FROM queries q,
	  LATERAL (SELECT id FROM items i ORDER BY i.v <-> q.v LIMIT 10) n;
	SELECT round(count(got.id)::numeric / count(*), 3) FROM truth LEFT JOIN got USING (qid, id);
	ROLLBACK;
});
diag("parallel int8 build, ef_search 40: recall\@10 $parallel_recall");
cmp_ok($parallel_recall, '>=', 0.97, 'recall@10 of a parallel int8 build');
$primary->safe_psql('postgres', 'DROP INDEX items_l2_int8_parallel');

# 10% more rows through aminsert.
$primary->safe_psql('postgres', generate_rows('items', 3001, 3300, 0.33));
check_stage('after 10% inserts');

# Delete 30%, VACUUM: dead elements go, the graph is repaired.
$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 IN (1, 4, 7)');
$primary->safe_psql('postgres', 'VACUUM items');
check_stage('after deleting 30% and VACUUM');
is($primary->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class WHERE relname = 'items_l2_int8' AND reltuples = 2310}),
	'1', 'VACUUM counted the live int8 elements');

# WAL: the standby replayed everything (with page consistency checks) and
# answers with the primary's rows; so does the primary after a crash.
sub top10
{
	my ($node, $op) = @_;
	return $node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		SET engram.ef_search = 40;
		SELECT string_agg(ids, ';' ORDER BY id) FROM (
		  SELECT q.id, (SELECT string_agg(id::text, ',') FROM
		    (SELECT id FROM items i ORDER BY i.v $op q.v LIMIT 10) n) AS ids
		  FROM queries q WHERE q.id <= 50) s;
	});
}
$primary->safe_psql('postgres', 'DROP INDEX items_l2_float');
$primary->wait_for_catchup($standby);
ok($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()') eq 't',
	'standby replayed the int8 index records with consistency checks');
for my $op ('<->', '<#>', '<=>')
{
	is(top10($standby, $op), top10($primary, $op), "standby returns the primary's top-10 for $op");
}

$primary->safe_psql('postgres', generate_rows('items', 5001, 5100, 0.55));
my %before = map { $_ => top10($primary, $_) } ('<->', '<#>', '<=>');
$primary->stop('immediate');
$primary->start;
for my $op ('<->', '<#>', '<=>')
{
	is(top10($primary, $op), $before{$op}, "after crash recovery: same top-10 for $op");
}
for my $index (qw(items_l2_int8 items_ip_int8 items_cos_int8))
{
	is(errors($primary, $index), '0', "after crash recovery: verify finds no damage in $index");
}

$standby->stop;
$primary->stop;
done_testing();
