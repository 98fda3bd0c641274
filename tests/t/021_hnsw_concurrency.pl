# 021_hnsw_concurrency.pl: engram_hnsw under concurrent load driven by
# pgbench (inserts, nearest-neighbour queries, deletes with VACUUM), then a
# crash (immediate stop) in the middle of concurrent inserts: after
# restart the index verifies clean, holds an element for every committed
# row, and (after VACUUM, which reconnects elements that pruning left
# unreachable) committed rows are found by an index search for their own
# vector.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use EngramNode;
use EngramHnswData;

# shared_buffers large enough that searches and inserts pin pages ahead and
# keep the pins of the pages they visited (hnsw.md, "Searches and inserts
# on disk"); with the 1 MB default of these tests they pin nothing ahead.
my $node = new_engram_node('hnsw_concurrency',
	extra_conf => "max_parallel_workers_per_gather = 0\nmax_connections = 20\nshared_buffers = 16MB");
my $dims = 16;

$node->safe_psql('postgres', qq{
	CREATE TABLE items (id bigserial PRIMARY KEY, v evector($dims));
	SELECT setseed(0.5);
	INSERT INTO items (v)
	SELECT ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	FROM generate_series(1, 1000) i;
	CREATE INDEX items_v ON items USING engram_hnsw (v);
});

my ($insert, $query) = random_vector_scripts($dims);
my $delete = write_pgbench_script('delete.sql',
	"DELETE FROM items WHERE id IN (SELECT id FROM items TABLESAMPLE SYSTEM (1) LIMIT 10);\nVACUUM items;\n");

# Rows an index search for their own vector does not return (vectors are
# random floats, so a row is its own unique nearest).  HNSW search is
# approximate, so a rare miss is allowed: at most one row in 500.
sub rows_missing
{
	my $plan = $node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT count(*) FROM items t WHERE NOT EXISTS
		  (SELECT 1 FROM (SELECT id FROM items o ORDER BY o.v <-> t.v LIMIT 5) n WHERE n.id = t.id)});
	die "self-search does not use the index:\n$plan" unless $plan =~ /Index Scan using items_v/;
	return $node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		SET engram.ef_search = 100;
		SELECT count(*) FROM items t WHERE NOT EXISTS
		  (SELECT 1 FROM (SELECT id FROM items o ORDER BY o.v <-> t.v LIMIT 5) n WHERE n.id = t.id)});
}
sub check_found
{
	my ($what) = @_;
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	my $missing = rows_missing();
	diag("$what: $missing of $rows rows not returned by a search for their own vector");
	cmp_ok($missing, '<=', $rows / 500, "$what: rows are found through the index");
}
# Every committed row has its element in the index (exact check).
sub check_contents
{
	my ($what) = @_;
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM items WHERE ctid NOT IN
		  (SELECT heap_tid FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted)}),
		'0', "$what: every row has its element in the index");
}

sub damage
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'");
}
sub unreachable
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE problem = 'unreachable element'");
}

# 1. Mixed concurrent load: 4 clients inserting, querying, deleting + VACUUM.
my ($h, $out, $err) = pgbench_start($node, 8, "$insert\@6", "$query\@3", "$delete\@1");
$h->finish;
is($h->result(0), 0, 'pgbench mixed load ran without errors')
  or diag($$err);
my ($tx) = $$out =~ /number of transactions actually processed: (\d+)/;
diag("mixed load: $tx transactions");
cmp_ok($tx // 0, '>', 50, 'the mixed load did real work');
$node->safe_psql('postgres', 'VACUUM items');
is(damage(), '0', 'verify: no damage after concurrent inserts, queries and vacuums');
my $lost = unreachable();
diag("unreachable elements after mixed load: $lost");
check_contents('after the mixed load');
check_found('after the mixed load');

# 2. Crash in the middle of concurrent inserts.
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
($h, $out, $err) = pgbench_start($node, 60, $insert);
# wait until inserts are flowing, then stop the server with no checkpoint
$node->poll_query_until('postgres', "SELECT count(*) > $before + 200 FROM items")
  or die 'inserts did not start';
$node->stop('immediate');
$h->finish;
$node->start;

my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
diag("rows before the crash run: $before, committed and recovered: $after");
cmp_ok($after, '>', $before + 200, 'committed inserts survived the crash');
is(damage(), '0', 'verify: no damage after crash recovery');
check_contents('after crash recovery');
diag('unreachable elements after recovery, before VACUUM: ' . unreachable());
$node->safe_psql('postgres', 'VACUUM items');
is(unreachable(), '0', 'VACUUM reconnects every unreachable element');
check_found('after crash recovery and VACUUM');

# The index keeps working: more inserts, VACUUM (cleans elements of
# transactions the crash aborted), still consistent.
$node->safe_psql('postgres', qq{
	INSERT INTO items (v) SELECT ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	FROM generate_series(1, 100) i;
	VACUUM items;
});
is(damage(), '0', 'verify: no damage after post-recovery inserts and VACUUM');
check_contents('after post-recovery inserts and VACUUM');
check_found('after post-recovery inserts and VACUUM');

$node->stop;
done_testing();
