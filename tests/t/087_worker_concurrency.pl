# 087_worker_concurrency.pl: the background worker's tier migration,
# consolidation and soft forgetting running, every second, while four
# sessions store (engram_store, engram_store_batch), recall, update content
# and confidence, delete and forget (engram_forget soft and hard) memories of
# the same space for about 30 s.
#
# Migration settings make rows move every cycle in every direction: a row
# recalled lately goes warm -> hot, every hot row goes back to warm after a
# second, a warm row not recalled goes to cold after two seconds, every cold
# row comes back to warm (cold_to_warm at 0 accesses).  Soft forgetting
# (threshold 0.5) sends episodes whose confidence the sessions lowered to
# cold.  Each session writes, in the same transaction as each change, the id
# and an md5 digest of what it committed into a plain heap ledger
# (committed_log; deleted ids into deleted_log).  Afterwards:
#	- no session got an error (psql's stderr is empty) and each did work;
#	- every logged memory is present exactly once (sequential scan and
#	  primary-key index) with the digest of its last committed version, no
#	  deleted one is present, and every episode present is logged;
#	- the rows that are not in the ledger are the worker's semantic
#	  memories, each linked by lineage associations to at least three
#	  episodes (counting those a session deleted since: the cascade takes
#	  the association, a trigger logs it); every association is semantic ->
#	  episode between existing rows, and lineage was lost only with a
#	  deleted episode; consolidation created some;
#	- rows really moved: hot->warm, warm->hot, warm->cold and cold->warm
#	  transitions were all observed (engram_memory_stats sampled during the
#	  run), the worker's migration and forgetting counters grew, no job
#	  recorded an error;
#	- the engram_hnsw index verifies, every btree index passes amcheck's
#	  bt_index_check with heapallindexed, the full-text index agrees with a
#	  scan.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use EngramNode;

my $run_seconds = 30;
my $sessions = 4;

my $node = new_engram_node('worker_concurrency',
	extra_conf => join("\n",
		'engram.worker_naptime = 1',
		'engram.consolidation_interval = 1',
		'engram.consolidation_batch_size = 30',
		'engram.migration_batch = 150',
		'engram.migration_warm_to_hot_accesses = 0.5',
		'engram.migration_warm_to_hot_window_seconds = 3600',
		'engram.migration_hot_to_warm_accesses = 1000000',
		'engram.migration_hot_to_warm_window_seconds = 1',
		'engram.migration_warm_to_cold_accesses = 1',
		'engram.migration_warm_to_cold_window_seconds = 2',
		'engram.migration_cold_to_warm_accesses = 0',
		'engram.min_confidence_threshold = 0.5',
		'max_connections = 30'));
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub query { return $node->safe_psql('postgres', $_[0]); }

query(q{
	SET client_min_messages = warning;
	CREATE EXTENSION amcheck;
	SELECT engram_create_space('m', 16);
	CREATE TABLE committed_log (id bigint PRIMARY KEY, digest text NOT NULL);
	CREATE TABLE deleted_log (id bigint PRIMARY KEY);
	-- Lineage associations deleted (by the cascade of an episode's DELETE).
	CREATE TABLE lost_lineage (src bigint, dst bigint);
	CREATE FUNCTION t_lost_lineage() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO lost_lineage VALUES (OLD.src, OLD.dst);
		RETURN OLD;
	END $$;
	CREATE TRIGGER lost_lineage AFTER DELETE ON m_associations
		FOR EACH ROW EXECUTE FUNCTION t_lost_lineage();
	CREATE TABLE tier_samples (sample int, id bigint, tier text, PRIMARY KEY (sample, id));
	CREATE FUNCTION t_digest(r m) RETURNS text IMMUTABLE LANGUAGE sql
		AS $$ SELECT md5(r.content || '|' || r.confidence::text || '|' || r.kind || '|'
						 || coalesce(r.embedding::text, '-')) $$;
	-- Memory i's embedding: one of 30 cluster centres plus a little noise
	-- (cosine to its centre well over 0.8), so that consolidation finds
	-- clusters of three and more.
	CREATE FUNCTION t_embedding(i bigint) RETURNS real[] IMMUTABLE LANGUAGE sql AS $$
		SELECT array_agg((sin((i % 30) * 7.3 + d * 1.7) + 0.05 * sin(i * 3.1 + d * 5.3))::real ORDER BY d)
		FROM generate_series(1, 16) d $$;
	CREATE FUNCTION t_log(new_id bigint) RETURNS void LANGUAGE sql AS $$
		INSERT INTO committed_log SELECT r.id, t_digest(r) FROM m r WHERE r.id = new_id $$;
	CREATE FUNCTION t_store(i bigint) RETURNS void LANGUAGE sql AS $$
		SELECT t_log(engram_store('m', 'stored ' || i, t_embedding(i))) $$;
	CREATE FUNCTION t_batch(first bigint, n int) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE
		ids bigint[];
	BEGIN
		ids := ARRAY(SELECT engram_store_batch('m',
			ARRAY(SELECT 'batch ' || i || repeat(' detail', (i % 5)::int) FROM generate_series(first, first + n - 1) i),
			ARRAY(SELECT t_embedding(i) FROM generate_series(first, first + n - 1) i)));
		INSERT INTO committed_log SELECT r.id, t_digest(r) FROM m r WHERE r.id = ANY (ids);
	END $$;
	-- A random logged episode (NULL when none).
	CREATE FUNCTION t_pick() RETURNS bigint LANGUAGE sql AS $$
		SELECT id FROM committed_log
		WHERE id >= (SELECT min(id) + floor(random() * (max(id) - min(id) + 1)) FROM committed_log)
		ORDER BY id LIMIT 1 $$;
	-- UPDATE content and confidence of one memory; log the new version.
	CREATE FUNCTION t_update(target bigint, new_confidence real) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE
		r m;
	BEGIN
		UPDATE m SET content = content || ' u', confidence = new_confidence
		WHERE id = target RETURNING * INTO r;
		IF FOUND THEN
			UPDATE committed_log SET digest = t_digest(r) WHERE id = target;
		END IF;
	END $$;
	CREATE FUNCTION t_delete(target bigint) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		DELETE FROM m WHERE id = target;
		IF FOUND THEN
			DELETE FROM committed_log WHERE id = target;
			INSERT INTO deleted_log VALUES (target);
		END IF;
	END $$;
	-- engram_forget: soft (confidence 0, the row goes cold) or hard (deleted).
	CREATE FUNCTION t_forget(target bigint, mode text) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
		IF target IS NULL OR NOT engram_forget('m', target, mode) THEN
			RETURN;
		END IF;
		IF mode = 'hard' THEN
			DELETE FROM committed_log WHERE id = target;
			INSERT INTO deleted_log VALUES (target);
		ELSE
			UPDATE committed_log SET digest = (SELECT t_digest(r) FROM m r WHERE r.id = target)
			WHERE id = target;
		END IF;
	END $$;
	CREATE FUNCTION t_recall(i bigint) RETURNS bigint LANGUAGE sql AS $$
		SELECT count(*) FROM engram_recall('m', t_embedding(i), k => 5,
			mode => CASE WHEN i % 2 = 0 THEN 'hybrid' ELSE 'similarity' END,
			query => 'stored') $$;
	SELECT t_batch(g * 100, 100) FROM generate_series(1, 6) g;
});

# The worker serves the database before the sessions start.
ok($node->poll_query_until('postgres', q{
		SELECT count(*) FROM engram_worker_status
		WHERE database = 'postgres' AND job = 'tier_migration' AND runs >= 1}, '1'),
	'the worker runs migration cycles');

# The session scripts: statements in autocommit, a mix chosen per session
# from a fixed seed, stopping at the deadline (checked before each one).
srand(20261121);
my $deadline = time() + $run_seconds;
my $deadline_sql = query("SELECT now() + interval '$run_seconds seconds'");
my @harnesses;
my @errors;
my @outputs;
for my $s (0 .. $sessions - 1)
{
	my $file = "$tmp/session$s.sql";
	my $script = "\\set QUIET on\nSET client_min_messages = warning;\n";
	for my $step (1 .. 4000)
	{
		my $i = 100000 * ($s + 1) + $step;
		my $dice = int(rand(100));
		my $statement;
		if ($dice < 20) { $statement = "SELECT t_store($i);"; }
		elsif ($dice < 25) { $statement = "SELECT t_batch($i * 10, 10);"; }
		elsif ($dice < 55) { $statement = "SELECT t_recall($i);"; }
		elsif ($dice < 75)
		{
			my $confidence = sprintf('%.2f', 0.1 + rand(0.9));
			$statement = "SELECT t_update(t_pick(), $confidence);";
		}
		elsif ($dice < 85) { $statement = "SELECT t_delete(t_pick());"; }
		elsif ($dice < 93) { $statement = "SELECT t_forget(t_pick(), 'soft');"; }
		else { $statement = "SELECT t_forget(t_pick(), 'hard');"; }
		$script .=
		    "SELECT clock_timestamp() > '$deadline_sql' AS done \\gset\n"
		  . "\\if :done\n\\q\n\\endif\n"
		  . "$statement\n"
		  . "\\echo step\n";
	}
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	($outputs[$s], $errors[$s]) = ('', '');
	push @harnesses,
	  IPC::Run::start(
		[ 'psql', '-X', '-q', '-t', '-d', $node->connstr('postgres'), '-f', $file ],
		'>', \$outputs[$s], '2>', \$errors[$s],
		IPC::Run::timeout($run_seconds + 60));
}

# Meanwhile: the worker's counters before, and every memory's tier sampled
# every half second (hot-tier lookups off: engram_memory_stats then reports
# the stored tier, or hot when the hot tier holds the row).
my $counters = q{SELECT string_agg(job || '=' || runs || '/' || rows_moved || '/'
		|| memories_consolidated || '/' || episodes_selected || '/' || errors, ' ' ORDER BY job)
	FROM engram_worker_status WHERE database = 'postgres'};
my $status_before = query($counters);
my $moved_before = query(q{SELECT coalesce(sum(rows_moved), 0) FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'tier_migration'});
my $sample = 0;
while (time() < $deadline)
{
	$node->psql('postgres', qq{
		SET engram.hot_tier_lookups = off;
		INSERT INTO tier_samples SELECT $sample, id, tier FROM engram_memory_stats('m')});
	$sample++;
	usleep(500_000);
}
foreach my $h (@harnesses)
{
	eval { $h->finish; };
	note("a session did not finish cleanly: $@") if $@;
}

# 1. The sessions.
for my $s (0 .. $sessions - 1)
{
	is($errors[$s], '', "session $s: no error");
	my $steps = () = $outputs[$s] =~ /^step$/mg;
	cmp_ok($steps, '>=', 20, "session $s did work ($steps statements)");
}

# 2. The ledger against the space.
my $by_scan = q{SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;};
my $by_index = q{SET enable_seqscan = off; SET enable_bitmapscan = off;};
for my $access ([ 'sequential scan', $by_scan ], [ 'primary-key index', $by_index ])
{
	my ($label, $settings) = @$access;
	is(query($settings . q{
			SELECT count(*) FROM (SELECT id FROM m GROUP BY id HAVING count(*) > 1) d}),
		'0', "$label: no memory is present twice");
	is(query($settings . q{
			SELECT count(*) FROM committed_log l
			WHERE NOT EXISTS (SELECT FROM m r WHERE r.id = l.id AND t_digest(r) = l.digest)}),
		'0', "$label: every logged memory is present with the digest of its last committed version");
	is(query($settings . q{SELECT count(*) FROM m JOIN deleted_log USING (id)}),
		'0', "$label: no deleted memory is present");
	is(query($settings . q{
			SELECT count(*) FROM m r WHERE r.kind = 'episodic'
			AND NOT EXISTS (SELECT FROM committed_log l WHERE l.id = r.id)}),
		'0', "$label: every episode present is logged");
}
my ($logged, $deleted, $updated) = split /\|/, query(q{
	SELECT (SELECT count(*) FROM committed_log), (SELECT count(*) FROM deleted_log),
		   (SELECT count(*) FROM m WHERE content LIKE '% u')});
cmp_ok($deleted, '>', 0, "memories were deleted ($deleted)");
cmp_ok($updated, '>', 0, "memories were updated ($updated carry an update)");
note("$logged memories logged");

# 3. What the worker added: semantic memories with lineage.
is(query(q{SELECT count(*) FROM m r WHERE NOT EXISTS (SELECT FROM committed_log l WHERE l.id = r.id)
		   AND r.kind <> 'semantic'}),
	'0', 'every memory not in the ledger is a semantic memory');
my $semantic = query(q{SELECT count(*) FROM m WHERE kind = 'semantic'});
cmp_ok($semantic, '>', 0, "consolidation created semantic memories ($semantic)");
is(query(q{SELECT count(*) FROM m_associations a JOIN m s ON s.id = a.src JOIN m e ON e.id = a.dst
		   WHERE s.kind <> 'semantic' OR e.kind <> 'episodic'}),
	'0', 'every association is lineage: semantic memory -> episode');
is(query(q{SELECT count(*) FROM lost_lineage l WHERE NOT EXISTS (SELECT FROM deleted_log d WHERE d.id = l.dst)}),
	'0', 'lineage was lost only with a deleted episode (ON DELETE CASCADE)');
is(query(q{
		SELECT count(*) FROM m s WHERE s.kind = 'semantic'
		AND (SELECT count(*) FROM m_associations a WHERE a.src = s.id)
			+ (SELECT count(*) FROM lost_lineage l WHERE l.src = s.id) < 3}),
	'0', 'each semantic memory was linked to at least three episodes (some since deleted)');
note(query(q{SELECT count(*) FROM m_associations}) . ' lineage associations, '
	  . query(q{SELECT count(*) FROM lost_lineage}) . ' lost with deleted episodes');
is(query(q{SELECT count(*) FROM m_associations a WHERE NOT EXISTS (SELECT FROM m WHERE id = a.dst)
		   OR NOT EXISTS (SELECT FROM m WHERE id = a.src)}),
	'0', 'every association refers to memories that exist');

# 4. The worker really moved rows, in every direction, without errors.
my $transitions = query(q{
	SELECT string_agg(t, ',' ORDER BY t) FROM (
		SELECT DISTINCT a.tier || '>' || b.tier AS t
		FROM tier_samples a JOIN tier_samples b ON b.id = a.id AND b.sample = a.sample + 1
		WHERE a.tier <> b.tier) x});
note("tier transitions seen: $transitions; samples: $sample");
for my $move ('hot>warm', 'warm>hot', 'warm>cold', 'cold>warm')
{
	like($transitions, qr/(^|,)\Q$move\E(,|$)/, "rows moved $move during the run");
}
my $status_after = query($counters);
note("worker before: $status_before");
note("worker after:  $status_after");
my $moved = query(q{SELECT rows_moved FROM engram_worker_status
	WHERE database = 'postgres' AND job = 'tier_migration'}) - $moved_before;
cmp_ok($moved, '>', 100, "the worker's migration moved rows ($moved)");
cmp_ok(query(q{SELECT episodes_selected FROM engram_worker_status
		WHERE database = 'postgres' AND job = 'soft_forgetting'}),
	'>', 0, 'soft forgetting selected episodes');
cmp_ok(query(q{SELECT runs FROM engram_worker_status
		WHERE database = 'postgres' AND job = 'consolidation'}),
	'>=', 3, 'consolidation ran repeatedly');
is(query(q{SELECT coalesce(string_agg(job || ': ' || last_error, '; '), 'none')
		   FROM engram_worker_status WHERE database = 'postgres' AND errors > 0}),
	'none', 'no worker job recorded an error');

# 5. Indexes.
is(query(q{SELECT count(*) FROM engram_hnsw_verify('m_embedding_idx') WHERE severity = 'error'}),
	'0', 'the engram_hnsw index verifies');
is(query(q{
		SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree',
		LATERAL bt_index_check(c.oid, true)
		WHERE i.indrelid IN ('m'::regclass, 'm_associations'::regclass)}),
	query(q{SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree'
		WHERE i.indrelid IN ('m'::regclass, 'm_associations'::regclass)}),
	'every btree index of the space passes bt_index_check (heapallindexed)');
is(query(q{SET enable_seqscan = off; SET enable_indexscan = off;
		SELECT count(*) FROM m WHERE to_tsvector('english'::regconfig, content) @@ 'detail'::tsquery}),
	query($by_scan . q{SELECT count(*) FROM m WHERE to_tsvector('english'::regconfig, content) @@ 'detail'::tsquery}),
	'the full-text index finds what a scan finds');

$node->stop;
done_testing();
