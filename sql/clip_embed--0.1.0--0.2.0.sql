-- clip_embed 0.1.0 -> 0.2.0. The SQL functions of 0.1.0 keep their signatures
-- (0.2.0's library changes how images decode and how long text is read; see
-- the README's upgrade note). New: clip_classify, the bulk-embedding
-- procedure, and the functions that list and remove prepared model copies. The install script of 0.2.0 runs this file last too (src/bulk.rs),
-- so both paths define these objects identically: the functions below repeat
-- what pgrx generates for src/api.rs, as CREATE OR REPLACE (the upgrade test
-- compares the definitions both paths leave).
\echo Use "ALTER EXTENSION clip_embed UPDATE" to load this file. \quit
CREATE OR REPLACE FUNCTION clip_classify(
    image bytea, labels text[], model text DEFAULT '', template text DEFAULT '{}')
RETURNS TABLE (label text, probability double precision, similarity double precision)
IMMUTABLE STRICT PARALLEL SAFE COST 2000000
LANGUAGE c AS 'MODULE_PATHNAME', 'clip_classify_image_wrapper';

CREATE OR REPLACE FUNCTION clip_classify(
    embedding real[], labels text[], model text DEFAULT '', template text DEFAULT '{}')
RETURNS TABLE (label text, probability double precision, similarity double precision)
IMMUTABLE STRICT PARALLEL SAFE COST 1000000
LANGUAGE c AS 'MODULE_PATHNAME', 'clip_classify_embedding_wrapper';

CREATE OR REPLACE FUNCTION clip_model_layouts()
RETURNS TABLE (name text, family text, variant text, visual_file text, textual_file text, tokenizer_file text,
    image_recipe text, image_mean real[], image_std real[], context_length integer, pad_token text,
    text_cleanup text, text_padded boolean, outputs_normalized boolean, scoring text, logit_scale double precision,
    logit_bias double precision, logit_source text, problem text)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'clip_model_layouts_wrapper';

CREATE OR REPLACE FUNCTION clip_prepared_models()
RETURNS TABLE (name text, model text, tower text, state text, size_bytes bigint,
    created timestamp with time zone, prepare_ms double precision, loaded_here boolean, path text)
STRICT VOLATILE PARALLEL SAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'clip_prepared_models_wrapper';

CREATE OR REPLACE FUNCTION clip_prepared_remove(name text DEFAULT NULL)
RETURNS TABLE (removed text, size_bytes bigint)
VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'clip_prepared_remove_wrapper';

CREATE PROCEDURE clip_embed_backfill(
    tbl regclass,
    image_column name,
    embedding_column name,
    batch_size integer DEFAULT 32,
    model text DEFAULT '',
    threads integer DEFAULT NULL)
LANGUAGE plpgsql AS $procedure$
DECLARE
    todo bigint;
    done bigint := 0;
    n bigint;
    started timestamptz := clock_timestamp();
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, not %', batch_size USING ERRCODE = '22023';
    END IF;
    -- clip_embed_image is STRICT: a NULL model would "embed" every row as NULL, forever.
    IF model IS NULL THEN
        RAISE EXCEPTION 'model must not be NULL (use '''' for clip_embed.default_model)' USING ERRCODE = '22004';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s WHERE %I IS NULL AND %I IS NOT NULL', tbl, embedding_column, image_column)
        INTO todo;
    LOOP
        -- Local to this batch's transaction: the session's own value is back
        -- after every COMMIT and on every error.
        IF threads IS NOT NULL THEN
            PERFORM set_config('clip_embed.intra_op_threads', threads::text, true);
        END IF;
        -- A row is (tableoid, ctid): a ctid alone repeats across the
        -- partitions or inheritance children of tbl. The TID scan finds the
        -- batch's ctids; only the (tableoid, ctid) pairs locked are updated.
        EXECUTE format(
            'WITH batch AS MATERIALIZED ('
            'SELECT tableoid AS rel, ctid AS tid FROM %1$s WHERE %2$I IS NULL AND %3$I IS NOT NULL '
            'LIMIT $2 FOR UPDATE SKIP LOCKED) '
            'UPDATE %1$s SET %2$I = clip_embed_image(%3$I, $1) '
            'WHERE ctid = ANY (ARRAY(SELECT tid FROM batch)) AND (tableoid, ctid) IN (SELECT rel, tid FROM batch)',
            tbl, embedding_column, image_column) USING model, batch_size;
        GET DIAGNOSTICS n = ROW_COUNT;
        EXIT WHEN n = 0;
        done := done + n;
        COMMIT;
        RAISE NOTICE 'clip_embed_backfill: % of % rows embedded', done, todo
            USING DETAIL = format('%s rows/s, %s s so far', round(done / greatest(
                extract(epoch FROM clock_timestamp() - started), 0.001)::numeric, 1),
                round(extract(epoch FROM clock_timestamp() - started)::numeric, 1));
    END LOOP;
END
$procedure$;
COMMENT ON PROCEDURE clip_embed_backfill(regclass, name, name, integer, text, integer) IS
    'Embeds the images of rows whose embedding column is NULL, in committed batches, with progress NOTICEs; re-runs skip finished rows.';
