-- clip_embed_backfill embeds an existing table in committed batches, with a
-- progress NOTICE per batch (its DETAIL, the rate, is hidden here).
\set VERBOSITY terse
CREATE TABLE backfill_photos (id int PRIMARY KEY, data bytea, emb vector(512));
INSERT INTO backfill_photos SELECT row_number() OVER (ORDER BY name), data FROM regress_images;
INSERT INTO backfill_photos VALUES (100, NULL, NULL);  -- no image: left alone
CALL clip_embed_backfill('backfill_photos', 'data', 'emb', batch_size => 4);
SELECT count(*) FILTER (WHERE emb IS NOT NULL) AS embedded, count(*) FILTER (WHERE emb IS NULL) AS without_image
FROM backfill_photos;
-- The same vectors as the function gives directly.
SELECT bool_and(emb = clip_embed_image(data)::vector) AS same_vectors FROM backfill_photos WHERE data IS NOT NULL;
-- A re-run has nothing left to do: no batch, no NOTICE.
CALL clip_embed_backfill('backfill_photos', 'data', 'emb');
-- After an interruption only the rows still NULL are embedded; threads apply
-- for the call and the session's setting comes back.
UPDATE backfill_photos SET emb = NULL WHERE id IN (2, 5);
CALL clip_embed_backfill('backfill_photos', 'data', 'emb', batch_size => 1, threads => 2);
SHOW clip_embed.intra_op_threads;
SELECT count(*) AS embedded FROM backfill_photos WHERE emb IS NOT NULL;
-- A corrupt image stops the call with the image's error; batches before it stay committed.
UPDATE backfill_photos SET emb = NULL WHERE id IN (1, 3);
UPDATE backfill_photos SET data = '\x00010203' WHERE id = 3;
CALL clip_embed_backfill('backfill_photos', 'data', 'emb', batch_size => 1);
SELECT id FROM backfill_photos WHERE emb IS NULL AND data IS NOT NULL ORDER BY id;
SELECT regress_error($$CALL clip_embed_backfill('backfill_photos', 'data', 'emb', batch_size => 0)$$);
SELECT regress_error($$CALL clip_embed_backfill('backfill_photos', 'data', 'emb', model => NULL)$$);
-- threads is the call's only: an error after a committed batch leaves the session's setting.
UPDATE backfill_photos SET emb = NULL WHERE id IN (1, 2);
CALL clip_embed_backfill('backfill_photos', 'data', 'emb', batch_size => 1, threads => 2);
SHOW clip_embed.intra_op_threads;
DROP TABLE backfill_photos;
-- Partitions and inheritance children hold rows at the same ctid ((0,1) in
-- each here): only the rows the call locked change, the other one keeps its vector.
CREATE TABLE parted (id int, img bytea, emb vector(512)) PARTITION BY LIST (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES IN (1);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES IN (2);
INSERT INTO parted SELECT 1, data, NULL FROM regress_images ORDER BY name LIMIT 1;
INSERT INTO parted SELECT 2, data, clip_embed_text('kept')::vector FROM regress_images ORDER BY name LIMIT 1;
SELECT tableoid::regclass, ctid FROM parted ORDER BY id;
CALL clip_embed_backfill('parted', 'img', 'emb');
SELECT id, emb = clip_embed_image(img)::vector AS image_vector, emb = clip_embed_text('kept')::vector AS kept
FROM parted ORDER BY id;
CREATE TABLE inherited (id int, img bytea, emb vector(512));
CREATE TABLE inherited_child () INHERITS (inherited);
INSERT INTO inherited SELECT 1, data, clip_embed_text('kept')::vector FROM regress_images ORDER BY name LIMIT 1;
INSERT INTO inherited_child SELECT 2, data, NULL FROM regress_images ORDER BY name LIMIT 1;
CALL clip_embed_backfill('inherited', 'img', 'emb');
SELECT id, emb = clip_embed_image(img)::vector AS image_vector, emb = clip_embed_text('kept')::vector AS kept
FROM inherited ORDER BY id;
DROP TABLE parted, inherited CASCADE;
-- clip_column_models: which installed model made a column's vectors. One
-- model's column gives one row (the models whose vectors tie are the same
-- weights under two names); a mixed column gives two.
CREATE TABLE mixed_photos (id int PRIMARY KEY, data bytea, emb vector(512));
INSERT INTO mixed_photos SELECT row_number() OVER (ORDER BY name), data, clip_embed_image(data, 'clip-shapes')::vector
FROM regress_images;
SELECT models, sampled_rows, min_similarity > 0.999 AS matched FROM clip_column_models('mixed_photos', 'data', 'emb');
-- halfvec keeps the verdict (its rounding costs far less than 0.001 of cosine).
CREATE TABLE half_photos AS SELECT id, data, emb::halfvec(512) AS emb FROM mixed_photos;
SELECT models, sampled_rows, min_similarity > 0.999 AS matched FROM clip_column_models('half_photos', 'data', 'emb');
-- A backfill with another model warns before it mixes the column.
UPDATE mixed_photos SET emb = NULL WHERE id <= 2;
CALL clip_embed_backfill('mixed_photos', 'data', 'emb', model => 'tiny-random');
SELECT models, sampled_rows FROM clip_column_models('mixed_photos', 'data', 'emb', sample_rows => 1000);
-- Vectors no installed model made (here, of texts) are counted under {}.
UPDATE mixed_photos SET emb = clip_embed_text('kept', 'clip-shapes')::vector WHERE id = 3;
SELECT models, sampled_rows FROM clip_column_models('mixed_photos', 'data', 'emb', sample_rows => 1000);
-- Text columns are re-embedded as texts.
CREATE TABLE captions (caption text, emb real[]);
INSERT INTO captions VALUES ('a red circle', clip_embed_text('a red circle', 'clip-shapes'));
SELECT models, sampled_rows FROM clip_column_models('captions', 'caption', 'emb');
SELECT regress_error($$SELECT * FROM clip_column_models('mixed_photos', 'data', 'emb', sample_rows => 0)$$);
SELECT regress_error($$SELECT * FROM clip_column_models('mixed_photos', 'nope', 'emb')$$);
SELECT regress_error($$SELECT * FROM clip_column_models('mixed_photos', 'id', 'emb')$$);
DROP TABLE mixed_photos, half_photos, captions;
-- A function named like the extension's, or a function or operator for
-- exactly the types of a call the procedure or clip_column_models makes
-- (format(text, regclass, name, name), float8 < numeric, bigint / numeric,
-- array_position(text[], text)), in a schema on the caller's search_path, is
-- never the one they run (another role's, run with the caller's rights); the
-- caller's search_path is theirs again after.
CREATE SCHEMA regress_shadow;
CREATE FUNCTION regress_shadow.clip_embed_image(bytea, text) RETURNS real[]
  LANGUAGE sql AS $$ SELECT array_fill(0.5::real, ARRAY[512]) $$;
CREATE FUNCTION regress_shadow.hijacked(float8, numeric) RETURNS boolean
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the shadow < ran'; END $$;
CREATE OPERATOR regress_shadow.< (leftarg = float8, rightarg = numeric, function = regress_shadow.hijacked);
CREATE FUNCTION regress_shadow.divided(bigint, numeric) RETURNS numeric
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the shadow / ran'; END $$;
CREATE OPERATOR regress_shadow./ (leftarg = bigint, rightarg = numeric, function = regress_shadow.divided);
CREATE FUNCTION regress_shadow.format(text, regclass, name, name) RETURNS text
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the shadow format ran'; END $$;
CREATE FUNCTION regress_shadow.array_position(text[], text) RETURNS integer
  LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the shadow array_position ran'; END $$;
CREATE TABLE shadowed (id int PRIMARY KEY, data bytea, emb vector(512));
INSERT INTO shadowed SELECT row_number() OVER (ORDER BY name), data FROM regress_images ORDER BY name LIMIT 2;
UPDATE shadowed SET emb = clip_embed_image(data)::vector WHERE id = 2;
SET search_path = regress_shadow, public;
-- The two SHOWs below catch a session-wide leak (a set_config(..., false) in the
-- procedure, a function without its SET clause); the restore inside a
-- transaction block is what the third one, after BEGIN, tests.
CALL clip_embed_backfill('shadowed', 'data', 'emb');
SHOW search_path;
SELECT models, sampled_rows FROM clip_column_models('shadowed', 'data', 'emb');
SHOW search_path;
-- Nothing left to embed, so no COMMIT: it may run in a transaction block.
BEGIN;
SET LOCAL search_path = regress_shadow;
CALL public.clip_embed_backfill('public.shadowed', 'data', 'emb');
SHOW search_path;
COMMIT;
RESET search_path;
SELECT id, emb = clip_embed_image(data)::vector AS the_extensions_vector FROM shadowed ORDER BY id;
DROP TABLE shadowed;
DROP SCHEMA regress_shadow CASCADE;
