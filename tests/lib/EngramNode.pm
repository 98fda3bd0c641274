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

our @EXPORT = qw(new_engram_node);

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

1;
