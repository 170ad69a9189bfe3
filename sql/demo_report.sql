-- The demo's picture: one HTML page (images inlined as data: URIs) with the top
-- 5 hits of every demo query and of one image query. scripts/demo.sh runs it
-- with psql -qAt after sql/demo.sql and writes the output to a file.
WITH queries AS (
  SELECT ord, 'text: ' || query AS label, NULL::bytea AS image, clip_embed_text(query)::vector AS emb
  FROM demo_queries
  UNION ALL
  SELECT 100, 'image: ' || file, data, emb FROM demo_photos WHERE file = 'green_triangle.png'
), rows AS (
  SELECT q.ord, '<h2>' || q.label || '</h2><div class="row">'
         || coalesce('<figure class="query"><img src="data:image/png;base64,'
                     || translate(encode(q.image, 'base64'), E'\n', '') || '"><figcaption>query</figcaption></figure>', '')
         || string_agg(format('<figure><img src="data:image/png;base64,%s"><figcaption>%s. %s<br>%s</figcaption></figure>',
                              translate(encode(h.data, 'base64'), E'\n', ''), h.rank, h.file, round(h.similarity::numeric, 4)),
                       '' ORDER BY h.rank)
         || '</div>' AS html
  FROM queries q, LATERAL (
    SELECT row_number() OVER () AS rank, file, data, 1 - (emb <=> q.emb) AS similarity
    FROM (SELECT file, data, emb FROM demo_photos ORDER BY emb <=> q.emb LIMIT 5) top
  ) h
  GROUP BY q.ord, q.label, q.image
)
SELECT '<!doctype html><html><head><meta charset="utf-8"><title>clip_embed demo</title><style>'
       || 'body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:0 1em 1em 0;text-align:center}'
       || 'img{width:160px;height:160px;border:1px solid #ccc}.query img{border:3px solid #36c}'
       || 'figcaption{font-size:0.85em}</style></head><body><h1>clip_embed demo: top 5 hits per query</h1>'
       || '<p>Model: ' || (SELECT name || ' (' || coalesce(description, '') || ')' FROM clip_models() WHERE is_default)
       || '. Ranked by pgvector''s cosine distance over the HNSW index; the number under each image is its cosine similarity.</p>'
       || string_agg(html, '' ORDER BY ord) || '</body></html>'
FROM rows;
