-- tam_move_index: a tier move re-indexes the row in engram_hnsw by attaching
-- its new TID to the element of its old TID (src/hnsw/hnsw.h, MOVED ROWS):
-- no new element, the same answers, aborted and repeated moves, VACUUM.

CREATE TABLE tmi (
    id int PRIMARY KEY,
    note text,
    emb evector(8)
) USING engram WITH (fillfactor = 50, autovacuum_enabled = off);  -- VACUUM only where the test says
-- 200 distinct vectors near the origin; rows 201-220 are ten pairs of
-- duplicates far from every query below (so no answer depends on how ties
-- among duplicates are ordered).
INSERT INTO tmi
SELECT g, 'row ' || g,
       array(SELECT sin(g * k * 0.37)::real FROM generate_series(1, 8) k)::evector
  FROM generate_series(1, 200) g;
INSERT INTO tmi
SELECT 200 + g, 'twin ' || g,
       array(SELECT (10 + (g + 1) / 2 + k * 0.1)::real FROM generate_series(1, 8) k)::evector
  FROM generate_series(1, 20) g;
CREATE INDEX tmi_emb_idx ON tmi USING engram_hnsw (emb);
CREATE INDEX tmi_emb_int8_idx ON tmi USING engram_hnsw (emb evector_cosine_ops)
    WITH (quantization = 'int8');

-- The top 10 of five queries, through one index (or a sequential scan).
CREATE FUNCTION tmi_answers(mode text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text := '';
    part text;
BEGIN
    PERFORM set_config('enable_seqscan', (mode = 'seq')::text, true);
    PERFORM set_config('enable_indexscan', (mode <> 'seq')::text, true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    FOR q IN 1..5 LOOP
        IF mode = 'cosine' THEN
            SELECT string_agg(id::text, ',' ORDER BY d, id) INTO part FROM (
                SELECT id, emb <=> array(SELECT cos(q * k * 0.11)::real FROM generate_series(1, 8) k)::evector AS d
                  FROM tmi
                 ORDER BY emb <=> array(SELECT cos(q * k * 0.11)::real FROM generate_series(1, 8) k)::evector
                 LIMIT 10) x;
        ELSE
            SELECT string_agg(id::text, ',' ORDER BY d, id) INTO part FROM (
                SELECT id, emb <-> array(SELECT cos(q * k * 0.11)::real FROM generate_series(1, 8) k)::evector AS d
                  FROM tmi
                 ORDER BY emb <-> array(SELECT cos(q * k * 0.11)::real FROM generate_series(1, 8) k)::evector
                 LIMIT 10) x;
        END IF;
        result := result || part || ';';
    END LOOP;
    RETURN md5(result);
END;
$$;

-- What the L2 index holds: heap TIDs, elements, and rows whose current TID
-- it does not hold (a HOT-updated row is reached through its chain's root).
CREATE VIEW tmi_index AS
SELECT count(*) FILTER (WHERE NOT deleted) AS tids,
       count(DISTINCT element) FILTER (WHERE NOT deleted) AS elements,
       (SELECT count(*) FROM tmi WHERE ctid NOT IN
           (SELECT heap_tid FROM engram_hnsw_index_tids('tmi_emb_idx') WHERE NOT deleted)) AS missing
  FROM engram_hnsw_index_tids('tmi_emb_idx');

-- Every row found by an index scan for its own vector (among its twins).
CREATE FUNCTION tmi_self_found() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    SELECT count(*) INTO n FROM tmi r
     WHERE r.id IN (SELECT id FROM tmi ORDER BY emb <-> r.emb LIMIT 3);
    RETURN n;
END;
$$;

CREATE TABLE tmi_expected AS
SELECT tmi_answers('seq') AS l2, tmi_answers('cosine') AS cosine;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_answers('cosine') = cosine AS cosine_same
  FROM tmi_expected;
SELECT * FROM tmi_index;
SELECT pg_relation_size('tmi_emb_idx') AS l2_size, pg_relation_size('tmi_emb_int8_idx') AS int8_size
  INTO TEMP tmi_sizes;

-- 1. Every row to cold: each element gets the stub's TID as its second TID.
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'cold') FROM tmi;
SELECT engram_row_tier('tmi', ctid) AS tier, count(*) FROM tmi GROUP BY 1;
SELECT * FROM tmi_index;
SELECT pg_relation_size('tmi_emb_idx') = l2_size AS l2_same_size,
       pg_relation_size('tmi_emb_int8_idx') = int8_size AS int8_same_size
  FROM tmi_sizes;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_answers('cosine') = cosine AS cosine_same,
       tmi_answers('seq') = l2 AS seq_same
  FROM tmi_expected;
SELECT tmi_self_found();
SELECT * FROM engram_hnsw_verify('tmi_emb_idx');
SELECT * FROM engram_hnsw_verify('tmi_emb_int8_idx');

-- 2. VACUUM drops the old TIDs and keeps the new ones in the first slot.
VACUUM tmi;
SELECT * FROM tmi_index;
SELECT count(*) AS elements_with_two_tids
  FROM (SELECT element FROM engram_hnsw_index_tids('tmi_emb_idx') GROUP BY element
        HAVING count(*) > 1) x;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_answers('cosine') = cosine AS cosine_same
  FROM tmi_expected;

-- 3. An aborted move back to warm leaves the cold TIDs indexed; VACUUM
--    clears the aborted second TIDs.
BEGIN;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'warm') FROM tmi;
SELECT * FROM tmi_index;
ROLLBACK;
SELECT engram_row_tier('tmi', ctid) AS tier, count(*) FROM tmi GROUP BY 1;
SELECT * FROM tmi_index;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_self_found() FROM tmi_expected;
-- A retry before VACUUM takes the second slot from the aborted TID.
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'warm') FROM tmi WHERE id <= 30;
SELECT * FROM tmi_index;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_self_found() FROM tmi_expected;
VACUUM tmi;
SELECT * FROM tmi_index;
SELECT * FROM engram_hnsw_verify('tmi_emb_idx');

-- 4. Two moves before VACUUM.  In one transaction the version before last
--    is still live to others: the second move inserts new elements (the
--    usual path).  In two transactions that version is dead to every
--    snapshot: the second move prunes its heap page and reuses its slot.
BEGIN;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'warm') FROM tmi WHERE id BETWEEN 31 AND 40;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'cold') FROM tmi WHERE id BETWEEN 31 AND 40;
COMMIT;
SELECT * FROM tmi_index;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'warm') FROM tmi WHERE id BETWEEN 41 AND 110;
SELECT * FROM tmi_index;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'cold') FROM tmi WHERE id BETWEEN 41 AND 50;
SELECT * FROM tmi_index;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_answers('cosine') = cosine AS cosine_same,
       tmi_self_found()
  FROM tmi_expected;
VACUUM tmi;
SELECT * FROM tmi_index;
SELECT count(*) FILTER (WHERE deleted) = 0 AS deleted_freed FROM engram_hnsw_index_tids('tmi_emb_idx');
SELECT * FROM engram_hnsw_verify('tmi_emb_idx');
SELECT * FROM engram_hnsw_verify('tmi_emb_int8_idx');
SELECT tmi_answers('index') = l2 AS l2_same, tmi_answers('cosine') = cosine AS cosine_same,
       tmi_self_found()
  FROM tmi_expected;

-- 5. A twin moves: its new TID goes to its own element, not its twin's.
SELECT e.element AS before INTO TEMP tmi_twin
  FROM tmi t JOIN engram_hnsw_index_tids('tmi_emb_idx') e ON e.heap_tid = t.ctid
 WHERE t.id = 204;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'warm') FROM tmi WHERE id = 204;
SELECT (SELECT e.element FROM tmi t JOIN engram_hnsw_index_tids('tmi_emb_idx') e
           ON e.heap_tid = t.ctid WHERE t.id = 204) = before AS same_element,
       (SELECT count(*) FROM engram_hnsw_index_tids('tmi_emb_idx') e WHERE e.element = before) AS tids
  FROM tmi_twin;

-- 6. A row updated in place (HOT: only "note" changes) moves: the index
--    entry is the chain's root, and the move still attaches to it.
VACUUM tmi;
UPDATE tmi SET note = note || ' (edited)' WHERE id BETWEEN 60 AND 69;
SELECT count(*) AS heap_only FROM tmi
 WHERE id BETWEEN 60 AND 69
   AND ctid NOT IN (SELECT heap_tid FROM engram_hnsw_index_tids('tmi_emb_idx'));
SELECT * FROM tmi_index;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'cold') FROM tmi WHERE id BETWEEN 60 AND 69;
SELECT * FROM tmi_index;
SELECT tmi_self_found();

-- 7. With engram.hnsw_move_retarget off a move inserts new elements.
VACUUM tmi;
SET engram.hnsw_move_retarget = off;
SELECT engram_move_to_tier('tmi', array_agg(ctid), 'cold') FROM tmi WHERE id BETWEEN 51 AND 59;
SELECT * FROM tmi_index;
RESET engram.hnsw_move_retarget;
VACUUM tmi;
SELECT * FROM tmi_index;
SELECT tmi_answers('index') = l2 AS l2_same, tmi_answers('cosine') = cosine AS cosine_same,
       tmi_self_found()
  FROM tmi_expected;
SELECT * FROM engram_hnsw_verify('tmi_emb_idx');

DROP TABLE tmi, tmi_expected, tmi_sizes, tmi_twin CASCADE;
DROP FUNCTION tmi_answers(text), tmi_self_found();
