-- Model folders as people download them (tools/make_layout_models.py writes
-- them with random weights): the family each was recognised as, the variant,
-- the files, and the recipes applied.
SELECT name, family, variant, visual_file, textual_file, tokenizer_file
FROM clip_model_layouts() WHERE problem IS NULL AND family <> 'openai' ORDER BY name;
SELECT name, image_recipe, image_mean, image_std
FROM clip_model_layouts() WHERE problem IS NULL AND family <> 'openai' ORDER BY name;
SELECT name, context_length, pad_token, text_cleanup, text_padded, outputs_normalized,
       scoring, logit_scale, logit_bias, logit_source
FROM clip_model_layouts() WHERE problem IS NULL AND family <> 'openai' ORDER BY name;
-- Folders that mix two layouts, miss a file or state impossible values: listed
-- with the reason (the file named), never hiding the others.
SELECT name, family, replace(problem, current_setting('clip_embed.model_dir'), '$model_dir') AS problem
FROM clip_model_layouts() WHERE problem IS NOT NULL ORDER BY name;
-- clip_models() lists each variant as a model of its own.
SELECT name, embedding_dim, image_size, context_length FROM clip_models()
WHERE name LIKE 'hf-%' OR name LIKE 'immich-%' ORDER BY name;
-- Every layout embeds text and images; Immich's graphs normalise their outputs
-- (so normalized => false gives unit vectors too), Hugging Face's do not.
SELECT m AS model,
       array_length(clip_embed_text('a red circle', m), 1) AS text_dim,
       array_length(clip_embed_image(data, m), 1) AS image_dim,
       regress_norm(clip_embed_text('a red circle', m, normalized => false)) = 1 AS raw_text_is_unit,
       regress_norm(clip_embed_image(data, m, normalized => false)) = 1 AS raw_image_is_unit
FROM unnest(ARRAY['hf-clip', 'hf-clip:quantized', 'hf-clip:fp16', 'hf-siglip', 'immich-clip', 'immich-clip-bilinear',
                  'immich-siglip', 'immich-multilingual']) m, regress_images
WHERE name = 'red circle';
-- A variant is a different set of weights: a different vector, close to the plain one.
SELECT round(clip_similarity(clip_embed_text('a red circle', 'hf-clip'),
                             clip_embed_text('a red circle', 'hf-clip:quantized'))::numeric, 2) AS plain_vs_quantized,
       clip_embed_text('a red circle', 'hf-clip') = clip_embed_text('a red circle', 'hf-clip:quantized') AS same;
-- The same weights resized with another filter give another image vector, the same text vector.
SELECT clip_embed_image(data, 'immich-clip') = clip_embed_image(data, 'immich-clip-bilinear') AS same_image,
       clip_embed_text('a cat', 'immich-clip') = clip_embed_text('a cat', 'immich-clip-bilinear') AS same_text
FROM regress_images WHERE name = 'red circle';
-- SigLIP pads every text to 64 slots and cleans it its way: punctuation and
-- case do not change the vector; a text with nothing left is an empty text.
SELECT clip_embed_text('A Red, Circle!', m) = clip_embed_text('a red circle', m) AS canonicalized
FROM unnest(ARRAY['hf-siglip', 'immich-siglip']) m;
SELECT regress_error($$SELECT clip_embed_text('!!! ...', 'immich-siglip')$$);
SELECT regress_error($$SELECT clip_embed_text('   ', 'hf-clip')$$);
-- M-CLIP's text graph takes an attention_mask and mean-pools over it: every
-- text is padded (text_padded above), and its tokens alone decide the vector.
SELECT round(clip_similarity(clip_embed_text('un chat rouge', 'immich-multilingual'),
                             clip_embed_text('un   chat rouge ', 'immich-multilingual'))::numeric, 6) AS same_tokens;
-- Zero-shot on SigLIP: a sigmoid of scale x cosine + bias per label (defaults
-- 10 and -10, as clip_model_layouts() says), so probabilities need not sum to 1.
SELECT label, round(probability::numeric, 6) = round((1 / (1 + exp(-(10 * similarity - 10))))::numeric, 6) AS sigmoid
FROM regress_images, clip_classify(data, ARRAY['red circle', 'blue square'], 'hf-siglip')
WHERE name = 'red circle' ORDER BY label;
SELECT round(sum(probability)::numeric, 6) = 1 AS sums_to_one
FROM regress_images, clip_classify(data, ARRAY['red circle', 'blue square'], 'immich-clip')
WHERE name = 'red circle';
-- Names: a variant that does not exist, an empty variant, a folder that mixes layouts.
SELECT regress_error($$SELECT clip_embed_text('a cat', 'hf-clip:int4')$$);
SELECT regress_error($$SELECT clip_embed_text('a cat', 'hf-clip:')$$);
SELECT regress_error($$SELECT clip_embed_text('a cat', 'mixed-layouts')$$);
SELECT regress_error($$SELECT clip_embed_text('a cat', 'hf-no-preprocessor')$$);
SELECT regress_error($$SELECT clip_embed_image(data, 'immich-bad-size') FROM regress_images LIMIT 1$$);
