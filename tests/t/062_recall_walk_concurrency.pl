# 062_recall_walk_concurrency.pl: spreading's ordered B-tree walks
# (src/recall/btree_walk.c) while other sessions split the pages they walk.
# Sessions keep adding associations to ten hub memories (the association
# key splits inside the key ranges the walks read) and new memories linked
# from the hubs (the id key splits at its right end, where the new targets
# are); meanwhile other sessions spread one hop from a hub and compare, in
# the same statement (one snapshot), the memories reached with what plain
# SQL finds: the hub's associations to memories with a confidence above 0
# whose contribution w x exp(-0.7) reaches the depth-1 threshold.  Any
# difference is raised as an error, which fails the pgbench run.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use EngramNode;
use EngramHnswData;

my $node = new_engram_node('recall_walk',
	extra_conf => "max_connections = 20\nengram.background_workers = 0");

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT engram_create_space('busy', 4, 'cosine', 'none');
	SELECT count(*) FROM engram_store_batch('busy',
		ARRAY(SELECT 'memory ' || i FROM generate_series(1, 3000) i ORDER BY i),
		ARRAY(SELECT format('[%s,%s,%s,%s]', cos(i), sin(i), cos(2 * i), sin(3 * i))::evector
				FROM generate_series(1, 3000) i ORDER BY i));
	INSERT INTO busy_associations (src, dst, weight)
	SELECT i, 1 + (i * 7919 + f * 104729) % 3000, 0.5 + f / 10.0
	  FROM generate_series(1, 3000) i, generate_series(1, 3) f
	 WHERE i <> 1 + (i * 7919 + f * 104729) % 3000
	ON CONFLICT DO NOTHING;
	VACUUM ANALYZE busy_associations;
});

my $link = write_pgbench_script('link.sql', q{
INSERT INTO busy_associations (src, dst, weight)
VALUES (7 + floor(random() * 10)::bigint, 20 + floor(random() * 2980)::bigint, 0.9)
ON CONFLICT DO NOTHING;
});
my $grow = write_pgbench_script('grow.sql', q{
WITH m AS (INSERT INTO busy (content, embedding) VALUES ('new', '[1,0,0,0]') RETURNING id)
INSERT INTO busy_associations (src, dst, weight)
SELECT 7 + floor(random() * 10)::bigint, id, 0.8 FROM m;
});
# 1 / (random() * 0)::int: an error the planner cannot fold away.
my $check = write_pgbench_script('check.sql', q{
\set hub random(7, 16)
SELECT CASE WHEN
  (SELECT array_agg(id ORDER BY id) FROM engram_spread('busy', :hub, max_hops => 1, k => 10000))
  IS NOT DISTINCT FROM
  (SELECT array_agg(a.dst ORDER BY a.dst) FROM busy_associations a JOIN busy m ON m.id = a.dst
    WHERE a.src = :hub AND m.confidence > 0 AND a.weight * exp(-0.7) >= 0.05)
  THEN 1 ELSE 1 / (random() * 0)::int END;
});

# New memories get ids from the identity sequence, after the 3,000 stored.
$node->safe_psql('postgres',
	"SELECT setval(pg_get_serial_sequence('busy', 'id'), 3000)");

my ($h, $out, $err) = pgbench_start($node, 10, "$link\@4", "$grow\@2", "$check\@4");
$h->finish;
is($h->result(0), 0, 'walks agreed with SQL under concurrent page splits')
  or diag($$err);
my ($tx) = $$out =~ /number of transactions actually processed: (\d+)/;
diag("concurrent load: $tx transactions");
cmp_ok($tx // 0, '>', 100, 'the concurrent load did real work');

my $hub_links = $node->safe_psql('postgres',
	'SELECT count(*) FROM busy_associations WHERE src BETWEEN 7 AND 16');
diag("hub associations after the load: $hub_links");
cmp_ok($hub_links, '>', 400, 'the hubs grew over several leaves of the association key');

# At rest, every hub once more.
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(7, 16) hub
	 WHERE (SELECT array_agg(id ORDER BY id) FROM engram_spread('busy', hub, max_hops => 1, k => 10000))
	       IS NOT DISTINCT FROM
	       (SELECT array_agg(a.dst ORDER BY a.dst) FROM busy_associations a JOIN busy m ON m.id = a.dst
	         WHERE a.src = hub AND m.confidence > 0 AND a.weight * exp(-0.7) >= 0.05)}),
	'10', 'at rest: every hub reaches what SQL finds');

$node->stop;
done_testing();
