# 039_hnsw_prefetch_code.pl: the prefetch hints of the searches are in the
# library the server loads.  The hint that starts loading a batch's buffer
# headers and page lines before they are pinned (disk_prefetch_hint for the
# engram_hnsw search, engram_recall_prefetch_page for spreading's reads,
# both through engram_recent_buffers_prefetch) has no effect a query can
# observe but its speed, and GCC 12 at -O2 once compiled it to nothing
# (src/engram_recent_buffers.h); this checks the machine code for prefetch
# instructions.  x86-64 only (objdump needed); skipped elsewhere.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

chomp(my $arch = `uname -m`);
plan skip_all => "prefetch instructions are checked on x86_64, not $arch"
  unless $arch eq 'x86_64';
plan skip_all => 'objdump is not installed'
  unless system('objdump --version >/dev/null 2>&1') == 0;

my $node = new_engram_node('hnsw_prefetch_code');
my $libdir = $node->safe_psql('postgres',
	"SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'");
my $library = "$libdir/engram.so";
ok(-f $library, "the server's engram library is at $library");
# the library is the one this server runs (shared_preload_libraries)
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'engram'}),
	'1', 'engram is installed in the test database');

# Instructions per function of the library's text.
my %code;
my $function;
for my $line (split /\n/, `objdump -d --no-show-raw-insn '$library'`)
{
	if ($line =~ /^[0-9a-f]+ <([^>]+)>:$/)
	{
		$function = $1;
		$function =~ s/\.(isra|constprop|part|cold)\.\d+$//g;
		next;
	}
	$code{$function} .= "$line\n" if defined $function && $line =~ /^\s+[0-9a-f]+:/;
}

for my $hint (qw(disk_prefetch_hint engram_recall_prefetch_page))
{
	ok(defined $code{$hint}, "$hint is a function of the library");
	my $prefetches = () = ($code{$hint} // '') =~ /\tprefetch\w*\s/g;
	cmp_ok($prefetches, '>=', 2, "$hint issues its prefetches ($prefetches instructions)");
}

$node->stop;
done_testing();
