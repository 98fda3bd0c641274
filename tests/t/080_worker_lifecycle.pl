# 080_worker_lifecycle.pl: the Engram background worker's processes.
#  - the launcher and one worker per database with the extension show up in
#    pg_stat_activity as "engram launcher" / "engram worker";
#  - databases without the extension, or not in engram.worker_databases,
#    get no worker;
#  - SIGHUP reloads the settings without restarting the worker;
#  - engram.worker_nice: the worker and the launcher take the nice value
#    (/proc/<pid>/stat field 19) at start and on reload; lowering it is
#    refused to an unprivileged process with a WARNING and applies to the
#    next worker; a negative value is out of range; a reload that comes
#    while a throttled job runs is applied when the job ends (not one
#    naptime later);
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

# engram.worker_nice.  Nice values are compared with the postmaster's, the
# value a forked process starts with (0 unless the server was started under
# nice).
sub nice_of
{
	my ($pid) = @_;
	my $stat = slurp_file("/proc/$pid/stat");
	$stat =~ s/^.*\)\s+//s;	# "pid (comm) ": comm may hold spaces
	return (split /\s+/, $stat)[16];	# field 19; field 3 is the first left
}

# wait_for_nice(PID, VALUE): true once PID runs at VALUE (at most 10 s).
sub wait_for_nice
{
	my ($pid, $value) = @_;
	for (1 .. 100)
	{
		return 1 if nice_of($pid) == $value;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

my ($postmaster_pid) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
my $base_nice = nice_of($postmaster_pid);
my $launcher_pid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram launcher'});
my $status_nice = q{SELECT DISTINCT worker_nice FROM engram_worker_status WHERE database = 'postgres'};
SKIP:
{
	skip "the server runs at nice $base_nice: no room to test engram.worker_nice", 13
	  if $base_nice > 12;
	is(nice_of($worker_pid), $base_nice, 'with engram.worker_nice = 0 the worker keeps the nice value it started with');
	is($node->safe_psql('postgres', $status_nice), $base_nice, 'engram_worker_status shows it');

	$node->safe_psql('postgres', "ALTER SYSTEM SET engram.worker_nice = " . ($base_nice + 5));
	$node->reload;
	ok(wait_for_nice($worker_pid, $base_nice + 5), 'a reload raises the worker\'s nice value');
	ok(wait_for_nice($launcher_pid, $base_nice + 5), 'and the launcher\'s');
	ok($node->poll_query_until('postgres', $status_nice, $base_nice + 5),
		'engram_worker_status shows the new value');
	is($node->safe_psql('postgres',
			q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'postgres'}),
		$worker_pid, 'the same worker process');

	# A reload during a job is applied when the job ends, not a naptime
	# later, although the job's throttle naps consume the latch the SIGHUP
	# set.  Here the naptime is an hour and a tier-migration cycle moves
	# 500 rows warm -> cold in 10 chunks with a 400 ms nap after each.
	engram_random_space($node, 'throttled', 500, 4, 0.3);
	$node->safe_psql('postgres', q{
		ALTER SYSTEM SET engram.worker_naptime = 3600;
		ALTER SYSTEM SET engram.worker_cost_limit = 1;
		ALTER SYSTEM SET engram.worker_cost_delay = 100;
		ALTER SYSTEM SET engram.migration_warm_to_cold_accesses = 1e9;
		ALTER SYSTEM SET engram.migration_warm_to_cold_window_seconds = 1;});
	$node->reload;
	ok(wait_for_worker_job($node, 'tier_migration'), 'a throttled tier-migration job runs');
	$node->safe_psql('postgres', "ALTER SYSTEM SET engram.worker_nice = " . ($base_nice + 7));
	$node->reload;
	my $applied = 0;
	for (1 .. 300)
	{
		$applied = 1, last if nice_of($worker_pid) == $base_nice + 7;
		select(undef, undef, undef, 0.1);
	}
	ok($applied, 'a reload that came during the job is applied after it (within 30 s, naptime 1 h)');
	$node->safe_psql('postgres', q{
		ALTER SYSTEM RESET engram.worker_naptime;
		ALTER SYSTEM RESET engram.worker_cost_limit;
		ALTER SYSTEM RESET engram.worker_cost_delay;
		ALTER SYSTEM RESET engram.migration_warm_to_cold_accesses;
		ALTER SYSTEM RESET engram.migration_warm_to_cold_window_seconds;});
	$node->reload;

	# Lowering it: refused to an unprivileged process, with a WARNING.
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "ALTER SYSTEM SET engram.worker_nice = " . ($base_nice + 2));
	$node->reload;
	my $refused = 0;
	for (1 .. 300)
	{
		$refused = 1
		  if $node->log_contains(
			qr/WARNING:  could not set the nice value of the engram worker from @{[$base_nice + 7]} to @{[$base_nice + 2]}: Permission denied/,
			$offset);
		last if $refused || nice_of($worker_pid) == $base_nice + 2;
		select(undef, undef, undef, 0.1);
	}
	if ($refused)
	{
		pass('lowering the nice value is refused with a WARNING naming the errno');
		is(nice_of($worker_pid), $base_nice + 7, 'the worker keeps its nice value');
	}
	else
	{
		is(nice_of($worker_pid), $base_nice + 2, 'a privileged server lowers the nice value');
		pass('(no refusal to check)');
	}
	is($node->safe_psql('postgres', $status_nice), nice_of($worker_pid),
		'engram_worker_status shows the value the worker runs with');
	ok(!$node->log_contains(qr/FATAL|PANIC/, $offset), 'and the worker goes on');

	my ($ret, $stdout, $stderr) =
	  $node->psql('postgres', q{ALTER SYSTEM SET engram.worker_nice = -1});
	like($stderr, qr/-1 is outside the valid range for parameter "engram.worker_nice" \(0 \.\. 19\)/,
		'a negative nice value (a higher priority than backends) is out of range');
}

# SIGTERM: the launcher starts it again; its status slot survives.
my $start_offset = -s $node->logfile;
kill 'TERM', $worker_pid;
ok($node->poll_query_until('postgres',
		qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker'
		   AND datname = 'postgres' AND pid <> $worker_pid}, '1'),
	'a worker stopped with SIGTERM is started again');
is($node->safe_psql('postgres',
		q{SELECT DISTINCT worker_restarts FROM engram_worker_status WHERE database = 'postgres'}),
	'1', 'its status slot counts one restart');
SKIP:
{
	skip "the server runs at nice $base_nice", 2 if $base_nice > 12;
	my $new_pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'engram worker' AND datname = 'postgres'});
	ok(wait_for_nice($new_pid, $base_nice + 2),
		'the new worker starts at the lowered engram.worker_nice');
	ok($node->log_contains(qr/engram worker started for database \d+ \(nice @{[$base_nice + 2]}\)/,
			$start_offset),
		'and logs it');
}
$node->safe_psql('postgres', q{ALTER SYSTEM RESET engram.worker_nice});
$node->reload;

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
