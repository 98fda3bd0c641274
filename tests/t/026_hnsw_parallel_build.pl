# 026_hnsw_parallel_build.pl: engram_hnsw built by 0, 1 and 2 parallel
# workers (max_parallel_maintenance_workers), L2 and cosine: the workers
# really launch (the leader's DEBUG1 line), the graph is sound
# (engram_hnsw_verify), every row is indexed and recall@10 against exact
# search stays above the floor of 020_hnsw_recall.pl; then a parallel build
# whose graph outgrows a tiny maintenance_work_mem (NOTICE, the rest goes
# through the on-disk path) gives a sound, complete index too; so do a
# column without dimensions, a table of the engram access method, an
# empty table and a table of NULLs.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $node = new_engram_node('hnsw_parallel_build',
	extra_conf => "max_worker_processes = 8\nmax_parallel_workers = 8\n"
	  . "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '64MB'");

# 4,000 base and 200 query vectors of 32 dimensions around 20 centres.
# parallel_workers on the table: plan_create_index_workers() would give a
# table this small no worker at all.
$node->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, v evector(32)) WITH (parallel_workers = 4);
	CREATE TABLE queries (id int PRIMARY KEY, v evector(32));
} . clustered_rows_sql('items', 1, 4000, 0.11) . clustered_rows_sql('queries', 1, 200, 0.22)
  . q{ INSERT INTO items VALUES (4001, NULL); });

sub recall
{
	my ($op, $ef) = @_;
	return recall_at_10($node, 'items', 'queries', $op, $ef);
}

# Build TABLE_v; returns the leader's "launched" count and the stderr.
sub build
{
	my ($table, $opclass, $workers, $mwm) = @_;
	my ($out, $err);
	$node->psql('postgres', qq{
		SET client_min_messages = debug1;
		SET max_parallel_maintenance_workers = $workers;
		SET maintenance_work_mem = '$mwm';
		CREATE INDEX ${table}_v ON $table USING engram_hnsw (v $opclass)
		  WITH (m = 16, ef_construction = 64);
	}, stdout => \$out, stderr => \$err, on_error_die => 1);
	my ($launched) = $err =~ /engram_hnsw build: \d+ parallel workers planned, (\d+) launched/;
	return ($launched // 0, $err);
}

# TABLE_v is sound and holds each of the 4,000 non-NULL rows once.
sub check_structure
{
	my ($label, $table) = @_;
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('${table}_v') WHERE severity = 'error'"),
		'0', "$label: verify finds no damage");
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM engram_hnsw_index_tids('${table}_v') t
		JOIN $table i ON i.ctid = t.heap_tid}), '4000', "$label: every non-NULL row is indexed once");
}

sub check_index
{
	my ($label, $op) = @_;
	check_structure($label, 'items');
	is($node->safe_psql('postgres',
		"SELECT reltuples FROM pg_class WHERE relname = 'items_v'"),
		'4000', "$label: index tuple count");
	my $r = recall($op, 40);
	diag("$label: recall\@10 = $r (ef_search 40)");
	cmp_ok($r, '>=', 0.97, "$label: recall\@10 at ef_search 40");
}

for my $metric (['evector_l2_ops', '<->', 'L2'], ['evector_cosine_ops', '<=>', 'cosine'])
{
	my ($opclass, $op, $name) = @$metric;
	for my $workers (0, 1, 2)
	{
		my ($launched, $err) = build('items', $opclass, $workers, '64MB');
		if ($workers == 0)
		{
			unlike($err, qr/parallel workers planned/, "$name, 0 workers: serial build");
		}
		else
		{
			is($launched, $workers, "$name, $workers workers: $workers launched");
			my $rows = 0;
			$rows += $1 while $err =~ /parallel build worker: (\d+) rows into the graph/g;
			diag("$name, $workers workers: the workers inserted $rows of 4000 rows");
			cmp_ok($rows, '>', 0, "$name, $workers workers: the workers inserted rows");
		}
		unlike($err, qr/no longer fits/, "$name, $workers workers: the graph fits in memory");
		check_index("$name, $workers workers", $op);
		$node->safe_psql('postgres', 'DROP INDEX items_v');
	}
}

# Spill: 1MB of maintenance_work_mem holds about 2,000 elements of 32
# dimensions; the rest of the rows go through the on-disk insert path,
# from every participant.
my ($launched, $err) = build('items', 'evector_l2_ops', 2, '1MB');
is($launched, 2, 'spill: 2 workers launched');
like($err, qr/NOTICE:  engram_hnsw graph no longer fits into maintenance_work_mem/,
	'spill: NOTICE');
like($err, qr/HINT:  Increase maintenance_work_mem/, 'spill: hint');
my ($memory_rows, $disk_rows) = (0, 0);
while ($err =~ /parallel build worker: (\d+) rows into the graph, (\d+) on disk/g)
{
	$memory_rows += $1;
	$disk_rows += $2;
}
diag("spill: the workers inserted $memory_rows rows into the graph, $disk_rows on disk");
check_index('L2, 2 workers, spill', '<->');
$node->safe_psql('postgres', 'DROP INDEX items_v');

# A column without declared dimensions: they come from the first vector.
$node->safe_psql('postgres', q{
	CREATE TABLE free_dims (id int, v evector) WITH (parallel_workers = 2);
	INSERT INTO free_dims SELECT id, v FROM items WHERE v IS NOT NULL;
});
($launched, $err) = build('free_dims', '', 2, '64MB');
is($launched, 2, 'no typmod: 2 workers launched');
check_structure('no typmod, 2 workers', 'free_dims');

# A table of the engram access method: its own parallel build scan.
$node->safe_psql('postgres', q{
	CREATE TABLE engram_items (id int, v evector(32)) USING engram WITH (parallel_workers = 2);
	INSERT INTO engram_items SELECT id, v FROM items WHERE v IS NOT NULL;
});
($launched, $err) = build('engram_items', 'evector_l2_ops', 2, '64MB');
is($launched, 2, 'engram table: 2 workers launched');
check_structure('engram table, 2 workers', 'engram_items');

# An empty table and one of NULLs only: the workers find nothing, the
# leader writes an empty graph, and inserts afterwards work.
$node->safe_psql('postgres', q{
	CREATE TABLE empty_t (id int, v evector(32)) WITH (parallel_workers = 2);
	CREATE TABLE nulls_t (id int, v evector(32)) WITH (parallel_workers = 2);
	INSERT INTO nulls_t SELECT i, NULL FROM generate_series(1, 1000) i;
	SET max_parallel_maintenance_workers = 2;
	CREATE INDEX empty_t_v ON empty_t USING engram_hnsw (v);
	CREATE INDEX nulls_t_v ON nulls_t USING engram_hnsw (v);
	INSERT INTO empty_t SELECT id, v FROM items WHERE id <= 100;
	INSERT INTO nulls_t SELECT id, v FROM items WHERE id <= 100;
});
for my $t ('empty_t', 'nulls_t')
{
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('${t}_v') WHERE severity = 'error'"),
		'0', "$t, 2 workers: verify finds no damage");
	is($node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		SELECT id FROM $t ORDER BY v <-> (SELECT v FROM items WHERE id = 42) LIMIT 1}),
		'42', "$t, 2 workers: inserts after the build are found");
}

$node->stop;
done_testing();
