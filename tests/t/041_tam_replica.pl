# 041_tam_replica.pl: a streaming replica (hot standby) reads warm and cold
# rows of an engram table exactly as the primary does, through sequential
# and index scans, after moves, updates, deletes and VACUUM are replayed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $primary = new_engram_node('primary', allows_streaming => 1);
$primary->safe_psql('postgres', q{
	CREATE TABLE rep_mem (id bigint PRIMARY KEY, content text, emb real[]) USING engram;
	INSERT INTO rep_mem
	SELECT g, 'memory ' || g || repeat(' words', g % 9),
	       array(SELECT ((g * k) % 89 / 89.0)::real FROM generate_series(1, 48) k)
	  FROM generate_series(1, 5000) g;
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r.id)) FROM rep_mem r};
my $index_sql = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) || ' ' || md5(string_agg(r::text, '|' ORDER BY r.id)) FROM rep_mem r WHERE id BETWEEN 100 AND 4000};
my $tier_sql = q{SELECT string_agg(tier || ':' || n, ',' ORDER BY tier) FROM (SELECT engram_row_tier('rep_mem', ctid) AS tier, count(*) AS n FROM rep_mem GROUP BY 1) t};

sub compare
{
	my ($what) = @_;
	$primary->wait_for_catchup($standby, 'replay');
	foreach my $sql ($checksum_sql, $index_sql, $tier_sql)
	{
		is($standby->safe_psql('postgres', $sql), $primary->safe_psql('postgres', $sql),
			"standby answers like the primary: $what");
	}
}

# Rows moved to cold after the base backup, and rows moved back.
is($primary->safe_psql('postgres',
	"SELECT engram_move_to_tier('rep_mem', (SELECT array_agg(ctid) FROM rep_mem WHERE id % 3 <> 0), 'cold')"),
	'3334', 'rows moved to cold on the primary');
compare('after moving rows to cold');
like($standby->safe_psql('postgres', $tier_sql), qr/cold:3334/, 'the standby sees the cold rows as cold');

$primary->safe_psql('postgres', q{
	UPDATE rep_mem SET content = content || ' (edited)' WHERE id % 7 = 1;
	DELETE FROM rep_mem WHERE id % 11 = 2;
	VACUUM rep_mem;
});
compare('after updates, deletes and VACUUM of cold rows');

$primary->safe_psql('postgres',
	"SELECT engram_move_to_tier('rep_mem', (SELECT array_agg(ctid) FROM rep_mem WHERE id % 2 = 0), 'warm')");
$primary->safe_psql('postgres', 'VACUUM FULL rep_mem');
compare('after moving rows back to warm and VACUUM FULL');

# The standby refuses to move rows, and its hot tier stays out of the way.
my ($ret, $stdout, $stderr) = $standby->psql('postgres',
	"SELECT engram_move_to_tier('rep_mem', (SELECT array_agg(ctid) FROM rep_mem), 'cold')");
like($stderr, qr/cannot move rows between tiers during recovery/, 'no tier moves on a standby');

$standby->stop;
$primary->stop;
done_testing();
