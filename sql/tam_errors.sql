-- tam_errors: damaged segments are reported as data corruption, never
-- read as wrong rows; bad arguments are refused with a clear error.

CREATE TABLE tam_damaged (id int PRIMARY KEY, body text, emb real[]) USING engram;
INSERT INTO tam_damaged
SELECT g, 'row ' || g, array(SELECT (g + k)::real FROM generate_series(1, 16) k)
  FROM generate_series(1, 50) g;
SELECT engram_move_to_tier('tam_damaged', (SELECT array_agg(ctid) FROM tam_damaged WHERE id <= 25), 'cold');

-- Flip one byte in the middle of the compressed data.
UPDATE engram.cold_segments
   SET data = set_byte(data, length(data) / 2, get_byte(data, length(data) / 2) # 255)
 WHERE relid = 'tam_damaged'::regclass;
-- A new session: no decoded copy of the segment is cached.
\c
\set VERBOSITY sqlstate
SELECT count(*) FROM tam_damaged;
SELECT body FROM tam_damaged WHERE id = 3;
\set VERBOSITY default
SELECT count(*) FROM tam_damaged WHERE id > 25;

-- A stored checksum that does not match.
\c
UPDATE engram.cold_segments SET data = set_byte(data, length(data) / 2, get_byte(data, length(data) / 2) # 255),
       checksum = checksum + 1
 WHERE relid = 'tam_damaged'::regclass;
\set VERBOSITY sqlstate
SELECT body FROM tam_damaged WHERE id = 3;
\set VERBOSITY default
-- A segment that is missing altogether.
\c
DELETE FROM engram.cold_segments WHERE relid = 'tam_damaged'::regclass;
\set VERBOSITY sqlstate
SELECT body FROM tam_damaged WHERE id = 3;
\set VERBOSITY default
DROP TABLE tam_damaged;

-- Arguments.
CREATE TABLE tam_plain (id int);
CREATE TABLE tam_args (id int) USING engram;
SELECT engram_move_to_tier('tam_plain', '{}', 'cold');
SELECT engram_move_to_tier('tam_args', '{}', 'lukewarm');
SELECT engram_move_to_tier('tam_args', '{"(0,1)","(999,1)",NULL}', 'cold');
SELECT engram_row_tier('tam_args', '(0,1)');
SELECT engram_tier_stats_for('tam_plain');
-- A published table may have cold rows, except with REPLICA IDENTITY FULL
-- (the old row of an update or delete would be the stub): the move is
-- refused, and so is the ALTER TABLE that would leave cold rows so.
INSERT INTO tam_args VALUES (1);
SET client_min_messages = error;
CREATE PUBLICATION tam_pub FOR TABLE tam_args;
RESET client_min_messages;
ALTER TABLE tam_args REPLICA IDENTITY FULL;
SELECT engram_move_to_tier('tam_args', (SELECT array_agg(ctid) FROM tam_args), 'cold');
ALTER TABLE tam_args REPLICA IDENTITY DEFAULT;
SELECT engram_move_to_tier('tam_args', (SELECT array_agg(ctid) FROM tam_args), 'cold');
ALTER TABLE tam_args REPLICA IDENTITY FULL;
DROP PUBLICATION tam_pub;
-- ATTACH PARTITION names the partitioned table: a partition with cold rows
-- attached under a publication is checked like a table added to it.
ALTER TABLE tam_args REPLICA IDENTITY FULL;
CREATE TABLE tam_parted (id int) PARTITION BY RANGE (id);
SET client_min_messages = error;
CREATE PUBLICATION tam_pub FOR TABLE tam_parted;
RESET client_min_messages;
ALTER TABLE tam_parted ATTACH PARTITION tam_args FOR VALUES FROM (0) TO (100);
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'tam_parted'::regclass;
ALTER TABLE tam_args REPLICA IDENTITY DEFAULT;
ALTER TABLE tam_parted ATTACH PARTITION tam_args FOR VALUES FROM (0) TO (100);
ALTER TABLE tam_parted DETACH PARTITION tam_args;
DROP PUBLICATION tam_pub;
DROP TABLE tam_parted;
-- Privileges: moving needs UPDATE on the table.
CREATE ROLE tam_reader;
GRANT SELECT ON tam_args TO tam_reader;
SET ROLE tam_reader;
SELECT count(*) FROM tam_args;
SELECT engram_move_to_tier('tam_args', (SELECT array_agg(ctid) FROM tam_args), 'warm');
RESET ROLE;
REVOKE ALL ON tam_args FROM tam_reader;
DROP ROLE tam_reader;
-- The compression level is a user setting with bounds.
SET engram.cold_tier_compression_level = 30;
SET engram.cold_tier_compression_level = 19;
SELECT engram_move_to_tier('tam_args', (SELECT array_agg(ctid) FROM tam_args), 'warm');
SELECT engram_move_to_tier('tam_args', (SELECT array_agg(ctid) FROM tam_args), 'cold');
SELECT id FROM tam_args;
RESET engram.cold_tier_compression_level;
DROP TABLE tam_plain, tam_args;

-- A role without any privilege on the segment store uses every tier of its
-- own engram table; the store itself stays closed to it.
CREATE ROLE tam_owner;
GRANT CREATE ON SCHEMA public TO tam_owner;
SET ROLE tam_owner;
CREATE TABLE tam_owned (id int PRIMARY KEY, body text) USING engram;
INSERT INTO tam_owned SELECT g, 'owned ' || g FROM generate_series(1, 30) g;
SELECT engram_move_to_tier('tam_owned', (SELECT array_agg(ctid) FROM tam_owned WHERE id > 10), 'cold');
SELECT tier, rows FROM engram_tier_stats_for('tam_owned') WHERE tier <> 'hot' ORDER BY tier;
SELECT count(*), min(body), max(body) FROM tam_owned;
DELETE FROM tam_owned WHERE id > 25;
VACUUM tam_owned;
SELECT * FROM engram_cold_vacuum('tam_owned');
SELECT count(*) FROM engram.cold_segments;
TRUNCATE tam_owned;
INSERT INTO tam_owned VALUES (1, 'again');
SELECT engram_move_to_tier('tam_owned', (SELECT array_agg(ctid) FROM tam_owned), 'cold');
DROP TABLE tam_owned;
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM tam_owner;
DROP ROLE tam_owner;
