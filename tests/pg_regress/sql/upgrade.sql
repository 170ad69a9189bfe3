-- An installed 0.1.0 upgrades in place: ALTER EXTENSION adds what 0.2.0 brings.
CREATE DATABASE regress_upgrade;
\c regress_upgrade
CREATE EXTENSION vector;
CREATE EXTENSION clip_embed VERSION '0.1.0';
SELECT extversion, (SELECT count(*) FROM pg_proc WHERE proname = 'clip_embed_backfill') AS procedures
FROM pg_extension WHERE extname = 'clip_embed';
-- The new library under 0.1.0's SQL objects, before the UPDATE (what a server
-- runs between installing the files and ALTER EXTENSION): every 0.1.0 function
-- works. A changed result type here would crash the backend.
SELECT count(*) > 0 AS models_listed FROM clip_models();
SELECT array_length(clip_embed_text('before the update'), 1) AS text_dims,
       array_length(clip_embed_image(decode('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8IafBwMDAxMDAwMDAAAANcgESOXKF8gAAAABJRU5ErkJggg==', 'base64')), 1) AS image_dims,
       clip_similarity(ARRAY[1,2]::real[], ARRAY[2,4]::real[]) AS similarity,
       clip_similarity(decode('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8IafBwMDAxMDAwMDAAAANcgESOXKF8gAAAABJRU5ErkJggg==', 'base64'), 'x') BETWEEN -1 AND 1 AS image_text;
ALTER EXTENSION clip_embed UPDATE;
SELECT extversion, (SELECT count(*) FROM pg_proc WHERE proname = 'clip_embed_backfill') AS procedures
FROM pg_extension WHERE extname = 'clip_embed';
SELECT array_length(clip_embed_text('after the upgrade'), 1) AS dims;
-- Every clip_ object as the upgrade left it; functions.sql prints the same for a
-- fresh 0.2.0 install, and the two lists must match.
SELECT p.oid::regprocedure AS object, md5(pg_get_functiondef(p.oid)) AS definition
FROM pg_proc p WHERE proname LIKE 'clip\_%' ORDER BY 1::text;
\c contrib_regression
DROP DATABASE regress_upgrade;
