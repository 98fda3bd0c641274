# 105_worker_promotion_candidates.pl: among many access statistics, the
# worker's migration cycle promotes the most accessed rows first, at most
# engram.migration_batch a cycle, ties by TID.
#  - a space of 20000 memories (20000 statistics entries, one per row
#    written) and another one of 5000 (entries of another relation, 1000
#    of them accessed once);
#  - 2000 rows of the first accessed once (real clock: a rate just under
#    one access an hour), thirteen rows accessed 3 to 9 times at a pinned
#    future time (their rates are exactly their counts: ties are exact);
#  - with promotion at half an access an hour and four moves a cycle,
#    cycle 1 promotes the four first of the ranking (rate descending, TID
#    ascending), cycle 2 the next four, cycle 3 the next four: the
#    boundaries of cycles 1 and 3 fall inside ties, decided by TID.
# The ranking is also computed independently, from engram_row_access_stats.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $batch = 4;
my $node = new_engram_node('promotion_candidates',
	extra_conf => "engram.worker_naptime = 1\nengram.worker_cost_delay = 0\n"
	  . "engram.migration_scan_pages = 1\nengram.migration_batch = $batch\n"
	  . "autovacuum = off");

engram_random_space($node, 'memories', 20000, 16, 0.25);
engram_random_space($node, 'others', 5000, 16, 0.5);

# (memory id, accesses): ids ascending are TIDs ascending (a fresh insert).
my @designed = (
	[ 13, 9 ], [ 4001, 8 ], [ 17, 6 ], [ 9003, 6 ], [ 15007, 6 ], [ 19999, 5 ],
	[ 5001, 4 ], [ 7003, 4 ], [ 3, 3 ], [ 11001, 3 ], [ 12003, 3 ], [ 16001, 3 ],
	[ 18007, 3 ]);
my @ranking = (
	[ 13, 4001, 17, 9003 ],      # 15007 ties with 17 and 9003, later TID
	[ 15007, 19999, 5001, 7003 ],
	[ 3, 11001, 12003, 16001 ]); # 18007 ties with them, latest TID

my $recalls = join(",\n", map { "($_->[0], $_->[1])" } @designed);
$node->safe_psql('postgres', qq{
	SELECT count(engram_access_record('memories', ctid)) FROM memories WHERE id % 10 = 0;
	SELECT count(engram_access_record('others', ctid)) FROM others WHERE id % 5 = 0;
	SET engram.hot_tier_lookups = off;
	SELECT set_config('engram.pinned_now', (now() + interval '1 day')::text, false);
	DO \$\$
	DECLARE
		d record;
	BEGIN
		FOR d IN SELECT * FROM (VALUES $recalls) v(id, n), generate_series(1, v.n) LOOP
			PERFORM engram_recall('memories', memory_id => d.id, mode => 'similarity');
		END LOOP;
	END \$\$;});

my $counts = $node->safe_psql('postgres', qq{
	SELECT string_agg(m.id || ':' || s.access_count, ',' ORDER BY m.id)
	FROM engram_row_access_stats('memories') s JOIN memories m ON m.ctid = s.ctid
	WHERE s.access_count > 1});
is($counts, join(',', map { "$_->[0]:$_->[1]" } sort { $a->[0] <=> $b->[0] } @designed),
	'the thirteen rows were accessed as designed, and no other more than once');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM engram_row_access_stats('memories') WHERE access_count > 0}),
	'2013', '2013 rows of memories were accessed');
cmp_ok($node->safe_psql('postgres',
		q{SELECT count(*) FROM engram_row_access_stats('memories')}),
	'>=', 20000, 'every row of memories has statistics');

# The ranking by the statistics themselves (rate descending, TID ascending).
my $by_stats = $node->safe_psql('postgres', q{
	SELECT string_agg(m.id::text, ',' ORDER BY s.recent_accesses DESC, s.ctid)
	FROM (SELECT * FROM engram_row_access_stats('memories')
		  ORDER BY recent_accesses DESC, ctid LIMIT 12) s
	JOIN memories m ON m.ctid = s.ctid});
is($by_stats, join(',', map { @$_ } @ranking), 'the statistics rank the rows as designed');

my $status = q{SELECT runs, state FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'tier_migration'};

# Wait for the next migration cycle to end.
sub next_cycle
{
	my ($runs) = split /\|/, $node->safe_psql('postgres', $status);
	for (1 .. 600)
	{
		my ($now, $state) = split /\|/, $node->safe_psql('postgres', $status);
		return 1 if $now > $runs && $state ne 'running';
		select(undef, undef, undef, 0.05);
	}
	fail('no migration cycle ended within 30 s');
	return 0;
}

my $hot = q{SET engram.hot_tier_lookups = off;
	SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '')
	FROM engram_memory_stats('memories') WHERE tier = 'hot'};
next_cycle();
is($node->safe_psql('postgres', $hot), '', 'nothing is hot under the default rules');

$node->safe_psql('postgres', q{
	ALTER SYSTEM SET engram.migration_warm_to_hot_accesses = 0.5;
	SELECT pg_reload_conf();});

# Each cycle that promotes adds the next $batch rows of the ranking.
my @expected;
my $cycles = 0;
for my $group (@ranking)
{
	push @expected, @$group;
	my $want = join(',', sort { $a <=> $b } @expected);
	my $got = $node->safe_psql('postgres', $hot);
	while ($got ne $want && $cycles < 12 && scalar(split /,/, $got) < scalar(@expected))
	{
		next_cycle();
		$cycles++;
		$got = $node->safe_psql('postgres', $hot);
	}
	is($got, $want, 'promoted next: ' . join(',', @$group));
}
is($node->safe_psql('postgres',
		q{SELECT errors FROM engram_worker_status WHERE database = 'postgres' AND job = 'tier_migration'}),
	'0', 'no migration cycle failed');

$node->stop;
done_testing();
