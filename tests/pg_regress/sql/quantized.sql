-- An int8 copy made by scripts/quantize_model.sh (the test model directory has
-- 'clip-shapes-int8', made from 'clip-shapes') is a model under its own name.
SELECT name, embedding_dim, image_size, context_length, description
FROM clip_models() WHERE name LIKE 'clip-shapes%' ORDER BY name;
-- Close to the fp32 vectors it came from, and not equal to them: the new name
-- is what keeps the IMMUTABLE contract honest.
SELECT round(clip_similarity(clip_embed_text('a red circle', 'clip-shapes'),
                             clip_embed_text('a red circle', 'clip-shapes-int8'))::numeric, 3) >= 0.999 AS text_close,
       clip_embed_text('a red circle', 'clip-shapes') <> clip_embed_text('a red circle', 'clip-shapes-int8') AS text_differs,
       bool_and(round(clip_similarity(clip_embed_image(data, 'clip-shapes'),
                                      clip_embed_image(data, 'clip-shapes-int8'))::numeric, 3) >= 0.999) AS images_close
FROM regress_images;
-- And it still ranks: each colour-shape caption finds its own picture first.
SELECT name, (SELECT i.name FROM regress_images i
              ORDER BY clip_similarity(clip_embed_image(i.data, 'clip-shapes-int8'),
                                       clip_embed_text('a ' || q.name, 'clip-shapes-int8')) DESC LIMIT 1) AS top
FROM regress_images q ORDER BY name;
