# 044_tam_concurrency.pl: pgbench clients update rows, read them through
# the index (hot tier first) and move them between tiers, all at once.
# Every reader checks, inside one repeatable-read snapshot, that the row's
# counter equals the number of committed increments logged in a heap
# table; any disagreement (a stale hot-tier entry, a lost or doubled row)
# is a division by zero that aborts the client.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('concurrency', extra_conf => "engram.hot_tier_size_mb = 4\nmax_connections = 20");
$node->safe_psql('postgres', q{
	CREATE TABLE cc_mem (id int PRIMARY KEY, counter int NOT NULL, pad text) USING engram;
	INSERT INTO cc_mem SELECT g, 0, repeat(md5(g::text), 8) FROM generate_series(1, 200) g;
	CREATE TABLE cc_log (id int NOT NULL);
	CREATE INDEX ON cc_log (id);
});
$node->safe_psql('postgres',
	"SELECT engram_move_to_tier('cc_mem', (SELECT array_agg(ctid) FROM cc_mem WHERE id % 2 = 0), 'cold')");
$node->safe_psql('postgres',
	"SELECT engram_move_to_tier('cc_mem', (SELECT array_agg(ctid) FROM cc_mem), 'hot')");

my $dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$dir/update.sql", q{
\set r random(1, 200)
WITH u AS (UPDATE cc_mem SET counter = counter + 1 WHERE id = :r RETURNING id)
INSERT INTO cc_log SELECT id FROM u;
});
PostgreSQL::Test::Utils::append_to_file("$dir/delete_insert.sql", q{
\set r random(1, 200)
WITH d AS (DELETE FROM cc_mem WHERE id = :r RETURNING *)
INSERT INTO cc_mem SELECT * FROM d;
});
PostgreSQL::Test::Utils::append_to_file("$dir/read.sql", q{
\set r random(1, 200)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT 1 / (SELECT count(*) FROM cc_mem c
             WHERE c.id = :r AND c.counter = (SELECT count(*) FROM cc_log l WHERE l.id = :r))::int;
COMMIT;
});
PostgreSQL::Test::Utils::append_to_file("$dir/move.sql", q{
\set r random(1, 190)
\set t random(1, 3)
SELECT engram_move_to_tier('cc_mem', ARRAY(SELECT ctid FROM cc_mem WHERE id BETWEEN :r AND :r + 10 ORDER BY id),
                           (ARRAY['hot', 'warm', 'cold'])[:t]);
});
PostgreSQL::Test::Utils::append_to_file("$dir/vacuum.sql", q{
VACUUM cc_mem;
});

my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', '10', '--max-tries=50',
	  '-f', "$dir/update.sql\@6", '-f', "$dir/read.sql\@8", '-f', "$dir/move.sql\@3",
	  '-f', "$dir/delete_insert.sql\@1", '-f', "$dir/vacuum.sql\@1",
	  $node->connstr('postgres') ],
	'>', \$stdout, '2>', \$stderr);
note($stdout);
note($stderr);
ok($ok, 'pgbench finished without errors');
unlike($stderr, qr/division by zero|aborted/, 'no reader saw a row disagree with the log');
like($stdout, qr/number of failed transactions: 0 /, 'no failed transactions');
my ($done) = $stdout =~ /number of transactions actually processed: (\d+)/;
cmp_ok($done // 0, '>', 100, 'the run did real work');

# Final state, through every path.
my $check = q{SELECT count(*) FROM cc_mem c
	WHERE c.counter <> (SELECT count(*) FROM cc_log l WHERE l.id = c.id)};
is($node->safe_psql('postgres', $check), '0', 'every counter matches its log (seq scan)');
is($node->safe_psql('postgres', "SET enable_seqscan = off; SET enable_bitmapscan = off; $check"), '0',
	'every counter matches its log (index scan, hot tier)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cc_mem'), '200', 'no row lost or doubled');
my $hits = $node->safe_psql('postgres',
	"SELECT hits FROM engram_tier_stats_for('cc_mem') WHERE tier = 'hot'");
cmp_ok($hits, '>', 0, "readers were served by the hot tier ($hits hits)");

$node->stop;
done_testing();
