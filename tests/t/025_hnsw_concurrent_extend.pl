# 025_hnsw_concurrent_extend.pl: concurrent inserts of vectors so wide that
# one element fills a page, so nearly every insert extends the index.  A
# block another backend has just added is visible (and lockable) before
# its extender locks it; an insert must not assume the page it added is
# still empty once it holds the lock ("failed to add element" before the
# fix).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use EngramNode;

my $dims = 1500;
my $node = new_engram_node('extend', extra_conf => "fsync = off\nmax_connections = 20");
$node->safe_psql('postgres', qq{
	CREATE TABLE items (id bigserial PRIMARY KEY, v evector($dims));
	CREATE INDEX items_v ON items USING engram_hnsw (v evector_l2_ops) WITH (m = 8, ef_construction = 16);
});
my $dir = PostgreSQL::Test::Utils::tempdir;
open(my $fh, '>', "$dir/insert.sql") or die "cannot write $dir/insert.sql: $!";
print $fh "INSERT INTO items (v) SELECT ARRAY(SELECT random() FROM generate_series(1, $dims))::real[]::evector;\n";
close $fh;

my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '8', '-f', "$dir/insert.sql",
	  '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err);
$h->finish;
is($h->result(0), 0, 'concurrent inserts that extend the index ran without errors')
  or diag($err);
unlike($err, qr/failed to add element/, 'no insert lost its new page to another');

my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
cmp_ok($rows, '>', 100, "pgbench inserted rows ($rows)");
is($node->safe_psql('postgres',
	"SELECT count(*) FROM engram_hnsw_verify('items_v') WHERE severity = 'error'"),
	'0', 'verify finds no structural error');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM items WHERE ctid NOT IN (SELECT heap_tid FROM engram_hnsw_index_tids('items_v') WHERE NOT deleted)"),
	'0', 'every row has its element');

$node->stop;
done_testing();
