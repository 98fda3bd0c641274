-- The storage of a space changes how recall reads, never what it answers.
-- A space made by engram_create_space keeps embeddings in the row
-- (STORAGE MAIN: a reached memory's cue similarity is computed from the
-- row spreading reads anyway) and covers weight in the association key
-- (associations on all-visible pages read from the index alone).  The
-- same memories in a space whose embeddings are stored out of line
-- (STORAGE EXTERNAL: similarities read after the walk, from TOAST) and
-- whose association key does not cover weight (every association fetched
-- from the heap) must be recalled identically, before and after VACUUM
-- marks the pages all-visible, and after an association is re-weighted.
SET client_min_messages = warning;
SET engram.pinned_now = '2026-01-01 10:00:00+00';
SET engram.recency_boost = 1.0;
SET engram.spreading_time_budget = 0;
SET engram.visit_budget_hot = 2;
SET engram.visit_budget_warm = 2;
SET engram.visit_budget_cold = 2;

SELECT engram_create_space('layout_inline', 600, 'cosine', 'none') IS NOT NULL AS created,
	   engram_create_space('layout_toast', 600, 'cosine', 'none') IS NOT NULL AS created;
ALTER TABLE layout_toast ALTER COLUMN embedding SET STORAGE EXTERNAL;
-- (under PostgreSQL's default TOAST target: a new space's target keeps a
-- 2.4 kB row whole, whatever the column's storage)
ALTER TABLE layout_toast RESET (toast_tuple_target);
ALTER TABLE layout_toast_associations DROP CONSTRAINT layout_toast_associations_pkey,
	ADD PRIMARY KEY (src, dst);
-- 80 memories, embeddings sin(i x j) (600 dimensions: 2.4 kB), 4
-- associations each; only the first 8 are seeds (a location filter), the
-- rest are reached by spreading.
CREATE TEMP TABLE layout_data AS
SELECT i AS id, 'memory ' || i AS content,
	   (SELECT array_agg(sin(i * j * 0.01)::real ORDER BY j) FROM generate_series(1, 600) j)::evector AS embedding,
	   CASE WHEN i <= 8 THEN 'seedbed' END AS location
  FROM generate_series(1, 80) i;
INSERT INTO layout_inline (id, content, embedding, location, confidence)
SELECT id, content, embedding, location, 0.9 FROM layout_data ORDER BY id;
INSERT INTO layout_toast (id, content, embedding, location, confidence)
SELECT id, content, embedding, location, 0.9 FROM layout_data ORDER BY id;
INSERT INTO layout_inline_associations (src, dst, weight)
SELECT i, 1 + (i * 7 + f * 13) % 80, 0.4 + ((i + f) % 6) / 10.0
  FROM generate_series(1, 80) i, generate_series(1, 4) f
 WHERE i <> 1 + (i * 7 + f * 13) % 80
ON CONFLICT DO NOTHING;
INSERT INTO layout_toast_associations SELECT * FROM layout_inline_associations;
-- The embeddings really are stored differently: in the row, or in TOAST.
SELECT c.relname, pg_relation_size(c.reltoastrelid) > 0 AS uses_toast
  FROM pg_class c WHERE c.relname IN ('layout_inline', 'layout_toast') ORDER BY 1;

CREATE FUNCTION pg_temp.layout_answer(space text, hops int DEFAULT 2) RETURNS TABLE (rank bigint, id bigint,
		score numeric, similarity numeric, activation numeric, hops integer)
	LANGUAGE sql AS $$
	SELECT row_number() OVER (ORDER BY r.score DESC, r.id), r.id, round(r.score::numeric, 10),
		   round(r.similarity::numeric, 10), round(r.activation::numeric, 10), r.hops
	  FROM engram_recall(space, (SELECT embedding FROM layout_data WHERE id = 3), k => 30,
						 max_hops => hops, location => 'seedbed') r
$$;

-- Before VACUUM: the answers agree, spreading reached memories beyond the
-- seeds, and they carry similarities.
SELECT count(*) AS answer_rows, count(*) FILTER (WHERE hops > 0) AS spread,
	   count(*) FILTER (WHERE hops > 0 AND similarity IS NOT NULL) AS spread_with_similarity
  FROM pg_temp.layout_answer('layout_inline');
SELECT count(*) AS differing_rows
  FROM ((SELECT * FROM pg_temp.layout_answer('layout_inline')
		 EXCEPT SELECT * FROM pg_temp.layout_answer('layout_toast'))
		UNION ALL
		(SELECT * FROM pg_temp.layout_answer('layout_toast')
		 EXCEPT SELECT * FROM pg_temp.layout_answer('layout_inline'))) d;

-- After VACUUM (all-visible pages: index-only association reads).
VACUUM layout_inline_associations;
VACUUM layout_toast_associations;
SELECT count(*) AS differing_rows
  FROM ((SELECT * FROM pg_temp.layout_answer('layout_inline')
		 EXCEPT SELECT * FROM pg_temp.layout_answer('layout_toast'))
		UNION ALL
		(SELECT * FROM pg_temp.layout_answer('layout_toast')
		 EXCEPT SELECT * FROM pg_temp.layout_answer('layout_inline'))) d;

-- Re-weighted after VACUUM: the index entry of the old weight must not be
-- used (the update clears the page's all-visible bit).  Seed 3's
-- associations all get weight 1.
SELECT engram_associate('layout_inline', src, dst, 1.0, false),
	   engram_associate('layout_toast', src, dst, 1.0, false)
  FROM layout_data d JOIN layout_inline_associations a ON a.src = d.id WHERE d.id = 3;
SELECT count(*) AS differing_rows
  FROM ((SELECT * FROM pg_temp.layout_answer('layout_inline')
		 EXCEPT SELECT * FROM pg_temp.layout_answer('layout_toast'))
		UNION ALL
		(SELECT * FROM pg_temp.layout_answer('layout_toast')
		 EXCEPT SELECT * FROM pg_temp.layout_answer('layout_inline'))) d;
-- The new weight counts: with one hop, a memory that no other seed (1-8)
-- reaches has activation a(3) x 1.0 x exp(-0.7), where a(3), the seed
-- activation of the cue's own memory (similarity 1), is
-- sigmoid((1 - 0.4) / 0.5) = 0.7685: 0.38164.
SELECT t.id, t.activation
  FROM layout_inline_associations a
  JOIN pg_temp.layout_answer('layout_inline', 1) t ON t.id = a.dst AND t.hops = 1
 WHERE a.src = 3
   AND NOT EXISTS (SELECT 1 FROM layout_inline_associations o
					WHERE o.dst = a.dst AND o.src <> 3 AND o.src <= 8)
 ORDER BY t.id;

SELECT engram_drop_space('layout_inline'), engram_drop_space('layout_toast');
