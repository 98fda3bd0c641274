# 029_hnsw_grown_layout.pl: an engram_hnsw index grown row by row from an
# empty table (what a memory space filled by engram_store is) places each
# new element on the page of one of its nearest neighbours when it can
# (hnswinsert.c, PLACEMENT).  Checks, on clustered data inserted in an
# order unrelated to the clusters: the grown index verifies clean and holds
# every row; recall@10 against exact search stays above a floor; the share
# of layer-0 links that stay on their element's page
# (engram_hnsw_layout_stats) is far above what a placement blind to the
# graph gives (elements spread over pages in arrival order: about one
# element per page in the neighbourhood of any other, a share of
# (elements per page - 1) / (elements - 1)) and about that of a build
# (REINDEX: breadth-first page order); the reserve left on pages for
# later neighbours costs a bounded amount of space against a REINDEX.
# Then the same with four concurrent inserters, and a crash (immediate
# stop) in the middle of concurrent growth: the index verifies clean after
# recovery and every committed row has its element.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;
use EngramHnswData;

my $node = new_engram_node('hnsw_grown_layout',
	extra_conf => "max_parallel_workers_per_gather = 0\nmax_connections = 20\nshared_buffers = 16MB");
my $dims = 32;
my $rows = 6000;

sub layout
{
	my ($index) = @_;
	my ($pages, $elements, $links, $same) = split /\|/, $node->safe_psql('postgres',
		"SELECT element_pages, elements, layer0_links, same_page_links FROM engram_hnsw_layout_stats('$index')");
	return ($pages, $elements, $same / $links,
		($elements / $pages - 1) / ($elements - 1));
}
sub errors
{
	my ($index) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM engram_hnsw_verify('$index') WHERE severity = 'error'");
}
sub rows_without_element
{
	my ($table, $index) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM $table WHERE ctid NOT IN
		  (SELECT heap_tid FROM engram_hnsw_index_tids('$index') WHERE NOT deleted)});
}

# 1. One session grows the index: rows in id order, and row i belongs to
# cluster i % 20, so consecutive rows are never neighbours.
$node->safe_psql('postgres', qq{
	CREATE TABLE base (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE queries (id int PRIMARY KEY, v evector($dims));
	CREATE TABLE items (id int PRIMARY KEY, v evector($dims));
	CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 16, ef_construction = 64);
	@{[ clustered_rows_sql('base', 1, $rows, 0.3, $dims) ]}
	@{[ clustered_rows_sql('queries', 100001, 100100, 0.7, $dims) ]}
	INSERT INTO items SELECT * FROM base ORDER BY id;
});
is(errors('items_v'), '0', 'grown index: verify finds no structural error');
is(rows_without_element('items', 'items_v'), '0', 'grown index: every row has its element');
my $recall = recall_at_10($node, 'items', 'queries', '<->', 40);
diag("grown index: recall\@10 at ef_search 40: $recall");
cmp_ok($recall, '>=', 0.95, 'grown index: recall@10 at ef_search 40 above the floor');

my ($pages, $elements, $share, $blind) = layout('items_v');
diag(sprintf('grown index: %d elements on %d pages, %.3f of layer-0 links on their own page '
	  . '(placement blind to the graph: about %.4f)', $elements, $pages, $share, $blind));
is($elements, $rows, 'layout stats count every element');
cmp_ok($share, '>', 10 * $blind, 'grown index: far more same-page links than a blind placement');

# A build's breadth-first page order is the layout to match; the reserve
# costs space only where a neighbourhood stopped growing.
$node->safe_psql('postgres', 'REINDEX INDEX items_v');
my ($built_pages, undef, $built_share) = layout('items_v');
diag(sprintf('the same rows after REINDEX: %d pages, %.3f of layer-0 links on their own page',
	$built_pages, $built_share));
cmp_ok($share, '>', 0.8 * $built_share, 'grown index: about as many same-page links as a build');
cmp_ok($pages, '<=', 1.75 * $built_pages, 'grown index: at most 1.75 x the pages of a build');

# 2. Four sessions grow another index concurrently (random clusters).
my $vector = "ARRAY(SELECT sin(c * 7 + d) * 2 + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"
  . " FROM generate_series(1, $dims) d)::real[]::evector";
my $insert = write_pgbench_script('grow.sql',
	"INSERT INTO grown (v) SELECT $vector FROM (SELECT floor(random() * 20)::int AS c) s;\n");
$node->safe_psql('postgres', qq{
	CREATE TABLE grown (id bigserial PRIMARY KEY, v evector($dims));
	CREATE INDEX grown_v ON grown USING engram_hnsw (v evector_l2_ops);
});
my ($h, $out, $err) = pgbench_start($node, 6, $insert);
$h->finish;
is($h->result(0), 0, 'concurrent growth ran without errors') or diag($$err);
is(errors('grown_v'), '0', 'concurrent growth: verify finds no structural error');
is(rows_without_element('grown', 'grown_v'), '0', 'concurrent growth: every row has its element');
($pages, $elements, $share, $blind) = layout('grown_v');
diag(sprintf('concurrent growth: %d elements on %d pages, %.3f of layer-0 links on their own page '
	  . '(blind: about %.4f)', $elements, $pages, $share, $blind));
cmp_ok($elements, '>', 500, 'concurrent growth inserted rows');
cmp_ok($share, '>', 5 * $blind, 'concurrent growth: far more same-page links than a blind placement');

# 3. A crash in the middle of concurrent growth.
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM grown');
($h, $out, $err) = pgbench_start($node, 60, $insert);
$node->poll_query_until('postgres', "SELECT count(*) > $before + 300 FROM grown")
  or die 'inserts did not start';
$node->stop('immediate');
$h->finish;
$node->start;
my $after = $node->safe_psql('postgres', 'SELECT count(*) FROM grown');
diag("rows before the crash run: $before, committed and recovered: $after");
cmp_ok($after, '>', $before + 300, 'committed inserts survived the crash');
is(errors('grown_v'), '0', 'after the crash: verify finds no structural error');
is(rows_without_element('grown', 'grown_v'), '0', 'after the crash: every committed row has its element');
$node->safe_psql('postgres', 'VACUUM grown');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('grown_v') WHERE problem = 'unreachable element'"),
	'0', 'after the crash and VACUUM: every element is reachable');
$node->safe_psql('postgres',
	"INSERT INTO grown (v) SELECT $vector FROM (SELECT floor(random() * 20)::int AS c FROM generate_series(1, 200)) s");
is(errors('grown_v'), '0', 'after VACUUM and more inserts: verify finds no structural error');
is(rows_without_element('grown', 'grown_v'), '0', 'after VACUUM and more inserts: every row has its element');

$node->stop;
done_testing();
