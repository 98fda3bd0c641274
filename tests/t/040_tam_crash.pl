# 040_tam_crash.pl: an immediate stop (crash) during tier moves and bulk
# loads of an engram table loses nothing committed and keeps nothing
# uncommitted: a checksum of the table's contents is the same before and
# after crash recovery, through sequential and index scans, and committed
# cold rows are still cold.  Access statistics survive a clean restart.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('crash', extra_conf => "engram.hot_tier_size_mb = 8");

$node->safe_psql('postgres', q{
	CREATE TABLE crash_mem (id bigint PRIMARY KEY, content text, emb real[], meta jsonb) USING engram;
	INSERT INTO crash_mem
	SELECT g, 'memory ' || g || repeat(' text', g % 13),
	       array(SELECT ((g + k) % 101 / 101.0)::real FROM generate_series(1, 64) k),
	       jsonb_build_object('g', g)
	  FROM generate_series(1, 20000) g;
	CREATE INDEX crash_mem_content_idx ON crash_mem (content);
});

my $checksum_sql = q{SELECT count(*) || ' ' || md5(string_agg(c::text, '|' ORDER BY c.id)) FROM crash_mem c};
my $index_checksum_sql = q{
	SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) || ' ' || md5(string_agg(c::text, '|' ORDER BY c.id)) FROM crash_mem c WHERE id > 0};
my $tiers_sql = q{SELECT string_agg(tier || '=' || rows, ',' ORDER BY tier) FROM engram_tier_stats_for('crash_mem') WHERE tier <> 'hot'};

# Start "sql" in a background psql, statement by statement (from a file,
# so that pg_stat_activity shows the statement running); returns the harness.
my $script_count = 0;
sub background
{
	my ($sql) = @_;
	my $file = PostgreSQL::Test::Utils::tempdir() . '/script' . $script_count++ . '.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $sql);
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', \$out, '2>', \$err);
}

sub wait_for_active
{
	my ($pattern) = @_;
	$node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'active' AND query LIKE '$pattern' AND pid <> pg_backend_pid()")
	  or die "query matching $pattern never became active";
}

sub crash_and_restart
{
	my (@harnesses) = @_;
	$node->stop('immediate');
	foreach my $h (@harnesses)
	{
		eval { $h->finish; };
	}
	$node->start;
}

# 1. Committed moves survive a crash that follows them immediately.
my $moved = $node->safe_psql('postgres',
	"SELECT engram_move_to_tier('crash_mem', (SELECT array_agg(ctid) FROM crash_mem WHERE id % 2 = 0), 'cold')");
is($moved, '10000', 'half the rows moved to cold');
my $before = $node->safe_psql('postgres', $checksum_sql);
my $tiers_before = $node->safe_psql('postgres', $tiers_sql);
is($tiers_before, 'cold=10000,warm=10000', 'tiers before the crash');
crash_and_restart();
is($node->safe_psql('postgres', $checksum_sql), $before, 'contents intact after crash (seq scan)');
is($node->safe_psql('postgres', $index_checksum_sql), $before, 'contents intact after crash (index scan)');
is($node->safe_psql('postgres', $tiers_sql), $tiers_before, 'committed cold rows still cold after crash');

# 2. Crash while an uncommitted move (to cold and back to warm) and an
#    uncommitted update of cold rows hold their changes, and while a bulk
#    load (COPY, multi-insert) is running.
my $mover = background(q{
	BEGIN;
	SELECT engram_move_to_tier('crash_mem', (SELECT array_agg(ctid) FROM crash_mem WHERE id % 2 = 1), 'cold');
	SELECT engram_move_to_tier('crash_mem', (SELECT array_agg(ctid) FROM crash_mem WHERE id % 4 = 0), 'warm');
	UPDATE crash_mem SET content = 'lost' WHERE id % 10 = 0;
	SELECT pg_sleep(600);
});
my $loader = background(q{
	COPY crash_mem (id, content) FROM PROGRAM 'awk "BEGIN { for (i = 100001; i <= 1100000; i++) print i \"\tbulk \" i }"';
});
wait_for_active('%pg_sleep(600)%');
wait_for_active('COPY crash_mem%');
sleep(1);
crash_and_restart($mover, $loader);
is($node->safe_psql('postgres', $checksum_sql), $before, 'uncommitted moves, updates and loads gone after crash');
is($node->safe_psql('postgres', $index_checksum_sql), $before, 'indexes agree after crash');
is($node->safe_psql('postgres', $tiers_sql), $tiers_before, 'tiers unchanged by the uncommitted move');

# 3. Crash during a committed-in-pieces workload: moves that commit one by
#    one while the crash hits; whatever committed is consistent.
my $worker = background(q{
	SELECT engram_move_to_tier('crash_mem', (SELECT array_agg(ctid) FROM crash_mem WHERE id % 2 = 1 AND id <= 10000), 'cold');
	SELECT engram_move_to_tier('crash_mem', (SELECT array_agg(ctid) FROM crash_mem WHERE id % 2 = 1 AND id > 10000), 'cold');
	SELECT engram_move_to_tier('crash_mem', (SELECT array_agg(ctid) FROM crash_mem), 'warm');
	SELECT pg_sleep(600);
});
wait_for_active('%engram_move_to_tier%');
crash_and_restart($worker);
is($node->safe_psql('postgres', $checksum_sql), $before, 'contents intact after a crash during committing moves');
is($node->safe_psql('postgres', $index_checksum_sql), $before, 'indexes agree after a crash during committing moves');
my $tiers_after = $node->safe_psql('postgres', $tiers_sql);
like($tiers_after, qr/^cold=\d+,warm=\d+$/, "tiers after the crash: $tiers_after");

# Segments: every stub's segment exists, and VACUUM leaves no orphan.
$node->safe_psql('postgres', 'VACUUM crash_mem');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM engram.cold_segments s
	 WHERE s.relid = 'crash_mem'::regclass
	   AND NOT EXISTS (SELECT 1 FROM crash_mem c WHERE engram_row_tier('crash_mem', c.ctid) = 'cold')}),
	'0', 'no segments remain once a table has no cold rows, after VACUUM');

# 4. Access statistics: saved at a clean shutdown and loaded at start.
$node->safe_psql('postgres', q{
	CREATE TABLE stats_mem (id int PRIMARY KEY, v text) USING engram;
	INSERT INTO stats_mem SELECT g, 'v' || g FROM generate_series(1, 10) g;
});
$node->safe_psql('postgres', q{
	SET enable_seqscan = off; SET enable_bitmapscan = off;
	SELECT count(*) FROM stats_mem WHERE id IN (1, 2, 3);
	SELECT count(*) FROM stats_mem WHERE id IN (1, 2);
	SET enable_seqscan = on; SET enable_indexscan = off;
	SELECT count(*) FROM stats_mem;
});
my $stats_sql = q{SELECT string_agg(c.id || ':' || s.access_count, ',' ORDER BY c.id)
	FROM engram_row_access_stats('stats_mem') s JOIN stats_mem c ON c.ctid = s.ctid WHERE s.access_count > 0};
my $stats = $node->safe_psql('postgres', $stats_sql);
is($stats, '1:2,2:2,3:1', 'index fetches counted per row, sequential scans not');
# The update finds its row through the index (one more access) and the
# statistics move to the row's new version.
$node->safe_psql('postgres', q{SET enable_seqscan = off; UPDATE stats_mem SET v = 'moved' WHERE id = 1});
$stats = $node->safe_psql('postgres', $stats_sql);
is($stats, '1:3,2:2,3:1', 'statistics follow an updated row');
$node->restart;
is($node->safe_psql('postgres', $stats_sql), $stats, 'access statistics survive a restart');
ok(-f $node->data_dir . '/engram_access_stats.dat', 'statistics file written at shutdown');
is($node->safe_psql('postgres', q{SELECT count(*) FROM engram_row_access_stats('stats_mem') WHERE written_at IS NOT NULL}),
	'10', 'every row version has the time it was written (insert, update), also after a restart');

$node->stop;
done_testing();
