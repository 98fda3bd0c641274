# 032_hnsw_version3.pl: an index of on-disk version 3 (the layout before
# link states) keeps working under this library, at 768 dimensions and
# m = 16, where version 4 keeps link states; REINDEX then makes it
# version 4, which must pass the same checks.  engram.hnsw_build_version = 3
# makes CREATE INDEX write the version 3 layout (hnsw.h, LINK STATES ON
# DISK): the catalog is that of any engram_hnsw index, only the metapage's
# version differs, so every reader and writer must take the layout from
# the metapage, as it must for an index built by a library of sessions 1
# to 7.  For each version, on a streaming primary with
# wal_consistency_checking = 'generic':
#   - the metapage's version, and the element lengths of every page
#     (3,280 bytes for a level-0 element of version 3, 3,440 with link
#     states), after the build, the inserts, the crash and on the standby;
#   - recall@10 against exact search after the build and after the load;
#   - inserts with engram.hnsw_build_check_selection on: no pruning from
#     kept outcomes on version 3 (none exist), some, all checked against a
#     selection from scratch, on version 4;
#   - concurrent inserts, queries, deletes and VACUUM (pgbench), then
#     engram_hnsw_verify clean and every row in the index;
#   - pg_ctl stop -m immediate during concurrent inserts, replay, the same
#     checks, VACUUM's reconnection;
#   - the standby replays every record (page images compared) and returns
#     the primary's top-10.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $dims = 768;
my $primary = new_engram_node('hnsw_version3', allows_streaming => 1,
	extra_conf => "wal_consistency_checking = 'generic'\nmaintenance_work_mem = '64MB'\n"
	  . "max_connections = 20\nshared_buffers = 32MB\nmax_wal_size = '2GB'\n"
	  . "log_lock_waits = on\ndeadlock_timeout = '200ms'\nlog_min_duration_statement = 2000");
# The slot keeps its WAL from now on, across the primary's crashes (a slot
# that reserves WAL only once the standby connects may lose that position
# in a crash before a checkpoint saved it).
$primary->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('version3_standby', true)");
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_version3_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'version3_standby'");
$standby->start;

# The setting is bounded by the versions this library writes.
for my $bad (2, 5)
{
	my ($ret, $out, $err) = $primary->psql('postgres', "SET engram.hnsw_build_version = $bad");
	like($err, qr/outside the valid range/, "engram.hnsw_build_version = $bad is refused");
}

$primary->safe_psql('postgres', qq{
	CREATE EXTENSION pageinspect;
	CREATE TABLE items (id bigserial PRIMARY KEY, v evector($dims));
	CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
} . clustered_rows_sql('items', 1, 1500, 0.23, $dims)
  . clustered_rows_sql('queries', 1, 60, 0.67, $dims) . q{
	SELECT setval('items_id_seq', 100000);
	SET engram.hnsw_build_version = 3;
	CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64);
});

# A clustered vector like those of clustered_rows_sql, around a random centre.
my $vector = "ARRAY(SELECT sin(:c * 7 + d) * 2 + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
  . " FROM generate_series(1, $dims) d)::real[]::evector";
my $insert = write_pgbench_script('insert768.sql',
	"\\set c random(0, 19)\nINSERT INTO items (v) SELECT $vector;\n");
my $query = write_pgbench_script('query768.sql',
	"\\set c random(0, 19)\nSET enable_seqscan = off;\n"
	  . "SELECT id FROM items ORDER BY v <-> (SELECT $vector) LIMIT 10;\n");
# VACUUM without truncation: a truncation waits up to 5 s for its lock
# while the other clients insert, and the load would mostly wait.
my $delete = write_pgbench_script('delete768.sql',
	"DELETE FROM items WHERE id IN (SELECT id FROM items TABLESAMPLE SYSTEM (1) LIMIT 3);\n"
	  . "VACUUM (TRUNCATE off) items;\n");

# A level-0 element: 16-byte header, 768 floats, 32 slots of 6 bytes
# (3,280 bytes); with link states 32 distances and 32 states more (3,440).
my %level0 = (3 => 3280, 4 => 3440);

sub check_layout
{
	my ($node, $version, $when) = @_;
	my ($own, $other) = ($level0{$version}, $level0{$version == 3 ? 4 : 3});
	is(metapage_version($node, 'items_v'), $version, "version $version, $when: metapage version $version");
	my $lengths = element_lengths($node, 'items_v');
	like($lengths, qr/^$own(,|$)/, "version $version, $when: level-0 elements of $own bytes");
	unlike($lengths, qr/(^|,)$other(,|$)/, "version $version, $when: none of $other bytes");
}

sub verify_errors
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'");
}

sub unreachable
{
	return $primary->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE problem = 'unreachable element'");
}

# Every row has its element in the index (exact), and an index search
# for a row's own vector returns it (at most one row in 200 missed).
sub check_rows
{
	my ($version, $when) = @_;
	is($primary->safe_psql('postgres', q{
		SELECT count(*) FROM items WHERE ctid NOT IN
		  (SELECT heap_tid FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted)}),
		'0', "version $version, $when: every row has its element in the index");
	my $rows = $primary->safe_psql('postgres', 'SELECT count(*) FROM items');
	my $missing = $primary->safe_psql('postgres', q{
		SET enable_seqscan = off;
		SET engram.ef_search = 100;
		SELECT count(*) FROM items t WHERE NOT EXISTS
		  (SELECT 1 FROM (SELECT id FROM items o ORDER BY o.v <-> t.v LIMIT 5) n WHERE n.id = t.id)});
	diag("version $version, $when: $missing of $rows rows not found by a search for their own vector");
	cmp_ok($missing, '<=', $rows / 200, "version $version, $when: rows are found through the index");
}

sub check_recall
{
	my ($version, $when) = @_;
	my $recall = recall_at_10($primary, 'items', 'queries', '<->', 40);
	diag("version $version, $when: recall\@10 at ef_search 40: $recall");
	cmp_ok($recall, '>=', 0.9, "version $version, $when: recall\@10 $recall above the floor");
}

# Inserts with every pruning from kept outcomes checked against a
# selection from scratch; returns how many were checked.
sub checked_inserts
{
	my ($version, $first, $last, $seed) = @_;
	my ($ret, $checked, $err) =
	  checked_prunings($primary, clustered_rows_sql('items', $first, $last, $seed, $dims));
	is($ret, 0, "version $version: checked inserts succeed") or diag($err);
	diag("version $version: $checked prunings from kept outcomes checked");
	return $checked;
}

sub top10
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		SELECT string_agg(ids, ';' ORDER BY id) FROM (
		  SELECT q.id, (SELECT string_agg(i.id::text, ',') FROM
		    (SELECT id FROM items i ORDER BY i.v <-> q.v LIMIT 10) i) AS ids
		  FROM queries q) s;
	});
}

sub exercise
{
	my ($version, $first_id) = @_;

	check_layout($primary, $version, 'after the build');
	check_recall($version, 'after the build');
	is(verify_errors($primary), '0', "version $version, after the build: verify clean");

	my $checked = checked_inserts($version, $first_id, $first_id + 199, 0.29 + $version / 10);
	if ($version == 3)
	{
		is($checked, 0, 'version 3: no pruning from kept outcomes (its elements keep none)');
	}
	else
	{
		cmp_ok($checked, '>', 50, 'version 4: prunings from kept outcomes, all checked');
	}

	# Concurrent inserts, queries, deletes and VACUUM.
	my ($h, $out, $err) = pgbench_start($primary, 8, "$insert\@6", "$query\@3", "$delete\@1");
	$h->finish;
	is($h->result(0), 0, "version $version: the concurrent load ran without errors")
	  or diag($$err);
	my ($tx) = $$out =~ /number of transactions actually processed: (\d+)/;
	diag("version $version: concurrent load, $tx transactions");
	cmp_ok($tx // 0, '>', 20, "version $version: the concurrent load did real work");
	$primary->safe_psql('postgres', 'VACUUM items');
	is(verify_errors($primary), '0', "version $version, after the concurrent load: verify clean");
	check_layout($primary, $version, 'after the concurrent load');
	check_rows($version, 'after the concurrent load');

	# A crash in the middle of concurrent inserts, then WAL replay.
	my $before = $primary->safe_psql('postgres', 'SELECT count(*) FROM items');
	($h, $out, $err) = pgbench_start($primary, 60, $insert);
	$primary->poll_query_until('postgres', "SELECT count(*) > $before + 40 FROM items")
	  or die 'inserts did not start';
	$primary->stop('immediate');
	$h->finish;
	$primary->start;
	my $after = $primary->safe_psql('postgres', 'SELECT count(*) FROM items');
	diag("version $version: rows before the crash run $before, after recovery $after");
	cmp_ok($after, '>', $before + 40, "version $version: committed inserts survived the crash");
	is(verify_errors($primary), '0', "version $version, after crash recovery: verify clean");
	check_layout($primary, $version, 'after crash recovery');
	$primary->safe_psql('postgres', 'VACUUM items');
	is(unreachable(), '0', "version $version: VACUUM after recovery reconnects every element");
	check_rows($version, 'after crash recovery and VACUUM');
	check_recall($version, 'after crash recovery and VACUUM');

	# The standby replayed it all, page images compared.
	$primary->wait_for_catchup($standby);
	is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't',
		"version $version: the standby replayed every record with consistency checks");
	check_layout($standby, $version, 'on the standby');
	is(verify_errors($standby), '0', "version $version, on the standby: verify clean");
	is(top10($standby), top10($primary), "version $version: the standby returns the primary's top-10");
}

exercise(3, 2001);

# A plain REINDEX (the setting at its default) writes version 4.
$primary->safe_psql('postgres', 'REINDEX INDEX items_v');
exercise(4, 3001);

$standby->stop;
$primary->stop;
done_testing();
