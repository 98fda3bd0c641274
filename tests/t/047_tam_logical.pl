# 047_tam_logical.pl: logical replication of engram tables.
#  - ordinary DML (INSERT, COPY, UPDATE, DELETE) of a published engram
#    table reaches a subscriber, whose copy is an engram table too;
#  - a move to hot of a published table changes nothing there;
#  - the subscriber may keep replicated rows cold: updates and deletes that
#    arrive for cold rows apply to them.
# Cold rows on the publisher: 048_tam_logical_cold.pl.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $pub = new_engram_node('publisher', extra_conf => "wal_level = logical\nmax_wal_senders = 4\nmax_replication_slots = 4");
my $sub = new_engram_node('subscriber');

my $create = q{CREATE TABLE lr_mem (id bigint PRIMARY KEY, content text, emb real[]) USING engram};
$pub->safe_psql('postgres', $create);
$sub->safe_psql('postgres', $create);
$pub->safe_psql('postgres', q{
	INSERT INTO lr_mem SELECT g, 'memory ' || g, array(SELECT ((g * k) % 89 / 89.0)::real FROM generate_series(1, 32) k)
	  FROM generate_series(1, 300) g;
	CREATE PUBLICATION lr_pub FOR TABLE lr_mem;
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION lr_sub CONNECTION '$connstr' PUBLICATION lr_pub");
$sub->wait_for_subscription_sync($pub, 'lr_sub');

my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r.id)) FROM lr_mem r};
sub same_contents
{
	my ($what) = @_;
	$pub->wait_for_catchup('lr_sub');
	is($sub->safe_psql('postgres', $checksum_sql), $pub->safe_psql('postgres', $checksum_sql),
		"subscriber has the publisher's rows: $what");
}
same_contents('initial copy');

# Ordinary DML.
$pub->safe_psql('postgres', q{
	UPDATE lr_mem SET content = content || ' (edited)' WHERE id % 7 = 0;
	UPDATE lr_mem SET emb[1] = -1 WHERE id % 11 = 0;
	DELETE FROM lr_mem WHERE id % 13 = 0;
	INSERT INTO lr_mem VALUES (1000, 'late', '{1,2,3}');
	COPY lr_mem FROM stdin;
1001	copied	{4,5}
\.
});
same_contents('after UPDATE, DELETE, INSERT and COPY');

# A move to hot of a published table (a cache, no heap change).
$pub->safe_psql('postgres', q{SELECT engram_move_to_tier('lr_mem', (SELECT array_agg(ctid) FROM lr_mem), 'hot')});
same_contents('after a move to hot');

# The subscriber keeps rows cold; replicated changes apply to cold rows.
$sub->safe_psql('postgres', q{SELECT engram_move_to_tier('lr_mem', (SELECT array_agg(ctid) FROM lr_mem), 'cold')});
is($sub->safe_psql('postgres', q{SELECT count(*) FROM lr_mem WHERE engram_row_tier('lr_mem', ctid) = 'warm'}),
	'0', 'every subscriber row is cold');
$pub->safe_psql('postgres', q{
	UPDATE lr_mem SET content = content || ' (again)' WHERE id % 5 = 0;
	DELETE FROM lr_mem WHERE id % 17 = 0;
	UPDATE lr_mem SET id = id + 5000 WHERE id % 19 = 0;
});
same_contents('updates, deletes and key changes applied to cold rows on the subscriber');

$sub->stop;
$pub->stop;
done_testing();
