# 010_vector_coexist.pl: Engram can live beside pgvector in one process and
# one database.
#
# 1. C symbols: PostgreSQL loads extension libraries with global symbol
#    visibility, so every symbol engram.so exports (other than the entry
#    points PostgreSQL itself looks up) must carry the engram prefix.
# 2. SQL names: the objects the extension creates do not take pgvector's
#    type or operator class names.
# 3. When pgvector is installed in this PostgreSQL, both extensions are
#    created in one database (in both orders) and used side by side: typed
#    values resolve without ambiguity, casts work across the two types, and
#    the two implementations agree on distances of random vectors.
#    Skipped when pgvector is not available.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use EngramNode;

# --- 1. exported C symbols ---------------------------------------------------
my ($pkglibdir) = run_command([ 'pg_config', '--pkglibdir' ]);
chomp $pkglibdir;
my $library = "$pkglibdir/engram.so";
ok(-f $library, "engram.so installed in $pkglibdir");

my ($nm_output, $nm_errors) = run_command([ 'nm', '-D', '--defined-only', $library ]);
is($nm_errors, '', 'nm -D ran without errors');
my @symbols;
foreach my $line (split /\n/, $nm_output)
{
	my ($address, $kind, $name) = split ' ', $line;
	next unless defined $name;
	push @symbols, { kind => $kind, name => $name };
}
my @text_symbols = grep { $_->{kind} eq 'T' } @symbols;
ok((grep { $_->{name} eq 'engram_evector_in' } @text_symbols),
	'nm lists the evector input function (the symbol scan sees the library)');

# Entry points PostgreSQL looks up by fixed names, and linker-made markers.
my %fixed_names = map { $_ => 1 }
  qw(_PG_init _PG_fini Pg_magic_func _init _fini __bss_start _edata _end);
my @foreign;
foreach my $symbol (@symbols)
{
	my $name = $symbol->{name};
	next if $fixed_names{$name};
	if ($name =~ /^pg_finfo_(.*)$/)
	{
		# the info record of an SQL-callable function names that function
		push @foreign, $name unless $1 =~ /^(engram|Engram|ENGRAM)/;
		next;
	}
	push @foreign, "$name ($symbol->{kind})" unless $name =~ /^(engram|Engram|ENGRAM)/;
}
is(join(', ', @foreign), '',
	'every exported symbol of engram.so starts with engram/Engram/ENGRAM');
cmp_ok(scalar(@text_symbols), '>', 10, 'engram.so exports its functions');

# --- 2. SQL object names -------------------------------------------------------
my $node = new_engram_node('coexist');
my $owned_names = $node->safe_psql(
	'postgres', q{
	SELECT string_agg(name, ',' ORDER BY name) FROM (
		SELECT t.typname::text AS name FROM pg_type t
		JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'engram'
		UNION ALL
		SELECT c.opcname::text FROM pg_opclass c
		JOIN pg_depend d ON d.classid = 'pg_opclass'::regclass AND d.objid = c.oid
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'engram'
	) names
	WHERE name IN ('vector', 'halfvec', 'sparsevec', 'vector_ops', 'vector_l2_ops',
				   'vector_cosine_ops', 'vector_ip_ops', 'vector_l1_ops')});
is($owned_names, '', 'engram creates no type or operator class with a pgvector name');
is($node->safe_psql('postgres', "SELECT 'evector'::regtype"), 'evector', 'type evector exists');

# --- 3. side by side with pgvector -------------------------------------------
my $has_pgvector = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'");
SKIP:
{
	skip 'pgvector is not installed in this PostgreSQL', 15 unless $has_pgvector;

	# pgvector first, then engram (engram already created by new_engram_node:
	# recreate it after pgvector), then the other order in a second database.
	$node->safe_psql('postgres',
		'DROP EXTENSION engram; CREATE EXTENSION vector; CREATE EXTENSION engram');
	$node->safe_psql('postgres', 'CREATE DATABASE engram_first');
	$node->safe_psql('engram_first', 'CREATE EXTENSION engram; CREATE EXTENSION vector');
	is($node->safe_psql('engram_first',
		"SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN ('engram', 'vector')"),
		'engram,vector', 'engram then pgvector in one database');

	$node->safe_psql(
		'postgres', q{
		CREATE TABLE both_types (id int, v vector(3), e evector(3));
		INSERT INTO both_types VALUES
			(1, '[1,2,3]', '[1,2,3]'),
			(2, ARRAY[4,5,6]::real[], ARRAY[4,5,6]::real[]),
			(3, ARRAY[0,1,0]::float8[], ARRAY[0,1,0]::float8[])});

	# typed values: every shared operator and function name resolves
	is($node->safe_psql('postgres',
		q{SELECT string_agg(format('%s %s %s %s', v <-> '[0,0,0]', e <-> '[0,0,0]',
			v <#> '[1,1,1]', e <#> '[1,1,1]'), ';' ORDER BY id) FROM both_types}),
		'3.7416573867739413 3.7416573867739413 -6 -6;'
		  . '8.774964387392123 8.774964387392123 -15 -15;1 1 -1 -1',
		'<-> and <#> on vector and on evector (sqrt(14), sqrt(77), -6, -15, 1, -1)');
	is($node->safe_psql('postgres',
		q{SELECT bool_and(abs((v <=> '[1,1,1]') - (e <=> '[1,1,1]')) < 1e-6)
			AND bool_and(abs(cosine_distance(v, '[1,0,0]') - cosine_distance(e, '[1,0,0]')) < 1e-6)
			FROM both_types}),
		't', '<=> and cosine_distance agree between vector and evector');
	is($node->safe_psql('postgres',
		q{SELECT string_agg(format('%s %s %s %s %s %s %s %s', l2_distance(v, v), l2_distance(e, e),
			inner_product(v, v), inner_product(e, e), vector_dims(v), vector_dims(e),
			vector_norm(v), vector_norm(e)), ';' ORDER BY id) FROM both_types WHERE id = 2}),
		'0 0 77 77 3 3 8.774964387392123 8.774964387392123',
		'same-named functions pick the overload of the argument type');
	is($node->safe_psql('postgres',
		q{SELECT format('%s %s', pg_typeof(l2_normalize(v)), pg_typeof(l2_normalize(e)))
			FROM both_types WHERE id = 1}),
		'vector evector', 'l2_normalize returns the type of its argument');
	is($node->safe_psql('postgres',
		q{SELECT format('%s %s %s %s', pg_typeof(avg(v)), pg_typeof(avg(e)),
			pg_typeof(sum(v)), pg_typeof(sum(e))) FROM both_types}),
		'vector evector vector evector', 'avg and sum return the type of their argument');
	is($node->safe_psql('postgres', 'SELECT avg(v)::text = avg(e)::text FROM both_types'),
		't', 'avg agrees between vector and evector');
	is($node->safe_psql('postgres',
		q{SELECT string_agg(format('%s %s %s', v + v, e - e, e * e), ';' ORDER BY id)
			FROM both_types WHERE id = 1}),
		'[2,4,6] [0,0,0] [1,4,9]', 'arithmetic on both types');

	# casts across the two types go through real[]
	is($node->safe_psql('postgres',
		q{SELECT bool_and(v::real[]::evector = e AND e::real[]::vector = v) FROM both_types}),
		't', 'vector -> real[] -> evector and back');
	# arrays: assignment casts to both types, explicit casts in expressions,
	# and array operators keep their meaning with both extensions present
	is($node->safe_psql('postgres',
		q{SELECT format('%s %s %s %s', ARRAY[1,2]::real[]::evector <-> ARRAY[4,6]::real[]::evector,
			ARRAY[1,2]::real[]::vector <-> ARRAY[4,6]::real[]::vector,
			ARRAY[1,2] = ARRAY[1,2], '{1,2}'::real[] = '{1,2}'::real[])}),
		'5 5 t t', 'explicit array casts to both types; array equality unambiguous');

	# indexes of both extensions in one table
	$node->safe_psql('postgres',
		'CREATE INDEX both_types_hnsw ON both_types USING hnsw (v vector_l2_ops);'
		  . 'CREATE INDEX both_types_btree ON both_types (e)');
	is($node->safe_psql('postgres',
		q{SET enable_seqscan = off;
		  SELECT string_agg(id::text, ',') FROM (SELECT id FROM both_types ORDER BY v <-> '[0,1,0]' LIMIT 2) s}),
		'3,1', 'pgvector hnsw index works beside evector');

	# random data: the two implementations agree on every distance
	$node->safe_psql(
		'postgres', q{
		SELECT setseed(0.42);
		CREATE TABLE random_pairs AS
		SELECT a::vector AS va, b::vector AS vb, a::evector AS ea, b::evector AS eb
		FROM (SELECT (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, 257) WHERE g > 0) a,
					 (SELECT array_agg(random() * 2 - 1) FROM generate_series(1, 257) WHERE g > 0) b
			  FROM generate_series(1, 200) g) s});
	is($node->safe_psql('postgres',
		q{SELECT count(*) FROM random_pairs
		  WHERE abs((va <-> vb) - (ea <-> eb)) > 1e-5 * (va <-> vb)
			 OR abs((va <#> vb) - (ea <#> eb)) > 1e-4
			 OR abs((va <=> vb) - (ea <=> eb)) > 1e-5
			 OR va::text <> ea::text OR vector_send(va) <> evector_send(ea)}),
		'0', 'pgvector and engram agree on distances, text and binary forms of 200 random pairs');

	# random text: both parsers accept the same strings and print the same
	is($node->safe_psql(
		'postgres', q{
		DO $$
		DECLARE
			alphabet text := '[],.0123456789eE+- naif' || chr(9);
			input text;
			engram_text text;
			pgvector_text text;
			mismatches int := 0;
		BEGIN
			PERFORM setseed(0.7);
			FOR i IN 1..3000 LOOP
				input := '[' || (SELECT string_agg(substr(alphabet, 1 + floor(random() * length(alphabet))::int, 1), '')
								 FROM generate_series(1, 1 + floor(random() * 10)::int)) || ']';
				BEGIN engram_text := input::evector::text; EXCEPTION WHEN OTHERS THEN engram_text := 'error'; END;
				BEGIN pgvector_text := input::vector::text; EXCEPTION WHEN OTHERS THEN pgvector_text := 'error'; END;
				IF engram_text <> pgvector_text THEN
					mismatches := mismatches + 1;
					RAISE WARNING 'text % gives % (engram) and % (pgvector)', input, engram_text, pgvector_text;
				END IF;
			END LOOP;
			RAISE NOTICE 'mismatches: %', mismatches;
			IF mismatches > 0 THEN RAISE EXCEPTION 'text forms differ'; END IF;
		END $$;
		SELECT 'same'}), 'same', 'engram and pgvector parse 3000 random strings alike');

	# dropping one extension leaves the other working
	$node->safe_psql('postgres', 'DROP TABLE both_types, random_pairs; DROP EXTENSION vector');
	is($node->safe_psql('postgres', q{SELECT '[1,2,3]'::evector <-> '[4,5,6]'}),
		'5.196152422706632', 'engram works after DROP EXTENSION vector');
	$node->safe_psql('engram_first', 'DROP EXTENSION engram');
	is($node->safe_psql('engram_first', q{SELECT '[1,2,3]'::vector <-> '[4,5,6]'}),
		'5.196152422706632', 'pgvector works after DROP EXTENSION engram');
}

$node->stop;
done_testing();
