-- engram_run_maintenance / engram_consolidate on a canonical space table
-- (DESIGN section 3 columns) with a lineage association table, under a
-- pinned clock.  Names that need quoting check identifier handling.
SET engram.pinned_now = '2026-03-01 12:00:00+00';
SET timezone = 'UTC';
CREATE SCHEMA "worker Test";
CREATE TABLE "worker Test"."Memory Space" (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	content text NOT NULL,
	embedding evector(3),
	kind text NOT NULL DEFAULT 'episodic' CHECK (kind IN ('episodic', 'semantic')),
	confidence real NOT NULL DEFAULT 0.9 CHECK (confidence >= 0 AND confidence <= 1),
	occurred_at timestamptz NOT NULL DEFAULT now(),
	location text,
	participants text[],
	tags text[],
	importance real,
	decay_function text,
	metadata jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE "worker Test".links (
	src bigint NOT NULL REFERENCES "worker Test"."Memory Space" (id) ON DELETE CASCADE,
	dst bigint NOT NULL REFERENCES "worker Test"."Memory Space" (id) ON DELETE CASCADE,
	weight real NOT NULL CHECK (weight > 0 AND weight <= 1),
	kind text,
	PRIMARY KEY (src, dst));

-- Ids 1-3: coffee (x), 4-6: rain (y), 7-9: music (z), all an hour old
-- (retention exp(-1/1.96) = 0.6004); 10 alone; 11 two days old; 12 recent
-- but doubtful (0.2).
INSERT INTO "worker Test"."Memory Space" (content, embedding, confidence, occurred_at) VALUES
	('coffee at 8', '[1,0,0]', 0.9, '2026-03-01 11:00+00'),
	('coffee at 9', '[0.9,0.1,0]', 0.9, '2026-03-01 11:00+00'),
	('coffee at 10', '[0.9,0,0.1]', 0.9, '2026-03-01 11:00+00'),
	('rain on monday', '[0,1,0]', 0.8, '2026-03-01 11:00+00'),
	('rain on tuesday', '[0.1,0.9,0]', 0.8, '2026-03-01 11:00+00'),
	('rain on friday', '[0,0.9,0.1]', 0.8, '2026-03-01 11:00+00'),
	('piano', '[0,0,1]', 0.7, '2026-03-01 11:00+00'),
	('violin', '[0.1,0,0.9]', 0.7, '2026-03-01 11:00+00'),
	('drums', '[0,0.1,0.9]', 0.7, '2026-03-01 11:00+00'),
	('a lone thought', '[1,1,0]', 0.9, '2026-03-01 11:00+00'),
	('long ago', '[-1,0,0]', 0.9, '2026-02-27 12:00+00'),
	('maybe', '[0,-1,0]', 0.2, '2026-03-01 11:00+00');
-- Soft forgetting decays a memory like recall does: by its forgetting curve
-- from its last access, here never, so from created_at.  These episodes
-- use the exponential curve and were created when they occurred.
UPDATE "worker Test"."Memory Space" SET decay_function = 'exponential', created_at = occurred_at;

-- One cycle.  Migration and access statistics depend on the table access
-- method (unavailable until it is installed, then done): only their state
-- is shown.
SELECT job, state, detail, memories_consolidated, episodes_linked, episodes_selected
FROM engram_run_maintenance('"worker Test"."Memory Space"', '"worker Test".links')
WHERE job IN ('consolidation', 'soft_forgetting');
SELECT job, state IN ('unavailable', 'done') AS state_ok
FROM engram_run_maintenance('"worker Test"."Memory Space"', '"worker Test".links')
WHERE job NOT IN ('consolidation', 'soft_forgetting') ORDER BY job;

-- Three semantic memories: content of the member closest to the centroid,
-- centroid embedding, confidence = cohesion (0.99728) x mean effective
-- confidence (0.9, 0.8, 0.7 x 0.6004), latest member time, the clock as
-- created_at.
SELECT id, content, embedding, kind, round(confidence::numeric, 4) AS confidence,
	   occurred_at, metadata, created_at
FROM "worker Test"."Memory Space" WHERE kind = 'semantic' ORDER BY id;
SELECT src, dst, round(weight::numeric, 4) AS weight, kind
FROM "worker Test".links ORDER BY src, dst;

-- Nothing left to consolidate: a second pass changes nothing.
SELECT * FROM engram_consolidate('"worker Test"."Memory Space"', '"worker Test".links');

-- The passes locked only the members of the clusters they wrote (and the
-- lineage inserts' foreign keys reference only those): the candidates left
-- alone (10-12) carry no locker, so the hot tier keeps caching them.
SELECT id, content, xmax <> '0' AS locked
FROM "worker Test"."Memory Space" WHERE kind = 'episodic' ORDER BY id;

-- Three more coffee episodes merge into the coffee memory (13): its
-- embedding becomes the mean of all six, three more lineage links.
INSERT INTO "worker Test"."Memory Space" (content, embedding, confidence, occurred_at) VALUES
	('coffee at 11', '[1,0.05,0]', 0.9, '2026-03-01 11:30+00'),
	('coffee at 12', '[1,0,0.05]', 0.9, '2026-03-01 11:30+00'),
	('coffee at 13', '[0.95,0.05,0]', 0.9, '2026-03-01 11:30+00');
UPDATE "worker Test"."Memory Space" SET decay_function = 'exponential', created_at = occurred_at
WHERE occurred_at = '2026-03-01 11:30+00';
SELECT * FROM engram_consolidate('"worker Test"."Memory Space"', '"worker Test".links');
SELECT id, content, embedding, round(confidence::numeric, 4) AS confidence
FROM "worker Test"."Memory Space" WHERE kind = 'semantic' ORDER BY id;
SELECT src, array_agg(dst ORDER BY dst) AS episodes
FROM "worker Test".links GROUP BY src ORDER BY src;

-- Soft forgetting: effective confidence (as recall computes it) under
-- engram.min_confidence_threshold (0.3): 'long ago' (0.9 x floor 0.1) and
-- 'maybe' (0.2 x 0.6004).  Semantic memories are not episodes.  Nothing is
-- deleted or changed (a heap table has no tiers: nothing moves).
SELECT job, detail, episodes_selected
FROM engram_run_maintenance('"worker Test"."Memory Space"', '"worker Test".links')
WHERE job = 'soft_forgetting';
-- At 0.6, the hour-old episodes (0.9 x 0.6004 = 0.54 and below) join them;
-- the half-hour-old coffee episodes (0.9 x 0.7749 = 0.70) do not.
SET engram.min_confidence_threshold = 0.6;
SELECT episodes_selected
FROM engram_run_maintenance('"worker Test"."Memory Space"', '"worker Test".links')
WHERE job = 'soft_forgetting';
RESET engram.min_confidence_threshold;
SELECT count(*) AS rows, count(*) FILTER (WHERE kind = 'semantic') AS semantic
FROM "worker Test"."Memory Space";

-- The caller's privileges apply: reading is not enough to consolidate
-- (three new episodes, one cluster: locking its members needs UPDATE).
INSERT INTO "worker Test"."Memory Space" (content, embedding, confidence, occurred_at) VALUES
	('snow 1', '[0,0,-1]', 0.9, '2026-03-01 11:55+00'),
	('snow 2', '[0,0.05,-1]', 0.9, '2026-03-01 11:55+00'),
	('snow 3', '[0.05,0,-1]', 0.9, '2026-03-01 11:55+00');
CREATE ROLE worker_reader;
GRANT USAGE ON SCHEMA "worker Test" TO worker_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA "worker Test" TO worker_reader;
SET ROLE worker_reader;
SELECT job FROM engram_run_maintenance('"worker Test"."Memory Space"', '"worker Test".links');
RESET ROLE;
DROP OWNED BY worker_reader;
DROP ROLE worker_reader;

-- Nothing is partly written: an association table that rejects the
-- lineage links (weights near 1 fail its CHECK) makes the whole call fail,
-- and the semantic memories inserted before the links are gone too.
CREATE TABLE "worker Test".picky_space (LIKE "worker Test"."Memory Space" INCLUDING ALL);
CREATE TABLE "worker Test".picky_links (src bigint, dst bigint,
	weight real CHECK (weight < 0.5), kind text);
INSERT INTO "worker Test".picky_space (content, embedding, confidence, occurred_at)
SELECT content, embedding, confidence, occurred_at FROM "worker Test"."Memory Space"
WHERE kind = 'episodic' AND content LIKE 'rain%';
SELECT job FROM engram_run_maintenance('"worker Test".picky_space', '"worker Test".picky_links');
SELECT count(*) AS semantic FROM "worker Test".picky_space WHERE kind = 'semantic';
SELECT count(*) AS links FROM "worker Test".picky_links;

-- Bad arguments.
SELECT * FROM engram_run_maintenance(NULL);
SELECT * FROM engram_consolidate(NULL);
SELECT * FROM engram_run_maintenance('"worker Test"."Memory Space"');
SELECT * FROM engram_run_maintenance('"worker Test".links', '"worker Test".links');
SELECT * FROM engram_run_maintenance('"worker Test"."Memory Space"', '"worker Test"."Memory Space"');
CREATE TABLE "worker Test".not_a_space (id bigint, content text, embedding real[], kind text,
	confidence real, occurred_at timestamptz, metadata jsonb);
SELECT * FROM engram_consolidate('"worker Test".not_a_space', '"worker Test".links');
CREATE VIEW "worker Test".a_view AS SELECT 1 AS id;
SELECT * FROM engram_consolidate('"worker Test".a_view', '"worker Test".links');
SELECT * FROM engram_consolidate('"worker Test".no_such_table');

RESET engram.pinned_now;
RESET timezone;
DROP SCHEMA "worker Test" CASCADE;
