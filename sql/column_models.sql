-- clip_column_models: which installed model made a column's vectors (src/column_models.rs
-- says why). Part of the install script; the upgrade script takes it from there
-- (tools/upgrade_script.py).
CREATE FUNCTION clip_column_models(
    tbl regclass,
    source_column name,
    embedding_column name,
    sample_rows integer DEFAULT 100)
RETURNS TABLE (models text[], sampled_rows bigint, min_similarity double precision)
LANGUAGE plpgsql VOLATILE
-- The search_path CREATE EXTENSION runs this script with (the extension's
-- schema; pg_catalog comes first): a function or operator that another role
-- created in a schema on the caller's path, for exactly the types of a call
-- here (array_position(text[], text), text[] || text), is never the one run.
SET search_path FROM CURRENT
AS $function$
DECLARE
    source_type regtype;
    embedding_type regtype;
    embeds_text boolean;
    -- Candidates: installed models, with their widths.
    candidates text[];
    widths integer[];
    similarities double precision[];
    -- One tally per set of models that were a row's best match, keyed by
    -- their names joined with ' ' (a model name holds no space); '' = none.
    tally_keys text[] := '{}';
    tally_rows bigint[] := '{}';
    tally_min double precision[] := '{}';
    r record;
    i integer;
    k integer;
    best double precision;
    matched text;
BEGIN
    IF sample_rows IS NULL OR sample_rows < 1 OR sample_rows > 10000 THEN
        RAISE EXCEPTION 'sample_rows must be between 1 and 10000, not %', sample_rows USING ERRCODE = '22023';
    END IF;
    SELECT a.atttypid INTO source_type FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attname = source_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF source_type IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', source_column, tbl USING ERRCODE = '42703';
    END IF;
    SELECT a.atttypid INTO embedding_type FROM pg_attribute a
        WHERE a.attrelid = tbl AND a.attname = embedding_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF embedding_type IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', embedding_column, tbl USING ERRCODE = '42703';
    END IF;
    IF source_type = 'bytea'::regtype THEN
        embeds_text := false;
    ELSIF source_type IN ('text'::regtype, 'character varying'::regtype) THEN
        embeds_text := true;
    ELSE
        RAISE EXCEPTION 'column "%" is of type %, not bytea (images) or text', source_column, source_type
            USING ERRCODE = '42804';
    END IF;
    SELECT array_agg(m.name ORDER BY m.name), array_agg(m.embedding_dim ORDER BY m.name)
        INTO candidates, widths FROM clip_models() m;

    -- ORDER BY random() reads the whole table once (the caller's own rows) and
    -- keeps sample_rows of them: rows added late, where a second model usually
    -- shows up, are as likely to be drawn as the first ones.
    FOR r IN EXECUTE format(
        'SELECT %1$s AS text_source, %2$s AS image_source, %3$I::real[] AS embedding FROM %4$s '
        'WHERE %5$I IS NOT NULL AND %3$I IS NOT NULL ORDER BY random() LIMIT $1',
        CASE WHEN embeds_text THEN format('%I::text', source_column) ELSE 'NULL::text' END,
        CASE WHEN embeds_text THEN 'NULL::bytea' ELSE format('%I', source_column) END,
        embedding_column, tbl, source_column) USING sample_rows
    LOOP
        similarities := array_fill(NULL::double precision, ARRAY[coalesce(array_length(candidates, 1), 0)]);
        FOR i IN 1 .. coalesce(array_length(candidates, 1), 0) LOOP
            CONTINUE WHEN widths[i] IS DISTINCT FROM cardinality(r.embedding);
            BEGIN
                similarities[i] := clip_similarity(r.embedding, CASE WHEN embeds_text
                    THEN clip_embed_text(r.text_source, candidates[i])
                    ELSE clip_embed_image(r.image_source, candidates[i]) END);
            EXCEPTION WHEN others THEN
                -- A model that does not load (a broken folder, a text-only
                -- model) or refuses this row made none of its vectors. A
                -- cancel is not an "others": it still ends the call.
                similarities[i] := NULL;
            END;
        END LOOP;
        SELECT max(s) INTO best FROM unnest(similarities) AS s;
        -- 0.999: a vector this model made, stored as vector or halfvec, or made
        -- by the Python reference from a lossy file (>= 0.9995); another
        -- model's vector, or this name's earlier weights, score far below.
        -- Models within 1e-6 of the best tie: the same weights under two names.
        matched := '';
        IF best >= 0.999 THEN
            SELECT string_agg(candidates[s.pos], ' ' ORDER BY candidates[s.pos]) INTO matched
                FROM generate_subscripts(similarities, 1) AS s(pos) WHERE similarities[s.pos] >= best - 1e-6;
        END IF;
        k := array_position(tally_keys, matched);
        IF k IS NULL THEN
            tally_keys := tally_keys || matched;
            tally_rows := tally_rows || 1::bigint;
            tally_min := tally_min || best;
        ELSE
            tally_rows[k] := tally_rows[k] + 1;
            tally_min[k] := least(tally_min[k], best);
        END IF;
    END LOOP;
    RETURN QUERY SELECT CASE WHEN t.key = '' THEN '{}'::text[] ELSE string_to_array(t.key, ' ') END, t.n, t.s
        FROM unnest(tally_keys, tally_rows, tally_min) AS t(key, n, s)
        ORDER BY t.n DESC, t.key;
END
$function$;
COMMENT ON FUNCTION clip_column_models(regclass, name, name, integer) IS
    'Re-embeds a random sample of a column''s rows with each installed model of its width and counts the rows each model made ({}: none of them; two names: the same weights); more than one row means a mixed column.';
