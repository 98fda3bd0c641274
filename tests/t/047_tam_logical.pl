# 047_tam_logical.pl: logical replication of engram tables.
#  - ordinary DML (INSERT, COPY, UPDATE, DELETE) of a published engram
#    table reaches a subscriber, whose copy is an engram table too;
#  - on the publisher, moving rows of a published table to cold is refused,
#    and publishing a table that has cold rows is refused (logical decoding
#    reads the stubs heap wrote: it would publish a move as an update to an
#    all-NULL row, and the keys of cold rows as NULL) -- shown here with
#    test_decoding on an unpublished table;
#  - the subscriber may keep replicated rows cold: updates and deletes that
#    arrive for cold rows apply to them.
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

# Moves of a published table: cold refused, hot allowed (a cache, no heap change).
my ($ret, $out, $err) = $pub->psql('postgres',
	q{SELECT engram_move_to_tier('lr_mem', (SELECT array_agg(ctid) FROM lr_mem), 'cold')});
isnt($ret, 0, 'moving rows of a published table to cold is refused');
like($err, qr/the table is published/, 'with the reason');
# A publication of deletes only refuses it too (the old key of a deleted cold row would be NULL).
$pub->safe_psql('postgres', q{
	CREATE TABLE lr_del (id int PRIMARY KEY, body text) USING engram;
	INSERT INTO lr_del SELECT g, 'd' || g FROM generate_series(1, 10) g;
	CREATE PUBLICATION lr_del_pub FOR TABLE lr_del WITH (publish = 'delete');
});
($ret, $out, $err) = $pub->psql('postgres',
	q{SELECT engram_move_to_tier('lr_del', (SELECT array_agg(ctid) FROM lr_del), 'cold')});
isnt($ret, 0, 'a delete-only publication refuses cold moves as well');
$pub->safe_psql('postgres', 'DROP PUBLICATION lr_del_pub');
is($pub->safe_psql('postgres', q{SELECT engram_move_to_tier('lr_del', (SELECT array_agg(ctid) FROM lr_del), 'cold')}),
	'10', 'once unpublished, its rows move to cold');

# Publishing a table with cold rows is refused, by CREATE and ALTER PUBLICATION.
($ret, $out, $err) = $pub->psql('postgres', 'ALTER PUBLICATION lr_pub ADD TABLE lr_del');
isnt($ret, 0, 'ALTER PUBLICATION ADD TABLE of a table with cold rows is refused');
like($err, qr/has rows in the cold tier/, 'with the reason');
($ret, $out, $err) = $pub->psql('postgres', 'CREATE PUBLICATION lr_all FOR ALL TABLES');
isnt($ret, 0, 'CREATE PUBLICATION FOR ALL TABLES is refused while a table has cold rows');
# Rows back to warm and a VACUUM (which drops the segments): allowed.
$pub->safe_psql('postgres', q{
	SELECT engram_move_to_tier('lr_del', (SELECT array_agg(ctid) FROM lr_del), 'warm');
	VACUUM lr_del;
	ALTER PUBLICATION lr_pub ADD TABLE lr_del;
});
is($pub->safe_psql('postgres', q{SELECT count(*) FROM pg_publication_tables WHERE pubname = 'lr_pub'}),
	'2', 'after moving its rows back to warm the table can be published');
$pub->safe_psql('postgres', 'ALTER PUBLICATION lr_pub DROP TABLE lr_del');

# Why: logical decoding of a move, on an unpublished table, is an UPDATE
# whose new tuple is the stub (every column NULL).
$pub->safe_psql('postgres', q{
	CREATE TABLE lr_private (id int PRIMARY KEY, body text) USING engram;
	INSERT INTO lr_private VALUES (1, 'secret');
	SELECT pg_create_logical_replication_slot('lr_decode', 'test_decoding');
	SELECT engram_move_to_tier('lr_private', (SELECT array_agg(ctid) FROM lr_private), 'cold');
});
my $changes = $pub->safe_psql('postgres',
	q{SELECT string_agg(data, E'\n') FROM pg_logical_slot_get_changes('lr_decode', NULL, NULL)
	   WHERE data LIKE 'table public.lr_private%'});
like($changes, qr/UPDATE: old-key: id\[integer\]:1 new-tuple: id\[integer\]:null body\[text\]:null/,
	'a move decodes as an update to an all-NULL row');
$pub->safe_psql('postgres', q{SELECT pg_drop_replication_slot('lr_decode')});

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
