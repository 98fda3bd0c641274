# 103_security_worker.pl: the background worker honours privileges,
# row-level security and its fixed search_path.
#	- In a database whose search_path (ALTER DATABASE ... SET) puts a
#	  schema of a hostile role before pg_catalog, that role plants
#	  operators and functions matching exactly what the worker's
#	  statements use (bigint = bigint, text = text, real > integer, ...);
#	  each logs its call.  The worker runs every job there for several
#	  cycles: no planted object is ever called.
#	- The worker works on a space as its owner, never as a superuser: a
#	  trigger on the space logs current_user for the semantic memories
#	  consolidation inserts.
#	- With FORCE ROW LEVEL SECURITY hiding some episodes from the owner,
#	  the worker neither consolidates them (no semantic memory links to a
#	  hidden episode) nor forgets them (they stay warm while the visible
#	  old episodes go cold).
#	- An owner that revoked INSERT from itself: consolidation fails on that
#	  space with a permission error counted in engram_worker_status, and
#	  writes nothing there.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('security_worker',
	extra_conf => "engram.worker_naptime = 1\nengram.consolidation_interval = 1\n");
my $safe = 'SET search_path = public, pg_catalog;';

$node->safe_psql('postgres', q{
	CREATE DATABASE victim;
	CREATE ROLE sw_owner LOGIN;
	CREATE ROLE sw_hostile LOGIN;
	GRANT CREATE ON DATABASE victim TO sw_hostile, sw_owner;
});
$node->safe_psql('victim', q{
	CREATE EXTENSION engram;
	GRANT CREATE ON SCHEMA public TO sw_owner;
	SET ROLE sw_hostile;
	CREATE SCHEMA planted;
	GRANT USAGE ON SCHEMA planted TO PUBLIC;
	CREATE TABLE planted.calls (called_by name, what text);
	GRANT INSERT ON planted.calls TO PUBLIC;
	CREATE FUNCTION planted.log_call(what text) RETURNS void LANGUAGE sql
		AS $$ INSERT INTO planted.calls VALUES (current_user, what) $$;
	CREATE FUNCTION planted.eq_bigint(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM planted.log_call('bigint = bigint'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
	CREATE OPERATOR planted.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = planted.eq_bigint);
	CREATE FUNCTION planted.eq_text(text, text) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM planted.log_call('text = text'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
	CREATE OPERATOR planted.= (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.eq_text);
	CREATE FUNCTION planted.gt_real(real, integer) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM planted.log_call('real > integer'); RETURN $1 OPERATOR(pg_catalog.>) $2; END $$;
	CREATE OPERATOR planted.> (LEFTARG = real, RIGHTARG = integer, FUNCTION = planted.gt_real);
	CREATE FUNCTION planted.lt_double(double precision, double precision) RETURNS boolean LANGUAGE plpgsql
		AS $$ BEGIN PERFORM planted.log_call('float8 < float8'); RETURN $1 OPERATOR(pg_catalog.<) $2; END $$;
	CREATE OPERATOR planted.< (LEFTARG = double precision, RIGHTARG = double precision, FUNCTION = planted.lt_double);
	CREATE FUNCTION planted.count(anyelement) RETURNS bigint LANGUAGE plpgsql
		AS $$ BEGIN PERFORM planted.log_call('count'); RETURN 1; END $$;
	CREATE FUNCTION planted.exp(double precision) RETURNS double precision LANGUAGE plpgsql
		AS $$ BEGIN PERFORM planted.log_call('exp'); RETURN pg_catalog.exp($1); END $$;
	RESET ROLE;
	ALTER DATABASE victim SET search_path = planted, pg_catalog, public;
	ALTER ROLE sw_owner SET search_path = planted, pg_catalog, public;
});
# The trap is armed: plain SQL in that database calls the planted operator.
is($node->safe_psql('victim', q{SELECT 1::bigint = 1::bigint; SELECT count(*) FROM planted.calls}),
	"t\n1", 'a plain query under the database search_path calls the planted operator');
$node->safe_psql('victim', 'DELETE FROM planted.calls');

# Two spaces of sw_owner, episodes old enough to be forgotten, in clusters
# of four: "open" (half of each cluster hidden by a forced policy) and
# "closed" (INSERT revoked from its own owner).
$node->safe_psql('victim', qq{$safe
	SET engram.pinned_now = '2025-01-01 00:00:00+00';
	SET ROLE sw_owner;
	SET client_min_messages = warning;
	CREATE TABLE worker_saw (role name, superuser text, content text);
	CREATE FUNCTION note_insert() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		INSERT INTO public.worker_saw VALUES (current_user, current_setting('is_superuser'), NEW.content);
		RETURN NEW;
	END \$\$;
	SELECT engram_create_space('open', 4);
	SELECT engram_create_space('closed', 4);
	CREATE TRIGGER note_insert AFTER INSERT ON open FOR EACH ROW EXECUTE FUNCTION note_insert();
	SELECT count(*) FROM engram_store_batch('open',
		ARRAY(SELECT 'episode ' || g FROM generate_series(1, 24) g),
		ARRAY(SELECT ARRAY[cos(g / 8 * 1.5) + 0.01 * (g % 4), sin(g / 8 * 1.5), 0.5, 0.01 * (g % 3)]::real[]
			  FROM generate_series(0, 23) g),
		occurred_at => ARRAY(SELECT '2025-01-01'::timestamptz FROM generate_series(1, 24)));
	UPDATE open SET tags = CASE WHEN id % 2 = 0 THEN '{hidden}'::text[] ELSE '{visible}' END;
	SELECT count(*) FROM engram_store_batch('closed',
		ARRAY(SELECT 'episode ' || g FROM generate_series(1, 12) g),
		ARRAY(SELECT ARRAY[cos(g / 4 * 1.5), sin(g / 4 * 1.5), 0.5, 0.01 * (g % 3)]::real[]
			  FROM generate_series(0, 11) g));
	ALTER TABLE open ENABLE ROW LEVEL SECURITY;
	ALTER TABLE open FORCE ROW LEVEL SECURITY;
	CREATE POLICY owner_sees_visible ON open FOR SELECT USING (tags IS NULL OR 'visible' = ANY (tags));
	CREATE POLICY owner_writes ON open FOR INSERT WITH CHECK (true);
	CREATE POLICY owner_updates ON open FOR UPDATE USING (tags IS NULL OR 'visible' = ANY (tags));
	REVOKE INSERT ON closed FROM sw_owner;
});
is($node->safe_psql('victim', "$safe SET ROLE sw_owner; SELECT count(*) FROM open"), '12',
	'the owner sees 12 of the 24 episodes of "open"');

# Let the worker run every job a few times in "victim".
# (A run that failed on one space counts as an error, not a run.)
my $jobs = q{(SELECT coalesce(min(runs + errors), 0) FROM engram_worker_status WHERE database = 'victim'
	AND job IN ('tier_migration', 'consolidation', 'soft_forgetting'))};
# (psql prints the SET of $safe before the answer.)
ok($node->poll_query_until('victim', "$safe SELECT $jobs >= 3", "SET\nt"),
	'the worker ran migration, consolidation and soft forgetting three times in the database');

is($node->safe_psql('victim', "$safe SELECT count(*) FROM planted.calls"), '0',
	'no planted operator or function was called by the worker');

my $semantic = $node->safe_psql('victim', "$safe SELECT count(*) FROM open WHERE kind = 'semantic'");
cmp_ok($semantic, '>', 0, "consolidation made semantic memories in \"open\" ($semantic)");
is($node->safe_psql('victim', qq{$safe
		SELECT count(DISTINCT role) || ' ' || min(role) || ' ' || min(superuser) FROM worker_saw WHERE content IN
		  (SELECT content FROM open WHERE kind = 'semantic')}),
	'1 sw_owner off', 'the worker inserted them as the space owner, not as a superuser');
is($node->safe_psql('victim', qq{$safe
		SELECT count(*) FROM open_associations a JOIN open e ON e.id = a.dst OR e.id = a.src
		WHERE 'hidden' = ANY (e.tags)}),
	'0', 'no association touches an episode hidden from the owner');
is($node->safe_psql('victim', qq{$safe
		SELECT count(*) FILTER (WHERE engram_row_tier('open', ctid) = 'cold' AND 'hidden' = ANY (tags))
		|| ' ' || count(*) FILTER (WHERE engram_row_tier('open', ctid) = 'cold' AND 'visible' = ANY (tags))
		FROM open}),
	'0 12', 'soft forgetting sent the old visible episodes to cold and left the hidden ones alone');

is($node->safe_psql('victim', "$safe SELECT count(*) FROM closed WHERE kind = 'semantic'"), '0',
	'nothing was inserted into the space whose owner has no INSERT');
like($node->safe_psql('victim', qq{$safe SELECT last_error FROM engram_worker_status
		WHERE database = 'victim' AND job = 'consolidation'}),
	qr/permission denied for table closed/, 'the worker reports the permission error');
is($node->safe_psql('victim', "$safe SELECT count(*) FROM planted.calls"), '0',
	'still no planted call at the end');

$node->stop;
done_testing();
