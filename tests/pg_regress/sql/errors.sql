-- Bad input: an ERROR with a SQLSTATE, and the backend lives on.
-- First, in a backend that has not loaded ONNX Runtime yet: a wrong library
-- path is an error, and fixing the setting recovers without reconnecting.
SET clip_embed.onnxruntime_path = '/nonexistent/libonnxruntime.so';
SELECT regress_error($$SELECT clip_embed_text('x')$$);
RESET clip_embed.onnxruntime_path;
SELECT array_length(clip_embed_text('x'), 1) AS dims_after_fix;
SELECT regress_error($$SELECT clip_embed_image(''::bytea)$$);
SELECT regress_error($$SELECT clip_embed_image('\x00010203'::bytea)$$);
-- A GIF header followed by text claims 25120x29813 pixels: refused before decoding.
SELECT regress_error($$SELECT clip_embed_image(convert_to('GIF89a but not really', 'UTF8'))$$);
-- A truncated PNG.
SELECT regress_error($$SELECT clip_embed_image(substr(data, 1, 60)) FROM regress_images WHERE name = 'red circle'$$);
-- An image format CLIP's reference does not take here (a minimal ICO header).
SELECT regress_error($$SELECT clip_embed_image('\x0000010001001010000001002000'::bytea)$$);
SELECT regress_error($$SELECT clip_embed_text('')$$);
SELECT regress_error($$SELECT clip_embed_text('   ')$$);
SELECT regress_error($$SELECT clip_embed_text('x', 'no-such-model')$$);
SELECT regress_error($$SELECT clip_embed_text('x', '../../etc')$$);
SELECT regress_error($$SELECT clip_embed_image(data, 'text-only') FROM regress_images LIMIT 1$$);
SELECT regress_error($$SELECT clip_embed_text('x', 'unreadable')$$);
SELECT regress_error($$SELECT clip_embed_text('x', 'broken-graph')$$) ~ '^F0000: could not load ".*/broken-graph/textual.onnx"' AS broken_graph;
SELECT regress_error($$SELECT clip_embed_text('x', 'broken-config')$$) ~ '^F0000: invalid ".*/broken-config/clip_config.json"' AS broken_config;
SELECT regress_error($$SELECT clip_similarity(ARRAY[1,2]::real[], ARRAY[1]::real[])$$);
SELECT regress_error($$SELECT clip_similarity(ARRAY[1,NULL]::real[], ARRAY[1,2]::real[])$$);
SELECT regress_error($$SELECT clip_similarity('{}'::real[], '{}'::real[])$$);
SELECT regress_error($$SELECT clip_similarity('\x00'::bytea, 'a red circle')$$);
-- Vectors pgvector's vector type would not take: the same errors it gives.
SELECT regress_error($$SELECT clip_similarity('{{1,2},{3,4}}'::real[], '{1,2,3,4}'::real[])$$);
SELECT regress_error($$SELECT clip_similarity('{1,NaN}'::real[], '{1,2}'::real[])$$);
SELECT regress_error($$SELECT clip_similarity('{1,2}'::real[], '{-Infinity,2}'::real[])$$);
-- A message quotes at most 64 characters of what the user passed, the variant part included.
SELECT regress_error(format($$SELECT clip_embed_text('x', %L)$$, repeat('/', 100000)));
SELECT regress_error(format($$SELECT clip_embed_text('x', %L)$$, 'clip-shapes:' || repeat('a', 100000)));
-- A name is checked by its shape before any cache: the same answer in every
-- backend, whether or not clip-shapes was loaded before (it is by now).
SELECT regress_error($$SELECT clip_embed_text('x', 'clip-shapes/')$$);
SELECT regress_error($$SELECT clip_embed_text('x', './clip-shapes')$$);
-- clip_classify's prompts are bounded before they are built.
SELECT regress_error($$SELECT * FROM clip_classify('{1,0,0}'::real[], ARRAY[repeat('x', 100000)], template => repeat('{}', 100000))$$);
SELECT regress_error($$SELECT * FROM clip_classify('{1,0,0}'::real[], ARRAY(SELECT 'l' || g FROM generate_series(1, 10001) g))$$);
-- As a user sees one, with its hint.
SELECT clip_embed_text('x', '../etc');
-- Still alive, and still embedding.
SELECT array_length(clip_embed_text('still alive'), 1) AS dims;
