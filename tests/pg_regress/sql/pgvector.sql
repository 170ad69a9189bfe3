-- The use the extension exists for: a generated embedding column, an HNSW index,
-- and similarity search with ORDER BY ... LIMIT.
CREATE TABLE photos (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  data bytea NOT NULL,
  emb vector(512) GENERATED ALWAYS AS (clip_embed_image(data)::vector(512)) STORED
);
INSERT INTO photos (name, data) SELECT name, data FROM regress_images ORDER BY name;
CREATE INDEX photos_emb_idx ON photos USING hnsw (emb vector_cosine_ops);
SELECT count(*) AS rows, count(emb) AS embedded FROM photos;
-- The generated column holds exactly what the function returns.
SELECT bool_and(emb = clip_embed_image(data)::vector) AS generated_matches FROM photos;
-- The planner folds the IMMUTABLE text embedding to a constant and uses the index.
SET enable_seqscan = off;
SELECT regress_plan($$SELECT id FROM photos ORDER BY emb <=> clip_embed_text('a red bicycle')::vector LIMIT 3$$);
-- The index's order is the order of exact cosine similarity.
SELECT (SELECT array_agg(name) FROM (SELECT name FROM photos
          ORDER BY emb <=> clip_embed_text('a red bicycle')::vector LIMIT 6) hnsw)
     = (SELECT array_agg(name ORDER BY sim DESC, name) FROM (SELECT name,
          clip_similarity(clip_embed_image(data), clip_embed_text('a red bicycle')) AS sim FROM photos) exact)
       AS index_order_is_exact_order;
-- Image-to-image: an image's nearest neighbour is itself.
SELECT bool_and((SELECT p2.id FROM photos p2 ORDER BY p2.emb <=> p1.emb LIMIT 1) = p1.id) AS self_nearest
FROM photos p1;
RESET enable_seqscan;
-- PARALLEL SAFE for real: a parallel worker loads its own sessions and gives
-- the same vectors as this backend.
-- debug_parallel_query since PostgreSQL 16; force_parallel_mode before.
DO $$ BEGIN PERFORM set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
  THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false); END $$;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT regress_plan($$SELECT count(*) FROM photos WHERE clip_embed_image(data)::vector = emb$$);
SELECT count(*) AS same_in_worker FROM photos WHERE clip_embed_image(data)::vector = emb;
DO $$ BEGIN PERFORM set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
  THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'off', false); END $$;
RESET parallel_setup_cost;
RESET min_parallel_table_scan_size;
-- clip_similarity agrees with pgvector's cosine distance.
SELECT bool_and(abs((1 - (p.emb <=> q.emb)) - clip_similarity(p.emb::real[], q.emb::real[])) < 1e-6) AS agrees
FROM photos p, photos q;
-- Updating the image re-embeds it.
UPDATE photos SET data = (SELECT data FROM regress_images WHERE name = 'blue square') WHERE name = 'red square';
SELECT emb = (SELECT emb FROM photos WHERE name = 'blue square') AS reembedded FROM photos WHERE name = 'red square';
DROP TABLE photos;
