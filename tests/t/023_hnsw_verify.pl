# 023_hnsw_verify.pl: engram_hnsw_verify() reports structural damage.
# With the server stopped, an index file is damaged in five ways (a page
# id, the metapage magic, a neighbour reference, and the chain of a
# pending list twice: cut after its head page, and linked from its head
# back to an element page); verify names each, with the block and what it
# found there.  (Verify under concurrent work: 030_hnsw_pending_stress.pl.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $node = new_engram_node('hnsw_verify');
my $dims = 4;
for my $name ('a', 'b', 'c')
{
	$node->safe_psql('postgres', qq{
		CREATE TABLE t_$name (id int, v evector($dims));
		INSERT INTO t_$name SELECT i, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
		FROM generate_series(1, 300) i;
		CREATE INDEX t_${name}_v ON t_$name USING engram_hnsw (v);
	});
	is($node->safe_psql('postgres', "SELECT count(*) FROM engram_hnsw_verify('t_${name}_v')"),
		'0', "index $name is healthy before the damage");
}
# d and e: a graph of 300 rows, then 1500 deferred rows on a pending list
# of several pages (4 dimensions: about 290 entries a page).
for my $name ('d', 'e')
{
	$node->safe_psql('postgres', qq{
		CREATE TABLE t_$name (id int, v evector($dims));
		INSERT INTO t_$name SELECT i, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
		FROM generate_series(1, 300) i;
		CREATE INDEX t_${name}_v ON t_$name USING engram_hnsw (v) WITH (deferred_insert = on);
		INSERT INTO t_$name SELECT i, ARRAY(SELECT random() FROM generate_series(1, $dims) WHERE i > 0)::real[]::evector
		FROM generate_series(301, 1800) i;
	});
	cmp_ok($node->safe_psql('postgres', "SELECT pages FROM engram_hnsw_pending_stats('t_${name}_v')"),
		'>=', 4, "index $name has a pending list of several pages");
	is($node->safe_psql('postgres', "SELECT count(*) FROM engram_hnsw_verify('t_${name}_v')"),
		'0', "index $name is healthy before the damage");
}
my %file = map {
	$_ => $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('t_${_}_v')")
} ('a', 'b', 'c', 'd', 'e');
$node->stop;

my $BLCKSZ = 8192;
sub read_block
{
	my ($path, $blkno) = @_;
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	sysseek($fh, $blkno * $BLCKSZ, 0);
	sysread($fh, my $page, $BLCKSZ) == $BLCKSZ or die "short read";
	close $fh;
	return $page;
}
sub write_block
{
	my ($path, $blkno, $page) = @_;
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	sysseek($fh, $blkno * $BLCKSZ, 0);
	syswrite($fh, $page, $BLCKSZ) == $BLCKSZ or die "short write";
	close $fh;
}

# a: the page id in the special space of element block 1.
my $page = read_block($file{a}, 1);
my $special = unpack('v', substr($page, 16, 2));    # pd_special
substr($page, $special + 2, 2) = pack('v', 0x1234);
write_block($file{a}, 1, $page);

# b: the metapage magic (right after the 24-byte page header).
$page = read_block($file{b}, 0);
substr($page, 24, 4) = pack('V', 0xDEADBEEF);
write_block($file{b}, 0, $page);

# c: the first layer-0 neighbour of the first element of block 1 now
# points at an offset no element has.
$page = read_block($file{c}, 1);
my $lp = unpack('V', substr($page, 24, 4));          # line pointer 1
my $lp_off = $lp & 0x7FFF;
my $slot0 = $lp_off + 16 + 4 * $dims;                 # header, vector, slots
substr($page, $slot0 + 4, 2) = pack('v', 999);       # ip_posid
write_block($file{c}, 1, $page);

# d: the head page's next block (special space: page type, page id, next)
# becomes invalid, cutting the list after its head; e: it becomes block 1,
# an element page.  The metapage's pending_head follows the 24-byte page
# header and 32 bytes of the metapage's earlier fields.
my %head;
for my $name ('d', 'e')
{
	$head{$name} = unpack('V', substr(read_block($file{$name}, 0), 24 + 32, 4));
	$page = read_block($file{$name}, $head{$name});
	$special = unpack('v', substr($page, 16, 2));
	substr($page, $special + 4, 4) = pack('V', $name eq 'd' ? 0xFFFFFFFF : 1);
	write_block($file{$name}, $head{$name}, $page);
}

$node->start;
my $report_d = $node->safe_psql('postgres',
	"SELECT severity || ' ' || problem || ' ' || coalesce(blkno::text, '-') || ' ' || detail FROM engram_hnsw_verify('t_d_v')");
diag("verify of the cut list:\n$report_d");
like($report_d, qr/^error bad pending list $head{d} the list walked from head $head{d} ends at block $head{d} \(a pending page with \d+ entries, next block 4294967295\) but the metapage names tail \d+$/m,
	'a pending list cut after its head is reported at its head');
like($report_d, qr/^error bad pending list \d+ a pending page with \d+ entries, next block \d+, is off the pending list/m,
	'the pending pages cut off are reported');
like($node->safe_psql('postgres',
	"SELECT severity || ' ' || problem || ' ' || coalesce(blkno::text, '-') || ' ' || detail FROM engram_hnsw_verify('t_e_v')"),
	qr/^error bad pending list 1 the next block of pending page $head{e} is block 1, which is an element page with \d+ line pointers, not a pending page/m,
	'a pending page linked to an element page is reported');
like($node->safe_psql('postgres', "SELECT severity || ' ' || problem || ' ' || blkno FROM engram_hnsw_verify('t_a_v')"),
	qr/^error bad page id 1$/m, 'a damaged page id is reported');
like($node->safe_psql('postgres', "SELECT severity || ' ' || problem FROM engram_hnsw_verify('t_b_v')"),
	qr/^error bad magic$/m, 'a damaged metapage magic is reported');
like($node->safe_psql('postgres', "SELECT severity || ' ' || problem || ' ' || detail FROM engram_hnsw_verify('t_c_v')"),
	qr/^error dangling neighbour the layer 0 list of this live element refers to \((\d+),999\), which holds no element: offset 999 is beyond the \d+ line pointers of element page \1$/m,
	'a dangling neighbour reference is reported, with what its target holds');

# A scan meeting a damaged page fails with a data-corruption error instead
# of reading garbage.
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET enable_seqscan = off;
	SELECT id FROM t_a ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 300});
like($err, qr/corrupted page at block 1|corrupted/, 'a scan reports the damaged page');
($ret, $out, $err) = $node->psql('postgres', q{
	SET enable_seqscan = off;
	SELECT id FROM t_b ORDER BY v <-> '[0.5,0.5,0.5,0.5]' LIMIT 3});
like($err, qr/corrupted metapage/, 'a scan reports the damaged metapage');
($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM engram_hnsw_verify('t_a')");
like($err, qr/is not an engram_hnsw index/, 'verify refuses a table');

$node->stop;
done_testing();
