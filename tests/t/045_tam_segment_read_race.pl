# 045_tam_segment_read_race.pl: readers decode cold segments while other
# sessions keep deleting and inserting segment rows on the same pages of
# engram.cold_segments (moves, VACUUM's segment collection), so that those
# pages are pruned and compacted all the time.  A segment small enough to
# be stored inline sits on a shared buffer page; a reader that used its
# bytes after giving up its pin on that page read whatever pruning had
# moved there ("cold segment ... is corrupted").  Every segment here is
# inline (a few hundred compressed bytes) and decompresses to about 100 kB,
# which keeps each read long enough for the race to show within seconds.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('segment_race',
	extra_conf => "max_connections = 20\nautovacuum = off");
$node->safe_psql('postgres', q{
	CREATE TABLE seg_race (id int PRIMARY KEY, pad text) USING engram;
	ALTER TABLE seg_race ALTER COLUMN pad SET STORAGE EXTERNAL;
	INSERT INTO seg_race
	SELECT g, string_agg(md5((g * 1000 + i)::text), '') || repeat('x', 100000)
	  FROM generate_series(1, 40) g, generate_series(1, 16) i GROUP BY g;
});
# One row per segment, so that a scan of the table loads 40 segments: more
# than a backend caches, so every read decodes again.
for my $id (1 .. 40)
{
	$node->safe_psql('postgres',
		"SELECT engram_move_to_tier('seg_race', ARRAY(SELECT ctid FROM seg_race WHERE id = $id), 'cold')");
}
my $inline = $node->safe_psql('postgres', q{
	SELECT count(*) FROM engram.cold_segments
	 WHERE relid = 'seg_race'::regclass AND pg_column_size(data) BETWEEN 128 AND 1900});
is($inline, '40', 'every segment is stored inline on a heap page');
my $expected = $node->safe_psql('postgres', 'SELECT sum(length(pad)) FROM seg_race');

my $dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$dir/read.sql", qq{
SELECT 1 / (sum(length(pad)) = $expected)::int FROM seg_race;
});
# Rewrite one row into a new segment: its old segment becomes garbage.
PostgreSQL::Test::Utils::append_to_file("$dir/churn.sql", q{
\set r random(1, 40)
SELECT engram_move_to_tier('seg_race', ARRAY(SELECT ctid FROM seg_race WHERE id = :r), 'warm');
SELECT engram_move_to_tier('seg_race', ARRAY(SELECT ctid FROM seg_race WHERE id = :r), 'cold');
});
# Dead stubs go, then their segments (deleted rows on the segment pages).
PostgreSQL::Test::Utils::append_to_file("$dir/vacuum.sql", q{
VACUUM seg_race;
});

my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', '8',
	  '-f', "$dir/read.sql\@6", '-f', "$dir/churn.sql\@3", '-f', "$dir/vacuum.sql\@1",
	  $node->connstr('postgres') ],
	'>', \$stdout, '2>', \$stderr);
note($stdout);
note($stderr);
ok($ok, 'pgbench finished without errors');
unlike($stderr, qr/corrupted|missing|division by zero|aborted/,
	'no reader saw a damaged segment or a wrong row');
my ($done) = $stdout =~ /number of transactions actually processed: (\d+)/;
cmp_ok($done // 0, '>', 50, 'the run did real work');

is($node->safe_psql('postgres', 'SELECT sum(length(pad)) FROM seg_race'), $expected,
	'rows intact after the run');
$node->stop;
done_testing();
