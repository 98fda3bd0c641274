# 098_worker_migration_listing.pl: the worker's migration listing reads
# candidates and a moving window of pages, not every row each cycle.
#  - each cycle reads at most engram.migration_scan_pages pages of the
#    space (8 here, of about 140) besides its candidates, and says so in
#    engram_worker_status.detail; the window goes on where the previous
#    cycle stopped, so it covers the whole space over cycles and wraps;
#  - promotions are found from the access statistics wherever the rows
#    are (three accessed rows far apart become hot within a few cycles,
#    and only they), demotions from the hot tier's own rows;
#  - warm -> cold demotions come from the window: every row of the space
#    is demoted over successive cycles, a bounded number per cycle.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $window = 8;
# Throttling off (cycles of a second); no autovacuum (no pruning between
# the counts).
my $node = new_engram_node('migration_listing',
	extra_conf => "engram.worker_naptime = 1\nengram.worker_cost_delay = 0\n"
	  . "engram.migration_scan_pages = $window\nautovacuum = off");

# 1000 memories of 256 dimensions (about 1 kB each, 7 to a page).
engram_random_space($node, 'memories', 1000, 256, 0.5);
my $pages = $node->safe_psql('postgres',
	q{SELECT pg_relation_size('memories') / current_setting('block_size')::int});
my $rows_per_page = $node->safe_psql('postgres',
	q{SELECT max(n) FROM (SELECT count(*) AS n FROM memories
	  GROUP BY (ctid::text::point)[0]) p});
cmp_ok($pages, '>', 4 * $window, "the space has $pages pages, $rows_per_page rows a page at most");

my $status = q{SELECT runs, state, detail, errors FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'tier_migration'};

# The detail of the next migration cycle to end: (moved, rows read, pages
# read, candidates, wrapped).
sub next_cycle
{
	my ($runs) = split /\|/, $node->safe_psql('postgres', $status);
	for (1 .. 600)
	{
		my ($now, $state, $detail, $errors) = split /\|/, $node->safe_psql('postgres', $status);
		if ($now > $runs && $state ne 'running')
		{
			return ($1, $2, $3, $4, $5)
			  if $detail =~ /(\d+) rows moved; (\d+) rows read \((\d+) pages, (\d+) candidates\), (\d+) wrapped around/;
			fail("unexpected detail: $detail");
			return;
		}
		select(undef, undef, undef, 0.05);
	}
	fail('no migration cycle ended within 30 s');
	return;
}

# 1. Nothing to move (the rows are new): each cycle reads its window; from
#    one wrap to the next the windows cover every page.
my ($pages_seen, $cycles, $wraps_seen, $bounded) = (0, 0, 0, 1);
my $sweep_cycles = 0;
while ($wraps_seen < 2 && $cycles < 3 * $pages / $window)
{
	my ($moved, $rows_read, $pages_read, $candidates, $wrapped) = next_cycle();
	$cycles++;
	$bounded = 0
	  unless $pages_read <= $window + $candidates
	  && $rows_read <= ($window + $candidates) * $rows_per_page;
	diag("cycle $cycles: $rows_read rows, $pages_read pages, $candidates candidates")
	  if $cycles <= 2;
	if ($wraps_seen == 1)
	{
		$pages_seen += $pages_read;
		$sweep_cycles++;
	}
	$wraps_seen++ if $wrapped;
}
ok($bounded, "each cycle read at most $window pages (and $rows_per_page rows a page) besides its candidates");
is($wraps_seen, 2, "the window wrapped around twice in $cycles cycles");
cmp_ok($pages_seen, '>=', $pages,
	"from one wrap to the next it read every page ($pages_seen reads of $pages pages)");
cmp_ok($sweep_cycles, '>=', int($pages / $window), "in $sweep_cycles cycles, not one");

# 2. Promotions from the access statistics: three memories far apart are
#    used (without filling the hot tier), then a single access makes a
#    row hot.  They are hot within a few cycles, far fewer than a sweep.
$node->safe_psql('postgres', q{
	SET engram.hot_tier_lookups = off;
	SELECT count(*) FROM unnest(ARRAY[100, 500, 900]) i,
		LATERAL engram_recall('memories', memory_id => i, mode => 'similarity') r;});
my $used = q{SELECT string_agg(id::text, ',' ORDER BY id) FROM engram_memory_stats('memories')
	WHERE access_count > 0};
is($node->safe_psql('postgres', $used), '100,500,900', 'three memories have been used');
my $hot = q{SET engram.hot_tier_lookups = off;
	SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM engram_memory_stats('memories')
	WHERE tier = 'hot'};
is($node->safe_psql('postgres', $hot), '', 'none of them is hot yet');
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET engram.migration_warm_to_hot_accesses = 0.5;
	SELECT pg_reload_conf();});
$cycles = 0;
my $promoted = '';
while ($promoted ne '100,500,900' && $cycles < 6)
{
	next_cycle();
	$cycles++;
	$promoted = $node->safe_psql('postgres', $hot);
}
is($promoted, '100,500,900', "the used memories, and only they, were promoted ($cycles cycles)");
cmp_ok($cycles, '<', $pages / $window / 2, 'found as candidates, not by the window');

# 3. Demotions from the hot tier: hot rows accessed less than 1000 times a
#    second are demoted once they have been hot for a second.
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET engram.migration_warm_to_hot_accesses;
	ALTER SYSTEM SET engram.migration_hot_to_warm_accesses = 1000;
	ALTER SYSTEM SET engram.migration_hot_to_warm_window_seconds = 1;
	SELECT pg_reload_conf();});
$cycles = 0;
while ($node->safe_psql('postgres', $hot) ne '' && $cycles < 8)
{
	next_cycle();
	$cycles++;
}
is($node->safe_psql('postgres', $hot), '', "the hot rows were demoted ($cycles cycles)");
cmp_ok($cycles, '<', $pages / $window / 2, 'found in the hot tier, not by the window');

# 4. Warm -> cold through the window: every row is demoted, a window's
#    worth a cycle.
my $moved_total = q{SELECT rows_moved FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'tier_migration'};
my $moved_before = $node->safe_psql('postgres', $moved_total);
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET engram.migration_warm_to_cold_window_seconds = 1;
	SELECT pg_reload_conf();});
my $cold = q{SET engram.hot_tier_lookups = off;
	SELECT count(*) FROM engram_memory_stats('memories') WHERE tier = 'cold'};
my $most_moved = 0;
$cycles = 0;
while ($node->safe_psql('postgres', $cold) < 1000 && $cycles < 6 * $pages / $window)
{
	my ($moved) = next_cycle();
	$cycles++;
	$most_moved = $moved if $moved > $most_moved;
}
is($node->safe_psql('postgres', $cold), '1000', "every row was demoted to cold ($cycles cycles)");
cmp_ok($most_moved, '<=', ($window + 1) * $rows_per_page,
	"at most a window's rows a cycle ($most_moved)");
my $moved = $node->safe_psql('postgres', $moved_total) - $moved_before;
is($moved, 1000, 'each row moved once, over the cycles');

is($node->safe_psql('postgres',
		q{SELECT errors FROM engram_worker_status WHERE database = 'postgres' AND job = 'tier_migration'}),
	'0', 'no migration cycle failed');

$node->stop;
done_testing();
