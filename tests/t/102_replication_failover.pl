# 102_replication_failover.pl: a streaming replica under a running write
# load, then failover.
#
# Part 1, read scaling: a background session writes to a space on the
# primary (engram_store, engram_store_batch, engram_associate) while the
# test, round after round, holds the writer at a statement boundary (an
# advisory lock every write takes in shared mode), notes the primary's WAL
# position, waits until the standby has replayed it, and compares recall
# and spread answers of the two servers at that common LSN, with the clock
# pinned (engram.pinned_now) and no time budget for spreading.
#
# Part 2, failover, three times with different timings: with synchronous
# replication (synchronous_standby_names, synchronous_commit =
# remote_apply) a writer keeps a client-side ledger of what the primary
# acknowledged as committed (each memory's number, id and an md5 of its
# content); after a random delay the primary is stopped immediately, the
# standby promoted, and the writer pointed at the new primary, where it
# keeps writing.  Then on the new primary: every acknowledged memory is
# present with the same content and embedding, every acknowledged
# association too; every engram_hnsw index passes engram_hnsw_verify;
# recall works; the background worker, which ran no writing job while the
# server was a standby, runs them now.  A new standby is then made from
# the new primary for the next round.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use EngramNode;

srand(1021);
my $pinned = "SET engram.pinned_now = '2026-01-01 10:00:00+00';";
my $tmp = PostgreSQL::Test::Utils::tempdir();

# The primary of part 1 runs no worker (only the writer changes data) and
# keeps its hot tier out of recall (a standby has none); every standby runs
# the worker, which must hold its writing jobs until it is promoted.
my $primary = new_engram_node('primary', allows_streaming => 1,
	extra_conf => "engram.background_workers = 0\nengram.hot_tier_lookups = off\n"
	  . "synchronous_commit = remote_apply\nmax_connections = 30");
$primary->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE FUNCTION rep_embedding(i bigint) RETURNS real[] IMMUTABLE LANGUAGE sql AS $$
		SELECT array_agg((sin((i % 30) * 2.1 + d * 0.9) + 0.1 * cos(i * 1.7 + d))::real ORDER BY d)
		FROM generate_series(1, 8) d $$;
	SELECT engram_create_space('w', 8);
});
$primary->safe_psql('postgres', qq{$pinned
	SELECT count(*) FROM engram_store_batch('w',
		ARRAY(SELECT 'memory ' || i FROM generate_series(1, 500) i),
		ARRAY(SELECT rep_embedding(i) FROM generate_series(1, 500) i));
	SELECT count(engram_associate('w', i, i + 7, 0.7)) FROM generate_series(1, 490, 3) i;
});

my $standby_count = 0;

# A new standby of "upstream", streaming, with the worker on; "upstream"
# then commits synchronously to it.
sub new_standby
{
	my ($upstream) = @_;
	my $name = 'standby' . ++$standby_count;
	$upstream->backup("backup_$name");
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($upstream, "backup_$name", has_streaming => 1);
	$standby->append_conf('postgresql.conf',
		"engram.background_workers = 1\nengram.worker_naptime = 1\n"
		  . "engram.consolidation_interval = 1\nengram.hot_tier_lookups = off\n");
	$standby->start;
	$upstream->append_conf('postgresql.conf',
		"synchronous_standby_names = '$name'\nsynchronous_commit = remote_apply\n");
	$upstream->reload;
	$upstream->poll_query_until('postgres',
		"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = '$name'")
	  or die "$name did not become a synchronous standby";
	return $standby;
}

# The writer: a script of "n" writes starting at memory number "first",
# run by a background psql against "node".  Each line it prints is one
# acknowledged commit: S|number|id (engram_store), B|number|id
# (engram_store_batch, one line per memory), A|src|dst (engram_associate).
# With "gated", every write first takes advisory lock 42 in shared mode.
my $script_count = 0;

sub start_writer
{
	my ($node, $first, $n, $gated) = @_;
	my $gate = $gated ? ', (SELECT pg_advisory_xact_lock_shared(42)) gate' : '';
	my $sql = "$pinned\n";
	my ($i, $statement) = ($first, 0);
	while ($i < $first + $n)
	{
		my $kind = $statement++ % 10;
		if ($kind < 6)
		{
			$sql .= "SELECT 'S|$i|' || engram_store('w', 'memory $i', rep_embedding($i)) FROM (SELECT 1) one$gate;\n";
			$i++;
		}
		elsif ($kind < 8)
		{
			my @numbers = ($i .. $i + 3);
			$sql .= "SELECT 'B|' || ($i + b.o - 1) || '|' || b.id FROM (SELECT 1) one$gate, "
			  . "engram_store_batch('w', ARRAY[" . join(',', map { "'memory $_'" } @numbers) . "], "
			  . "ARRAY[" . join(',', map { "rep_embedding($_)" } @numbers) . "]) WITH ORDINALITY AS b(id, o);\n";
			$i += 4;
		}
		else
		{
			$sql .= "SELECT 'A|' || x.a || '|' || x.b FROM (SELECT 1) one$gate, "
			  . "LATERAL (SELECT (SELECT max(id) FROM w) AS a, (SELECT id FROM w ORDER BY id DESC OFFSET 5 LIMIT 1) AS b) x, "
			  . "LATERAL engram_associate('w', x.a, x.b, 0.6, false) y;\n";
			$i++;
		}
	}
	my $file = "$tmp/writer" . $script_count++ . '.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $sql);
	my %writer = (out => '', err => '', name => "writer$script_count", node => $node);
	$writer{harness} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-d', $node->connstr('postgres') . " application_name=$writer{name}",
			'-f', $file ],
		'>', \$writer{out}, '2>', \$writer{err});
	return \%writer;
}

# Stop a writer (if still running) and return its ledger: the complete
# lines it printed.  With $server_running, its backend is terminated so that
# psql exits on its own and flushes what it printed; without, its server was
# stopped and psql has exited already.  (No psql probe of a stopped server:
# psql exits before reading its stdin, and IPC::Run's write of the query to
# the closed pipe then dies with EPIPE, which killed this test once.)
sub finish_writer
{
	my ($writer, $server_running) = @_;
	$writer->{node}->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$writer->{name}'")
	  if $server_running;
	eval { $writer->{harness}->finish; };
	my @lines = grep { /^[SBA]\|\d+\|\d+$/ } split /\n/, $writer->{out};
	return \@lines;
}

# ------------------------------------------------------------------------
# Part 1: answers at a common LSN under a running write load
# ------------------------------------------------------------------------
my $standby = new_standby($primary);
my @queries = (
	"SELECT id, round(similarity::numeric, 10), round(score::numeric, 10) "
	  . "FROM engram_recall('w', rep_embedding(%d), k => 10, mode => 'similarity')",
	"SELECT id, round(score::numeric, 10), round(activation::numeric, 10), round(confidence::numeric, 10), "
	  . "round(confidence_low::numeric, 10), round(confidence_high::numeric, 10), hops "
	  . "FROM engram_recall('w', rep_embedding(%d), k => 10, mode => 'hybrid')",
	"SELECT id, round(score::numeric, 10), hops FROM engram_recall('w', 'memory', k => 10, mode => 'similarity', "
	  . "after => '2025-01-01') WHERE %d > 0",
	"SELECT id, round(activation::numeric, 10), hops FROM engram_spread('w', (SELECT max(id) - (%d %% 50) FROM w), k => 20)",
);

my $gate = { in => '', out => '' };
$gate->{harness} = IPC::Run::start(
	[ 'psql', '-X', '-q', '-At', '-d', $primary->connstr('postgres') ],
	'<', \$gate->{in}, '>', \$gate->{out}, '2>', \my $gate_err);

sub gate_command
{
	my ($sql, $marker) = @_;
	$gate->{in} .= "$sql\n\\echo $marker\n";
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	$gate->{harness}->pump while $gate->{out} !~ /$marker/ && time < $deadline;
	die "gate session did not answer $marker" unless $gate->{out} =~ /$marker/;
}

# Two answers are the same when they are the same text: the same memories
# in the same order with the same numbers to the last printed digit (the
# distance kernels return bit-identical results wherever a vector sits in
# memory, simd/, so near-ties rank alike on both servers).
sub same_answer
{
	my ($a, $b) = @_;
	return $a eq $b;
}

my $writer = start_writer($primary, 100_000, 20_000, 1);
$primary->poll_query_until('postgres', "SELECT count(*) > 520 FROM w")
  or die "the writer did not start";
my ($rounds, $answers_compared, $rows_compared, $mismatches) = (0, 0, 0, 0);
for my $round (1 .. 8)
{
	usleep(int(rand(400_000)));    # let the writer run
	gate_command('SELECT pg_advisory_lock(42);', "locked$round");
	my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	$standby->poll_query_until('postgres', "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")
	  or die "standby did not replay $lsn";
	my $memories = $primary->safe_psql('postgres', 'SELECT count(*) FROM w');
	for my $q (@queries)
	{
		for my $cue (1, 7 + $round, 100_000 + $round * 13)
		{
			my $sql = "$pinned SET engram.spreading_time_budget = 0; " . sprintf($q, $cue);
			my $on_primary = $primary->safe_psql('postgres', $sql);
			my $on_standby = $standby->safe_psql('postgres', $sql);
			$answers_compared++;
			$rows_compared += scalar(() = $on_primary =~ /^./mg);
			if (!same_answer($on_primary, $on_standby))
			{
				$mismatches++;
				diag("round $round, LSN $lsn: $sql\nprimary:\n$on_primary\nstandby:\n$on_standby");
			}
		}
	}
	note("round $round at LSN $lsn: $memories memories");
	gate_command('SELECT pg_advisory_unlock(42);', "unlocked$round");
	$rounds++;
}
my $ledger = finish_writer($writer, 1);
$gate->{in} .= "\\q\n";
eval { $gate->{harness}->finish; };
cmp_ok(scalar(@$ledger), '>', 20, 'the writer committed while answers were compared (' . scalar(@$ledger) . ' commits)');
is($mismatches, 0,
	"$answers_compared recall/spread answers ($rows_compared rows) identical on primary and standby at $rounds common LSNs");
cmp_ok($rows_compared, '>', 8 * 12 * 5, 'the answers had rows to compare');

# ------------------------------------------------------------------------
# Part 2: failover under load, three times with different timings
# ------------------------------------------------------------------------
my $next_number = 200_000;
my $writing_jobs = q{job IN ('tier_migration', 'consolidation', 'soft_forgetting')};
my $total_acknowledged = 0;
my $total_lost = 0;

for my $round (1 .. 3)
{
	# The standby's worker is up and holds its writing jobs.
	$standby->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM engram_worker_status WHERE database = 'postgres' AND state = 'standby'")
	  or die "the worker on the standby did not report";
	is($standby->safe_psql('postgres',
			"SELECT coalesce(sum(runs), 0) || ' ' || coalesce(sum(errors), 0) FROM engram_worker_status "
			  . "WHERE database = 'postgres' AND $writing_jobs"),
		'0 0', "failover #$round: the worker ran no writing job on the standby");

	my $writer = start_writer($primary, $next_number, 5000, 0);
	$next_number += 10_000;
	$primary->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM w WHERE content = 'memory " . ($next_number - 10_000 + 20) . "'")
	  or die "the writer did not start";
	my $delay_ms = int(rand(1500));
	usleep($delay_ms * 1000);
	$primary->stop('immediate');
	my $acknowledged = finish_writer($writer, 0);
	$standby->promote;
	$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "promotion did not finish";

	# Keep writing, now against the new primary, for about two seconds.
	my $after = start_writer($standby, $next_number, 5000, 0);
	$next_number += 10_000;
	sleep(2);
	my $after_ledger = finish_writer($after, 1);
	cmp_ok(scalar(@$after_ledger), '>', 0,
		"failover #$round: the promoted server accepts writes (" . scalar(@$after_ledger) . ' commits)');

	# The ledgers against the new primary.
	my (@memories, @associations);
	for my $line (@$acknowledged, @$after_ledger)
	{
		my ($kind, $x, $y) = split /\|/, $line;
		if ($kind eq 'A') { push @associations, "($x,$y)"; }
		else { push @memories, "($x,$y,'" . md5_hex("memory $x") . "')"; }
	}
	push @memories, "(0,0,'')" unless @memories;    # keeps the VALUES list valid; found lost
	my $lost = $standby->safe_psql('postgres', 'SELECT count(*) FROM (VALUES '
		  . join(',', @memories) . ') l(number, id, digest) '
		  . "LEFT JOIN w ON w.id = l.id WHERE w.id IS NULL OR md5(w.content) <> l.digest "
		  . "OR w.content <> 'memory ' || l.number OR w.embedding <> rep_embedding(l.number)::evector");
	my $lost_links = $standby->safe_psql('postgres',
		'SELECT count(*) FROM (VALUES ' . join(',', @associations, '(0,0)') . ') l(src, dst) '
		  . 'WHERE l.src > 0 AND NOT EXISTS (SELECT FROM w_associations a WHERE a.src = l.src AND a.dst = l.dst)');
	$total_acknowledged += scalar(@$acknowledged);
	$total_lost += $lost + $lost_links;
	note("failover #$round: crash after ${delay_ms} ms; " . scalar(@$acknowledged)
		  . " commits acknowledged by the old primary, " . scalar(@$after_ledger) . ' by the new one');
	is($lost, '0', "failover #$round: every acknowledged memory (" . scalar(@memories) . ') present and identical');
	cmp_ok(scalar(@associations), '>', 0, "failover #$round: associations were acknowledged");
	is($lost_links, '0', "failover #$round: every acknowledged association (" . scalar(@associations) . ') present');
	is($standby->safe_psql('postgres', q{SELECT count(*) FROM (SELECT content FROM w WHERE kind = 'episodic'
			GROUP BY content HAVING count(*) > 1) d}),
		'0', "failover #$round: no memory stored twice");

	is($standby->safe_psql('postgres', q{
			SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram_hnsw',
			LATERAL engram_hnsw_verify(i.indexrelid::regclass) v WHERE v.severity = 'error'}),
		'0', "failover #$round: every engram_hnsw index verifies on the new primary");
	is($standby->safe_psql('postgres',
			"$pinned SELECT count(*) FROM engram_recall('w', rep_embedding(3), k => 10)"),
		'10', "failover #$round: recall answers on the new primary");

	# The worker, now on a primary, runs its writing jobs without errors.
	ok($standby->poll_query_until('postgres',
			"SELECT count(*) = 3 FROM engram_worker_status WHERE database = 'postgres' AND $writing_jobs "
			  . "AND runs > 0 AND state <> 'standby'"),
		"failover #$round: the worker runs its writing jobs after promotion");
	is($standby->safe_psql('postgres',
			"SELECT coalesce(sum(errors), 0) FROM engram_worker_status WHERE database = 'postgres'"),
		'0', "failover #$round: without errors");

	# The old primary is gone; the promoted server gets a standby of its own.
	$primary = $standby;
	$standby = new_standby($primary) if $round < 3;
}
note("failovers: 3; commits acknowledged before the failovers: $total_acknowledged; lost: $total_lost");
is($total_lost, 0, 'nothing acknowledged was lost in three failovers');

$primary->stop;
done_testing();
