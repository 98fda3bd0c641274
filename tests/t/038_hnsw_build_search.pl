# 038_hnsw_build_search.pl: engram.hnsw_build_search, the two ways a build
# searches its in-memory graph ("int8": codes, candidates re-ranked with
# exact distances; "exact": float distances), each serially and with one
# parallel worker, under L2, cosine and inner product: the leader's DEBUG1
# line names the search the build used, the graph is sound
# (engram_hnsw_verify), every row is indexed once, and recall@10 against
# exact search stays above the floor of 026_hnsw_parallel_build.pl, with
# the int8 search's recall within 0.02 of the exact one's on the same data.
# "auto" (the default) searches exactly below 512 dimensions and with codes
# from 512 on, where the code bounds of the neighbour selection (from 256
# dimensions) are used too: a 512-dimension build checks that path.  With
# engram.hnsw_build_check_selection every pruning of a full neighbour
# list, made from the distances and heuristic outcomes kept with the
# links, equals a selection from scratch.  A
# table whose vectors live in TOAST gets its parallel worker from its size
# with TOAST.  A bad setting is refused.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $node = new_engram_node('hnsw_build_search',
	extra_conf => "max_worker_processes = 8\nmax_parallel_workers = 8\n"
	  . "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '64MB'");

# 4,000 base and 200 query vectors of 48 dimensions around 20 centres;
# parallel_workers on the table, or a table this small gets no worker.
$node->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, v evector(48)) WITH (parallel_workers = 4);
	CREATE TABLE queries (id int PRIMARY KEY, v evector(48));
} . clustered_rows_sql('items', 1, 4000, 0.31, 48) . clustered_rows_sql('queries', 1, 200, 0.62, 48));

is($node->safe_psql('postgres', 'SHOW engram.hnsw_build_search'), 'auto',
	'default: auto');
my ($ret, $out, $err) = $node->psql('postgres', "SET engram.hnsw_build_search = 'fp16'");
like($err, qr/invalid value for parameter "engram.hnsw_build_search"/, 'a bad value is refused');

# Build TABLE_v; returns the stderr of CREATE INDEX at DEBUG1.
sub build
{
	my ($search, $opclass, $workers, $table) = @_;
	$table //= 'items';
	my ($out, $err);
	$node->psql('postgres', qq{
		SET client_min_messages = debug1;
		SET engram.hnsw_build_search = $search;
		SET max_parallel_maintenance_workers = $workers;
		CREATE INDEX ${table}_v ON $table USING engram_hnsw (v $opclass)
		  WITH (m = 16, ef_construction = 64);
	}, stdout => \$out, stderr => \$err, on_error_die => 1);
	return $err;
}

like(build('auto', 'evector_l2_ops', 0), qr/the graph is searched with exact distances/,
	'auto at 48 dimensions: exact search');
$node->safe_psql('postgres', 'DROP INDEX items_v');

for my $metric (['evector_l2_ops', '<->', 'L2'], ['evector_cosine_ops', '<=>', 'cosine'],
	['evector_ip_ops', '<#>', 'inner product'])
{
	my ($opclass, $op, $name) = @$metric;
	for my $workers (0, 1)
	{
		my %recall;
		for my $search ('exact', 'int8')
		{
			my $label = "$name, $search search, $workers workers";
			my $err = build($search, $opclass, $workers);
			like($err, qr/engram_hnsw build: the graph is searched with \Q$search\E distances/,
				"$label: the build says which search it used");
			if ($workers > 0)
			{
				like($err, qr/engram_hnsw build: 1 parallel workers planned, 1 launched/,
					"$label: the worker launched");
			}
			is($node->safe_psql('postgres',
				"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'"),
				'0', "$label: verify finds no damage");
			is($node->safe_psql('postgres', q{
				SELECT count(*) FROM engram_hnsw_index_tids('items_v') t
				JOIN items i ON i.ctid = t.heap_tid}), '4000', "$label: every row is indexed once");
			$recall{$search} = recall_at_10($node, 'items', 'queries', $op, 40);
			diag("$label: recall\@10 = $recall{$search} (ef_search 40)");
			cmp_ok($recall{$search}, '>=', 0.95, "$label: recall\@10 at ef_search 40");
			$node->safe_psql('postgres', 'DROP INDEX items_v');
		}
		cmp_ok($recall{int8}, '>=', $recall{exact} - 0.02,
			"$name, $workers workers: int8 search recall within 0.02 of exact");
	}
}

# 512 dimensions, 1,500 rows: auto takes the codes, and the selection's
# code bounds are in use (L2 and cosine), serially and with a worker.
$node->safe_psql('postgres', q{
	CREATE TABLE wide (id int PRIMARY KEY, v evector(512)) WITH (parallel_workers = 4);
	CREATE TABLE wide_q (id int PRIMARY KEY, v evector(512));
} . clustered_rows_sql('wide', 1, 1500, 0.41, 512) . clustered_rows_sql('wide_q', 1, 100, 0.82, 512));
for my $metric (['evector_l2_ops', '<->', 'L2'], ['evector_cosine_ops', '<=>', 'cosine'])
{
	my ($opclass, $op, $name) = @$metric;
	for my $workers (0, 1)
	{
		my $label = "512 dimensions, $name, auto, $workers workers";
		like(build('auto', $opclass, $workers, 'wide'),
			qr/the graph is searched with int8 distances/, "$label: int8 search");
		is($node->safe_psql('postgres',
			"SELECT count(*) FROM engram_hnsw_verify('wide_v') WHERE severity = 'error'"),
			'0', "$label: verify finds no damage");
		my $r = recall_at_10($node, 'wide', 'wide_q', $op, 40);
		diag("$label: recall\@10 = $r (ef_search 40)");
		cmp_ok($r, '>=', 0.95, "$label: recall\@10 at ef_search 40");
		$node->safe_psql('postgres', 'DROP INDEX wide_v');
	}
}

# engram.hnsw_build_check_selection: every pruning of a full list, which
# reuses the distances and heuristic outcomes kept with its links, is
# checked against a selection from scratch (an error on any difference or
# on a kept distance that is not the recomputed one): exact search at 48
# dimensions under each metric, int8 search with the code bounds at 512
# dimensions, serially and with a worker.  The leader says how many
# prunings it checked.
for my $case (['items', 'exact', 'evector_l2_ops'], ['items', 'exact', 'evector_cosine_ops'],
	['items', 'exact', 'evector_ip_ops'], ['wide', 'int8', 'evector_l2_ops'],
	['wide', 'int8', 'evector_cosine_ops'])
{
	my ($table, $search, $opclass) = @$case;
	for my $workers (0, 1)
	{
		my $label = "checked selection, $table, $search, $opclass, $workers workers";
		my ($out, $err);
		my $ret = $node->psql('postgres', qq{
			SET client_min_messages = debug1;
			SET engram.hnsw_build_check_selection = on;
			SET engram.hnsw_build_search = $search;
			SET max_parallel_maintenance_workers = $workers;
			CREATE INDEX ${table}_v ON $table USING engram_hnsw (v $opclass)
			  WITH (m = 16, ef_construction = 64);
		}, stdout => \$out, stderr => \$err);
		is($ret, 0, "$label: the build succeeds") or diag($err);
		my ($checked) = $err =~ /engram_hnsw build: (\d+) prunings of this process checked/;
		cmp_ok($checked // 0, '>', 100, "$label: the leader checked its prunings");
		is($node->safe_psql('postgres',
			"SELECT count(*) FROM engram_hnsw_verify('${table}_v') WHERE severity = 'error'"),
			'0', "$label: verify finds no damage");
		$node->safe_psql('postgres', "DROP INDEX ${table}_v");
	}
}

# Vectors of 512 dimensions in TOAST (STORAGE EXTERNAL; evector's default,
# main, keeps them in the row): the table's main fork is a few pages, which
# plan_create_index_workers() alone finds too small for a worker; the build
# counts the TOAST blocks too (no parallel_workers setting here,
# min_parallel_table_scan_size lowered to the table's scale).
$node->safe_psql('postgres', q{
	CREATE TABLE toasted (LIKE wide);
	ALTER TABLE toasted ALTER COLUMN v SET STORAGE EXTERNAL;
	INSERT INTO toasted SELECT * FROM wide;
});
my ($main, $toast) = split /\|/, $node->safe_psql('postgres', q{
	SELECT pg_relation_size('toasted'), pg_relation_size(reltoastrelid)
	FROM pg_class WHERE relname = 'toasted'});
diag("toasted: main fork $main bytes, TOAST $toast bytes");
cmp_ok($main, '<', 512 * 1024, 'toasted: the main fork is under min_parallel_table_scan_size');
my ($out2, $err2);
$node->psql('postgres', q{
	SET client_min_messages = debug1;
	SET min_parallel_table_scan_size = '512kB';
	SET max_parallel_maintenance_workers = 1;
	CREATE INDEX toasted_v ON toasted USING engram_hnsw (v evector_l2_ops);
}, stdout => \$out2, stderr => \$err2, on_error_die => 1);
like($err2, qr/engram_hnsw build: 1 parallel workers for \d+ blocks with TOAST/,
	'toasted: a worker from the size with TOAST');
like($err2, qr/engram_hnsw build: 1 parallel workers planned, 1 launched/,
	'toasted: the worker launched');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM engram_hnsw_index_tids('toasted_v') t
	JOIN toasted i ON i.ctid = t.heap_tid}), '1500', 'toasted: every row is indexed once');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('toasted_v') WHERE severity = 'error'"),
	'0', 'toasted: verify finds no damage');

$node->stop;
done_testing();
