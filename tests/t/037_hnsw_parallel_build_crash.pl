# 037_hnsw_parallel_build_crash.pl: `pg_ctl stop -m immediate` in the middle
# of a parallel engram_hnsw build (2 workers), at chosen points:
#	1. CREATE INDEX while the workers load the shared graph;
#	2. CREATE INDEX while the leader writes the graph to pages
#	   ("building index: writing graph");
#	3. CREATE INDEX with a 1MB maintenance_work_mem, in the spill phase
#	   (loading again, on disk, after the graph was written; the build's
#	   NOTICE confirms it);
#	4. CREATE INDEX CONCURRENTLY while the leader writes the graph.
# The points are hit deterministically: a second session (wait_for_build
# below) reads pg_stat_progress_create_index in a loop until the build is
# at the point and returns the leader's pid; the test freezes the leader
# there (SIGSTOP, so it cannot move on while the stop is under way; the
# postmaster's immediate shutdown SIGKILLs it) and stops the server with
# stop('immediate').  The test also checks, from a third session, that the
# frozen leader's progress row shows the intended phase.  That session is
# connected and has run its query once before the build starts, and reads
# pg_stat_get_progress_info() alone (shared memory, no buffer): the leader
# can be frozen holding an LWLock (a buffer mapping partition while it
# reads a new page, say), and a new connection or a query that reads
# catalog pages could then wait for it forever.
# After each restart:
#	- the table is intact (same row count and md5 of every row as before);
#	- the index is absent (CREATE INDEX: the transaction never committed)
#	  or, for CREATE INDEX CONCURRENTLY, present and invalid (then dropped);
#	- no build is left in pg_stat_progress_create_index;
# and the next round's build starts 2 workers again.  At the end a
# parallel CREATE INDEX over the same name passes engram_hnsw_verify,
# indexes every row once, and meets the recall floor.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use EngramNode;
use EngramHnswData;

my $rows = 12000;
my $node = new_engram_node('hnsw_parallel_crash',
	extra_conf => "max_worker_processes = 8\nmax_parallel_workers = 8\n"
	  . "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '64MB'\n"
	  . "engram.background_workers = 0");
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $started = time;

$node->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, v evector(32)) WITH (parallel_workers = 4);
	CREATE TABLE queries (id int PRIMARY KEY, v evector(32));
} . clustered_rows_sql('items', 1, $rows, 0.41) . clustered_rows_sql('queries', 1, 100, 0.42)
  . q{
	VACUUM ANALYZE items;
	-- Wait (at most 60 s) until the build over "target" is at "point";
	-- return the leader's pid and the parallel workers it has then.
	-- "spill": loading after the graph was written, seen as the phase
	-- itself or as more rows done than 1MB of graph holds (about 2,000;
	-- the write of so small a graph can be too short to be seen).
	CREATE FUNCTION wait_for_build(target regclass, point text, OUT leader int, OUT workers int)
	LANGUAGE plpgsql AS $$
	DECLARE
		spill_rows constant int := 4000;
		deadline timestamptz := clock_timestamp() + interval '60 s';
		wrote boolean := false;
		r record;
	BEGIN
		LOOP
			PERFORM pg_stat_clear_snapshot();
			SELECT p.pid, p.phase, p.tuples_done, p.tuples_total INTO r
			FROM pg_stat_progress_create_index p
			WHERE p.relid = target AND p.pid <> pg_backend_pid();
			IF FOUND THEN
				wrote := wrote OR r.phase = 'building index: writing graph';
				IF (point = 'loading' AND r.phase = 'building index: loading tuples'
					AND r.tuples_done >= r.tuples_total / 3)
				   OR (point = 'writing' AND r.phase = 'building index: writing graph')
				   OR (point = 'spill' AND r.phase = 'building index: loading tuples'
					   AND (wrote OR r.tuples_done > spill_rows))
				THEN
					leader := r.pid;
					SELECT count(*) INTO workers FROM pg_stat_activity
					WHERE leader_pid = r.pid AND backend_type = 'parallel worker';
					RETURN;
				END IF;
			END IF;
			IF clock_timestamp() > deadline THEN
				RAISE EXCEPTION 'the build never reached %', point;
			END IF;
		END LOOP;
	END $$;
});
my $checksum_sql = q{SELECT count(*) || '/' || md5(string_agg(id || ':' || v::text, ',' ORDER BY id)) FROM items};
my $checksum = $node->safe_psql('postgres', $checksum_sql);

my $scripts = 0;

sub background
{
	my ($sql) = @_;
	my $file = "$tmp/script" . $scripts++ . '.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $sql);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

my %phase_of = (
	loading => 'building index: loading tuples',
	writing => 'building index: writing graph',
	spill => 'building index: loading tuples');

# The phase names of pg_stat_progress_create_index, by (phase,
# subphase) = (param10, param11) of pg_stat_get_progress_info: 2 is
# "building index", then the AM's subphases (hnsw.h).
my %phase_name = (
	'2:2' => 'building index: loading tuples',
	'2:3' => 'building index: writing graph');

# A psql session kept open, for queries that must not wait for a frozen
# backend's LWLocks.  monitor_query sends one query and returns its output.
sub start_monitor
{
	my ($in, $out, $err) = ('', '', '');
	my $timer = IPC::Run::timer(120);
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, $timer);
	return { h => $h, in => \$in, out => \$out, err => \$err, timer => $timer };
}

sub monitor_query
{
	my ($monitor, $sql) = @_;
	${ $monitor->{out} } = '';
	${ $monitor->{in} } .= "$sql\n\\echo __done__\n";
	$monitor->{timer}->start(60);
	$monitor->{h}->pump until ${ $monitor->{out} } =~ /__done__\n/;
	die "monitor: ${ $monitor->{err} }" if ${ $monitor->{err} } ne '';
	return ${ $monitor->{out} } =~ s/__done__\n//r =~ s/\n$//r;
}

sub progress_phase_sql
{
	my ($pid) = @_;
	return "SELECT param10 || ':' || param11 FROM pg_stat_get_progress_info('CREATE INDEX') "
	  . "WHERE pid = $pid;";
}

# Start "build" (SQL), wait for "point", freeze the leader, crash, restart.
sub crash_build_at
{
	my ($label, $point, $build) = @_;
	my $monitor = start_monitor();
	monitor_query($monitor, progress_phase_sql(0));	# parsed and cached before any freeze
	my ($waiter, $wout, $werr) = background("SELECT leader || ' ' || workers FROM wait_for_build('items', '$point');\n");
	$node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pg_stat_activity
		WHERE query LIKE '%wait_for_build(%' AND state = 'active' AND pid <> pg_backend_pid()})
	  or die 'the waiter did not start';
	my ($builder, $bout, $berr) = background("SET max_parallel_maintenance_workers = 2;\n$build\n");
	$waiter->finish;
	my ($leader, $workers) = $$wout =~ /^(\d+) (\d+)$/m or die "waiter failed: $$werr";
	kill 'STOP', $leader or die "cannot stop backend $leader: $!";
	my $numbers = monitor_query($monitor, progress_phase_sql($leader));
	my $phase = $phase_name{$numbers} // "phase $numbers";
	note("$label: leader $leader frozen in \"$phase\" with $workers workers");
	is($phase, $phase_of{$point}, "$label: the crash comes in \"$phase_of{$point}\"");
	is($workers, 2, "$label: 2 workers were running at that point") if $point eq 'loading';

	$node->stop('immediate');
	eval { $builder->finish; };
	eval { $monitor->{h}->finish; };
	like($$berr, qr/no longer fits into maintenance_work_mem/,
		"$label: the build had spilled (NOTICE)") if $point eq 'spill';
	$node->start;

	is($node->safe_psql('postgres', $checksum_sql), $checksum, "$label: the table is intact");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_progress_create_index}),
		'0', "$label: no build left in progress");
	return $node->safe_psql('postgres', q{
		SELECT coalesce((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END
						 FROM pg_index WHERE indexrelid = to_regclass('items_v')), 'absent')});
}

my $create = q{CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops)
  WITH (m = 16, ef_construction = 64);};

is(crash_build_at('loading', 'loading', $create), 'absent',
	'crash while loading: no index after the restart');
is(crash_build_at('writing', 'writing', $create), 'absent',
	'crash while writing the graph: no index after the restart');
is(crash_build_at('spill', 'spill', "SET maintenance_work_mem = '1MB';\n$create"), 'absent',
	'crash in the spill phase: no index after the restart');
is(crash_build_at('concurrently', 'writing', $create =~ s/INDEX/INDEX CONCURRENTLY/r), 'invalid',
	'CREATE INDEX CONCURRENTLY crash: an invalid index remains');
$node->safe_psql('postgres', 'DROP INDEX items_v');

# A parallel build after the crashes: same name, 2 workers, sound.
my ($out, $err);
$node->psql('postgres', "SET client_min_messages = debug1;\nSET max_parallel_maintenance_workers = 2;\n$create",
	stdout => \$out, stderr => \$err, on_error_die => 1);
like($err, qr/2 parallel workers planned, 2 launched/, 'rebuild: 2 workers launched');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'"),
	'0', 'rebuild: verify finds no damage');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM engram_hnsw_index_tids('items_v') t JOIN items i ON i.ctid = t.heap_tid}),
	$rows, 'rebuild: every row is indexed once');
my $r = recall_at_10($node, 'items', 'queries', '<->', 60);
diag("rebuild: recall\@10 = $r (ef_search 60)");
cmp_ok($r, '>=', 0.95, 'rebuild: recall@10 at ef_search 60');
note(sprintf('run time %.1f s', time - $started));

$node->stop;
done_testing();
