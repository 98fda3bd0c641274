# 080_worker_lifecycle.pl: the Engram background worker's processes.
#  - the launcher and one worker per database with the extension show up in
#    pg_stat_activity as "engram launcher" / "engram worker";
#  - databases without the extension, or not in engram.worker_databases,
#    get no worker;
#  - SIGHUP reloads the settings without restarting the worker;
#  - a worker stopped with SIGTERM is started again by the launcher;
#  - kill -9 of the worker: the postmaster restarts every backend, the data
#    is intact and the worker comes back and runs its jobs again;
#  - DROP DATABASE is not blocked by the worker connected to it;
#  - without shared_preload_libraries there is no worker and
#    engram_worker_status refuses with a hint.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

# Cluster.pm turns restart_after_crash off; the crash test needs it.
my $node = new_engram_node('lifecycle',
	extra_conf => "engram.worker_naptime = 1\nrestart_after_crash = on");

my $worker_query = q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'engram worker' AND datname = 'postgres'
	  AND application_name = 'engram worker'};
ok($node->poll_query_until('postgres', $worker_query, '1'),
	'an "engram worker" serves the database with the extension');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram launcher'}),
	'1', 'one "engram launcher" runs');

# The worker keeps a fixed search_path.
my $worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'postgres'});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 6 FROM engram_worker_status WHERE database = 'postgres' AND pid IS NOT NULL}),
	'the worker reports its six jobs');
is($node->safe_psql('postgres',
		q{SELECT string_agg(job || '=' || state, ',' ORDER BY job) FROM engram_worker_status
		  WHERE job IN ('warm_up', 'tier_migration', 'access_stats') AND database = 'postgres'}),
	'access_stats=unavailable,tier_migration=unavailable,warm_up=unavailable',
	'jobs that need the table access method say it is missing')
  if !$node->safe_psql('postgres', q{SELECT count(*) FROM pg_am WHERE amname = 'engram'});

# A database without the extension gets no worker; one that gains it does.
$node->safe_psql('postgres', 'CREATE DATABASE plain');
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', 'CREATE EXTENSION engram');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'later'},
		'1'),
	'a database that installs the extension gets a worker');
sleep(2);
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'plain'}),
	'0', 'a database without the extension has no worker');

# DROP DATABASE stops the worker connected to it instead of failing.
$node->safe_psql('postgres', 'DROP DATABASE later');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'later'}),
	'0', 'DROP DATABASE succeeds while the database has a worker');

# engram.worker_databases restricts the databases served (reload).
$node->safe_psql('postgres', 'CREATE DATABASE listed');
$node->safe_psql('listed', 'CREATE EXTENSION engram');
$node->safe_psql('postgres', q{ALTER SYSTEM SET engram.worker_databases = 'postgres'});
$node->reload;
sleep(3);
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'listed'}),
	'0', 'a database outside engram.worker_databases has no worker');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET engram.worker_databases});
$node->reload;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'listed'},
		'1'),
	'back in the list, it gets a worker again');

# Every worker setting can live in a configuration file (one dot in names).
$node->safe_psql('postgres', q{ALTER SYSTEM SET engram.migration_warm_to_hot_accesses = 30});
$node->reload;
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_file_settings WHERE name LIKE 'engram.%' AND error IS NOT NULL}),
	'0', 'engram.migration_* settings are accepted in postgresql.auto.conf');
is($node->safe_psql('postgres', q{SHOW engram.migration_warm_to_hot_accesses}), '30',
	'and applied');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET engram.migration_warm_to_hot_accesses});

# SIGHUP: the setting changes, the worker stays the same process.
$node->safe_psql('postgres', q{ALTER SYSTEM SET engram.consolidation_interval = '77s'});
$node->reload;
ok($node->poll_query_until('postgres',
		qq{SELECT pid = $worker_pid FROM pg_stat_activity WHERE backend_type = 'engram worker'
		   AND datname = 'postgres'}),
	'the worker survives a configuration reload');
kill 'HUP', $worker_pid;
sleep(1);
is($node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'postgres'}),
	$worker_pid, 'and a SIGHUP sent to it directly');

# SIGTERM: the launcher starts it again; its status slot survives.
kill 'TERM', $worker_pid;
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker'
		   AND datname = 'postgres' AND pid <> $worker_pid}, '1'),
	'a worker stopped with SIGTERM is started again');
is($node->safe_psql('postgres',
		q{SELECT DISTINCT worker_restarts FROM engram_worker_status WHERE database = 'postgres'}),
	'1', 'its status slot counts one restart');

# kill -9: crash restart of every backend; data intact, worker back.
$node->safe_psql('postgres', q{
	CREATE TABLE crash_check AS SELECT i, ARRAY[i, i * 2, i * 3]::evector(3) AS v
	FROM generate_series(1, 1000) i;
	CHECKPOINT;});
my $checksum_query = q{SELECT md5(string_agg(i || ':' || v::text, ',' ORDER BY i)) FROM crash_check};
my $checksum = $node->safe_psql('postgres', $checksum_query);
$worker_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'postgres'});
my $log_offset = -s $node->logfile;
kill 'KILL', $worker_pid;
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker'
		   AND datname = 'postgres' AND pid <> $worker_pid}, '1'),
	'after kill -9 of the worker a new worker runs');
ok($node->log_contains('terminated by signal 9', $log_offset),
	'the postmaster saw the worker die and restarted the backends');
is($node->safe_psql('postgres', $checksum_query), $checksum, 'data is intact after the crash restart');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 6 FROM engram_worker_status WHERE database = 'postgres'
		  AND pid IS NOT NULL AND (state <> 'scheduled' OR next_run IS NOT NULL)}),
	'the new worker reports its jobs again');

$node->stop;

# Not preloaded: no worker, and the status view says why.
my $lazy = PostgreSQL::Test::Cluster->new('lazy');
$lazy->init;
$lazy->start;
$lazy->safe_psql('postgres', 'CREATE EXTENSION engram');
sleep(1);
is($lazy->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'engram%'}),
	'0', 'no worker without shared_preload_libraries');
my ($ret, $stdout, $stderr) = $lazy->psql('postgres', 'SELECT * FROM engram_worker_status');
isnt($ret, 0, 'engram_worker_status fails when not preloaded');
like($stderr, qr/engram_worker_status requires engram to be loaded via shared_preload_libraries/,
	'with a clear message');
like($stderr, qr/HINT:  Add engram to shared_preload_libraries/, 'and a hint');
$lazy->stop;

done_testing();
