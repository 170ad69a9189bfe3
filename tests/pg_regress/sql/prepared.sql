-- Prepared copies: the first backend that needs a tower writes ONNX Runtime's
-- optimised graph with its weights in a file every backend maps
-- (clip_embed.prepared_dir, under the data directory by default).
SELECT array_length(clip_embed_text('a prepared copy', 'tiny-random'), 1) AS dims;
SHOW clip_embed.prepared_dir;
SELECT array_length(clip_embed_image(data, 'tiny-random'), 1) AS dims FROM regress_images ORDER BY name LIMIT 1;
-- What this backend loaded came from current copies (names carry a key over the
-- model's bytes, the ONNX Runtime build and the CPU, so they are not shown).
SELECT model, tower, state, size_bytes > 0 AS has_bytes, created <= now() AS created_before_now
FROM clip_prepared_models() WHERE loaded_here ORDER BY tower;
SELECT count(*) AS copies_without_manifest_or_key FROM clip_prepared_models()
WHERE loaded_here AND (name NOT LIKE model || '.' || tower || '.%' OR prepare_ms IS NULL);
-- Removing: a name that exists, by a superuser.
SELECT * FROM clip_prepared_remove('no-such-copy');
SELECT * FROM clip_prepared_remove('../base');
CREATE ROLE clip_prepared_user;
SET ROLE clip_prepared_user;
SELECT * FROM clip_prepared_remove();
SELECT count(*) >= 0 AS anyone_may_list FROM clip_prepared_models();
RESET ROLE;
DROP ROLE clip_prepared_user;
-- A directory that cannot be written: the original graph loads (with a WARNING,
-- hidden here because it names this machine's paths) and gives the same vector
-- as a backend that uses the prepared copy.
SET clip_embed.prepared_dir = '/dev/null/clip_embed';
SET client_min_messages = error;
CREATE TABLE prepared_check AS SELECT clip_embed_text('a red circle', 'clip-shapes-int8') AS v;
RESET client_min_messages;
SELECT count(*) AS copies_listed_from_an_unwritable_dir FROM clip_prepared_models();
\c
SELECT clip_similarity(v, clip_embed_text('a red circle', 'clip-shapes-int8')) > 0.99999 AS same_vector
FROM prepared_check;
SELECT tower, state FROM clip_prepared_models() WHERE loaded_here;
DROP TABLE prepared_check;
