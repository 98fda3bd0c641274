# 024_hnsw_wal.pl: the WAL records engram_hnsw writes after the build
# (neighbour-list updates logged as single-fragment generic WAL records,
# element and metapage changes through GenericXLogFinish) replay to exactly
# the pages the primary wrote.  wal_consistency_checking = 'generic' makes
# every generic record carry a full image of its page, and replay (on the
# streaming standby, and on the primary after a crash) compares the page it
# produced with that image and stops with FATAL on any difference.  Small
# m makes neighbour lists overflow, so back-links take the pruning path;
# DELETE with VACUUM takes the repair path.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $primary = new_engram_node('hnsw_wal', allows_streaming => 1,
	extra_conf => "wal_consistency_checking = 'generic'");
# Every record carries a page image: a slot keeps the WAL for the standby.
$primary->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('hnsw_wal_standby')");
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_wal_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'hnsw_wal_standby'");
$standby->start;

my $dims = 8;
sub rows
{
	my ($first, $last) = @_;
	return qq{INSERT INTO items SELECT i, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
	          FROM generate_series($first, $last) i;};
}
$primary->safe_psql('postgres', qq{
	CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE queries AS SELECT g, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE g > 0)::real[]::evector AS v
	  FROM generate_series(1, 30) g;
} . rows(1, 300) . q{
	CREATE INDEX items_v ON items USING engram_hnsw (v) WITH (m = 4, ef_construction = 16);
	CREATE INDEX items_ip ON items USING engram_hnsw (v evector_ip_ops) WITH (m = 4, ef_construction = 16);
} . rows(301, 700) . q{
	CHECKPOINT;
} . rows(701, 900) . q{
	DELETE FROM items WHERE id % 5 = 0;
	VACUUM items;
} . rows(901, 1000));

$primary->wait_for_catchup($standby);
ok($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()') eq 't',
	'standby replayed every record with consistency checks and is still running');

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
for my $op ('<->', '<#>')
{
	my $on_primary = top10($primary, $op);
	is(scalar(split /,/, (split /;/, $on_primary)[0]), 10, "ten rows per query for $op");
	is(top10($standby, $op), $on_primary, "standby returns the primary's top-10 for $op");
}

# A crash after more inserts: crash recovery replays them with the same
# consistency checks.
$primary->safe_psql('postgres', rows(1001, 1200));
$primary->stop('immediate');
$primary->start;
$primary->wait_for_catchup($standby);

for my $node ($primary, $standby)
{
	my $name = $node->name;
	for my $index ('items_v', 'items_ip')
	{
		is($node->safe_psql('postgres',
			"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'"),
			'0', "$name: $index verifies clean after replay");
		is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM items WHERE ctid NOT IN
			  (SELECT heap_tid FROM engram_hnsw_index_tids('$index') WHERE NOT deleted)}),
			'0', "$name: every row has its element in $index");
	}
}
is(top10($standby, '<->'), top10($primary, '<->'),
	"standby and recovered primary return the same top-10");

# Replay stops with FATAL on an inconsistent page: neither log may say so.
for my $node ($primary, $standby)
{
	my $log = slurp_file($node->logfile);
	unlike($log, qr/inconsistent page found/, $node->name . ': no inconsistent page during replay');
}

$standby->stop;
$primary->stop;
done_testing();
