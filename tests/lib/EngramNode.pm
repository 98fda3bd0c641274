# EngramNode.pm: helpers for Engram's TAP tests.
#
# new_engram_node(NAME, %opts) returns an initialised, started
# PostgreSQL::Test::Cluster with Engram preloaded and the extension created
# in the "postgres" database.  Options: allows_streaming => 1 for a primary
# that replicas can follow; extra_conf => "line\nline" appended to
# postgresql.conf; start => 0 to leave it stopped.
package EngramNode;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;

our @EXPORT = qw(new_engram_node engram_random_space wait_for_worker_job);

sub new_engram_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => $opts{allows_streaming} ? 1 : 0);
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'engram'\n");
	$node->append_conf('postgresql.conf', $opts{extra_conf} . "\n") if $opts{extra_conf};
	return $node if defined $opts{start} && !$opts{start};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION engram');
	return $node;
}

# engram_random_space(NODE, NAME, ROWS, DIMS, SEED): a memory space NAME
# (engram_create_space) holding ROWS memories 'memory <i>' with embeddings
# of DIMS uniform components in [-0.5, 0.5) drawn after setseed(SEED).
sub engram_random_space
{
	my ($node, $name, $rows, $dims, $seed) = @_;
	$node->safe_psql('postgres', qq{
		SET client_min_messages = warning;
		SELECT engram_create_space('$name', $dims);
		SELECT setseed($seed);
		INSERT INTO $name (content, embedding)
		SELECT 'memory ' || i,
			   (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, $dims) WHERE i > 0)::evector
		FROM generate_series(1, $rows) i;});
}

# wait_for_worker_job(NODE, JOB): true once the "engram worker" of database
# postgres is running JOB (pg_stat_activity.query), polling every 20 ms for
# at most 12 s.
sub wait_for_worker_job
{
	my ($node, $job) = @_;
	for (1 .. 600)
	{
		return 1
		  if $node->safe_psql('postgres',
			qq{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'engram worker'
			   AND datname = 'postgres' AND state = 'active' AND query = '$job'}) eq '1';
		select(undef, undef, undef, 0.02);
	}
	return 0;
}

1;
