-- engram_hnsw: HNSW index access method over evector (src/hnsw/).

CREATE FUNCTION engram_hnsw_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME', 'engram_hnsw_handler' LANGUAGE C;

CREATE ACCESS METHOD engram_hnsw TYPE INDEX HANDLER engram_hnsw_handler;
COMMENT ON ACCESS METHOD engram_hnsw IS 'HNSW approximate nearest-neighbour index for evector';

-- Support procedure 1 of each operator class names its metric.
CREATE FUNCTION engram_hnsw_metric_l2(internal) RETURNS int4
	AS 'MODULE_PATHNAME', 'engram_hnsw_metric_l2' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION engram_hnsw_metric_inner_product(internal) RETURNS int4
	AS 'MODULE_PATHNAME', 'engram_hnsw_metric_inner_product' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION engram_hnsw_metric_cosine(internal) RETURNS int4
	AS 'MODULE_PATHNAME', 'engram_hnsw_metric_cosine' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE OPERATOR CLASS evector_l2_ops
	DEFAULT FOR TYPE evector USING engram_hnsw AS
	OPERATOR 1 <-> (evector, evector) FOR ORDER BY float_ops,
	FUNCTION 1 engram_hnsw_metric_l2(internal);

CREATE OPERATOR CLASS evector_ip_ops
	FOR TYPE evector USING engram_hnsw AS
	OPERATOR 1 <#> (evector, evector) FOR ORDER BY float_ops,
	FUNCTION 1 engram_hnsw_metric_inner_product(internal);

CREATE OPERATOR CLASS evector_cosine_ops
	FOR TYPE evector USING engram_hnsw AS
	OPERATOR 1 <=> (evector, evector) FOR ORDER BY float_ops,
	FUNCTION 1 engram_hnsw_metric_cosine(internal);

-- Structural check of an index: one row per problem, none when healthy.
CREATE FUNCTION engram_hnsw_verify(index regclass)
	RETURNS TABLE (severity text, problem text, blkno bigint, offnum integer, detail text)
	AS 'MODULE_PATHNAME', 'engram_hnsw_verify' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION engram_hnsw_verify(regclass) FROM PUBLIC;
COMMENT ON FUNCTION engram_hnsw_verify(regclass) IS
	'Walk an engram_hnsw index and report structural damage (no rows: healthy)';

-- Every heap TID of every element of an index (two for an element that holds
-- both versions of a moved row), with the element's deleted flag and location.
CREATE FUNCTION engram_hnsw_index_tids(index regclass)
	RETURNS TABLE (heap_tid tid, deleted boolean, element tid)
	AS 'MODULE_PATHNAME', 'engram_hnsw_index_tids' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION engram_hnsw_index_tids(regclass) FROM PUBLIC;
COMMENT ON FUNCTION engram_hnsw_index_tids(regclass) IS
	'Heap TIDs held by the elements of an engram_hnsw index';

-- How the elements of an index lie on its pages: the share of layer-0 links
-- that stay on their element's page says how much the layout helps searches.
CREATE FUNCTION engram_hnsw_layout_stats(index regclass,
	OUT element_pages bigint, OUT elements bigint, OUT layer0_links bigint,
	OUT same_page_links bigint, OUT free_bytes bigint)
	AS 'MODULE_PATHNAME', 'engram_hnsw_layout_stats' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION engram_hnsw_layout_stats(regclass) FROM PUBLIC;
COMMENT ON FUNCTION engram_hnsw_layout_stats(regclass) IS
	'Element pages, live elements, their layer-0 links, the links to the same page and free bytes of an engram_hnsw index';

-- The pending list of an index with deferred_insert = on (hnsw.md).
CREATE FUNCTION engram_hnsw_flush_pending(index regclass)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'engram_hnsw_flush_pending' LANGUAGE C STRICT;
COMMENT ON FUNCTION engram_hnsw_flush_pending(regclass) IS
	'Merge the pending list of an engram_hnsw index into its graph; returns the entries merged (index owner only)';

CREATE FUNCTION engram_hnsw_pending_stats(index regclass,
	OUT entries bigint, OUT pages bigint)
	AS 'MODULE_PATHNAME', 'engram_hnsw_pending_stats' LANGUAGE C STRICT;
COMMENT ON FUNCTION engram_hnsw_pending_stats(regclass) IS
	'Entries and pages on the pending list of an engram_hnsw index';
