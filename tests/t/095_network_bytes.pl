# 095_network_bytes.pl: engram_network (engram_network_bytes_total) counts
# the protocol bytes of clients on TCP and nothing of clients on Unix
# sockets.
#
# A 2 MB result fetched over the Unix socket leaves both counters as they
# were (no other TCP client exists in this cluster).  Then one TCP session
# sends a query of about 500 kB and fetches a 1 MB result: after it ends,
# "received" grows by at least the query's size and "sent" by at least the
# result's, and each by less than 100 kB more (protocol framing, the
# startup exchange and the catalog queries of the session are small).  The
# counters are read by the backend at transaction end and at exit, so the
# check polls until the exiting backend has added its last reading.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('network_bytes', extra_conf => "listen_addresses = '127.0.0.1'");
my $tcp = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres';

sub counters
{
	my %c = map { split /\|/ } split /\n/,
	  $node->safe_psql('postgres', 'SELECT direction, bytes FROM engram_network');
	return \%c;
}

my $start = counters();
is(join(',', sort keys %$start), 'received,sent', 'engram_network has both directions');

# Unix socket: not counted.
is($node->safe_psql('postgres', "SELECT length(r) FROM (SELECT repeat('u', 2000000) AS r) s"),
	'2000000', 'a 2 MB query over the Unix socket');
$node->safe_psql('postgres', "SELECT repeat('u', 2000000)");
my $after_unix = counters();
is($after_unix->{received}, $start->{received}, 'Unix-socket traffic: nothing received counted');
is($after_unix->{sent}, $start->{sent}, 'Unix-socket traffic: nothing sent counted');

# TCP: a 500 kB query, a 1 MB result.
my $query_bytes = 500_000;
my $result_bytes = 1_000_000;
my $out = $node->safe_psql('postgres',
	"SELECT length('" . ('q' x $query_bytes) . "'), repeat('s', $result_bytes)",
	connstr => $tcp);
is($out, "$query_bytes|" . ('s' x $result_bytes), 'the TCP session ran its query');

my $received = $start->{received} + $query_bytes;
my $sent = $start->{sent} + $result_bytes;
ok( $node->poll_query_until('postgres', qq{
		SELECT bool_and(CASE direction WHEN 'received' THEN bytes >= $received
					   ELSE bytes >= $sent END)
		  FROM engram_network}),
	'the TCP session\'s query and result are counted');
my $end = counters();
my $margin = 100_000;
cmp_ok($end->{received} - $start->{received}, '<', $query_bytes + $margin,
	'received: the query plus less than 100 kB of protocol');
cmp_ok($end->{sent} - $start->{sent}, '<', $result_bytes + $margin,
	'sent: the result plus less than 100 kB of protocol');
note("received +" . ($end->{received} - $start->{received}) . ", sent +"
	  . ($end->{sent} - $start->{sent}));

# engram_metrics_reset() clears them.
$node->safe_psql('postgres', 'SELECT engram_metrics_reset()');
is($node->safe_psql('postgres', 'SELECT sum(bytes) FROM engram_network'), '0',
	'engram_metrics_reset() clears the counters');

$node->stop;
done_testing();
