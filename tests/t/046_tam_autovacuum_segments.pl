# 046_tam_autovacuum_segments.pl: autovacuum reclaims dead cold segments.
# Rows moved to the cold tier and back leave dead stubs and segments that
# no live row needs; nobody runs VACUUM or engram_cold_vacuum() here: the
# autovacuum launcher (1 s naptime, table thresholds at zero) must remove
# the stubs and then the segments, while the rows stay intact.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use EngramNode;

my $node = new_engram_node('autovacuum_segments',
	extra_conf => "autovacuum = on\nautovacuum_naptime = 1s\nlog_autovacuum_min_duration = 0");
$node->safe_psql('postgres', q{
	CREATE TABLE av_mem (id int PRIMARY KEY, body text) USING engram
	  WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
	        autovacuum_vacuum_insert_threshold = 0, autovacuum_vacuum_insert_scale_factor = 0);
	INSERT INTO av_mem SELECT g, repeat(md5(g::text), 10) FROM generate_series(1, 300) g;
});
my $checksum_sql = "SELECT md5(string_agg(id || ':' || body, ',' ORDER BY id)) FROM av_mem";
my $checksum = $node->safe_psql('postgres', $checksum_sql);
my $segments_sql = "SELECT count(*) FROM engram.cold_segments WHERE relid = 'av_mem'::regclass";

# Three moves, three segments; then rows 1-200 back to warm: two segments
# are garbage once autovacuum removed the stubs that named them.
for my $range ([1, 100], [101, 200], [201, 300])
{
	$node->safe_psql('postgres',
		"SELECT engram_move_to_tier('av_mem', ARRAY(SELECT ctid FROM av_mem WHERE id BETWEEN $range->[0] AND $range->[1]), 'cold')");
}
is($node->safe_psql('postgres', $segments_sql), '3', 'three segments stored');
$node->safe_psql('postgres',
	"SELECT engram_move_to_tier('av_mem', ARRAY(SELECT ctid FROM av_mem WHERE id <= 200), 'warm')");

# Wait (bounded) for autovacuum to do it.
my $segments;
for (my $waited = 0; $waited < 60_000; $waited += 250)
{
	$segments = $node->safe_psql('postgres', $segments_sql);
	last if $segments eq '1';
	usleep(250_000);
}
is($segments, '1', 'autovacuum dropped the two dead segments, kept the live one');
my $vacuums = $node->safe_psql('postgres',
	"SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'av_mem'");
cmp_ok($vacuums, '>', 0, "autovacuum ran on the table ($vacuums times)");
is($node->safe_psql('postgres', $checksum_sql), $checksum, 'every row intact');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM av_mem WHERE engram_row_tier('av_mem', ctid) = 'cold'"),
	'100', 'rows 201-300 still cold, read from the remaining segment');

# The dead segment rows themselves are ordinary dead tuples of
# engram.cold_segments, which autovacuum cleans like any table.
$node->stop;
done_testing();
