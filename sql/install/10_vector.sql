
-- ---------------------------------------------------------------------------
-- 10_vector.sql: the evector type (src/vector/).
--
-- Named evector so that it lives beside pgvector's "vector" in one database.
-- Functions that share a name with pgvector's (l2_distance, vector_dims, ...)
-- are overloads on evector only; every C symbol starts with engram_.
-- ---------------------------------------------------------------------------

CREATE TYPE evector;

CREATE FUNCTION evector_in(cstring, oid, integer) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_out(evector) RETURNS cstring
	AS 'MODULE_PATHNAME', 'engram_evector_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_typmod_in(cstring[]) RETURNS integer
	AS 'MODULE_PATHNAME', 'engram_evector_typmod_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_typmod_out(integer) RETURNS cstring
	AS 'MODULE_PATHNAME', 'engram_evector_typmod_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_recv(internal, oid, integer) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_send(evector) RETURNS bytea
	AS 'MODULE_PATHNAME', 'engram_evector_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- STORAGE main: a vector stays uncompressed in its row, and moves to TOAST
-- only when the row would not fit a page (more than about 2,000
-- dimensions).  A query ORDER BY v <-> q LIMIT k evaluates the operator
-- again on each row it returns, which reads a vector in TOAST through the
-- TOAST index and two chunks at 768 dimensions (3 kB); an insert writes
-- those chunks, a TOAST index entry and their WAL.  ("external", the
-- default before and pgvector's, moves every vector over the TOAST target,
-- about 2 kB or 500 dimensions, out of line.)  What main costs: a row over
-- the table's toast_tuple_target (about 2 kB by default, so every row with
-- a 768-dimension vector) makes the toaster first compress and move out
-- of line the row's other varlena values longer than a TOAST pointer, then
-- try pglz on the vector, which float data defeats; and a sequential scan
-- reads the vectors' pages whatever columns it needs.  A table created
-- WITH (toast_tuple_target = 8160) keeps its rows whole without those
-- attempts (memory spaces do); SET STORAGE external on a column restores
-- the former layout.  docs/reference/evector.md has the measurements.
CREATE TYPE evector (
	INPUT = evector_in,
	OUTPUT = evector_out,
	TYPMOD_IN = evector_typmod_in,
	TYPMOD_OUT = evector_typmod_out,
	RECEIVE = evector_recv,
	SEND = evector_send,
	STORAGE = main
);

COMMENT ON TYPE evector IS 'Engram embedding: float4 vector, typmod = number of dimensions (1..16000)';

-- Length coercion: evector(n) checks the dimension count, never pads or cuts.
CREATE FUNCTION evector(evector, integer, boolean) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_coerce'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (evector AS evector)
	WITH FUNCTION evector(evector, integer, boolean) AS IMPLICIT;

-- Casts from arrays are assignment casts: INSERT, UPDATE and COPY take
-- arrays (as drivers send them) directly; expressions and function
-- arguments need an explicit ::evector.  They cannot be implicit: an
-- implicit integer[] -> evector cast makes "integer[] = integer[]" ambiguous
-- between array equality and evector equality (and likewise for every
-- other array type).  The cast to real[] is implicit, as in pgvector, so
-- array functions such as unnest() and array_length() take an evector.
CREATE FUNCTION array_to_evector(real[], integer, boolean) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_array_to_evector'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION array_to_evector(double precision[], integer, boolean) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_array_to_evector'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION array_to_evector(numeric[], integer, boolean) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_array_to_evector'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION array_to_evector(integer[], integer, boolean) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_array_to_evector'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_to_float4(evector, integer, boolean) RETURNS real[]
	AS 'MODULE_PATHNAME', 'engram_evector_to_float4_array'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (real[] AS evector)
	WITH FUNCTION array_to_evector(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS evector)
	WITH FUNCTION array_to_evector(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS evector)
	WITH FUNCTION array_to_evector(numeric[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS evector)
	WITH FUNCTION array_to_evector(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (evector AS real[])
	WITH FUNCTION evector_to_float4(evector, integer, boolean) AS IMPLICIT;

-- Distances and other functions.  Distance operators must stay C functions:
-- an SQL-language body would be inlined and hide the operator from indexes.
CREATE FUNCTION l2_distance(evector, evector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_evector_l2_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_l2_squared_distance(evector, evector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_evector_l2_squared_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION inner_product(evector, evector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_evector_inner_product'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION negative_inner_product(evector, evector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_evector_negative_inner_product'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- NaN when either vector is all zeros (the angle is undefined); NaN sorts last.
CREATE FUNCTION cosine_distance(evector, evector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_evector_cosine_distance'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION vector_dims(evector) RETURNS integer
	AS 'MODULE_PATHNAME', 'engram_evector_dims'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION vector_norm(evector) RETURNS double precision
	AS 'MODULE_PATHNAME', 'engram_evector_norm'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Unit vector in the same direction; the zero vector is returned unchanged.
-- (No function named "normalize": the SQL grammar turns normalize(x) into
-- pg_catalog.normalize, the Unicode normalisation of text.)
CREATE FUNCTION l2_normalize(evector) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_l2_normalize'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR <-> (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = l2_distance,
	COMMUTATOR = '<->'
);

CREATE OPERATOR <=> (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = cosine_distance,
	COMMUTATOR = '<=>'
);

CREATE OPERATOR <#> (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = negative_inner_product,
	COMMUTATOR = '<#>'
);

-- Elementwise arithmetic.
CREATE FUNCTION evector_add(evector, evector) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_add'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_subtract(evector, evector) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_subtract'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_multiply(evector, evector) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_multiply'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR + (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_add,
	COMMUTATOR = +
);

CREATE OPERATOR - (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_subtract
);

CREATE OPERATOR * (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_multiply,
	COMMUTATOR = *
);

-- Comparison, btree and hash operator classes.
CREATE FUNCTION evector_cmp(evector, evector) RETURNS integer
	AS 'MODULE_PATHNAME', 'engram_evector_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_eq(evector, evector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_evector_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_ne(evector, evector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_evector_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_lt(evector, evector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_evector_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_le(evector, evector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_evector_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_gt(evector, evector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_evector_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_ge(evector, evector) RETURNS boolean
	AS 'MODULE_PATHNAME', 'engram_evector_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_hash(evector) RETURNS integer
	AS 'MODULE_PATHNAME', 'engram_evector_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_hash_extended(evector, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'engram_evector_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR = (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);

CREATE OPERATOR <> (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);

CREATE OPERATOR < (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);

CREATE OPERATOR <= (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);

CREATE OPERATOR > (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);

CREATE OPERATOR >= (
	LEFTARG = evector, RIGHTARG = evector, FUNCTION = evector_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS evector_ops
	DEFAULT FOR TYPE evector USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 evector_cmp(evector, evector);

CREATE OPERATOR CLASS evector_ops
	DEFAULT FOR TYPE evector USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 evector_hash(evector),
	FUNCTION 2 evector_hash_extended(evector, bigint);

-- Aggregates: elementwise sum and mean (the centroid used by consolidation).
-- State: float8[] {row count, sums...}; see src/vector/vector_aggregate.c.
CREATE FUNCTION evector_accumulate(double precision[], evector) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'engram_evector_accumulate'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_combine(double precision[], double precision[]) RETURNS double precision[]
	AS 'MODULE_PATHNAME', 'engram_evector_combine'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_sum_final(double precision[]) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_sum_final'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION evector_avg_final(double precision[]) RETURNS evector
	AS 'MODULE_PATHNAME', 'engram_evector_avg_final'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE sum(evector) (
	SFUNC = evector_accumulate,
	STYPE = double precision[],
	FINALFUNC = evector_sum_final,
	COMBINEFUNC = evector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);

CREATE AGGREGATE avg(evector) (
	SFUNC = evector_accumulate,
	STYPE = double precision[],
	FINALFUNC = evector_avg_final,
	COMBINEFUNC = evector_combine,
	INITCOND = '{0}',
	PARALLEL = SAFE
);
