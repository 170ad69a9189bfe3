-- Semantic search with the default model, clip-shapes: a small CLIP trained on
-- synthetic coloured shapes (models/clip-shapes/MODEL_CARD.md). The twelve
-- images (tests/pg_regress/data/shapes.tsv, tools/shapes/make_regress_images.py)
-- were drawn with a seed no training stream used.
\getenv abs_srcdir PG_ABS_SRCDIR
\set shapes_file :abs_srcdir '/data/shapes.tsv'
\set shapes_tsv `cat :shapes_file`
CREATE TABLE shapes (
  name text PRIMARY KEY,
  data bytea NOT NULL,
  emb vector(512) GENERATED ALWAYS AS (clip_embed_image(data)::vector(512)) STORED
);
INSERT INTO shapes (name, data)
SELECT split_part(line, E'\t', 1), decode(split_part(line, E'\t', 2), 'base64')
FROM regexp_split_to_table(rtrim(:'shapes_tsv', E'\n'), E'\n') AS line;
CREATE INDEX ON shapes USING hnsw (emb vector_cosine_ops);
SELECT count(*) AS images, min(vector_dims(emb)) AS dims FROM shapes;
-- Text to image through the HNSW index: 'a <name>' finds the image of that name first.
SET enable_seqscan = off;
SELECT q.name AS query,
       (SELECT s.name FROM shapes s ORDER BY s.emb <=> clip_embed_text('a ' || q.name)::vector LIMIT 1) AS top_hit
FROM shapes q ORDER BY q.name;
RESET enable_seqscan;
-- The red circle is a red circle, not a blue square, nor the wrong colour or shape.
SELECT clip_similarity(data, 'a red circle') > clip_similarity(data, 'a blue square') AS beats_blue_square,
       clip_similarity(data, 'a red circle') > clip_similarity(data, 'a blue circle') AS beats_blue_circle,
       clip_similarity(data, 'a red circle') > clip_similarity(data, 'a red square') AS beats_red_square
FROM shapes WHERE name = 'red circle';
-- Zero-shot classification over all 48 colour+shape classes, each the
-- normalised mean of three prompt embeddings, ranked by pgvector.
CREATE TEMP TABLE classes AS
SELECT c || ' ' || s AS class,
       l2_normalize(avg(clip_embed_text(format(t, c, s))::vector)) AS emb
FROM unnest(ARRAY['red','green','blue','yellow','orange','purple','pink','brown']) c,
     unnest(ARRAY['circle','square','triangle','star','hexagon','diamond']) s,
     unnest(ARRAY['a %s %s','a photo of a %s %s','a picture of a %s %s']) t
GROUP BY c, s;
SELECT count(*) AS classes FROM classes;
SELECT count(*) FILTER (WHERE predicted = name) AS correct, count(*) AS images,
       string_agg(name || ' -> ' || predicted, ', ') FILTER (WHERE predicted <> name) AS mistakes
FROM (SELECT s.name, (SELECT class FROM classes ORDER BY emb <=> s.emb LIMIT 1) AS predicted FROM shapes s) z;
-- Words the model never trained on share one token row: it knows nothing of
-- bicycles, and says so by scoring 'a red bicycle' like 'a red <nothing>'.
SELECT clip_embed_text('a red bicycle') = clip_embed_text('a red cat') AS unknown_words_alike;
DROP TABLE shapes;
