-- Every function's happy path, NULLs and catalogue markings.
SELECT array_length(clip_embed_text('Hello World'), 1) AS dims, regress_norm(clip_embed_text('Hello World')) AS norm;
-- The default model is clip-shapes, so naming it changes nothing.
SELECT clip_embed_text('Hello World') = clip_embed_text('Hello World', 'clip-shapes') AS same_as_named;
-- Case and whitespace are normalised by CLIP's tokenizer; HTML entities are unescaped.
-- On tiny-random, where every token id has its own row (clip-shapes gives every
-- word it never trained on one shared row, so 'a cat' = 'a dog' there).
SELECT clip_embed_text('Hello World', 'tiny-random') = clip_embed_text('  hello    WORLD ', 'tiny-random') AS normalised,
       clip_embed_text('Tom & Jerry', 'tiny-random') = clip_embed_text('Tom &amp; Jerry', 'tiny-random') AS unescaped,
       clip_embed_text('a cat', 'tiny-random') = clip_embed_text('a dog', 'tiny-random') AS cat_is_dog,
       clip_embed_text('a red circle') = clip_embed_text('a blue circle') AS red_is_blue;
-- normalized => false gives the tower's raw output.
SELECT regress_norm(clip_embed_text('Hello World', normalized => false)) <> 1 AS raw_not_unit;
SELECT round(clip_similarity(clip_embed_text('Hello World', normalized => false),
                             clip_embed_text('Hello World'))::numeric, 6) AS same_direction;
-- Text longer than 77 tokens is truncated, like clip.tokenize(truncate=True).
SELECT clip_embed_text(repeat('word ', 76), 'tiny-random') = clip_embed_text(repeat('word ', 300), 'tiny-random') AS truncated;
-- Images.
SELECT name, array_length(clip_embed_image(data), 1) AS dims, regress_norm(clip_embed_image(data)) AS norm
FROM regress_images ORDER BY name;
SELECT count(DISTINCT clip_embed_image(data)) AS distinct_embeddings FROM regress_images;
-- clip_similarity on arrays: pgvector's conventions.
SELECT clip_similarity(ARRAY[1,0]::real[], ARRAY[0,1]::real[]) AS orthogonal,
       clip_similarity(ARRAY[1,2]::real[], ARRAY[2,4]::real[]) AS parallel,
       clip_similarity(ARRAY[1,1]::real[], ARRAY[-1,-1]::real[]) AS opposite,
       clip_similarity(ARRAY[0,0]::real[], ARRAY[1,1]::real[]) AS zero_vector;
-- clip_similarity(image, text) is the cosine of the two embeddings.
SELECT round((clip_similarity(data, 'a red circle')
              - clip_similarity(clip_embed_image(data), clip_embed_text('a red circle')))::numeric, 6) AS difference,
       clip_similarity(data, 'a red circle') BETWEEN -1 AND 1 AS in_range
FROM regress_images WHERE name = 'red circle';
-- STRICT: NULL in, NULL out.
SELECT clip_embed_text(NULL) IS NULL AS t1, clip_embed_image(NULL) IS NULL AS t2,
       clip_similarity(NULL::real[], ARRAY[1]::real[]) IS NULL AS t3,
       clip_similarity(NULL::bytea, 'x') IS NULL AS t4, clip_embed_text('x', NULL) IS NULL AS t5;
-- A bare export (int32 ids, other I/O names, no config, tokenizer from the model dir) loads as is.
SELECT array_length(clip_embed_text('Hello World', 'bare-export'), 1) AS bare_text_dims,
       array_length(clip_embed_image(data, 'bare-export'), 1) AS bare_image_dims
FROM regress_images WHERE name = 'red circle';
-- Every clip_ object of a fresh install; upgrade.sql prints the same after
-- ALTER EXTENSION UPDATE from 0.1.0, and the two lists must match.
SELECT p.oid::regprocedure AS object, md5(pg_get_functiondef(p.oid)) AS definition
FROM pg_proc p WHERE proname LIKE 'clip\_%' ORDER BY 1::text;
-- Catalogue: IMMUTABLE STRICT PARALLEL SAFE embedding functions with a cost.
SELECT p.oid::regprocedure AS function, provolatile, proisstrict, proparallel, procost
FROM pg_proc p WHERE proname LIKE 'clip\_%' ORDER BY 1::text;
-- The models this backend sees; text and vision towers loaded by the calls above.
SELECT name, embedding_dim, image_size, context_length, fingerprint <> '' AS has_fingerprint,
       text_loaded, image_loaded, is_default,
       replace(description, current_setting('clip_embed.model_dir'), '$model_dir') AS description
FROM clip_models() ORDER BY name;
