-- The demo (scripts/demo.sh runs it with psql -v samples=<folder>): 60 generated
-- images of coloured shapes into a table with a generated embedding column and
-- an HNSW index, then text-to-image searches and an image-to-image search.
-- The default model, clip-shapes, knows coloured shapes and nothing else
-- (models/clip-shapes/MODEL_CARD.md); file names say what each image shows.
\set ON_ERROR_STOP on
\set QUIET on
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS clip_embed;
DROP TABLE IF EXISTS demo_photos, demo_queries;

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

-- The searches, kept in a table so the HTML report (sql/demo_report.sql) shows the same ones.
CREATE TABLE demo_queries (ord int PRIMARY KEY, query text NOT NULL);
INSERT INTO demo_queries VALUES
  (1, 'a red circle'), (2, 'a blue square'), (3, 'a photo of a yellow star'),
  (4, 'two green triangles'), (5, 'a purple hexagon outline');

\echo '== text to image: top 3 per query, through the HNSW index'
SELECT q.query, hit.rank, hit.file, hit.similarity
FROM demo_queries q, LATERAL (SELECT clip_embed_text(q.query)::vector AS emb) t, LATERAL (
  SELECT row_number() OVER () AS rank, file, round((1 - (emb <=> t.emb))::numeric, 4) AS similarity
  FROM (SELECT file, emb FROM demo_photos ORDER BY emb <=> t.emb LIMIT 3) top
) hit
ORDER BY q.ord, hit.rank;

\echo '== image to image: nearest to green_triangle.png (itself first)'
SELECT p.file, round((1 - (p.emb <=> q.emb))::numeric, 4) AS similarity
FROM demo_photos p, (SELECT emb FROM demo_photos WHERE file = 'green_triangle.png') q
ORDER BY p.emb <=> q.emb LIMIT 4;

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
