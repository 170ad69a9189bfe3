-- Settings: defaults, limits, and who may change what. They exist once the
-- library is loaded: by the first clip_embed call, LOAD, or shared_preload_libraries.
LOAD 'clip_embed';
SELECT name, CASE name WHEN 'clip_embed.model_dir' THEN '(the test model dir)' ELSE setting END AS setting,
       unit, context
FROM pg_settings WHERE name LIKE 'clip\_embed.%' ORDER BY name;
-- Limits apply per call.
SET clip_embed.max_image_pixels = 100;
SELECT regress_error($$SELECT clip_embed_image(data) FROM regress_images WHERE name = 'red circle'$$);
RESET clip_embed.max_image_pixels;
SET clip_embed.max_image_bytes = 100;
SELECT regress_error($$SELECT clip_embed_image(data) FROM regress_images WHERE name = 'red circle'$$);
RESET clip_embed.max_image_bytes;
-- Intra-op threads: same vectors with more threads.
CREATE TEMP TABLE before AS SELECT clip_embed_text('threads') AS v;
SET clip_embed.intra_op_threads = 2;
SELECT clip_embed_text('threads') = (SELECT v FROM before) AS same_with_two_threads;
RESET clip_embed.intra_op_threads;
SELECT regress_error($$SET clip_embed.intra_op_threads = 0$$);
-- ONNX Runtime's CPU arena (off by default) changes no vector: towers reloaded with it
-- (a change of the setting reloads them) give the same image and text vectors.
CREATE TEMP TABLE without_arena AS
  SELECT clip_embed_text('arena') AS t, (SELECT clip_embed_image(data) FROM regress_images WHERE name = 'red circle') AS i;
SET clip_embed.onnx_cpu_arena = on;
SET clip_embed.text_cache_entries = 0;
SELECT clip_embed_text('arena') = t AS same_text_with_arena,
       (SELECT clip_embed_image(data) FROM regress_images WHERE name = 'red circle') = i AS same_image_with_arena
FROM without_arena;
RESET clip_embed.onnx_cpu_arena;
RESET clip_embed.text_cache_entries;
-- The default model is a setting; '' arguments follow it.
SET clip_embed.default_model = 'bare-export';
SELECT clip_embed_text('x') = clip_embed_text('x', 'bare-export') AS follows_default;
SELECT name FROM clip_models() WHERE is_default;
RESET clip_embed.default_model;
-- A model directory that does not exist.
SET clip_embed.model_dir = '/nonexistent/clip_models';
SELECT regress_error($$SELECT * FROM clip_models()$$);
SELECT regress_error($$SELECT clip_embed_text('x')$$);
RESET clip_embed.model_dir;
-- Paths and limits are superuser-only.
CREATE ROLE regress_clip_user;
SET ROLE regress_clip_user;
SELECT regress_error($$SET clip_embed.model_dir = '/tmp'$$);
SELECT regress_error($$SET clip_embed.onnxruntime_path = '/tmp/x.so'$$);
SELECT regress_error($$SET clip_embed.max_image_bytes = 1000000000$$);
SELECT regress_error($$SET clip_embed.text_cache_entries = 100000$$);
SELECT regress_error($$SET clip_embed.max_intra_op_threads = 64$$);
SELECT regress_error($$SET clip_embed.onnx_cpu_arena = on$$);
-- Any role may ask for threads; clip_embed.max_intra_op_threads (4) caps what it gets.
SET clip_embed.intra_op_threads = 64;
SELECT array_length(clip_embed_text('capped threads'), 1) AS dims;
SET clip_embed.intra_op_threads = 1;
-- Ordinary users can embed.
SELECT array_length(clip_embed_text('Hello World'), 1) AS dims;
RESET ROLE;
DROP ROLE regress_clip_user;
-- Unknown settings in our prefix are refused.
SELECT regress_error($$SET clip_embed.no_such_setting = 1$$);
-- The text cache: a repeated text is served from it, raw and normalised from
-- one entry, and turning it off changes no result.
SHOW clip_embed.text_cache_entries;
SELECT clip_embed_text('a cached caption') = clip_embed_text('a cached caption') AS hit_is_identical,
       regress_norm(clip_embed_text('a cached caption', normalized => false)) <> 1 AS raw_stays_raw,
       regress_norm(clip_embed_text('a cached caption')) AS normalised_norm;
CREATE TEMP TABLE cached AS SELECT clip_embed_text('a cached caption') AS v;
SET clip_embed.text_cache_entries = 0;
SELECT clip_embed_text('a cached caption') = v AS uncached_equals_cached FROM cached;
-- A tower reload (a thread-count change reloads it) starts from an empty cache.
SET clip_embed.intra_op_threads = 2;
SET clip_embed.text_cache_entries = 10;
SELECT clip_similarity(clip_embed_text('a cached caption'), v) > 0.999999 AS after_reload FROM cached;
RESET clip_embed.intra_op_threads;
RESET clip_embed.text_cache_entries;
