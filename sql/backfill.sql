-- clip_embed_backfill: embeds a table's images in committed batches (src/bulk.rs
-- says why). Part of the install script (pgrx includes this file last, after
-- every function: the procedure calls clip_embed_image); the upgrade script
-- takes it from there (tools/upgrade_script.py).
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
    started timestamptz := pg_catalog.clock_timestamp();
    existing_similarity double precision;
    distributed boolean := false;
    shard_args text;
    node_names text[];
    node_ports integer[];
    node_commands text[];
    node record;
    -- This extension's schema, read from the catalogue (the workers' CALL names it).
    ext text := (SELECT e.extnamespace::pg_catalog.regnamespace::pg_catalog.text FROM pg_catalog.pg_extension e
                 WHERE e.extname OPERATOR(pg_catalog.=) 'clip_embed'::pg_catalog.name);
    -- Every statement below runs with this search_path, as a SET clause would
    -- give a function (a procedure with one may not COMMIT). Under the
    -- caller's, a function or operator that another role created in a schema
    -- on it, for exactly the types of a call here (format(text, regclass,
    -- name, name), array_agg(text), float8 < numeric), would be the one run,
    -- with the caller's rights. Set again after each COMMIT; the caller's is
    -- put back before the CALL returns.
    own_path text := 'pg_catalog, ' OPERATOR(pg_catalog.||) ext OPERATOR(pg_catalog.||) ', pg_temp';
    caller_path text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', own_path, true);
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1, not %', batch_size USING ERRCODE = '22023';
    END IF;
    -- clip_embed_image is STRICT: a NULL model would "embed" every row as NULL, forever.
    IF model IS NULL THEN
        RAISE EXCEPTION 'model must not be NULL (use '''' for clip_embed.default_model)' USING ERRCODE = '22004';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s WHERE %I IS NULL AND %I IS NOT NULL', tbl, embedding_column, image_column)
        INTO todo;
    -- A column holds one model's vectors: if a row embedded already was made
    -- by another model (or this name's earlier weights), say so before adding
    -- more. One row, one embedding; clip_column_models samples the whole column.
    BEGIN
        EXECUTE format('SELECT %1$s.clip_similarity(%2$I::real[], %1$s.clip_embed_image(%3$I, $1)) FROM %4$s '
                       'WHERE %2$I IS NOT NULL AND %3$I IS NOT NULL LIMIT 1',
                       ext, embedding_column, image_column, tbl)
            INTO existing_similarity USING model;
    EXCEPTION WHEN others THEN
        -- No cast to real[] (sparsevec), an undecodable image: no verdict. A
        -- cancel is not an "others" and still ends the CALL.
        existing_similarity := NULL;
    END;
    -- Operators between two types (float8 < numeric, regclass = regclass,
    -- bigint / numeric) are written so that only pg_catalog's can match: an
    -- operator another role defined for exactly those types, in any schema on
    -- the caller's search_path, would otherwise win over the built-in's cast.
    IF existing_similarity < 0.999::float8 THEN
        RAISE WARNING 'column "%" of % already holds vectors that model "%" did not make', embedding_column, tbl,
                CASE WHEN model = '' THEN current_setting('clip_embed.default_model', true) ELSE model END
            USING DETAIL = format('A sampled row''s stored vector has cosine similarity %s to this model''s.',
                                  round(existing_similarity::numeric, 4)),
                  HINT = format('A column must hold one model''s vectors: SELECT * FROM clip_column_models(%L, %L, %L) '
                                'counts the rows each model made.', tbl::text, image_column, embedding_column);
    END IF;
    -- Citus: a distributed table's rows live in shards on the workers, where
    -- this procedure's FOR UPDATE batches cannot reach from here (Citus refuses
    -- them: 0A000). Each shard is an ordinary table on its worker, so the
    -- procedure runs there: one backend per node (a DO block that embeds the
    -- node's shards in turn, loading the model once), all nodes at once
    -- (master_run_on_worker, as Citus's own run_command_on_shards runs its
    -- commands); threads => n uses n cores per node (docs/scale-out.md).
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition '
                'WHERE logicalrelid OPERATOR(pg_catalog.=) $1::pg_catalog.oid)'
            INTO distributed USING tbl;
    END IF;
    IF distributed THEN
        -- A shard with several placements (a replicated table, a reference
        -- table) would be embedded by each placement's node on its own: after
        -- a failure on one node its replicas would differ.
        IF EXISTS (SELECT FROM pg_catalog.pg_dist_shard sh JOIN pg_catalog.pg_dist_shard_placement p USING (shardid)
                    WHERE sh.logicalrelid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid AND p.shardstate = 1
                    GROUP BY sh.shardid HAVING count(*) > 1) THEN
            RAISE EXCEPTION 'clip_embed_backfill: % has shards with several placements (replicated, or a reference table)', tbl
                USING ERRCODE = '0A000',
                      HINT = format('UPDATE %s SET %I = clip_embed_image(%I, %L) WHERE %I IS NULL embeds it on every '
                                    'placement in one transaction.', tbl, embedding_column, image_column, model,
                                    embedding_column);
        END IF;
        -- Typed literals: on the worker, a procedure of the same name with
        -- other parameter types (text, ...) never matches the call better.
        shard_args := format('%L::pg_catalog.name, %L::pg_catalog.name, %s::pg_catalog.int4, %L::pg_catalog.text, '
                             '%s::pg_catalog.int4', image_column, embedding_column, batch_size, model,
                             coalesce(threads::text, 'NULL'));
        -- Citus's catalogue, read only when Citus is there (plpgsql plans a statement when it first runs it).
        SELECT array_agg(nodename), array_agg(nodeport), array_agg(command)
          INTO node_names, node_ports, node_commands
          FROM (SELECT p.nodename, p.nodeport,
                       'DO ' || quote_literal('BEGIN ' || string_agg(format(
                           'CALL %s.clip_embed_backfill(%L::pg_catalog.regclass, %s); ', ext,
                           -- Schema-qualified always (Citus 13.1+): not read with the worker's search_path.
                           pg_catalog.shard_name(sh.logicalrelid, sh.shardid, false), shard_args),
                           '' ORDER BY sh.shardid) || ' END') AS command
                  FROM pg_catalog.pg_dist_shard sh JOIN pg_catalog.pg_dist_shard_placement p USING (shardid)
                 WHERE sh.logicalrelid OPERATOR(pg_catalog.=) tbl::pg_catalog.oid AND p.shardstate = 1
                 GROUP BY p.nodename, p.nodeport) per_node;
        -- Commit what this transaction holds (the table's lock, its snapshot)
        -- before the nodes work for minutes: an ALTER TABLE waiting behind it
        -- would queue every query on the table. In a transaction block this
        -- raises 2D000, as the batches of a local table do.
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', own_path, true);
        FOR node IN SELECT * FROM pg_catalog.master_run_on_worker(node_names, node_ports, node_commands, true) LOOP
            IF NOT node.success THEN
                RAISE EXCEPTION 'clip_embed_backfill: the shards of % on node %:% failed: %', tbl,
                        node.node_name, node.node_port, node.result
                    USING ERRCODE = '38000',
                          HINT = 'Rows embedded before the failure keep their vectors; CALL again to embed the rest.';
            END IF;
        END LOOP;
        EXECUTE format('SELECT count(*) FROM %s WHERE %I IS NULL AND %I IS NOT NULL', tbl, embedding_column, image_column)
            INTO n;
        RAISE NOTICE 'clip_embed_backfill: % of % rows embedded, on the nodes of distributed table %',
                todo - n, todo, tbl
            USING DETAIL = format('%s s', round(extract(epoch FROM clock_timestamp() - started)::numeric, 1));
        PERFORM pg_catalog.set_config('search_path', caller_path, true);
        RETURN;
    END IF;
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
            'UPDATE %1$s SET %2$I = %4$s.clip_embed_image(%3$I, $1) '
            'WHERE ctid = ANY (ARRAY(SELECT tid FROM batch)) AND (tableoid, ctid) IN (SELECT rel, tid FROM batch)',
            tbl, embedding_column, image_column, ext) USING model, batch_size;
        GET DIAGNOSTICS n = ROW_COUNT;
        EXIT WHEN n = 0;
        done := done + n;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', own_path, true);
        RAISE NOTICE 'clip_embed_backfill: % of % rows embedded', done, todo
            USING DETAIL = format('%s rows/s, %s s so far', round(done::numeric / greatest(
                extract(epoch FROM clock_timestamp() - started), 0.001)::numeric, 1),
                round(extract(epoch FROM clock_timestamp() - started)::numeric, 1));
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
END
$procedure$;
COMMENT ON PROCEDURE clip_embed_backfill(regclass, name, name, integer, text, integer) IS
    'Embeds the images of rows whose embedding column is NULL, in committed batches, with progress NOTICEs; re-runs skip finished rows.';
