# 030_hnsw_pending_stress.pl: engram_hnsw_verify and the pending list of
# deferred inserts under concurrent appends, merges and restarts.
#
# The report it follows up: after about 200,000 deferred appends into a
# memory space's index (bench/recall/store_ab.sh, 768 dimensions), the
# final engram_hnsw_verify reported 3 errors; an identical run reported
# none.  The background worker's pending_flush job merges every space's
# list at any time, so that verify ran while a merge moved the list's head,
# and verify used to check the list against a copy of the metapage taken
# before its whole-index pass: a head page unlinked meanwhile gave exactly
# three errors (a listed block that is no longer a pending page, a chain
# that does not end at the tail, pending pages off the list).
#
# 1. verify while a flush merges a long list (768 dimensions, two entries a
#    page: the head moves every two graph inserts), and while sessions
#    append single rows and batches with merges between them: verify must
#    report no error, and it must have run while the list changed;
# 2. a memory space (engram_store, engram_store_batch from several
#    sessions, inserters merging over a small limit, the worker's
#    pending_flush job, explicit flushes, deletes, VACUUM, index scans),
#    verify called again and again during that load, and the server
#    stopped in the middle of it, alternately fast and immediate; after
#    every restart: verify finds no damage, every committed row is in the
#    index, and index scans return each row at most once and find the rows
#    by their own vectors.
#
# ENGRAM_PENDING_STRESS_CYCLES (default 4) and
# ENGRAM_PENDING_STRESS_SECONDS (default 2, load per cycle) make a longer
# local run.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time sleep);
use EngramNode;
use EngramHnswData;

my $cycles = $ENV{ENGRAM_PENDING_STRESS_CYCLES} || 4;
my $seconds = $ENV{ENGRAM_PENDING_STRESS_SECONDS} || 2;

my $node = new_engram_node('hnsw_pending_stress',
	extra_conf => join("\n",
		'autovacuum = off', 'max_connections = 30', 'synchronous_commit = off',
		'max_parallel_workers_per_gather = 0', 'engram.worker_naptime = 1',
		'engram.pending_flush_batch = 300'));

# Error rows of engram_hnsw_verify(INDEX), one line each ('' when none);
# undef when the server could not answer (stopped in the middle).
sub verify_errors
{
	my ($index) = @_;
	my ($ret, $out) = $node->psql('postgres', qq{
		SELECT problem || ' at (' || coalesce(blkno::text, '-') || ',' || coalesce(offnum::text, '-')
			   || '): ' || detail
		FROM engram_hnsw_verify('$index') WHERE severity = 'error'});
	return $ret == 0 ? $out : undef;
}
sub pending_entries
{
	my ($index) = @_;
	my ($ret, $out) = $node->psql('postgres', "SELECT entries FROM engram_hnsw_pending_stats('$index')");
	return $ret == 0 ? $out : undef;
}

# Call verify on INDEX until UNTIL (a time) or until DONE->() is true:
# returns (calls, calls during which the list changed, error lines).
sub verify_during
{
	my ($index, $until, $done) = @_;
	my ($calls, $overlapped, @errors) = (0, 0);
	while (time < $until && !$done->())
	{
		my $before = pending_entries($index);
		my $errors = verify_errors($index);
		my $after = pending_entries($index);
		next unless defined $before && defined $errors && defined $after;
		$calls++;
		$overlapped++ if $before != $after;
		push @errors, split(/\n/, $errors) if $errors ne '';
	}
	return ($calls, $overlapped, @errors);
}

# ---------------------------------------------------------------------
# 1. A long list at 768 dimensions (vectors in the entries, two a page:
# the column's STORAGE external moves each vector to TOAST, where a
# compact entry may not point, see src/hnsw/hnsw.h, COMPACT ENTRIES).
# ---------------------------------------------------------------------
my $wide = 768;
my $wide_vector = "(SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $wide))::evector";
$node->safe_psql('postgres', qq{
	CREATE TABLE wide (id bigserial PRIMARY KEY, v evector($wide));
	ALTER TABLE wide ALTER COLUMN v SET STORAGE external;
	CREATE INDEX wide_v ON wide USING engram_hnsw (v evector_cosine_ops)
		WITH (m = 8, ef_construction = 32, deferred_insert = on, pending_list_limit = 2147483647);
	SELECT setseed(0.3);
	INSERT INTO wide (v) SELECT (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $wide)
								 WHERE i > 0)::evector FROM generate_series(1, 2000) i;
});
my $long = pending_entries('wide_v');
is($long, '2000', 'a long pending list (2000 rows of 768 dimensions)');
is(verify_errors('wide_v'), '', 'verify: no error on the quiet list');

# 1a. verify while a flush merges it
my ($fout, $ferr) = ('', '');
my $flush = IPC::Run::start(['psql', '-X', '-h', $node->host, '-p', $node->port, '-d', 'postgres',
	'-c', "SELECT engram_hnsw_flush_pending('wide_v')"], '>', \$fout, '2>', \$ferr);
$node->poll_query_until('postgres', "SELECT entries < $long FROM engram_hnsw_pending_stats('wide_v')")
  or die 'the flush did not start';
my ($calls, $overlapped, @errors) = verify_during('wide_v', time + 3,
	sub { (pending_entries('wide_v') // 1) == 0 });
diag("verify during a flush: $calls calls, $overlapped while the list changed; errors: "
	  . (@errors ? join('; ', @errors[0 .. ($#errors < 9 ? $#errors : 9)]) : 'none'));
cmp_ok($overlapped, '>=', 3, 'verify ran while the flush merged the list');
is(scalar(@errors), 0, 'verify: no error while a flush merges the list');
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%engram_hnsw_flush_pending%' AND pid <> pg_backend_pid()");
$flush->finish;
is(verify_errors('wide_v'), '', 'verify: no error after the interrupted flush');

# 1b. verify while sessions append single rows and batches, inserters over
# a limit of 1 MB merge, and flushes run
$node->safe_psql('postgres', 'ALTER INDEX wide_v SET (pending_list_limit = 1024)');
my $wide_single = write_pgbench_script('wide_single.sql', "INSERT INTO wide (v) SELECT $wide_vector;\n");
my $wide_batch = write_pgbench_script('wide_batch.sql',
	"INSERT INTO wide (v) SELECT (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $wide) WHERE g > 0)::evector FROM generate_series(1, 20) g;\n");
my $wide_flush = write_pgbench_script('wide_flush.sql', "SELECT engram_hnsw_flush_pending('wide_v');\n");
my ($h, $out, $err) = pgbench_start($node, $seconds + 1, "$wide_single\@8", "$wide_batch\@2",
	"$wide_flush\@1");
($calls, $overlapped, @errors) = verify_during('wide_v', time + $seconds + 1, sub { 0 });
$h->finish;
is($h->result(0), 0, 'pgbench appends and flushes ran without errors') or diag($$err);
diag("verify during appends and merges: $calls calls, $overlapped while the list changed; errors: "
	  . (@errors ? join('; ', @errors[0 .. ($#errors < 9 ? $#errors : 9)]) : 'none'));
cmp_ok($overlapped, '>=', 3, 'verify ran while the list changed');
is(scalar(@errors), 0, 'verify: no error during appends and merges');
is(verify_errors('wide_v'), '', 'verify: no error after the load');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM wide WHERE ctid NOT IN
	  (SELECT heap_tid FROM engram_hnsw_index_tids('wide_v') WHERE NOT deleted)}),
	'0', 'every row of the wide table is in its index');

# ---------------------------------------------------------------------
# 2. A memory space under load, stopped in the middle, again and again.
# ---------------------------------------------------------------------
my $dims = 64;
$node->safe_psql('postgres', qq{
	SET client_min_messages = warning;
	SET engram.space_deferred_insert = on;
	SELECT engram_create_space('mem', $dims);});
my $index = $node->safe_psql('postgres', q{
	SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram_hnsw'
	WHERE i.indrelid = 'mem'::regclass});
like($index, qr/^\w+$/, "the space has one engram_hnsw index ($index)");
# inserters merge beyond 64 kB (8 pages, about 240 rows)
$node->safe_psql('postgres', "ALTER INDEX $index SET (pending_list_limit = 64)");

my $vector = "(SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $dims))::evector";
my @scripts = (
	write_pgbench_script('store.sql',
		"SELECT engram_store('mem', 'stress ' || :client_id, $vector);\n") . '@10',
	write_pgbench_script('store_batch.sql',
		"SELECT count(*) FROM engram_store_batch('mem', "
		  . "(SELECT array_agg('batch ' || g) FROM generate_series(1, 20) g), "
		  . "(SELECT array_agg((SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $dims) WHERE g > 0)::evector) "
		  . "FROM generate_series(1, 20) g));\n") . '@3',
	write_pgbench_script('query.sql',
		"SET enable_seqscan = off;\nSELECT id FROM mem ORDER BY embedding <=> $vector LIMIT 10;\n") . '@3',
	write_pgbench_script('flush.sql', "SELECT engram_hnsw_flush_pending('$index');\n") . '@1',
	write_pgbench_script('delete.sql',
		"DELETE FROM mem WHERE id = (SELECT max(id) FROM mem) - (random() * 50)::int;\n") . '@1',
	write_pgbench_script('vacuum.sql', "VACUUM mem;\n") . '@1');

# Heap TIDs of rows of the space that the index does not hold; a row that
# a concurrent merge moves between two pages of the walk may look missing
# once, so a row counts only if it is missing from three reads.
sub missing_rows
{
	my $missing = $node->safe_psql('postgres', qq{
		SELECT string_agg(ctid::text, ' ') FROM mem WHERE ctid NOT IN
		  (SELECT heap_tid FROM engram_hnsw_index_tids('$index') WHERE NOT deleted)});
	for (1 .. 2)
	{
		last if $missing eq '';
		sleep(0.3);
		my $tids = join(',', map { "'$_'::tid" } split / /, $missing);
		$missing = $node->safe_psql('postgres', qq{
			SELECT string_agg(t::text, ' ') FROM unnest(ARRAY[$tids]) t
			WHERE t IN (SELECT ctid FROM mem) AND t NOT IN
			  (SELECT heap_tid FROM engram_hnsw_index_tids('$index') WHERE NOT deleted)});
	}
	return $missing;
}

sub check_space
{
	my ($what) = @_;
	is(verify_errors($index) // 'no answer', '', "$what: verify finds no damage");
	is(missing_rows(), '', "$what: every committed row is in the index");
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM mem');
	my ($returned, $distinct) = split /\|/, $node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		SET engram.ef_search = 1000;
		SET engram.hnsw_max_scan_tuples = 1000000;
		SELECT count(*), count(DISTINCT id) FROM
		  (SELECT id FROM mem ORDER BY embedding <=> array_fill(0.1::real, ARRAY[$dims])::evector LIMIT $rows) s});
	is($returned, $distinct, "$what: an index scan returns no row twice");
	cmp_ok($returned, '>=', $rows * 0.99, "$what: it returns $returned of $rows rows");
	# the newest rows (mostly pending) and a sample of all rows, each
	# looked up by its own vector
	my ($newest, $sample) = split /\|/, $node->safe_psql('postgres', q{
		SET enable_seqscan = off;
		SET engram.ef_search = 200;
		SELECT (SELECT count(*) FROM (SELECT id, embedding FROM mem ORDER BY id DESC LIMIT 50) t
				WHERE NOT EXISTS (SELECT 1 FROM (SELECT id FROM mem o ORDER BY o.embedding <=> t.embedding LIMIT 1) n
								  WHERE n.id = t.id)),
			   (SELECT count(*) FROM (SELECT id, embedding FROM mem WHERE id % 37 = 0 LIMIT 100) t
				WHERE NOT EXISTS (SELECT 1 FROM (SELECT id FROM mem o ORDER BY o.embedding <=> t.embedding LIMIT 1) n
								  WHERE n.id = t.id))});
	is($newest, '0', "$what: the 50 newest rows are found by their own vectors");
	cmp_ok($sample, '<=', 2, "$what: $sample of a sample of up to 100 rows not found first by their own vectors");
}

$node->safe_psql('postgres', qq{
	SELECT setseed(0.7);
	SELECT count(*) FROM engram_store_batch('mem',
		(SELECT array_agg('seed ' || g) FROM generate_series(1, 1000) g),
		(SELECT array_agg((SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $dims) WHERE g > 0)::evector)
		 FROM generate_series(1, 1000) g));});
check_space('after the first load');

my ($all_calls, $all_overlapped, @all_errors) = (0, 0);
for my $cycle (1 .. $cycles)
{
	my $stop = $cycle % 2 ? 'fast' : 'immediate';
	my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM mem');
	my ($h, $out, $err) = pgbench_start($node, $seconds + 30, @scripts);
	my ($calls, $overlapped, @errors) = verify_during($index, time + $seconds, sub { 0 });
	$all_calls += $calls;
	$all_overlapped += $overlapped;
	push @all_errors, @errors;
	$node->stop($stop);
	$h->finish;
	# clients end with the server; no other error is expected
	my @sql_errors = grep { /ERROR:/ } split /\n/, $$err;
	is(scalar(@sql_errors), 0, "cycle $cycle: no SQL error in the load") or diag(join("\n", @sql_errors));
	$node->start;
	my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM mem');
	diag("cycle $cycle ($stop stop): rows $before -> $after, pending "
		  . (pending_entries($index) // '?') . ", verify calls $calls ($overlapped while the list changed), errors "
		  . scalar(@errors));
	cmp_ok($after, '>', $before, "cycle $cycle: rows were stored before the $stop stop");
	check_space("cycle $cycle, after a $stop stop");
}
diag("verify during the load: $all_calls calls, $all_overlapped while the list changed; errors: "
	  . (@all_errors ? join('; ', @all_errors[0 .. ($#all_errors < 9 ? $#all_errors : 9)]) : 'none'));
cmp_ok($all_overlapped, '>=', $cycles, 'verify ran while the space\'s list changed');
is(scalar(@all_errors), 0, 'verify: no error during the load');

# Everything merged in the end, and still sound.
$node->safe_psql('postgres', "SELECT engram_hnsw_flush_pending('$index')");
$node->safe_psql('postgres', 'VACUUM mem');
is(pending_entries($index), '0', 'a flush and VACUUM empty the list');
check_space('after the final flush');

$node->stop;
done_testing();
