-- 30_tam.sql: the engram table access method, its cold-segment store, tier
-- moves and the statistics of the hot, warm and cold tiers.

CREATE SCHEMA IF NOT EXISTS engram;

CREATE FUNCTION engram_tam_handler(internal) RETURNS table_am_handler
    AS 'MODULE_PATHNAME', 'engram_tam_handler' LANGUAGE C STRICT;

CREATE ACCESS METHOD engram TYPE TABLE HANDLER engram_tam_handler;
COMMENT ON ACCESS METHOD engram IS
    'heap-compatible table access method with hot (shared memory), warm (heap pages) and cold (zstd segments) tiers';

-- Cold-tier segments: one row per zstd-compressed, checksummed pack of rows.
-- Written and read only by the engram access method; heap gives it WAL,
-- MVCC and replication.  Its contents are not dumped: pg_dump dumps the
-- rows of engram tables themselves, decoded.
CREATE SEQUENCE engram.cold_segment_id_seq;
CREATE TABLE engram.cold_segments (
    segment_id       bigint PRIMARY KEY,
    relid            oid NOT NULL,
    nrows            integer NOT NULL,
    row_bytes        integer NOT NULL,  -- the rows' own bytes (headers + data)
    raw_bytes        integer NOT NULL,
    compressed_bytes integer NOT NULL,
    checksum         bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    data             bytea NOT NULL
);
-- Already compressed: no second compression attempt, out of line when large.
ALTER TABLE engram.cold_segments ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX cold_segments_relid_idx ON engram.cold_segments (relid);
REVOKE ALL ON engram.cold_segments FROM PUBLIC;
-- A publication FOR ALL TABLES publishes the segment store too; logical
-- replication workers of a subscriber skip those changes (its store holds
-- its own segments; cold rows arrive decoded, as ordinary row changes).
-- Enabled for replica sessions only, which logical replication workers are.
CREATE FUNCTION engram.ignore_replicated_segments() RETURNS trigger
    AS 'MODULE_PATHNAME', 'engram_ignore_replicated_segments' LANGUAGE C;
CREATE TRIGGER ignore_replicated_segments
    BEFORE INSERT OR UPDATE OR DELETE ON engram.cold_segments
    FOR EACH ROW EXECUTE FUNCTION engram.ignore_replicated_segments();
ALTER TABLE engram.cold_segments ENABLE REPLICA TRIGGER ignore_replicated_segments;

-- Segments of a dropped table go with it.
-- SECURITY DEFINER: any role may drop its own engram table, while the
-- segment store stays private to the extension's owner.
CREATE FUNCTION engram.drop_cold_segments_of_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM engram.cold_segments s
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0 AND s.relid = d.objid;
END;
$$;
CREATE EVENT TRIGGER engram_drop_cold_segments ON sql_drop
    EXECUTE FUNCTION engram.drop_cold_segments_of_dropped_tables();

-- ALTER TABLE rewrites a table through the engram scan (cold rows are read
-- decoded) and writes every row warm, after which the old file's stubs and
-- so its segments are unreachable.  At the end of every ALTER TABLE:
--  - an altered table that is no longer an engram table (SET ACCESS
--    METHOD) loses all its segments;
--  - an engram table that has segments and whose file was replaced in this
--    transaction loses the segments no stub names (the collection VACUUM
--    does; engram.collect_rewritten_cold_segments does nothing for a table
--    that was not rewritten, so RENAME and the like never scan it).
-- Same transaction as the ALTER, so everything comes back if it rolls back.
CREATE FUNCTION engram.collect_rewritten_cold_segments(rel oid) RETURNS bigint
    AS 'MODULE_PATHNAME', 'engram_collect_rewritten_cold_segments' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION engram.collect_rewritten_cold_segments(oid) FROM PUBLIC;
-- ALTER TABLE of a published engram table with cold rows (a new replica
-- identity, say) must leave every stub holding the replica identity key:
-- checked at the end of the command (see "Logical replication" in
-- docs/reference/tam.md).
CREATE FUNCTION engram.check_cold_rows_publishable(oid) RETURNS void
    AS 'MODULE_PATHNAME', 'engram_check_cold_rows_publishable' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION engram.check_cold_rows_publishable(oid) FROM PUBLIC;
CREATE FUNCTION engram.drop_cold_segments_of_converted_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM engram.cold_segments s
     USING pg_event_trigger_ddl_commands() d
      JOIN pg_class c ON c.oid = d.objid
      LEFT JOIN pg_am a ON a.oid = c.relam
     WHERE d.classid = 'pg_class'::regclass AND s.relid = c.oid
       AND a.amname IS DISTINCT FROM 'engram';
    PERFORM engram.collect_rewritten_cold_segments(c.oid),
            engram.check_cold_rows_publishable(c.oid)
       FROM (SELECT DISTINCT d.objid FROM pg_event_trigger_ddl_commands() d
              WHERE d.classid = 'pg_class'::regclass) d
       JOIN pg_class c ON c.oid = d.objid
       JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram'
      WHERE EXISTS (SELECT 1 FROM engram.cold_segments s WHERE s.relid = c.oid);
    -- ATTACH PARTITION names the partitioned table: a partition attached
    -- under a publication is published too, so check the engram leaves.
    PERFORM engram.check_cold_rows_publishable(t.relid)
       FROM (SELECT DISTINCT d.objid FROM pg_event_trigger_ddl_commands() d
              WHERE d.classid = 'pg_class'::regclass) d
       JOIN pg_class p ON p.oid = d.objid AND p.relkind = 'p',
            LATERAL pg_partition_tree(d.objid) t
       JOIN pg_class c ON c.oid = t.relid
       JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram'
      WHERE EXISTS (SELECT 1 FROM engram.cold_segments s WHERE s.relid = t.relid);
END;
$$;
CREATE EVENT TRIGGER engram_convert_cold_segments ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION engram.drop_cold_segments_of_converted_tables();

-- Publishing an engram table that has cold rows is refused when logical
-- decoding would publish wrong rows for them (engram_tam_logical.c).
CREATE FUNCTION engram.refuse_publishing_cold_rows() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'engram_refuse_publishing_cold_rows' LANGUAGE C;
CREATE EVENT TRIGGER engram_publication_cold_rows ON ddl_command_end
    WHEN TAG IN ('CREATE PUBLICATION', 'ALTER PUBLICATION')
    EXECUTE FUNCTION engram.refuse_publishing_cold_rows();

CREATE FUNCTION engram_move_to_tier(rel regclass, tids tid[], tier text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'engram_move_to_tier' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION engram_move_to_tier(regclass, tid[], text) IS
    'moves the rows at the given TIDs to the hot, warm or cold tier; returns the number moved';

CREATE FUNCTION engram_row_tier(rel regclass, row_tid tid) RETURNS text
    AS 'MODULE_PATHNAME', 'engram_row_tier' LANGUAGE C STRICT STABLE;

CREATE FUNCTION engram_cold_vacuum(rel regclass, repack_below real DEFAULT 0.5,
    OUT segments_dropped bigint, OUT rows_repacked bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'engram_cold_vacuum' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION engram_cold_vacuum(regclass, real) IS
    'drops cold segments no row uses and rewrites the rows of segments less than repack_below full into new ones';

CREATE FUNCTION engram_tier_stats_for(rel regclass,
    OUT tier text, OUT rows bigint, OUT bytes bigint, OUT compressed_bytes bigint,
    OUT hits bigint, OUT misses bigint, OUT evictions bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'engram_tier_stats_for' LANGUAGE C STRICT VOLATILE;

CREATE VIEW engram_tier_stats AS
SELECT c.oid::regclass AS relation, s.tier, s.rows, s.bytes, s.compressed_bytes,
       s.hits, s.misses, s.evictions
  FROM pg_class c
  JOIN pg_am a ON a.oid = c.relam AND a.amname = 'engram'
 CROSS JOIN LATERAL engram_tier_stats_for(c.oid) s
 WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT');

CREATE FUNCTION engram_hot_tier_info(
    OUT size_bytes bigint, OUT shards integer, OUT entries bigint, OUT used_bytes bigint,
    OUT numa_policy text, OUT numa_node integer, OUT numa_nodes integer,
    OUT hits bigint, OUT misses bigint, OUT evictions bigint, OUT fills bigint,
    OUT invalidations bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'engram_hot_tier_info' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_hot_tier_cached_copies(
    OUT entries bigint, OUT used_bytes bigint, OUT fills bigint, OUT evictions bigint,
    OUT promotions bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'engram_hot_tier_cached_copies' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_relay_state_info(
    OUT size_bytes bigint, OUT entries bigint, OUT hits bigint, OUT misses bigint,
    OUT fills bigint, OUT evictions bigint, OUT invalidations bigint)
    RETURNS record
    AS 'MODULE_PATHNAME', 'engram_relay_state_info' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_hot_tier_contains(rel regclass, row_tid tid) RETURNS boolean
    AS 'MODULE_PATHNAME', 'engram_hot_tier_contains' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_hot_tier_entry(rel regclass, row_tid tid) RETURNS text
    AS 'MODULE_PATHNAME', 'engram_hot_tier_entry' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_row_access_stats(rel regclass,
    OUT ctid tid, OUT access_count bigint, OUT recent_accesses double precision,
    OUT first_access timestamptz, OUT last_access timestamptz, OUT written_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'engram_row_access_stats' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_access_record(rel regclass, row_tid tid) RETURNS void
    AS 'MODULE_PATHNAME', 'engram_access_record_sql' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION engram_access_stats_save() RETURNS bigint
    AS 'MODULE_PATHNAME', 'engram_access_stats_save_sql' LANGUAGE C STRICT VOLATILE;
