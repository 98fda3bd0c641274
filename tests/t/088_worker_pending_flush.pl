# 088_worker_pending_flush.pl: the worker's pending_flush job drains the
# pending list of a space whose engram_hnsw index defers inserts, at most
# engram.pending_flush_batch entries a cycle, and shows it in
# engram_worker_status; a server stopped with -m immediate in the middle of
# a flush loses nothing: after the restart the index verifies, holds every
# committed row, its scans return each row once, and the worker finishes
# the flush.  (The standby side is in 082_worker_standby.pl.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $dims = 32;
# autovacuum off: VACUUM would flush the list too.  Throttling at its
# defaults (the flush of a 3000-row backlog takes seconds, so the crash
# below lands inside one).
my $node = new_engram_node('pending_flush',
	extra_conf => "engram.worker_naptime = 1\nautovacuum = off\nengram.pending_flush_batch = 0");

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SET engram.space_deferred_insert = on;
	SELECT engram_create_space('deferred', 32);});
my $index = $node->safe_psql('postgres', q{
	SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram_hnsw'
	WHERE i.indrelid = 'deferred'::regclass});
like($index, qr/^\w+$/, "the space has one engram_hnsw index ($index)");

# insert_rows(FIRST, LAST): memories FIRST..LAST, random embeddings.
sub insert_rows
{
	my ($first, $last) = @_;
	$node->safe_psql('postgres', qq{
		SELECT setseed($first / 100000.0);
		INSERT INTO deferred (content, embedding)
		SELECT 'memory ' || i,
			   (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $dims) WHERE i > 0)::evector
		FROM generate_series($first, $last) i;});
}
sub pending
{
	return $node->safe_psql('postgres', "SELECT entries FROM engram_hnsw_pending_stats('$index')");
}
sub flush_status
{
	return $node->safe_psql('postgres', q{
		SELECT runs || ' ' || rows_flushed || ' ' || errors FROM engram_worker_status
		WHERE database = 'postgres' AND job = 'pending_flush'});
}
# The index holds every committed row (graph or pending list), no verify
# error, and an iterative index scan asked for every row returns each at
# most once and (nearly) all of them.
sub check_index
{
	my ($what) = @_;
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM deferred WHERE ctid NOT IN
		  (SELECT heap_tid FROM engram_hnsw_index_tids('$index') WHERE NOT deleted)}),
		'0', "$what: every committed row is in the index");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'"),
		'0', "$what: engram_hnsw_verify finds no error");
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM deferred');
	my ($returned, $distinct) = split /\|/, $node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		SET engram.ef_search = 1000;
		SELECT count(*), count(DISTINCT id) FROM
		  (SELECT id FROM deferred ORDER BY embedding <=> array_fill(0.1::real, ARRAY[$dims])::evector
		   LIMIT $rows) s});
	is($returned, $distinct, "$what: no row returned twice");
	cmp_ok($returned, '>=', $rows * 0.99, "$what: $returned of $rows rows returned by the index");
}

# 1. With engram.pending_flush_batch = 0 the worker leaves the list alone.
insert_rows(1, 3000);
is(pending(), '3000', '3000 memories wait on the pending list');
ok($node->poll_query_until('postgres', q{SELECT state || ': ' || detail || ' ' || (runs >= 2)
		FROM engram_worker_status WHERE database = 'postgres' AND job = 'pending_flush'},
		'scheduled: off: engram.pending_flush_batch = 0 true'),
	'the worker runs the job and its status says it is off');
is(pending(), '3000', 'with engram.pending_flush_batch = 0 the worker does not flush');

# 2. A budget of 500 a cycle drains the list in at least 6 cycles, never
# more than 500 a run (each run's detail sampled while it drains).
my ($runs_before) = split / /, flush_status();
$node->safe_psql('postgres', 'ALTER SYSTEM SET engram.pending_flush_batch = 500');
$node->reload;
my $largest_run = 0;
my $drained = 0;
for (1 .. 1200)
{
	my $detail = $node->safe_psql('postgres', q{SELECT detail FROM engram_worker_status
		WHERE database = 'postgres' AND job = 'pending_flush'});
	$largest_run = $1 if $detail =~ /^1 space: (\d+) pending entries merged/ && $1 > $largest_run;
	if (pending() eq '0') { $drained = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($drained, 'the worker drained the pending list');
# the run that merged the last entries records its counters when it ends
ok($node->poll_query_until('postgres', q{SELECT rows_flushed = 3000 AND state <> 'running'
		FROM engram_worker_status WHERE database = 'postgres' AND job = 'pending_flush'}),
	'engram_worker_status counts 3000 rows flushed');
my ($runs, $flushed, $errors) = split / /, flush_status();
is($errors, '0', 'without an error');
cmp_ok($runs - $runs_before, '>=', 6, 'in at least 6 runs (' . ($runs - $runs_before) . ')');
cmp_ok($largest_run, '<=', 500, "no run merged more than the budget (largest seen: $largest_run)");
cmp_ok($largest_run, '>', 0, 'a run with merges was seen');
ok(defined $node->safe_psql('postgres', q{SELECT last_end FROM engram_worker_status
		WHERE database = 'postgres' AND job = 'pending_flush' AND last_end IS NOT NULL
		AND next_run IS NOT NULL}), 'last and next run are shown');
check_index('after the drain');
is($node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT * FROM deferred ORDER BY id DESC LIMIT 100) t WHERE NOT EXISTS
	  (SELECT 1 FROM (SELECT id FROM deferred o ORDER BY o.embedding <=> t.embedding LIMIT 1) n
	   WHERE n.id = t.id)}),
	'0', 'the graph finds the 100 newest memories as their own nearest neighbours');

# 3. A crash in the middle of a flush.
$node->safe_psql('postgres', 'ALTER SYSTEM SET engram.pending_flush_batch = 0');
$node->reload;
sleep(2);
insert_rows(3001, 6000);
is(pending(), '3000', 'another 3000 memories wait');
my $checksum_query = q{SELECT count(*) || ' ' || md5(string_agg(id || content || embedding::text, ',' ORDER BY id))
	FROM deferred};
my $checksum = $node->safe_psql('postgres', $checksum_query);
$node->safe_psql('postgres', 'ALTER SYSTEM SET engram.pending_flush_batch = 3000');
$node->reload;
ok(wait_for_worker_job($node, 'pending_flush') && $node->poll_query_until('postgres',
		"SELECT entries < 2900 FROM engram_hnsw_pending_stats('$index')"),
	'the worker is flushing');
# (the WAL writer writes the flush's records out within 200 ms; a crash
# loses whatever part of the running flush had not reached the disk)
select(undef, undef, undef, 0.5);
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', $checksum_query), $checksum, 'the rows are unchanged after the crash');
my $left = pending();
cmp_ok($left, '<=', 3000, "$left entries pending after the restart (what the flush merged and wrote out before the crash is off the list)");
check_index('after the crash');
ok($node->poll_query_until('postgres',
		"SELECT entries = 0 FROM engram_hnsw_pending_stats('$index')"),
	'the restarted worker finishes the flush');
check_index('after the flush completed');

$node->stop;
done_testing();
