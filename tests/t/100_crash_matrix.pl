# 100_crash_matrix.pl: the crash matrix.  The server is stopped with
# `pg_ctl stop -m immediate` (a crash: no checkpoint, no clean shutdown) in
# the middle of each of
#	1. bulk engram_store_batch
#	2. COPY into a space
#	3. CREATE INDEX ... USING engram_hnsw (and CREATE INDEX CONCURRENTLY)
#	4. concurrent inserts (engram_store and plain INSERT, two sessions)
#	5. VACUUM (with deletes and cold segments to collect)
#	6. tier moves to cold and back to warm
#	7. consolidation (engram_run_maintenance)
# each point three times, after a random delay drawn from a fixed seed.
# Every transaction that writes memories also writes, in the same
# transaction, the id and an md5 digest of each memory it committed into a
# plain heap table, committed_log.  After each restart:
#	- every logged memory is present with the same digest (read through a
#	  sequential scan and through the primary-key index), and no memory is
#	  present that was not logged (nothing uncommitted survived);
#	- every engram_hnsw index passes engram_hnsw_verify without errors,
#	  every btree index amcheck's bt_index_check (heapallindexed), and the
#	  full-text GIN index returns what a sequential scan returns;
#	- similarity-mode recall matches an exact recomputation: every memory
#	  it returns is among the exact nearest neighbours (ORDER BY <=> with
#	  index scans off) and carries the exact similarity.
# The background worker is off (background_workers = 0) so that only the
# workloads above write.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use EngramNode;

srand(20261121);
my $rounds = 3;

my $node = new_engram_node('crash_matrix',
	extra_conf => "engram.background_workers = 0\nengram.ef_search = 200\n"
	  . "engram.hot_tier_size_mb = 8\nmax_connections = 30");
my $tmp = PostgreSQL::Test::Utils::tempdir();

$node->safe_psql('postgres', q{
	CREATE EXTENSION amcheck;
	SELECT engram_create_space('m', 16);
	CREATE TABLE committed_log (id bigint PRIMARY KEY, digest text NOT NULL);
	CREATE FUNCTION crash_digest(content text, embedding evector, kind text) RETURNS text
		IMMUTABLE LANGUAGE sql
		AS $$ SELECT md5(content || '|' || coalesce(embedding::text, '-') || '|' || kind) $$;
	-- Embedding of memory number i: one of 40 cluster centres plus noise, so
	-- that consolidation finds clusters.
	CREATE FUNCTION crash_embedding(i bigint) RETURNS real[] IMMUTABLE LANGUAGE sql AS $$
		SELECT array_agg((sin((i % 40) * 7.3 + d * 1.7) + 0.08 * sin(i * 3.1 + d * 5.3))::real ORDER BY d)
		FROM generate_series(1, 16) d $$;
	-- Store memories first .. first + n - 1 in one engram_store_batch call and
	-- log them in the same transaction.
	CREATE FUNCTION crash_batch(first bigint, n int) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE
		ids bigint[];
	BEGIN
		ids := ARRAY(SELECT engram_store_batch('m',
			ARRAY(SELECT 'memory ' || i || repeat(' detail', (i % 7)::int) FROM generate_series(first, first + n - 1) i),
			ARRAY(SELECT crash_embedding(i) FROM generate_series(first, first + n - 1) i)));
		INSERT INTO committed_log SELECT id, crash_digest(content, embedding, kind) FROM m WHERE id = ANY (ids);
	END $$;
	-- Store memory i with engram_store and log it, in one transaction.
	CREATE FUNCTION crash_store(i bigint) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE
		new_id bigint;
	BEGIN
		new_id := engram_store('m', 'stored ' || i, crash_embedding(i));
		INSERT INTO committed_log SELECT id, crash_digest(content, embedding, kind) FROM m WHERE id = new_id;
	END $$;
	-- Bring the log up to date with the space, in the writing transaction
	-- (after COPY, and after consolidation, which also merges semantic
	-- memories: it updates their embedding).  One such writer at a time.
	CREATE FUNCTION crash_log_sync() RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		DELETE FROM committed_log l WHERE NOT EXISTS (SELECT FROM m WHERE m.id = l.id);
		INSERT INTO committed_log SELECT id, crash_digest(content, embedding, kind) FROM m
		ON CONFLICT (id) DO UPDATE SET digest = excluded.digest
		WHERE committed_log.digest IS DISTINCT FROM excluded.digest;
	END $$;
	SELECT crash_batch(g * 100, 100) FROM generate_series(1, 10) g;
	-- A larger plain engram table for the index-build point; its builds
	-- are parallel (2 workers, the default max_parallel_maintenance_workers)
	-- unless the round turns workers off.
	CREATE TABLE big (id int, embedding evector(16)) USING engram WITH (parallel_workers = 2);
	INSERT INTO big SELECT g, crash_embedding(g)::evector FROM generate_series(1, 15000) g;
});

# ------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------

# Run an SQL script in a background psql (statements in autocommit unless
# the script says BEGIN); returns the IPC::Run harness.  psql keeps going
# after errors (the crash ends every statement with one).
my $script_count = 0;

sub background
{
	my ($sql) = @_;
	my $file = "$tmp/script" . $script_count++ . '.sql';
	PostgreSQL::Test::Utils::append_to_file($file, $sql);
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', \$out, '2>', \$err);
}

sub scalar_query { return $node->safe_psql('postgres', $_[0]); }

# Wait (at most 60 s) until "sql" returns true.
sub wait_until
{
	my ($sql, $what) = @_;
	$node->poll_query_until('postgres', $sql)
	  or die "timed out waiting for $what";
}

sub wait_for_active
{
	my ($pattern) = @_;
	wait_until(
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE state = 'active' "
		  . "AND query ILIKE '$pattern' AND pid <> pg_backend_pid()", "a query like $pattern");
}

# Wait until committed_log has grown by "more" rows since "before".
sub wait_for_commits
{
	my ($before, $more) = @_;
	wait_until("SELECT count(*) >= $before + $more FROM committed_log", "commits");
}

# Sleep a random time below "max_ms" (from the fixed seed), crash, restart.
my $crashes = 0;

sub crash_after_random_delay
{
	my ($max_ms, @harnesses) = @_;
	my $delay_us = int(rand($max_ms * 1000));
	usleep($delay_us);
	$node->stop('immediate');
	foreach my $h (@harnesses)
	{
		eval { $h->finish; };
	}
	$crashes++;
	$node->start;
	return $delay_us / 1000;
}

# The checks that follow every restart; "label" names the crash point.
my %memories_lost;

sub check_after_restart
{
	my ($label) = @_;

	my $lost = scalar_query(q{
		SELECT count(*) FROM committed_log l LEFT JOIN m ON m.id = l.id
		WHERE m.id IS NULL OR crash_digest(m.content, m.embedding, m.kind) IS DISTINCT FROM l.digest});
	my $lost_by_index = scalar_query(q{
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		SELECT count(*) FROM committed_log l
		WHERE NOT EXISTS (SELECT FROM m WHERE m.id = l.id
						  AND crash_digest(m.content, m.embedding, m.kind) = l.digest)});
	my $phantoms = scalar_query(q{
		SELECT count(*) FROM m WHERE NOT EXISTS (SELECT FROM committed_log l WHERE l.id = m.id)});
	$memories_lost{$label} += $lost;
	is($lost, '0', "$label: every committed memory present and identical (seq scan)");
	is($lost_by_index, '0', "$label: every committed memory found through the primary key");
	is($phantoms, '0', "$label: no uncommitted memory survived");

	my $index_errors = scalar_query(q{
		SELECT coalesce(string_agg(i.indexrelid::regclass || ': ' || v.problem, '; '), 'none')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram_hnsw',
		LATERAL engram_hnsw_verify(i.indexrelid::regclass) v
		WHERE i.indisvalid AND v.severity = 'error'});
	is($index_errors, 'none', "$label: every engram_hnsw index verifies");

	# The other indexes of the tables: every btree (six: the space's primary
	# key, (occurred_at, id) and partial semantic-id indexes, the association
	# table's two, committed_log's key) passes amcheck's bt_index_check with
	# heapallindexed (each heap row, warm or cold, has its index entry; it
	# raises an error otherwise), and the full-text GIN
	# index of the space finds exactly the rows a sequential scan finds.
	is(scalar_query(q{
		SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree',
		LATERAL bt_index_check(c.oid, true)
		WHERE i.indisvalid AND i.indrelid IN ('m'::regclass, 'm_associations'::regclass,
											  'big'::regclass, 'committed_log'::regclass)}),
		'6', "$label: every btree index passes bt_index_check (heapallindexed)");
	my $text_by_scan = scalar_query(q{
		SET enable_indexscan = off; SET enable_bitmapscan = off;
		SELECT count(*) FROM m WHERE to_tsvector('english'::regconfig, content) @@ 'detail | copied'::tsquery});
	my $text_by_index = scalar_query(q{
		SET enable_seqscan = off; SET enable_indexscan = off;
		SELECT count(*) FROM m WHERE to_tsvector('english'::regconfig, content) @@ 'detail | copied'::tsquery});
	is($text_by_index, $text_by_scan, "$label: the full-text GIN index finds the rows a scan finds ($text_by_scan)");

	# Recall vs exact search, for three cues: each memory returned carries
	# its exact similarity, and is as close as the exact 20th neighbour
	# (recall ranks its k' = 2k nearest candidates; clusters are dense, so
	# ties within 0.01 are allowed).
	my $mismatches = scalar_query(q{
		CREATE TEMP TABLE recalled AS
			SELECT q, crash_embedding(q * 13 + 5)::evector AS cue, r.id, r.similarity
			FROM generate_series(1, 3) q,
			LATERAL engram_recall('m', crash_embedding(q * 13 + 5)::evector, 10, 'similarity') r;
		SET enable_indexscan = off; SET enable_bitmapscan = off;
		SELECT count(*) FILTER (WHERE abs(r.similarity - (1 - (x.embedding <=> r.cue))) > 1e-5
								  OR 1 - (x.embedding <=> r.cue) < k.kth - 0.01)
			   || '/' || count(*)
		FROM recalled r JOIN m x ON x.id = r.id
		JOIN (SELECT q, (SELECT 1 - (embedding <=> c.cue) FROM m ORDER BY embedding <=> c.cue
						 OFFSET 19 LIMIT 1) AS kth
			  FROM (SELECT DISTINCT q, cue FROM recalled) c) k ON k.q = r.q});
	is($mismatches, '0/30', "$label: similarity recall matches exact search");
}

# ------------------------------------------------------------------------
# The crash points
# ------------------------------------------------------------------------
my $next_memory = 100_000;

# 1. engram_store_batch: batches of 200 memories, one transaction each.
for my $round (1 .. $rounds)
{
	my $before = scalar_query('SELECT count(*) FROM committed_log');
	my $script = '';
	for (1 .. 200) { $script .= "SELECT crash_batch($next_memory, 200);\n"; $next_memory += 1000; }
	my $h = background($script);
	wait_for_commits($before, 200);
	my $ms = crash_after_random_delay(400, $h);
	note("store_batch round $round: crash ${ms}ms after the first commit");
	check_after_restart("store_batch #$round");
}

# 2. COPY into the space: 3000 rows a COPY, logged in the same transaction.
{
	my $file = "$tmp/copy.data";
	my $data = '';
	for my $i (1 .. 300)
	{
		my @v = map { sprintf('%.5f', sin(($i % 40) * 7.3 + $_ * 1.7) + 0.05 * cos($i + $_)) } 1 .. 16;
		$data .= "copied memory $i\t[" . join(',', @v) . "]\t{\"n\": $i}\n";
	}
	PostgreSQL::Test::Utils::append_to_file($file, $data);
	for my $round (1 .. $rounds)
	{
		my $before = scalar_query('SELECT count(*) FROM committed_log');
		my $script = '';
		$script .= "BEGIN;\nCOPY m (content, embedding, metadata) FROM '$file';\n"
		  . "SELECT crash_log_sync();\nCOMMIT;\n" for 1 .. 30;
		my $h = background($script);
		wait_for_commits($before, 300);
		my $ms = crash_after_random_delay(500, $h);
		note("COPY round $round: crash ${ms}ms after the first commit");
		check_after_restart("COPY #$round");
	}
}

# 3. Index builds: CREATE INDEX (rolled back by the crash: no index after
#    restart), then CREATE INDEX CONCURRENTLY (an invalid index remains and
#    is dropped); finally a complete build that must verify.  Rounds 1 and
#    3 and the final build are parallel (2 workers), round 2 is serial;
#    tests/t/037_hnsw_parallel_build_crash.pl crashes parallel builds at
#    chosen phases.
for my $round (1 .. $rounds)
{
	my $concurrently = $round == $rounds ? 'CONCURRENTLY ' : '';
	my $workers = $round == 2 ? 0 : 2;
	my $h = background("SET max_parallel_maintenance_workers = $workers;\n"
		  . "CREATE INDEX ${concurrently}big_embedding_idx ON big "
		  . "USING engram_hnsw (embedding evector_l2_ops) WITH (m = 16, ef_construction = 100);\n");
	wait_for_active('CREATE INDEX%');
	my $ms = crash_after_random_delay(800, $h);
	note("CREATE INDEX ${concurrently}round $round ($workers workers): crash ${ms}ms into the build");
	my $state = scalar_query(q{
		SELECT coalesce((SELECT CASE WHEN indisvalid THEN 'valid' ELSE 'invalid' END
						 FROM pg_index WHERE indexrelid = to_regclass('big_embedding_idx')), 'absent')});
	if ($concurrently)
	{
		ok($state eq 'invalid' || $state eq 'absent' || $state eq 'valid',
			"CREATE INDEX CONCURRENTLY #$round: index is $state after the crash");
		scalar_query('DROP INDEX IF EXISTS big_embedding_idx');
	}
	else
	{
		ok($state eq 'absent' || $state eq 'valid',
			"CREATE INDEX #$round: index $state after the crash (never half-built)");
		scalar_query('DROP INDEX IF EXISTS big_embedding_idx');
	}
	check_after_restart("CREATE INDEX #$round");
}
my ($build_out, $build_err);
$node->psql('postgres', "SET client_min_messages = debug1;\nSET max_parallel_maintenance_workers = 2;\n"
	  . 'CREATE INDEX big_embedding_idx ON big USING engram_hnsw (embedding evector_l2_ops) '
	  . 'WITH (m = 16, ef_construction = 100)',
	stdout => \$build_out, stderr => \$build_err, on_error_die => 1);
like($build_err, qr/2 parallel workers planned, 2 launched/,
	'index build after the crashed builds: 2 parallel workers');
is( scalar_query(q{SELECT count(*) FROM engram_hnsw_verify('big_embedding_idx') WHERE severity = 'error'}),
	'0', 'index built after the crashed builds verifies');

# 4. Concurrent inserts: engram_store in one session, plain INSERT in
#    another, one memory per transaction.
for my $round (1 .. $rounds)
{
	my $before = scalar_query('SELECT count(*) FROM committed_log');
	my ($store, $insert) = ('', '');
	for (1 .. 1500)
	{
		my $a = $next_memory++;
		my $b = $next_memory++;
		$store .= "SELECT crash_store($a);\n";
		$insert .= "WITH i AS (INSERT INTO m (content, embedding) VALUES ('inserted $b', crash_embedding($b)) "
		  . "RETURNING id, content, embedding, kind) "
		  . "INSERT INTO committed_log SELECT id, crash_digest(content, embedding, kind) FROM i;\n";
	}
	my @h = (background($store), background($insert));
	wait_for_commits($before, 40);
	my $ms = crash_after_random_delay(500, @h);
	note("concurrent inserts round $round: crash ${ms}ms after 40 commits");
	check_after_restart("concurrent inserts #$round");
}

# 5. VACUUM: committed deletes (logged), a share of rows in the cold tier so
#    that VACUUM also collects cold segments, and VACUUM running when the
#    crash comes.
for my $round (1 .. $rounds)
{
	scalar_query(q{
		SELECT engram_move_to_tier('m', (SELECT array_agg(ctid) FROM m WHERE id % 5 = 0
			AND engram_row_tier('m', ctid) <> 'cold'), 'cold')});
	my $script = '';
	$script .= "WITH d AS (DELETE FROM m WHERE id IN (SELECT id FROM m WHERE kind = 'episodic' "
	  . "ORDER BY md5(id::text || '$round-$_') LIMIT 300) RETURNING id) "
	  . "DELETE FROM committed_log WHERE id IN (SELECT id FROM d);\nVACUUM m;\n" for 1 .. 20;
	my $h = background($script);
	wait_for_active('VACUUM%');
	my $ms = crash_after_random_delay(600, $h);
	note("VACUUM round $round: crash ${ms}ms into the first VACUUM");
	check_after_restart("VACUUM #$round");
}

# 6. Tier moves: a third of the rows to cold, then back to warm, repeatedly.
for my $round (1 .. $rounds)
{
	my $script = '';
	for my $k (0 .. 29)
	{
		my $r = $k % 3;
		$script .= "SELECT engram_move_to_tier('m', (SELECT array_agg(ctid) FROM m WHERE id % 3 = $r), 'cold');\n"
		  . "SELECT engram_move_to_tier('m', (SELECT array_agg(ctid) FROM m WHERE id % 3 = $r "
		  . "AND engram_row_tier('m', ctid) = 'cold'), 'warm');\n";
	}
	my $h = background($script);
	wait_for_active('SELECT engram_move_to_tier%');
	my $ms = crash_after_random_delay(1500, $h);
	note("tier moves round $round: crash ${ms}ms into the moves");
	check_after_restart("tier moves #$round");
	my ($dropped) = split /\|/, scalar_query(q{SELECT * FROM engram_cold_vacuum('m')});
	ok(defined $dropped, "tier moves #$round: cold segments collectable after the crash ($dropped dropped)");
}

# 7. Consolidation: new episodes, then engram_run_maintenance and the log
#    of the semantic memories it created, in one transaction, repeatedly.
for my $round (1 .. $rounds)
{
	my $before = scalar_query('SELECT count(*) FROM committed_log');
	my $script = '';
	for (1 .. 40)
	{
		$script .= "SELECT crash_batch($next_memory, 60);\n"
		  . "BEGIN;\nSELECT count(*) FROM engram_run_maintenance('m');\nSELECT crash_log_sync();\nCOMMIT;\n";
		$next_memory += 1000;
	}
	my $h = background($script);
	wait_for_commits($before, 120);
	my $ms = crash_after_random_delay(1000, $h);
	note("consolidation round $round: crash ${ms}ms after the first commits");
	check_after_restart("consolidation #$round");
}
my $semantic = scalar_query(q{SELECT count(*) FROM m WHERE kind = 'semantic'});
cmp_ok($semantic, '>', 0, "consolidation committed semantic memories before the crashes ($semantic)");

my $total_lost = 0;
$total_lost += $_ for values %memories_lost;
my $committed = scalar_query('SELECT count(*) FROM committed_log');
note("crash points tried: $crashes; committed memories at the end: $committed; memories lost: $total_lost");
is($total_lost, 0, "no committed memory lost in $crashes crashes");

$node->stop;
done_testing();
