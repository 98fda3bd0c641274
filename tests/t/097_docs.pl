# 097_docs.pl: the documentation cannot drift.
#
# 1. Every relative link in the project's Markdown files (README.md, docs/,
#    bench/, monitoring/, scripts/, tests/) resolves to a file or directory:
#    "/docs/x.md" from the project root (the seed documents' style), anything
#    else from the linking file's directory; #fragments are ignored, as are
#    URLs and links inside fenced code blocks.  Links that leave the project
#    for ../shared (the read-only benchmark data beside it) are skipped.
# 2. docs/reference/configuration.md has one row for every engram.* setting
#    of a running server, with pg_settings' type, default, range and context
#    ("applies"), and no row for a setting the server does not define; every
#    DefineCustom*Variable("engram....") literal in src/ has a row too.
use strict;
use warnings;
use File::Find;
use File::Spec;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

my $root = File::Spec->rel2abs($ENV{ENGRAM_ROOT} // '.');

# --- 1. links ------------------------------------------------------------
my @markdown;
push @markdown, "$root/README.md" if -f "$root/README.md";
find(
	{ wanted => sub { push @markdown, $File::Find::name if /\.md$/ && -f $_ }, no_chdir => 1 },
	grep { -d } map { "$root/$_" } qw(docs bench monitoring scripts tests));
@markdown = grep { !m{/tmp_check/} } @markdown;
cmp_ok(scalar(@markdown), '>=', 10, 'Markdown files found: ' . scalar(@markdown));

(my $shared = $root) =~ s{/[^/]+$}{/shared};
my ($links, @broken) = (0);
for my $file (@markdown)
{
	my $text = slurp_file($file);
	$text =~ s/^```.*?^```//msg;	# fenced code
	$text =~ s/`[^`\n]*`//g;		# inline code
	(my $dir = $file) =~ s{/[^/]+$}{};
	while ($text =~ /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)
	{
		my $target = $1;
		next if $target =~ m{^(?:[a-z][a-z0-9+.-]*:|#)}i;
		$target =~ s/#.*$//;
		next if $target eq '';
		my $path = $target =~ m{^/} ? "$root$target" : "$dir/$target";
		$path = File::Spec->canonpath($path);
		1 while $path =~ s{/[^/]+/\.\.(/|$)}{$1 eq '/' ? '/' : ''}e;
		next if index($path, $shared) == 0;
		$links++;
		push @broken, "$file: $target" unless -e $path;
	}
}
cmp_ok($links, '>=', 20, "relative links checked: $links");
is_deeply(\@broken, [], 'every relative link in the Markdown files resolves')
  or diag(join("\n", @broken));

# --- 2. configuration reference ------------------------------------------
my $node = new_engram_node('docs');
my %settings;
for my $line (split /\n/, $node->safe_psql('postgres', q{
	SELECT concat_ws(E'\t', name, vartype, coalesce(unit, ''), coalesce(boot_val, ''),
		coalesce(min_val, ''), coalesce(max_val, ''),
		coalesce(array_to_string(enumvals, ', '), ''), context)
	  FROM pg_settings WHERE name LIKE 'engram.%' ORDER BY name}))
{
	my ($name, $type, $unit, $default, $min, $max, $enum, $context) = split /\t/, $line, -1;
	$settings{$name} = {
		type => $type . ($unit ne '' ? " ($unit)" : ''),
		default => $default eq '' ? '(empty)' : "`$default`",
		range => $type eq 'bool' ? '`on`, `off`'
		  : $type eq 'enum' ? join(', ', map { "`$_`" } split /, /, $enum)
		  : $type eq 'string' ? 'any text'
		  : "`$min` .. `$max`",
		applies => { postmaster => 'restart', sighup => 'reload', superuser => 'superuser SET',
			user => 'user SET' }->{$context} // $context,
	};
}
cmp_ok(scalar(keys %settings), '>=', 40, 'the server defines ' . scalar(keys %settings) . ' engram.* settings');

my %documented;
for my $line (split /\n/, slurp_file("$root/docs/reference/configuration.md"))
{
	next unless $line =~ /^\|\s*`(engram\.[a-z0-9_.]+)`\s*\|/;
	my (undef, $name, $type, $default, $range, $applies) = map { s/^\s+|\s+$//gr } split /(?<!\\)\|/, $line;
	$name =~ s/`//g;
	$documented{$name} = { type => $type, default => $default, range => $range, applies => $applies };
}
my @missing = grep { !$documented{$_} } sort keys %settings;
my @extra = grep { !$settings{$_} } sort keys %documented;
is_deeply(\@missing, [], 'every engram.* setting of the server has a row in configuration.md');
is_deeply(\@extra, [], 'configuration.md has no row for a setting the server does not define');
my @wrong;
for my $name (sort grep { $documented{$_} } keys %settings)
{
	for my $field (qw(type default range applies))
	{
		push @wrong, "$name $field: documented '$documented{$name}{$field}', server '$settings{$name}{$field}'"
		  if $documented{$name}{$field} ne $settings{$name}{$field};
	}
}
is_deeply(\@wrong, [], 'type, default, range and applies of every row match pg_settings')
  or diag(join("\n", @wrong));

my @source_names;
find(
	{ wanted => sub {
			return unless /\.c$/;
			my $code = slurp_file($File::Find::name);
			push @source_names, $code =~ /DefineCustom\w+Variable\(\s*"(engram\.[a-z0-9_.]+)"/g;
		}, no_chdir => 1 },
	"$root/src");
cmp_ok(scalar(@source_names), '>=', 20, 'DefineCustom*Variable calls found in src/');
my @undocumented = grep { !$documented{$_} } @source_names;
is_deeply(\@undocumented, [], 'every setting named in src/ is documented');

$node->stop;
done_testing();
