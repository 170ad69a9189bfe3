-- Zero-shot classification in SQL on the default model (clip-shapes): one row
-- per label, best first, softmax probability and cosine similarity.
SELECT label, round(probability::numeric, 2) AS probability, round(similarity::numeric, 2) AS similarity
FROM regress_images, clip_classify(data, ARRAY['red circle', 'blue square', 'green circle', 'yellow circle'],
                                   template => 'a {}')
WHERE name = 'red circle';
-- Every picture's best label is its own name; probabilities sum to 1.
SELECT name, (SELECT label FROM clip_classify(data, ARRAY['red circle', 'blue square', 'green circle',
              'red square', 'yellow circle', 'blue circle'], template => 'a {}') LIMIT 1) AS best,
       (SELECT round(sum(probability)::numeric, 9) FROM clip_classify(data, ARRAY['red circle', 'blue square'])) AS total
FROM regress_images ORDER BY name;
-- A stored embedding gives the same rows as the image.
SELECT bool_and(a.label = b.label AND a.probability = b.probability AND a.similarity = b.similarity) AS same
FROM regress_images,
     LATERAL (SELECT row_number() OVER () AS n, * FROM clip_classify(data, ARRAY['red circle', 'blue circle'])) a,
     LATERAL (SELECT row_number() OVER () AS n, * FROM clip_classify(clip_embed_image(data),
                                                                    ARRAY['red circle', 'blue circle'])) b
WHERE a.n = b.n;
-- Defined edge cases: NULL labels give no rows (STRICT); the rest are errors.
SELECT count(*) AS rows_for_null_labels FROM regress_images, clip_classify(data, NULL::text[]);
SELECT regress_error($$SELECT * FROM regress_images, clip_classify(data, '{}'::text[])$$);
SELECT regress_error($$SELECT * FROM regress_images, clip_classify(data, ARRAY['a cat', NULL])$$);
SELECT regress_error($$SELECT * FROM regress_images, clip_classify(data, ARRAY['a cat', ' '])$$);
SELECT regress_error($$SELECT * FROM regress_images, clip_classify(data, ARRAY['a cat', 'a dog', 'a cat'])$$);
SELECT regress_error($$SELECT * FROM regress_images, clip_classify(data, ARRAY['a cat'], template => 'a photo')$$);
SELECT regress_error($$SELECT * FROM clip_classify(ARRAY[1, 2, 3]::real[], ARRAY['a cat'])$$);
