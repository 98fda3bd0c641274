# 031_hnsw_link_states.pl: elements that keep their links' distances and
# heuristic outcomes on disk (hnsw.h, LINK STATES ON DISK; metapage
# version 4), and inserts that prune full neighbour lists from them
# (hnswinsert.c, PRUNING FROM KEPT OUTCOMES).  At 384 dimensions and
# m = 16 the link states cost no room (four elements a page either way),
# so a build writes them; at 128 dimensions they would, so it does not.
# With engram.hnsw_build_check_selection on, every pruning an insert makes
# from the kept outcomes is repeated from scratch and every kept distance
# recomputed: an error on any difference (L2, cosine and inner product
# indexes, after a build, after VACUUM's repairs, which reset the states,
# and on an index grown from empty).  The graph stays sound
# (engram_hnsw_verify checks that every element carries the link states
# and that every state is valid), recall@10 after the inserts stays within
# 0.03 of a fresh build's over the same rows, and a streaming standby with
# wal_consistency_checking = 'generic' replays the multi-fragment records
# (slots, distances, states) to the primary's pages and answers alike.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $dims = 384;
my $primary = new_engram_node('hnsw_link_states', allows_streaming => 1,
	extra_conf => "wal_consistency_checking = 'generic'\nmaintenance_work_mem = '64MB'");
$primary->safe_psql('postgres', "SELECT pg_create_physical_replication_slot('link_states_standby')");
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_link_states_standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "primary_slot_name = 'link_states_standby'");
$standby->start;

$primary->safe_psql('postgres', qq{
	CREATE EXTENSION pageinspect;
	CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE narrow (id int PRIMARY KEY, v evector(128));
} . clustered_rows_sql('items', 1, 1200, 0.31, $dims)
  . clustered_rows_sql('queries', 1, 100, 0.62, $dims)
  . clustered_rows_sql('narrow', 1, 300, 0.17, 128) . q{
	CREATE INDEX items_l2 ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64);
	CREATE INDEX items_cos ON items USING engram_hnsw (v evector_cosine_ops) WITH (m = 16, ef_construction = 64);
	CREATE INDEX items_ip ON items USING engram_hnsw (v evector_ip_ops) WITH (m = 16, ef_construction = 64);
	CREATE INDEX items_int8 ON items USING engram_hnsw (v) WITH (m = 16, ef_construction = 64, quantization = 'int8');
	CREATE INDEX narrow_v ON narrow USING engram_hnsw (v) WITH (m = 16, ef_construction = 64);
});

# The metapage's version is 4 for every new index.
for my $index ('items_l2', 'items_int8', 'narrow_v')
{
	is(metapage_version($primary, $index), '4', "$index: metapage version 4");
}

# Which elements keep link states: the length of an element tuple says it.
# A level-0 float element of 384 dimensions is 16 + 1536 + 32 x 6 bytes
# (1744) without them and 1904 with them; int8 elements (608 bytes) and
# 128-dimension ones (720) never have them.
like(element_lengths($primary, 'items_l2'), qr/^1904(,|$)/, 'items_l2: level-0 elements keep link states');
unlike(element_lengths($primary, 'items_l2'), qr/(^|,)1744(,|$)/, 'items_l2: no element without them');
like(element_lengths($primary, 'items_int8'), qr/^608(,|$)/, 'items_int8: int8 elements keep none');
like(element_lengths($primary, 'narrow_v'), qr/^720(,|$)/, 'narrow_v: 128-dimension elements keep none (they would cost room)');

# Inserts with every pruning checked against a selection from scratch.
sub checked_insert
{
	my ($label, $sql) = @_;
	my ($ret, $checked, $err) = checked_prunings($primary, $sql);
	is($ret, 0, "$label: the inserts succeed") or diag($err);
	diag("$label: $checked prunings checked");
	return $checked;
}

sub verify_clean
{
	my ($label) = @_;
	for my $index ('items_l2', 'items_cos', 'items_ip', 'items_int8')
	{
		is($primary->safe_psql('postgres',
			"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'"),
			'0', "$label: $index verifies without error");
	}
}

cmp_ok(checked_insert('after the build', clustered_rows_sql('items', 1201, 1500, 0.47, $dims)),
	'>', 200, 'after the build: inserts pruned full lists from kept outcomes, all checked');
verify_clean('after the build');
cmp_ok(checked_insert('narrow', clustered_rows_sql('narrow', 301, 400, 0.53, 128)),
	'==', 0, 'narrow: no link states, nothing pruned from them');

# VACUUM's repairs rewrite lists with their distances and unknown states;
# inserts after them are checked again.
$primary->safe_psql('postgres', 'DELETE FROM items WHERE id % 7 = 0; VACUUM items;');
verify_clean('after VACUUM');
cmp_ok(checked_insert('after VACUUM', clustered_rows_sql('items', 1501, 1700, 0.59, $dims)),
	'>', 100, 'after VACUUM: inserts pruned from kept outcomes, all checked');
verify_clean('after VACUUM and inserts');

# Recall after the inserts against a fresh build of the same rows.
my %recall;
for my $case (['items_l2', '<->'], ['items_cos', '<=>'])
{
	my ($index, $op) = @$case;
	$recall{"$index grown"} = recall_at_10($primary, 'items', 'queries', $op, 40);
}
$primary->safe_psql('postgres', 'REINDEX INDEX items_l2; REINDEX INDEX items_cos;');
for my $case (['items_l2', '<->'], ['items_cos', '<=>'])
{
	my ($index, $op) = @$case;
	my $fresh = recall_at_10($primary, 'items', 'queries', $op, 40);
	my $grown = $recall{"$index grown"};
	diag("$index: recall\@10 at ef_search 40 after inserts $grown, rebuilt $fresh");
	cmp_ok($grown, '>=', 0.9, "$index: recall\@10 after inserts above the floor");
	cmp_ok($grown, '>=', $fresh - 0.03, "$index: recall\@10 after inserts within 0.03 of a fresh build");
}

# An index grown from empty: every element written by inserts.
$primary->safe_psql('postgres', qq{
	CREATE TABLE grown (id int PRIMARY KEY, v evector($dims));
	CREATE INDEX grown_v ON grown USING engram_hnsw (v) WITH (m = 16, ef_construction = 64);
});
cmp_ok(checked_insert('grown', clustered_rows_sql('grown', 1, 600, 0.71, $dims)),
	'>', 100, 'grown from empty: prunings from kept outcomes, all checked');
like(element_lengths($primary, 'grown_v'), qr/^1904(,|$)/, 'grown_v: inserted elements keep link states');
is($primary->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('grown_v') WHERE severity = 'error'"),
	'0', 'grown_v verifies without error');
my $grown_recall = recall_at_10($primary, 'grown', 'queries', '<->', 40);
cmp_ok($grown_recall, '>=', 0.9, "grown_v: recall\@10 $grown_recall above the floor");

# The standby replayed every record with page consistency checks.
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't',
	'standby replayed every record with consistency checks');
my $top10 = q{
	SET enable_seqscan = off;
	SELECT string_agg(ids, ';' ORDER BY id) FROM (
	  SELECT q.id, (SELECT string_agg(g.id::text, ',') FROM
	    (SELECT id FROM grown g ORDER BY g.v <-> q.v LIMIT 10) g) AS ids
	  FROM queries q WHERE q.id <= 20) s;
};
is($standby->safe_psql('postgres', $top10), $primary->safe_psql('postgres', $top10),
	'the standby returns the primary\'s top-10');

$standby->stop;
$primary->stop;
done_testing();
