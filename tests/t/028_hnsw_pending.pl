# 028_hnsw_pending.pl: the pending list of engram_hnsw (deferred_insert =
# on) under concurrent inserts from several sessions (appends and the
# bounded merges of inserters that find the list over its limit, with
# queries), a crash in the middle of that load, a crash in the middle of
# engram_hnsw_flush_pending(), and a streaming standby.  After each crash:
# engram_hnsw_verify finds no damage, every committed row is in the index
# (graph or pending list), index scans return every row at most once and
# find (almost) every row, and a later flush completes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use EngramNode;
use EngramHnswData;

my $node = new_engram_node('hnsw_pending', allows_streaming => 1,
	extra_conf => "max_parallel_workers_per_gather = 0\nmax_connections = 20\nautovacuum = off");
my $dims = 16;

$node->safe_psql('postgres', qq{
	CREATE TABLE items (id bigserial PRIMARY KEY, v evector($dims));
	SELECT setseed(0.5);
	INSERT INTO items (v)
	SELECT ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	FROM generate_series(1, 1000) i;
	CREATE INDEX items_v ON items USING engram_hnsw (v)
		WITH (deferred_insert = on, pending_list_limit = 64);
});

my ($insert, $query) = random_vector_scripts($dims);

sub pending
{
	return $node->safe_psql('postgres', "SELECT entries FROM engram_hnsw_pending_stats('items_v')");
}
sub damage
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(problem || ': ' || detail, '; ') FROM engram_hnsw_verify('items_v') WHERE severity = 'error'");
}
# Every committed row has a heap TID in the index (graph or pending list).
sub check_contents
{
	my ($what) = @_;
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM items WHERE ctid NOT IN
		  (SELECT heap_tid FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted)}),
		'0', "$what: every committed row is in the index");
}
# Index scans return each row at most once, and nearly every row: an
# iterative scan asked for every row, from three query points.
sub check_scans
{
	my ($what) = @_;
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	for my $point (0, 1)
	{
		my $plan = $node->safe_psql('postgres', qq{
			SET enable_seqscan = off;
			EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> array_fill(${point}::real, ARRAY[$dims])::evector LIMIT $rows});
		like($plan, qr/Index Scan using items_v/, "$what: the scan uses the index");
		my ($returned, $distinct) = split /\|/, $node->safe_psql('postgres', qq{
			SET enable_seqscan = off;
			SET engram.ef_search = 1000;
			SELECT count(*), count(DISTINCT id) FROM
			  (SELECT id FROM items ORDER BY v <-> array_fill(${point}::real, ARRAY[$dims])::evector LIMIT $rows) s});
		is($returned, $distinct, "$what: no row returned twice (from $point)");
		cmp_ok($returned, '>=', $rows * 0.99, "$what: $returned of $rows rows returned (from $point)");
	}
	# the pending rows' own vectors find them first (exact for pending rows)
	is($node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		SELECT count(*) FROM (SELECT * FROM items ORDER BY id DESC LIMIT 50) t WHERE NOT EXISTS
		  (SELECT 1 FROM (SELECT id FROM items o ORDER BY o.v <-> t.v LIMIT 1) n WHERE n.id = t.id)}),
		'0', "$what: the 50 newest rows are their own nearest neighbours");
}

# 1. Concurrent deferred inserts from 4 sessions, with queries.
my ($h, $out, $err) = pgbench_start($node, 4, "$insert\@4", "$query\@1");
$h->finish;
is($h->result(0), 0, 'pgbench deferred inserts and queries ran without errors')
  or diag($$err);
my ($tx) = $$out =~ /number of transactions actually processed: (\d+)/;
my $pages = $node->safe_psql('postgres', "SELECT pages FROM engram_hnsw_pending_stats('items_v')");
diag("concurrent load: $tx transactions, pending entries after it: " . pending() . " on $pages pages");
# 64 kB is 8 pages; inserters wait to merge beyond 16 (plus those in flight)
cmp_ok($pages, '<=', 16 + 4, 'concurrent inserters keep the list within twice its limit');
cmp_ok(pending(), '>', 0, 'rows wait on the pending list');
is(damage(), '', 'verify: no damage after concurrent deferred inserts');
check_contents('after the concurrent load');
check_scans('after the concurrent load');

# 2. Crash in the middle of concurrent deferred inserts.
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
($h, $out, $err) = pgbench_start($node, 60, $insert);
$node->poll_query_until('postgres', "SELECT count(*) > $before + 300 FROM items")
  or die 'inserts did not start';
$node->stop('immediate');
$h->finish;
$node->start;
my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
diag("rows before the crash run: $before, committed and recovered: $after, pending: " . pending());
cmp_ok($after, '>', $before + 300, 'committed inserts survived the crash');
is(damage(), '', 'verify: no damage after a crash during deferred inserts');
check_contents('after the crash during inserts');
check_scans('after the crash during inserts');

# 3. Crash in the middle of a flush: a long list, a flush in another
# session, an immediate stop once it has merged part of it.
$node->safe_psql('postgres', qq{
	ALTER INDEX items_v SET (pending_list_limit = 100000);
	INSERT INTO items (v) SELECT ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	FROM generate_series(1, 1500) i;
});
my $long = pending();
diag("pending entries before the flush: $long");
cmp_ok($long, '>=', 1500, 'a long pending list');
my ($fout, $ferr) = ('', '');
my $flush = IPC::Run::start(['psql', '-X', '-h', $node->host, '-p', $node->port, '-d', 'postgres',
	'-c', "SELECT engram_hnsw_flush_pending('items_v')"], '>', \$fout, '2>', \$ferr);
$node->poll_query_until('postgres', "SELECT entries < $long - 300 FROM engram_hnsw_pending_stats('items_v')")
  or die 'the flush did not progress';
$node->stop('immediate');
$flush->finish;
$node->start;
my $left = pending();
my $both = $node->safe_psql('postgres',
	"SELECT count(*) - count(DISTINCT heap_tid) FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted");
diag("pending entries after the crash mid-flush: $left of $long; rows both in the graph and on the list: $both");
cmp_ok($left, '<', $long, 'the flush had merged part of the list');
cmp_ok($left, '>', 0, 'the crash interrupted the flush');
is(damage(), '', 'verify: no damage after a crash during a flush');
check_contents('after the crash during a flush');
check_scans('after the crash during a flush');
my $merged = $node->safe_psql('postgres', "SELECT engram_hnsw_flush_pending('items_v')");
diag("the next flush merged $merged entries");
is(pending(), '0', 'the next flush empties the list');
my $duplicates = $node->safe_psql('postgres',
	"SELECT count(*) - count(DISTINCT heap_tid) FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted");
diag("rows with two graph elements after the interrupted merge: $duplicates");
cmp_ok($duplicates, '<=', 4, 'the merge skipped the entries the crash left in both places');
is(damage(), '', 'verify: no damage after the flush');
check_contents('after the flush');
check_scans('after the flush');
$node->safe_psql('postgres', 'VACUUM items');
is(damage(), '', 'verify: no damage after VACUUM');

# 4. A streaming standby returns the primary's top-k with rows pending.
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_pending_standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
# The appends log their own generic WAL records (hnswpending.c): with
# wal_consistency_checking the standby compares each page it replays with
# the primary's image of it, and stops at the first difference.
$node->safe_psql('postgres', qq{
	SET wal_consistency_checking = 'generic';
	INSERT INTO items (v) SELECT ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	FROM generate_series(1, 500) i;
	CREATE TABLE queries AS SELECT g, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE g > 0)::real[]::evector AS q
	FROM generate_series(1, 10) g;
});
cmp_ok(pending(), '>=', 500, 'rows pending on the primary');
$node->wait_for_catchup($standby);
my $topk = q{
	SET enable_seqscan = off;
	SELECT string_agg(ids, ' ' ORDER BY g) FROM
	  (SELECT g, array(SELECT id FROM items ORDER BY v <-> q LIMIT 10)::text AS ids FROM queries) s};
my $on_primary = $node->safe_psql('postgres', $topk);
is($standby->safe_psql('postgres', $topk), $on_primary, 'the standby returns the primary\'s top-10');
is($standby->safe_psql('postgres', "SELECT entries FROM engram_hnsw_pending_stats('items_v')"),
	pending(), 'the standby sees the same pending list');
$node->safe_psql('postgres', "SELECT engram_hnsw_flush_pending('items_v')");
$node->wait_for_catchup($standby);
$on_primary = $node->safe_psql('postgres', $topk);
is($standby->safe_psql('postgres', $topk), $on_primary, 'the standby returns the primary\'s top-10 after a flush');
is($standby->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'"), '0',
	'verify on the standby: no damage');

$standby->stop;
$node->stop;
done_testing();
