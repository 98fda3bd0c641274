-- Spreading groups the associations of one depth by target (dst): the
-- association reader returns them in walk order (by src) and sorts them by
-- dst, one radix pass per byte of the ids' range; and it looks the targets
-- up in the node table behind a bit filter of the ids entered.  Here the
-- ids 300 and 556 share their low byte (0x2c) and 556 is read between the
-- two associations that reach 300, so a sort that left out a byte would
-- split 300's contributions into two visits; and a revisit of a memory
-- already reached (under the threshold for a new one) is counted only if
-- its node is found.  Each activation is checked against its formula
-- (DESIGN section 4), c = a(u) x w x exp(-0.7 x depth), through the walk
-- and through SQL (a role under row-level security, whose statements
-- spreading runs), which must agree.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.spreading_time_budget = 0;

SELECT engram_create_space('edgeorder', 2, 'cosine', 'none') IS NOT NULL AS created;
SELECT count(*) AS stored
  FROM engram_store_batch('edgeorder',
         ARRAY(SELECT 'memory ' || i FROM generate_series(1, 600) i ORDER BY i),
         ARRAY(SELECT format('[%s,%s]', cos(i), sin(i))::evector
                 FROM generate_series(1, 600) i ORDER BY i));
SELECT min(id) = 1 AND max(id) = 600 AS ids_1_to_600 FROM edgeorder;
-- From 1 (activation 1): depth 1 reaches 2 and 3 with a = exp(-0.7).
-- Depth 2 (the last): 2 -> 300 (0.5), 2 -> 556 (0.6), 3 -> 300 (0.9), and
-- 3 -> 2 (0.3: c = 0.0367, under the depth's threshold 0.05, so it counts
-- only as a revisit of 2, already reached).
INSERT INTO edgeorder_associations (src, dst, weight) VALUES
  (1, 2, 1.0), (1, 3, 1.0), (2, 300, 0.5), (2, 556, 0.6), (3, 300, 0.9), (3, 2, 0.3);

-- (Weights are real: w(x) is the stored weight.)
CREATE FUNCTION pg_temp.w(float8) RETURNS float8 LANGUAGE sql AS 'SELECT $1::real::float8';
CREATE TEMP TABLE expected_activation AS
SELECT id, activation
  FROM (VALUES
    -- the largest contribution in full, the other x revisit penalty 0.93
    (300::bigint, exp(-0.7) * pg_temp.w(0.9) * exp(-1.4)
                  + 0.93 * exp(-0.7) * pg_temp.w(0.5) * exp(-1.4)),
    (556, exp(-0.7) * pg_temp.w(0.6) * exp(-1.4)),
    (2, exp(-0.7) + 0.93 * exp(-0.7) * pg_temp.w(0.3) * exp(-1.4)),
    (3, exp(-0.7)),
    (1, 1.0)) e(id, activation);

-- Through the walk (the superuser reads the indexes).
SELECT s.id, s.hops, abs(s.activation - e.activation) < 1e-9 AS activation_as_expected
  FROM engram_spread('edgeorder', 1, max_hops => 2, k => 10) s
  LEFT JOIN expected_activation e USING (id)
 ORDER BY s.id;

-- Through SQL (row-level security applies to the role, with policies that
-- show every row of both tables): the same answer.
CREATE TEMP TABLE through_walk AS
SELECT id, activation, hops FROM engram_spread('edgeorder', 1, max_hops => 2, k => 10);
CREATE ROLE recall_edge_order_reader;
GRANT SELECT ON edgeorder, edgeorder_associations, through_walk TO recall_edge_order_reader;
ALTER TABLE edgeorder ENABLE ROW LEVEL SECURITY;
ALTER TABLE edgeorder_associations ENABLE ROW LEVEL SECURITY;
CREATE POLICY every_row ON edgeorder FOR SELECT TO recall_edge_order_reader USING (true);
CREATE POLICY every_row ON edgeorder_associations FOR SELECT TO recall_edge_order_reader
  USING (true);
SET ROLE recall_edge_order_reader;
SELECT count(*) AS rows_through_sql,
       bool_and(w.id IS NOT NULL AND abs(s.activation - w.activation) < 1e-12
                AND s.hops = w.hops) AS same_as_walk
  FROM engram_spread('edgeorder', 1, max_hops => 2, k => 10) s
  LEFT JOIN through_walk w USING (id);
RESET ROLE;

DROP TABLE through_walk, expected_activation;
SELECT engram_drop_space('edgeorder');
DROP ROLE recall_edge_order_reader;
RESET engram.pinned_now;
RESET engram.spreading_time_budget;
