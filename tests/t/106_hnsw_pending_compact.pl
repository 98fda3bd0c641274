# 106_hnsw_pending_compact.pl: compact pending entries of engram_hnsw
# (src/hnsw/hnsw.h, COMPACT ENTRIES: the heap TID alone, the vector read
# from the row) through a crash and on a streaming standby.  The index is
# built on an empty engram-AM table with deferral and the largest
# pending_list_limit, so that every row stays on the pending list and an
# index scan is exact: its top-10 must equal a sequential scan's.  Load:
# inserts and HOT updates (the note only) from 4 sessions; an immediate stop
# in the middle; after restart, and on a standby that replays more of the
# same load (with HOT chains pruned to redirects), the answers through the
# list equal exact search.  The load runs with wal_consistency_checking =
# 'generic': crash recovery and the standby compare every page they replay
# from the list's records with the primary's image of it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $dims = 32;
my $node = new_engram_node('hnsw_pending_compact', allows_streaming => 1,
	extra_conf => "max_parallel_workers_per_gather = 0\nmax_connections = 20\nautovacuum = off");

$node->safe_psql('postgres', qq{
	CREATE EXTENSION pageinspect;
	CREATE TABLE items (id bigserial PRIMARY KEY, note text DEFAULT 'new', v evector($dims))
		USING engram WITH (fillfactor = 50);
	CREATE INDEX items_v ON items USING engram_hnsw (v)
		WITH (deferred_insert = on, pending_list_limit = 2147483647);
	SELECT setseed(0.25);
	CREATE TABLE queries AS SELECT g, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE g > 0)::real[]::evector AS q
	FROM generate_series(1, 10) g;
});

my $vector = "ARRAY(SELECT random() FROM generate_series(1, $dims))::real[]::evector";
# the load's sessions check the replay of the list's generic WAL records
my $check = "SET wal_consistency_checking = 'generic';\n";
my $insert = write_pgbench_script('compact_insert.sql', "${check}INSERT INTO items (v) SELECT $vector;\n");
my $hot_update = write_pgbench_script('compact_update.sql',
	"${check}UPDATE items SET note = note || '+' WHERE id = (SELECT max(id) - (random() * 50)::int FROM items);\n");

# The top-10 of every query, through the index or a sequential scan.
sub answers
{
	my ($node, $mode) = @_;
	my $settings = $mode eq 'index'
	  ? 'SET enable_seqscan = off; SET enable_indexscan = on;'
	  : 'SET enable_seqscan = on; SET enable_indexscan = off;';
	return $node->safe_psql('postgres', qq{
		$settings
		SET enable_bitmapscan = off;
		SELECT string_agg(ids, ' ' ORDER BY g) FROM
		  (SELECT g, array(SELECT id FROM items ORDER BY v <-> q, id LIMIT 10)::text AS ids FROM queries) s});
}
sub check_answers
{
	my ($node, $what) = @_;
	my $plan = $node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> (SELECT q FROM queries WHERE g = 1) LIMIT 10});
	like($plan, qr/Index Scan using items_v/, "$what: the scan uses the index");
	my $exact = answers($node, 'seq');
	is(answers($node, 'index'), $exact, "$what: the pending list's top-10 equal exact search");
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity IN ('error', 'warning')"),
		'0', "$what: engram_hnsw_verify reports nothing");
	return $exact;
}
# Entries and pages of the list: compact entries take 8 bytes, a page
# holds hundreds (a full entry of 32 dimensions takes 136: 58 a page).
sub list_shape
{
	my ($node) = @_;
	return split /\|/, $node->safe_psql('postgres',
		"SELECT entries, pages FROM engram_hnsw_pending_stats('items_v')");
}

# 1. Crash in the middle of inserts and HOT updates.
my ($h) = pgbench_start($node, 60, "$insert\@3", "$hot_update\@1");
$node->poll_query_until('postgres', 'SELECT count(*) > 3000 FROM items')
  or die 'the load did not start';
$node->stop('immediate');
$h->finish;
$node->start;
my ($entries, $pages) = list_shape($node);
my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
diag("after the crash: $rows rows, $entries pending entries on $pages pages");
cmp_ok($rows, '>', 3000, 'committed rows survived the crash');
cmp_ok($entries, '>=', $rows, 'every row is on the pending list');
cmp_ok($entries / $pages, '>', 200, 'the entries are compact');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM items WHERE ctid NOT IN
	  (SELECT heap_tid FROM engram_hnsw_index_tids('items_v'))}) > 0 ? 'hot' : 'none', 'hot',
	'HOT updates left rows whose current TID is not the indexed one');
check_answers($node, 'after the crash');

# 2. A streaming standby, replaying more of the load and pruned HOT chains.
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_pending_compact_standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
($h) = pgbench_start($node, 5, "$insert\@3", "$hot_update\@2");
$h->finish;
# A sequential scan prunes the pages that HOT updates filled (fillfactor 50):
# chains whose root is dead become redirects, which readers follow.
$node->safe_psql('postgres', 'SELECT count(*) FROM items');
my $redirects = $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(0, pg_relation_size('items') / 8192 - 1) b,
		heap_page_items(get_raw_page('items', b::int)) WHERE lp_flags = 2});
diag("redirect line pointers on the primary: $redirects");
cmp_ok($redirects, '>', 0, 'HOT chains were pruned to redirects');
my $exact = check_answers($node, 'primary after more load');
$node->wait_for_catchup($standby);
is(answers($standby, 'index'), $exact, 'the standby\'s pending list answers as exact search');
is(answers($standby, 'seq'), $exact, 'the standby has the same rows');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity IN ('error', 'warning')"), '0',
	'verify on the standby reports nothing');

# 3. Deleted rows, VACUUM (merges the list into the graph), answers again.
$node->safe_psql('postgres', 'DELETE FROM items WHERE id % 10 = 0');
is(answers($node, 'index'), answers($node, 'seq'), 'deleted rows: the list still answers as exact search');
$node->safe_psql('postgres', 'VACUUM items');
($entries) = list_shape($node);
is($entries, '0', 'VACUUM merged the list');
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT entries FROM engram_hnsw_pending_stats('items_v')"), '0',
	'the standby replayed the merge');

$standby->stop;
$node->stop;
done_testing();
