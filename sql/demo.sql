-- The demo (scripts/demo.sh runs it with psql -v samples=<folder>): sample
-- images into a table with a generated embedding column and an HNSW index,
-- then a text-to-image and an image-to-image search.
\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS clip_embed;
DROP TABLE IF EXISTS demo_photos;

\echo '== the model'
SELECT name, embedding_dim, description FROM clip_models() WHERE is_default;

CREATE TABLE demo_photos (
  id bigserial PRIMARY KEY,
  file text NOT NULL,
  data bytea NOT NULL,
  emb vector(512) GENERATED ALWAYS AS (clip_embed_image(data)::vector(512)) STORED
);
-- pg_read_binary_file reads server files: superusers only. Applications send
-- the bytes as a bytea parameter instead.
INSERT INTO demo_photos (file, data)
SELECT f, pg_read_binary_file(:'samples' || '/' || f)
FROM pg_ls_dir(:'samples') AS f WHERE f LIKE '%.png' ORDER BY f;
CREATE INDEX ON demo_photos USING hnsw (emb vector_cosine_ops);
\echo '== loaded and embedded'
SELECT count(*) AS images, min(vector_dims(emb)) AS dims FROM demo_photos;

\echo '== text to image: a red circle'
SELECT file, round((1 - (emb <=> clip_embed_text('a red circle')::vector))::numeric, 4) AS similarity
FROM demo_photos ORDER BY emb <=> clip_embed_text('a red circle')::vector LIMIT 3;

\echo '== text to image: a blue square'
SELECT file, round((1 - (emb <=> clip_embed_text('a blue square')::vector))::numeric, 4) AS similarity
FROM demo_photos ORDER BY emb <=> clip_embed_text('a blue square')::vector LIMIT 3;

\echo '== image to image: nearest to green_triangle.png'
SELECT p.file, round((1 - (p.emb <=> q.emb))::numeric, 4) AS similarity
FROM demo_photos p, (SELECT emb FROM demo_photos WHERE file = 'green_triangle.png') q
ORDER BY p.emb <=> q.emb LIMIT 3;

\echo '== the plan: the text embedding folded to a constant, the HNSW index ordering the rows'
SET enable_seqscan = off;
CREATE FUNCTION pg_temp.plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    RETURN NEXT regexp_replace(line, '\[([^,]*,[^,]*),[^]]*\]', '[\1,...]', 'g');
  END LOOP;
END $$;
SELECT pg_temp.plan($q$SELECT file FROM demo_photos ORDER BY emb <=> clip_embed_text('a red circle')::vector LIMIT 3$q$) AS "QUERY PLAN";
