# 048_tam_logical_cold.pl: a published engram table with cold rows.
#  - a subscriber (a heap table there) ends with exactly the publisher's
#    rows after inserts, moves to cold, updates (of plain, indexed and key
#    columns) and deletes of cold rows, moves back to warm, repacks and
#    VACUUM of segments;
#  - a move to cold, and a repack, publish nothing: pgoutput has no message
#    for them (pg_logical_slot_peek_binary_changes) and test_decoding shows
#    no change of the table; a move back to warm decodes as an UPDATE to
#    the same row;
#  - a subscriber of a publication FOR ALL TABLES (which publishes the
#    segment store too) keeps its own segments and cold rows intact;
#  - DDL that would leave cold rows without their replica identity key
#    (REPLICA IDENTITY FULL, or USING INDEX on other columns) is refused,
#    and so are cold moves of a published table when engram is not
#    preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $pub = new_engram_node('publisher',
	extra_conf => "wal_level = logical\nmax_wal_senders = 4\nmax_replication_slots = 6");
my $sub = new_engram_node('subscriber');

# Publisher: engram, with a secondary index and a column stored out of line
# (TOAST), so that moves and updates go through index and TOAST paths.
$pub->safe_psql('postgres', q{
	CREATE TABLE lc_mem (id bigint PRIMARY KEY, grp int, content text NOT NULL, big text, emb real[])
	  USING engram;
	ALTER TABLE lc_mem ALTER COLUMN big SET STORAGE EXTERNAL;
	CREATE INDEX lc_mem_grp ON lc_mem (grp);
	CREATE UNIQUE INDEX lc_mem_content ON lc_mem (content);
	INSERT INTO lc_mem
	SELECT g, g % 10, 'memory ' || g,
	       CASE WHEN g % 3 = 0 THEN (SELECT string_agg(md5(g::text || k::text), '') FROM generate_series(1, 80) k) END,
	       array(SELECT ((g * k) % 89 / 89.0)::real FROM generate_series(1, 32) k)
	  FROM generate_series(1, 400) g;
	CREATE PUBLICATION lc_pub FOR TABLE lc_mem;
});
$sub->safe_psql('postgres', q{
	CREATE TABLE lc_mem (id bigint PRIMARY KEY, grp int, content text NOT NULL, big text, emb real[]) USING heap;
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION lc_sub CONNECTION '$connstr' PUBLICATION lc_pub");
$sub->wait_for_subscription_sync($pub, 'lc_sub');

my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r.id)) FROM lc_mem r};
sub same_contents
{
	my ($what) = @_;
	$pub->wait_for_catchup('lc_sub');
	is($sub->safe_psql('postgres', $checksum_sql), $pub->safe_psql('postgres', $checksum_sql),
		"subscriber has the publisher's rows: $what");
}
sub tier_count
{
	my ($tier) = @_;
	return $pub->safe_psql('postgres',
		qq{SELECT count(*) FROM lc_mem WHERE engram_row_tier('lc_mem', ctid) = '$tier'});
}
same_contents('initial copy');

# Slots that watch what a move decodes to.
$pub->safe_psql('postgres', q{
	SELECT pg_create_logical_replication_slot('lc_pgoutput', 'pgoutput');
	SELECT pg_create_logical_replication_slot('lc_text', 'test_decoding');
});
my $pgoutput_messages = q{SELECT count(*) FROM pg_logical_slot_get_binary_changes('lc_pgoutput', NULL, NULL,
	'proto_version', '1', 'publication_names', 'lc_pub')};
my $decoded_changes = q{SELECT coalesce(string_agg(data, E'\n'), '') FROM pg_logical_slot_get_changes('lc_text', NULL, NULL)
	WHERE data LIKE 'table public.lc_mem:%'};

# Move most rows to cold on the publisher.
is($pub->safe_psql('postgres',
	q{SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem WHERE id <= 360), 'cold')}),
	'360', 'rows of the published table move to cold');
is(tier_count('cold'), '360', '360 rows are cold');
is($pub->safe_psql('postgres', $pgoutput_messages), '0', 'pgoutput sends nothing for a move to cold');
is($pub->safe_psql('postgres', $decoded_changes), '', 'test_decoding shows no change of the table for the move');
same_contents('after moving rows to cold');

# What a subscriber receives still decodes: an update of a cold row.
$pub->safe_psql('postgres', q{UPDATE lc_mem SET content = content || ' (edited)' WHERE id = 7});
my $changes = $pub->safe_psql('postgres', $decoded_changes);
like($changes, qr/^table public.lc_mem: UPDATE: id\[bigint\]:7 grp\[integer\]:7 content\[text\]:'memory 7 \(edited\)'/,
	'an update of a cold row decodes with the whole new row');
isnt($pub->safe_psql('postgres', $pgoutput_messages), '0', 'and pgoutput sends it');

# Updates and deletes of cold rows: plain columns, indexed columns (to NULL
# too: such an update must not be HOT), TOASTed columns, the key itself.
$pub->safe_psql('postgres', q{
	UPDATE lc_mem SET content = content || ' (again)' WHERE id % 5 = 0 AND id <= 360;
	UPDATE lc_mem SET grp = NULL WHERE id % 7 = 1 AND id <= 360;
	UPDATE lc_mem SET big = repeat('x', 3000) WHERE id % 9 = 0 AND id <= 360;
	UPDATE lc_mem SET emb[1] = -1 WHERE id % 11 = 0 AND id <= 360;
	DELETE FROM lc_mem WHERE id % 13 = 0 AND id <= 360;
	UPDATE lc_mem SET id = id + 5000 WHERE id % 17 = 0 AND id <= 360;
	INSERT INTO lc_mem VALUES (1000, 1, 'late', NULL, '{1,2,3}');
});
$changes = $pub->safe_psql('postgres', $decoded_changes);
like($changes, qr/^table public.lc_mem: DELETE: id\[bigint\]:13$/m, 'a delete of a cold row decodes with its key');
like($changes, qr/^table public.lc_mem: UPDATE: old-key: id\[bigint\]:17 new-tuple: id\[bigint\]:5017 /m,
	'a key change of a cold row decodes with the old key');
same_contents('after updates, deletes and key changes of cold rows');
is($pub->safe_psql('postgres', q{
	SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) FROM lc_mem WHERE grp = 1}),
	$pub->safe_psql('postgres', q{SELECT count(*) FROM lc_mem WHERE grp = 1}),
	'the index on grp answers like a sequential scan after setting it to NULL in cold rows');

# Back to warm: decoded as an update to the same row.
$pub->safe_psql('postgres', q{
	SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem WHERE id BETWEEN 100 AND 199), 'warm');
});
$changes = $pub->safe_psql('postgres', $decoded_changes);
like($changes, qr/^table public.lc_mem: UPDATE: id\[bigint\]:101 grp\[integer\]:1 content\[text\]:'memory 101'/m,
	'a move to warm decodes as an update to the same row');
same_contents('after moving rows back to warm');

# Repack the sparse segments (rows rewritten stub to stub), then VACUUM
# drops the old segments.
isnt($pub->safe_psql('postgres', $pgoutput_messages), '0', 'pgoutput sent the updates, deletes and moves to warm');
$pub->safe_psql('postgres', q{SELECT engram_cold_vacuum('lc_mem', 1.0)});
is($pub->safe_psql('postgres', $pgoutput_messages), '0', 'pgoutput sends nothing for a repack');
is($pub->safe_psql('postgres', $decoded_changes), '', 'test_decoding shows no change of the table for the repack');
$pub->safe_psql('postgres', 'VACUUM lc_mem');
cmp_ok(tier_count('cold'), '>', 100, 'rows are still cold');
same_contents('after repack and VACUUM');

# More traffic after all that, then compare once more.
$pub->safe_psql('postgres', q{
	UPDATE lc_mem SET content = content || '!' WHERE id % 4 = 0;
	DELETE FROM lc_mem WHERE id % 19 = 0;
	SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem), 'cold');
	DELETE FROM lc_mem WHERE id % 23 = 0;
	UPDATE lc_mem SET grp = grp + 100 WHERE id % 29 = 0;
});
same_contents('after a second round');

# A publication FOR ALL TABLES publishes the segment store too.  A
# subscriber with engram installed and cold rows of its own keeps its own
# segments: its replication workers skip the publisher's segment rows, in
# the initial copy and afterwards.
my $sub_all = new_engram_node('subscriber_all');
$sub_all->safe_psql('postgres', q{
	CREATE TABLE lc_mem (id bigint PRIMARY KEY, grp int, content text NOT NULL, big text, emb real[]) USING engram;
	CREATE TABLE lc_local (id int PRIMARY KEY, body text) USING engram;
	INSERT INTO lc_local SELECT g, 'local ' || g FROM generate_series(1, 50) g;
	SELECT engram_move_to_tier('lc_local', (SELECT array_agg(ctid) FROM lc_local), 'cold');
});
my $segments_sql = q{SELECT count(*) || ' ' || md5(string_agg(s::text, '|' ORDER BY segment_id)) FROM engram.cold_segments s};
my $local_segments = $sub_all->safe_psql('postgres', $segments_sql);
my $local_rows = $sub_all->safe_psql('postgres', q{SELECT md5(string_agg(r::text, '|' ORDER BY id)) FROM lc_local r});
$pub->safe_psql('postgres', 'CREATE PUBLICATION lc_all FOR ALL TABLES');
$sub_all->safe_psql('postgres', "CREATE SUBSCRIPTION lc_sub_all CONNECTION '$connstr' PUBLICATION lc_all");
$sub_all->wait_for_subscription_sync($pub, 'lc_sub_all');
$pub->safe_psql('postgres', q{
	SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem WHERE id % 2 = 0), 'warm');
	UPDATE lc_mem SET content = content || ' (all)' WHERE id % 3 = 0;
	SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem), 'cold');
	DELETE FROM lc_mem WHERE id % 31 = 0;
	VACUUM lc_mem;
});
$pub->wait_for_catchup('lc_sub_all');
is($sub_all->safe_psql('postgres', $checksum_sql), $pub->safe_psql('postgres', $checksum_sql),
	'a FOR ALL TABLES subscriber has the publisher\'s rows');
is($sub_all->safe_psql('postgres', $segments_sql), $local_segments,
	'its segment store holds its own segments only');
is($sub_all->safe_psql('postgres', q{SELECT md5(string_agg(r::text, '|' ORDER BY id)) FROM lc_local r}),
	$local_rows, 'and its own cold rows read as before');
same_contents('the table subscriber too');
$sub_all->safe_psql('postgres', 'DROP SUBSCRIPTION lc_sub_all');
$pub->safe_psql('postgres', 'DROP PUBLICATION lc_all');
$sub_all->stop;

# DDL that would leave cold rows without their replica identity key.
my ($ret, $out, $err) = $pub->psql('postgres', 'ALTER TABLE lc_mem REPLICA IDENTITY FULL');
isnt($ret, 0, 'REPLICA IDENTITY FULL is refused while the published table has cold rows');
like($err, qr/REPLICA IDENTITY FULL/, 'with the reason');
($ret, $out, $err) = $pub->psql('postgres', 'ALTER TABLE lc_mem REPLICA IDENTITY USING INDEX lc_mem_content');
isnt($ret, 0, 'a replica identity on columns the stubs do not keep is refused');
like($err, qr/before the replica identity changed/, 'with the reason');
# Unpublished, the same DDL is allowed; publishing the table again is then refused.
$pub->safe_psql('postgres', q{
	ALTER PUBLICATION lc_pub DROP TABLE lc_mem;
	ALTER TABLE lc_mem REPLICA IDENTITY USING INDEX lc_mem_content;
});
($ret, $out, $err) = $pub->psql('postgres', 'ALTER PUBLICATION lc_pub ADD TABLE lc_mem');
isnt($ret, 0, 'publishing a table whose cold rows lack the replica identity key is refused');
like($err, qr/has rows in the cold tier/, 'with the reason');
# Rows moved again keep the new key: then the table may be published.
$pub->safe_psql('postgres', q{
	SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem), 'warm');
	SELECT engram_move_to_tier('lc_mem', (SELECT array_agg(ctid) FROM lc_mem), 'cold');
	ALTER PUBLICATION lc_pub ADD TABLE lc_mem;
});
is($pub->safe_psql('postgres', q{SELECT count(*) FROM pg_publication_tables WHERE pubname = 'lc_pub'}),
	'1', 'after moving the rows again the table can be published');

# Without engram in shared_preload_libraries decoding processes have no
# filter: cold moves of a published table are refused.
my $lazy = PostgreSQL::Test::Cluster->new('lazy');
$lazy->init;
$lazy->start;
$lazy->safe_psql('postgres', q{
	CREATE EXTENSION engram;
	CREATE TABLE lz (id int PRIMARY KEY, body text) USING engram;
	INSERT INTO lz SELECT g, 'row ' || g FROM generate_series(1, 20) g;
	SET client_min_messages = error;
	CREATE PUBLICATION lz_pub FOR TABLE lz;
});
($ret, $out, $err) = $lazy->psql('postgres',
	q{SELECT engram_move_to_tier('lz', (SELECT array_agg(ctid) FROM lz), 'cold')});
isnt($ret, 0, 'without preloading, cold moves of a published table are refused');
like($err, qr/shared_preload_libraries/, 'with the reason');
is($lazy->safe_psql('postgres', q{
	DROP PUBLICATION lz_pub;
	SELECT engram_move_to_tier('lz', (SELECT array_agg(ctid) FROM lz), 'cold')}),
	'20', 'unpublished, they move');
$lazy->stop;

$pub->safe_psql('postgres', q{
	SELECT pg_drop_replication_slot('lc_pgoutput');
	SELECT pg_drop_replication_slot('lc_text');
});
$sub->stop;
$pub->stop;
done_testing();
