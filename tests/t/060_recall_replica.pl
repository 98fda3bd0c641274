# 060_recall_replica.pl: a streaming replica (hot standby) answers
# engram_recall and engram_spread exactly as the primary does, refuses
# writes, and sees the catalog of spaces.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

# Access statistics and the hot tier live in the primary's shared memory
# and are not replicated: a standby sees every memory as never accessed and
# nothing as hot.  Recall's answers are the same on both when they do not
# depend on them: the clock is pinned at the memories' creation time, when
# every memory is fresh whatever its access history (retention 1, full
# recency boost), and the primary keeps its hot tier out of it (the hot
# tier sets spreading's visit budget).  The background worker is off: its
# tier moves and soft forgetting (the memories are dated in January, the
# worker's clock is not pinned) would change the primary between the two
# reads (082 tests the worker on a standby).  Spreading runs without its
# time budget: on a loaded machine the first call on one server may run out
# of its 10 ms and answer with the shallower fallback.
my $primary = new_engram_node('primary', allows_streaming => 1,
	extra_conf => "engram.hot_tier_lookups = off\nengram.background_workers = 0");
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

# A small space with associations, built after the base backup so that it
# reaches the standby through WAL.
$primary->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SET engram.pinned_now = '2026-01-01 10:00:00+00';
	SELECT engram_create_space('replicated', 4);
	SELECT count(*) FROM engram_store_batch('replicated',
		ARRAY(SELECT 'memory ' || i FROM generate_series(1, 200) i),
		ARRAY(SELECT ARRAY[sin(i), cos(i), sin(2 * i), cos(3 * i)]::real[]
				FROM generate_series(1, 200) i)::real[]);
	INSERT INTO replicated_associations (src, dst, weight)
	SELECT i, (i * 7) % 200 + 1, 0.5 + (i % 5) / 10.0 FROM generate_series(1, 200) i
	WHERE i <> (i * 7) % 200 + 1;
	SELECT engram_forget('replicated', 17);
	SELECT engram_forget('replicated', 18, 'hard');
});
$primary->wait_for_catchup($standby);

my $recall = q{
	SET engram.spreading_time_budget = 0;
	SET engram.pinned_now = '2026-01-01 10:00:00+00';
	SELECT id, round(score::numeric, 10), round(activation::numeric, 10),
		   round(confidence::numeric, 10), round(confidence_low::numeric, 10),
		   round(confidence_high::numeric, 10), hops, tier
	  FROM engram_recall('replicated', '[0.5, 0.5, 0.1, -0.2]', k => 20, mode => 'spreading');
};
my $on_primary = $primary->safe_psql('postgres', $recall);
my $on_standby = $standby->safe_psql('postgres', $recall);
is($on_standby, $on_primary, 'recall on the standby equals recall on the primary');
cmp_ok(scalar(split /\n/, $on_primary), '==', 20, 'recall returned k rows');

# An exact-id cue seeds one memory: the rest of the answer is spreading.
my $from_id = q{
	SET engram.spreading_time_budget = 0;
	SET engram.pinned_now = '2026-01-01 10:00:00+00';
	SELECT id, round(score::numeric, 10), round(confidence_low::numeric, 10), hops
	  FROM engram_recall('replicated', NULL, memory_id => 1, k => 20, mode => 'spreading');
};
$on_primary = $primary->safe_psql('postgres', $from_id);
is($standby->safe_psql('postgres', $from_id), $on_primary,
	'recall from an id on the standby equals the primary');
like($on_primary, qr/\|[1-4]$/m, 'spreading reached memories beyond the seed');

my $text = q{SET engram.pinned_now = '2026-01-01 10:00:00+00';
	SELECT id, hops FROM engram_recall('replicated', 'memory', k => 5, mode => 'similarity')};
is($standby->safe_psql('postgres', $text), $primary->safe_psql('postgres', $text),
	'text recall on the standby equals the primary');

my $spread = q{
	SET engram.spreading_time_budget = 0;
	SET engram.pinned_now = '2026-01-01 10:00:00+00';
	SELECT id, round(activation::numeric, 10), round(confidence::numeric, 10), hops
	  FROM engram_spread('replicated', 1, k => 50);
};
is($standby->safe_psql('postgres', $spread), $primary->safe_psql('postgres', $spread),
	'spread on the standby equals the primary');

# The association cache (src/recall/association_cache.c) is never used on
# a standby: replay fires no triggers, so nothing would tell it of the
# primary's writes.  The same calls on the primary use it.
my $cache_used = q{
	SET engram.spreading_time_budget = 0;
	DO $$ BEGIN FOR i IN 1..5 LOOP PERFORM * FROM engram_spread('replicated', 1, k => 50); END LOOP; END $$;
	SELECT hits > 0 FROM engram_association_cache_stats();
};
is((split /\n/, $standby->safe_psql('postgres', $cache_used))[-1], 'f',
	'the standby does not use the association cache');
is((split /\n/, $primary->safe_psql('postgres', $cache_used))[-1], 't',
	'the primary uses the association cache for the same calls');

# Soft forgetting moved memory 17 to the cold tier on the primary; the
# standby reads it from the replicated segment.
is($standby->safe_psql('postgres',
		q{SELECT confidence, engram_row_tier('replicated', ctid), content FROM replicated WHERE id = 17}),
	'0|cold|memory 17', 'the soft-forgotten memory is cold on the standby');

is($standby->safe_psql('postgres',
		q{SELECT dims, distance FROM engram_spaces WHERE space_name = 'replicated'}),
	'4|cosine', 'the standby sees the space catalog');

my ($rc, $out, $err) = $standby->psql('postgres',
	q{SELECT engram_store('replicated', 'on the standby', '[1,0,0,0]')});
isnt($rc, 0, 'engram_store fails on the standby');
like($err, qr/read-only transaction/, 'because the standby is read-only');

$standby->stop;
$primary->stop;
done_testing();
