# 036_hnsw_parallel_build_progress.pl: pg_stat_progress_create_index as a
# second session sees it during parallel engram_hnsw builds, and REINDEX /
# REINDEX CONCURRENTLY through parallel workers.
#
# The watcher is a PL/pgSQL loop in its own session (watch_build below),
# started before the build: it clears its statistics snapshot and reads
# the build's progress row on every turn, keeps each sample that differs
# from the one before, and returns once the row has appeared and gone again
# (or after 120 s).  It polls without sleeping, so every phase that lasts
# longer than one turn (well under a millisecond) is seen; the build is
# 12,000 rows with 2 workers, so no phase is that short.  (REINDEX
# CONCURRENTLY is not watched: it waits for the watcher's snapshot.)  Checks:
#	- command is CREATE INDEX (REINDEX);
#	- the phases the build sets (from its DEBUG1 echo of its own progress
#	  row) are "building index: loading tuples", "building index: writing
#	  graph" (and, with a spill, loading again); the watcher sees only known
#	  phase names and at least one build phase, in the build's order (it
#	  can miss a short phase on a busy machine);
#	- tuples_done and blocks_done never decrease; the last sample shows
#	  tuples_total = 12,000 and blocks_total = the table's block count, and
#	  done counts within them (the watcher can miss the final updates, which
#	  can come just before the row goes); the build's own DEBUG1 report of
#	  its row at the end says 12,000 of 12,000 tuples and every block;
# then REINDEX and REINDEX CONCURRENTLY with 2 workers leave an index that
# engram_hnsw_verify finds sound and whose recall@10 against exact search
# is above the floor.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $rows = 12000;
my $node = new_engram_node('hnsw_parallel_progress',
	extra_conf => "max_worker_processes = 8\nmax_parallel_workers = 8\n"
	  . "max_parallel_workers_per_gather = 0\nmaintenance_work_mem = '64MB'");

$node->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, v evector(32)) WITH (parallel_workers = 4);
	CREATE TABLE queries (id int PRIMARY KEY, v evector(32));
} . clustered_rows_sql('items', 1, $rows, 0.31) . clustered_rows_sql('queries', 1, 100, 0.32)
  . q{
	VACUUM ANALYZE items;
	CREATE FUNCTION watch_build(target regclass)
	RETURNS TABLE (phase text, command text, tuples_done bigint, tuples_total bigint,
				   blocks_done bigint, blocks_total bigint)
	LANGUAGE plpgsql AS $$
	DECLARE
		deadline timestamptz := clock_timestamp() + interval '120 s';
		seen boolean := false;
		r record;
		last text := '';
	BEGIN
		LOOP
			PERFORM pg_stat_clear_snapshot();
			SELECT p.phase, p.command, p.tuples_done, p.tuples_total,
				   p.blocks_done, p.blocks_total INTO r
			FROM pg_stat_progress_create_index p
			WHERE p.relid = target AND p.pid <> pg_backend_pid();
			IF FOUND THEN
				seen := true;
				IF r::text <> last THEN
					last := r::text;
					phase := r.phase; command := r.command;
					tuples_done := r.tuples_done; tuples_total := r.tuples_total;
					blocks_done := r.blocks_done; blocks_total := r.blocks_total;
					RETURN NEXT;
				END IF;
			ELSIF seen OR clock_timestamp() > deadline THEN
				RETURN;
			END IF;
		END LOOP;
	END $$;
});
my $blocks = $node->safe_psql('postgres', q{SELECT pg_relation_size('items') / current_setting('block_size')::int});
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $watchers = 0;

# Run "sql" (a build over items) while watch_build watches it; returns the
# samples as [phase, command, tuples_done, tuples_total, blocks_done,
# blocks_total] and the build's stderr.
sub watched_build
{
	my ($sql) = @_;
	my $file = "$tmp/watch" . $watchers++ . '.sql';
	PostgreSQL::Test::Utils::append_to_file($file,
		"\\pset format unaligned\n\\pset tuples_only on\n\\pset fieldsep '|'\n"
		  . "SELECT 'watcher ready'; SELECT * FROM watch_build('items');\n");
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pg_stat_activity
		WHERE query LIKE '%watch_build(%' AND state = 'active' AND pid <> pg_backend_pid()})
	  or die 'the watcher did not start';
	my ($bout, $berr);
	$node->psql('postgres', "SET client_min_messages = debug1;\n$sql",
		stdout => \$bout, stderr => \$berr, on_error_die => 1);
	$h->finish;
	die "watcher failed: $err" if $err ne '';
	my @samples = map { [ split /\|/ ] } grep { $_ ne 'watcher ready' && $_ ne '' } split /\n/, $out;
	return (\@samples, $berr);
}

my %subphase_names = (2 => 'building index: loading tuples', 3 => 'building index: writing graph');

# Whether the list @$sub appears in @$list in order (not necessarily adjacent).
sub is_subsequence
{
	my ($sub, $list) = @_;
	my $i = 0;
	for my $x (@$list)
	{
		$i++ if $i < @$sub && $sub->[$i] eq $x;
	}
	return $i == @$sub;
}

# The common checks of a watched build's samples and of its DEBUG1 output.
sub check_samples
{
	my ($label, $samples, $err, $command, $expected_phases, $check_counts) = @_;
	cmp_ok(scalar @$samples, '>', 0, "$label: the progress row was seen");
	note("$label: " . scalar(@$samples) . ' distinct samples');
	my %commands = map { $_->[1] => 1 } @$samples;
	is(join(',', sort keys %commands), $command, "$label: command is $command");

	# phases in order of first appearance, repeats collapsed
	my @phases;
	for my $s (@$samples)
	{
		push @phases, $s->[0] if !@phases || $phases[-1] ne $s->[0];
	}
	note("$label: phases " . join(' -> ', @phases));
	# The phases the build set, in order, from its DEBUG1 echo of its own
	# progress row: the watcher polls and can miss a short phase on a busy
	# machine, so the complete sequence comes from the build, and what the
	# watcher saw must be part of it, in the same order.
	my @set = map { $subphase_names{$_} // "subphase $_" }
	  $err =~ /progress view shows subphase (\d+)/g;
	my %seen = map { $_ => 1 } @set;
	ok($seen{$_}, "$label: phase \"$_\" set") for @$expected_phases;
	my @watched = grep { /^building index: (loading tuples|writing graph)$/ } @phases;
	ok(scalar @watched, "$label: the watcher saw a build phase");
	ok(is_subsequence(\@watched, \@set), "$label: the watcher saw the build's phases in order")
	  or diag('watched ' . join(' -> ', @watched) . '; set ' . join(' -> ', @set));
	my @unknown = grep { !/^(initializing|building index: (initializing|loading tuples|writing graph))$/
		  && !/^(waiting for |index validation|waiting for old snapshots)/ } @phases;
	is(join(',', @unknown), '', "$label: no unknown phase name");
	return \@set unless $check_counts;

	# PostgreSQL 15's heap scan reports blocks_done = blocks_total while the
	# leader is still in the first block of its scan
	# (heapam_scan_get_blocks_done() takes current block = start block for
	# a wrap-around): leave those samples, the ones before the first
	# partial count, out of the blocks_done check.
	my ($partial) = grep { $samples->[$_][4] > 0 && $samples->[$_][4] < $samples->[$_][5] }
	  0 .. $#$samples;
	$partial //= scalar @$samples;
	my @block_samples = grep { $_ >= $partial || $samples->[$_][4] < $samples->[$_][5] }
	  0 .. $#$samples;
	note("$label: " . (@$samples - @block_samples) . ' samples in the first block left out');
	my ($tuples_back, $blocks_back) = (0, 0);
	for my $i (1 .. $#$samples)
	{
		$tuples_back++ if $samples->[$i][2] < $samples->[ $i - 1 ][2];
	}
	for my $j (1 .. $#block_samples)
	{
		my ($before, $now) = @$samples[ @block_samples[ $j - 1, $j ] ];
		next unless $now->[4] < $before->[4];
		$blocks_back++;
		diag("$label: blocks_done went back: " . join('|', @$before) . ' then ' . join('|', @$now));
	}
	is($tuples_back, 0, "$label: tuples_done never decreases");
	is($blocks_back, 0, "$label: blocks_done never decreases");
	my $distinct_tuples = scalar keys %{ { map { $_->[2] => 1 } @$samples } };
	cmp_ok($distinct_tuples, '>', 2, "$label: tuples_done moved during the build ($distinct_tuples values)");
	# The build's last updates (every row, every block) can come a moment
	# before the row disappears, so a watcher starved of CPU on a busy
	# machine can miss them; the build reports what its row holds at the
	# end (check_final_count).
	my $last = $samples->[-1];
	cmp_ok($last->[2], '<=', $rows, "$label: tuples_done stays within the row count");
	is($last->[3], $rows, "$label: tuples_total is the row count");
	cmp_ok($last->[4], '<=', $blocks, "$label: blocks_done stays within the table's $blocks blocks");
	is($last->[5], $blocks, "$label: blocks_total is the table's block count");
	return \@set;
}

# The build's DEBUG1 line: what its progress row held when the build was
# done, read back by the building backend itself.
sub check_final_count
{
	my ($label, $err) = @_;
	my @counts = $err =~ /progress view shows (\d+) of (\d+) tuples done, (\d+) of (\d+) blocks/g;
	is(join(' of ', @counts[0, 1]), "$rows of $rows", "$label: tuples_done ends at the row count");
	is(join(' of ', @counts[2, 3]), "$blocks of $blocks",
		"$label: blocks_done ends at the table's $blocks blocks");
}

sub check_index
{
	my ($label) = @_;
	is($node->safe_psql('postgres', q{
		SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_v'::regclass}),
		't', "$label: the index is valid");
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'"),
		'0', "$label: verify finds no damage");
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM engram_hnsw_index_tids('items_v') t
		JOIN items i ON i.ctid = t.heap_tid}), $rows, "$label: every row is indexed once");
	my $r = recall_at_10($node, 'items', 'queries', '<->', 60);
	diag("$label: recall\@10 = $r (ef_search 60)");
	cmp_ok($r, '>=', 0.95, "$label: recall\@10 at ef_search 60");
}

sub launched
{
	my ($err) = @_;
	my $n = 0;
	$n += $1 while $err =~ /parallel workers planned, (\d+) launched/g;
	return $n;
}

my $create = q{
	SET max_parallel_maintenance_workers = 2;
	CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops)
	  WITH (m = 16, ef_construction = 64);
};

# 1. CREATE INDEX, 2 workers, the graph fits.
my ($samples, $err) = watched_build($create);
is(launched($err), 2, 'CREATE INDEX: 2 workers launched');
check_samples('CREATE INDEX', $samples, $err, 'CREATE INDEX',
	[ 'building index: loading tuples', 'building index: writing graph' ], 1);
check_final_count('CREATE INDEX', $err);
check_index('CREATE INDEX, 2 workers');
$node->safe_psql('postgres', 'DROP INDEX items_v');

# 2. CREATE INDEX, 1 worker, maintenance_work_mem too small (3MB holds
#    about 6,000 elements, so the graph write is long enough to be seen):
#    writing the graph, then loading again through the on-disk path.
($samples, $err) = watched_build("SET maintenance_work_mem = '3MB';\n"
	  . ($create =~ s/= 2/= 1/r));
is(launched($err), 1, 'spill: 1 worker launched');
like($err, qr/no longer fits into maintenance_work_mem/, 'spill: NOTICE');
my $phases = check_samples('spill', $samples, $err, 'CREATE INDEX',
	[ 'building index: loading tuples', 'building index: writing graph' ], 1);
check_final_count('spill', $err);
is(join(' -> ', grep { !/initializing$/ } @$phases),
	'building index: loading tuples -> building index: writing graph -> building index: loading tuples',
	'spill: loading, writing the graph, loading on disk');
check_index('CREATE INDEX, 1 worker, spill');

# 3. REINDEX and REINDEX CONCURRENTLY, 2 workers each.
($samples, $err) = watched_build("SET max_parallel_maintenance_workers = 2;\nREINDEX INDEX items_v;");
is(launched($err), 2, 'REINDEX: 2 workers launched');
check_samples('REINDEX', $samples, $err, 'REINDEX',
	[ 'building index: loading tuples', 'building index: writing graph' ], 1);
check_final_count('REINDEX', $err);
check_index('REINDEX, 2 workers');

# Not watched: REINDEX CONCURRENTLY waits for every older snapshot, the
# watcher's included.
$node->psql('postgres', "SET client_min_messages = debug1;\n"
	  . "SET max_parallel_maintenance_workers = 2;\nREINDEX INDEX CONCURRENTLY items_v;",
	stderr => \$err, on_error_die => 1);
is(launched($err), 2, 'REINDEX CONCURRENTLY: 2 workers launched');
check_final_count('REINDEX CONCURRENTLY', $err);
check_index('REINDEX CONCURRENTLY, 2 workers');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_class WHERE relname LIKE 'items_v%'}), '1',
	'REINDEX CONCURRENTLY: no leftover index');

$node->stop;
done_testing();
