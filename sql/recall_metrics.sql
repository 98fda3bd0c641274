-- The recall functions report to the metrics (engram_stats): each call of
-- engram_recall, engram_associate and engram_forget is one operation, each
-- stored row one store, each spreading run one spread; a failing call is
-- an error.  Counted as differences, since the counters are cluster-wide.
SET client_min_messages = warning;
SELECT engram_create_space('metered', 2) IS NOT NULL AS created;
CREATE TEMP TABLE before AS SELECT operation, operations, errors FROM engram_stats;

SELECT engram_store('metered', 'a', '[1,0]') AS a, engram_store('metered', 'b', '[0,1]') AS b;
SELECT count(*) FROM engram_store_batch('metered', ARRAY['c','d','e'], ARRAY['[1,1]','[1,2]','[2,1]']);
SELECT engram_associate('metered', 1, 2, 0.5);
SELECT count(*) FROM engram_recall('metered', '[1,0]');                           -- recall + spread
SELECT count(*) FROM engram_recall('metered', '[1,0]', mode => 'similarity');     -- recall only
SELECT count(*) FROM engram_spread('metered', 1);                                 -- spread
SELECT engram_forget('metered', 5);
DO $$ BEGIN PERFORM engram_recall('metered', '[1,0]', k => 0);
	EXCEPTION WHEN invalid_parameter_value THEN NULL; END $$;                     -- recall error
DO $$ BEGIN PERFORM engram_store_batch('metered', ARRAY['x'], ARRAY['[1,2,3]']);
	EXCEPTION WHEN data_exception THEN NULL; END $$;                              -- store error

SELECT s.operation, s.operations - b.operations AS operations, s.errors - b.errors AS errors
  FROM engram_stats s JOIN before b USING (operation)
 WHERE s.operation IN ('recall', 'store', 'spread', 'associate', 'forget')
 ORDER BY s.operation;
SELECT engram_drop_space('metered');
