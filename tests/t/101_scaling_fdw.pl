# 101_scaling_fdw.pl: a memory table spread over two servers with
# declarative partitioning and postgres_fdw (docs/scaling.md).  The
# coordinator holds partition 'a' (an engram table with its engram_hnsw
# index) and a foreign-table partition 'b' that lives on the shard server
# (an engram table with its own index).  Rows inserted through the
# coordinator land on the right server; a nearest-neighbour query through
# the coordinator returns the global top-k, identical to the exact top-k
# computed from both servers' rows; the ORDER BY ... LIMIT is pushed down to
# the shard (postgres_fdw ships evector operators when the server lists the
# engram extension).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $shard = new_engram_node('shard');
my $coord = new_engram_node('coordinator');

my $columns = 'id bigint NOT NULL, region text NOT NULL, content text NOT NULL, embedding evector(8) NOT NULL';
$shard->safe_psql('postgres', qq{
	CREATE TABLE memories_b ($columns) USING engram;
	CREATE INDEX memories_b_embedding_idx ON memories_b USING engram_hnsw (embedding evector_l2_ops);
});

my ($host, $port) = ($shard->host, $shard->port);
my $user = $coord->safe_psql('postgres', 'SELECT current_user');
$coord->safe_psql('postgres', qq{
	CREATE EXTENSION postgres_fdw;
	CREATE SERVER shard_b FOREIGN DATA WRAPPER postgres_fdw
		OPTIONS (host '$host', port '$port', dbname 'postgres', extensions 'engram',
				 use_remote_estimate 'true', fetch_size '50');
	CREATE USER MAPPING FOR CURRENT_USER SERVER shard_b OPTIONS (user '$user');
	CREATE TABLE memories ($columns) PARTITION BY LIST (region);
	CREATE TABLE memories_a PARTITION OF memories FOR VALUES IN ('a') USING engram;
	CREATE INDEX memories_a_embedding_idx ON memories_a USING engram_hnsw (embedding evector_l2_ops);
	CREATE FOREIGN TABLE memories_b PARTITION OF memories FOR VALUES IN ('b')
		SERVER shard_b OPTIONS (table_name 'memories_b');
	-- Rows for both regions, inserted through the coordinator only.
	INSERT INTO memories
	SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 'memory ' || g,
		   ARRAY(SELECT sin(g * 0.37 + d * 1.1)::real FROM generate_series(1, 8) d)::evector
	FROM generate_series(1, 2000) g;
	ANALYZE memories_a;
	ANALYZE memories_b;
});
$shard->safe_psql('postgres', 'ANALYZE memories_b');

is($coord->safe_psql('postgres', 'SELECT count(*) FROM memories_a'), '1000', 'partition a on the coordinator');
is($shard->safe_psql('postgres', 'SELECT count(*) FROM memories_b'), '1000', 'partition b stored on the shard');
is($coord->safe_psql('postgres', 'SELECT count(*) FROM memories'), '2000', 'the coordinator sees both');

# Global top-k through the coordinator against the exact top-k of the
# union of both servers' rows, for several cues.
my $mismatches = 0;
for my $q (1 .. 5)
{
	my $cue = "ARRAY(SELECT cos($q * 0.91 + d * 0.7)::real FROM generate_series(1, 8) d)::evector";
	my $global = $coord->safe_psql('postgres',
		"SELECT string_agg(id::text, ',') FROM (SELECT id FROM memories ORDER BY embedding <-> $cue LIMIT 10) t");
	my @rows;
	for my $node ($coord, $shard)
	{
		my $table = $node == $coord ? 'memories_a' : 'memories_b';
		my $exact = $node->safe_psql('postgres', qq{
			SET enable_indexscan = off;
			SELECT id || ' ' || (embedding <-> $cue) FROM $table ORDER BY embedding <-> $cue LIMIT 10});
		push @rows, map { [ split / / ] } split /\n/, $exact;
	}
	my @merged = map { $_->[0] } (sort { $a->[1] <=> $b->[1] } @rows)[0 .. 9];
	my $expected = join(',', @merged);
	$mismatches++ if $global ne $expected;
	is($global, $expected, "cue $q: global top-10 through the coordinator equals the exact merged top-10");
}

# At this size the planner prefers fetching both partitions and sorting on
# the coordinator (still the exact answer, as tested above).  With sorting
# disabled it must use ordered scans: the engram_hnsw index locally and an
# ORDER BY pushed down to the shard, merged by a Merge Append.
note($coord->safe_psql('postgres', q{EXPLAIN (COSTS OFF)
	SELECT id FROM memories ORDER BY embedding <-> '[1,0,0,0,0,0,0,0]' LIMIT 10}));
my $plan = $coord->safe_psql('postgres', q{
	SET enable_sort = off;
	EXPLAIN (VERBOSE, COSTS OFF)
	SELECT id FROM memories ORDER BY embedding <-> '[1,0,0,0,0,0,0,0]' LIMIT 10});
like($plan, qr/Merge Append/, 'ordered scans of both partitions merged');
like($plan, qr/Remote SQL:.*ORDER BY .*<->/s, 'ORDER BY <-> pushed down to the shard');
like($plan, qr/memories_a_embedding_idx/, 'the local partition uses its engram_hnsw index');
note("plan:\n$plan");

$coord->stop;
$shard->stop;
done_testing();
