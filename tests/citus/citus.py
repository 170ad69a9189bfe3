"""Citus 13.2.2 with clip_embed: a coordinator and two workers on this machine
(Unix sockets), 4 shards; checks what docs/scale-out.md says, each surprise
with its documented workaround working. Clusters are made by
nodes.py (scripts/pg_cluster.sh, shared_preload_libraries = 'citus') and stopped at the end.
Usage: citus.py --home CLIP_EMBED_HOME --samples DIR (scripts/citus.sh installed Citus)
"""

import argparse
import glob
import os
import sys

import nodes
import psycopg

MODEL = "clip-shapes"
NODES = [("citus_c", 28820), ("citus_w1", 28821), ("citus_w2", 28822)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True)
    ap.add_argument("--samples", required=True)
    args = ap.parse_args()
    failures = []

    def check(name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}")
        if not ok:
            failures.append(name)

    sockets, conns = nodes.start(args.home, NODES, os.path.join(args.home, "test-models"))
    try:
        c = conns["citus_c"]
        c.execute("SET citus.shard_count = 4")
        c.execute("CREATE TABLE photos (id bigint PRIMARY KEY, data bytea, emb vector(512) GENERATED ALWAYS AS "
                  f"(clip_embed_image(data, '{MODEL}')::vector) STORED)")
        c.execute("SELECT create_distributed_table('photos', 'id')")
        c.execute("CREATE INDEX photos_emb ON photos USING hnsw (emb vector_cosine_ops)")
        files = sorted(glob.glob(os.path.join(args.samples, "*.png")))[:20]
        images = [open(f, "rb").read() for f in files]
        for i, data in enumerate(images):
            c.execute("INSERT INTO photos (id, data) VALUES (%s, %s)", (i, data))

        # Vectors: computed by the workers that own the shards, bit-identical to the coordinator's own.
        stored = dict(c.execute("SELECT id, emb::text FROM photos").fetchall())
        local = {i: c.execute("SELECT clip_embed_image(%s, %s)::vector::text", (d, MODEL)).fetchone()[0]
                 for i, d in enumerate(images)}
        check(f"{len(images)} rows, vectors bit-identical to the coordinator's own", stored == local and len(stored) == 20)
        on_workers = 0
        for name, _ in NODES[1:]:
            shards = [r[0] for r in conns[name].execute(
                "SELECT relname FROM pg_class WHERE relname ~ '^photos_[0-9]+$' AND relkind = 'r'").fetchall()]
            for shard in shards:
                rows = conns[name].execute(f"SELECT id, emb::text FROM {shard}").fetchall()
                on_workers += sum(1 for i, e in rows if e == local[i])
        check("every row lives on a worker, its stored vector equal", on_workers == 20, on_workers)

        # HNSW on every shard.
        per_worker = [conns[name].execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname ~ '^photos_emb_[0-9]+$' "
            "AND indexdef LIKE '%USING hnsw%'").fetchone()[0] for name, _ in NODES[1:]]
        check("the HNSW index exists on all 4 shards", sum(per_worker) == 4 and all(per_worker), per_worker)

        # k-NN pushed down, the query vector folded once on the coordinator.
        query = (f"SELECT id FROM photos ORDER BY emb <=> clip_embed_text('a red circle', '{MODEL}')::vector "
                 "LIMIT 5")
        plan = "\n".join(r[0] for r in c.execute("EXPLAIN (VERBOSE, COSTS OFF) " + query).fetchall())
        check("k-NN: 4 tasks, each with the query vector as a literal",
              "Task Count: 4" in plan and "clip_embed_text" not in plan.split("Task Count")[1] and "'[" in plan,
              plan[-800:])
        c.execute("CREATE TABLE local_photos AS SELECT id, emb FROM photos")
        exact = [r[0] for r in c.execute(query.replace("FROM photos", "FROM local_photos")).fetchall()]
        check("k-NN through Citus = exact search on the coordinator", [r[0] for r in c.execute(query)] == exact)

        # A shard move recomputes identical vectors on the target.
        shard, source = c.execute(
            "SELECT shardid, nodename FROM pg_dist_shard_placement WHERE shardid IN "
            "(SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'photos'::regclass) ORDER BY shardid LIMIT 1"
        ).fetchone()
        target = sockets["citus_w2"] if source == sockets["citus_w1"] else sockets["citus_w1"]
        ports = {sockets[n]: p for n, p in NODES}
        c.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s, shard_transfer_mode => 'block_writes')",
                  (shard, source, ports[source], target, ports[target]))
        moved = dict(c.execute("SELECT id, emb::text FROM photos").fetchall())
        check("after a shard move, the same vectors", moved == local)

        # Surprise: a session SET does not reach the workers; SET LOCAL with
        # citus.propagate_set_commands = 'local' does.
        same = "SELECT count(*) FROM photos WHERE emb = clip_embed_image(data)::vector"
        c.execute("SET clip_embed.default_model = 'tiny-random'")
        check("a session SET clip_embed.default_model does not reach the workers",
              c.execute(same).fetchone()[0] == 20)
        c.execute("RESET clip_embed.default_model")
        c.execute("SET citus.propagate_set_commands = 'local'")
        with c.transaction():
            c.execute("SET LOCAL clip_embed.default_model = 'tiny-random'")
            check("... SET LOCAL with citus.propagate_set_commands = 'local' does", c.execute(same).fetchone()[0] == 0)

        # Surprise: COPY through Citus reports a worker's 22P03 as XX000; INSERT ... VALUES keeps 22P03.
        def error(run):
            """What running `run` raised: (SQLSTATE, message, context), or (None, "", "")."""
            try:
                run()
            except psycopg.Error as e:
                return e.sqlstate, e.diag.message_primary, e.diag.context or ""
            return None, "", ""

        def sqlstate(run):
            return error(run)[0]

        def copy_bad():
            with c.cursor().copy("COPY photos (id, data) FROM STDIN") as copy:
                copy.write_row((1000, b"not an image"))

        check("COPY of a bad image through Citus: XX000", sqlstate(copy_bad) == "XX000", sqlstate(copy_bad))
        state = sqlstate(lambda: c.execute("INSERT INTO photos (id, data) VALUES (1001, 'not an image'::bytea)"))
        check("INSERT ... VALUES of a bad image: 22P03", state == "22P03", state)

        # clip_embed_backfill on a distributed table: runs on every shard placement, on the workers, in parallel.
        c.execute("CREATE TABLE old_photos (id bigint PRIMARY KEY, data bytea, emb vector(512))")
        c.execute("SELECT create_distributed_table('old_photos', 'id')")
        c.execute("INSERT INTO old_photos (id, data) SELECT id, data FROM photos")
        notices = []
        c.add_notice_handler(lambda d: notices.append(d.message_primary))
        c.execute("SET client_min_messages = notice")
        c.execute(f"CALL clip_embed_backfill('old_photos', 'data', 'emb', batch_size => 3, model => '{MODEL}')")
        c.execute("SET client_min_messages = warning")
        filled = dict(c.execute("SELECT id, emb::text FROM old_photos").fetchall())
        check("CALL clip_embed_backfill on a distributed table fills it with the same vectors", filled == local)
        check("... and says how many rows it embedded",
              any("20 of 20 rows embedded, on the nodes" in n for n in notices), notices)
        # A quote and a per cent sign in the names reach each shard intact.
        c.execute("""CREATE TABLE "odd'name%s" (id bigint PRIMARY KEY, "im%sg" bytea, "e'mb" vector(512))""")
        c.execute("""SELECT create_distributed_table('"odd''name%s"', 'id')""")
        c.execute("""INSERT INTO "odd'name%s" (id, "im%sg") SELECT id, data FROM photos""")
        c.execute(f"""CALL clip_embed_backfill('"odd''name%s"', 'im%sg', 'e''mb', model => '{MODEL}')""")
        odd = dict(c.execute("""SELECT id, "e'mb"::text FROM "odd'name%s" """).fetchall())
        check("... also for a table and columns named with a quote and a %", odd == local)
        # An ordinary role backfills its own distributed table too (Citus connects to the workers as that
        # role: the nodes' peer map lets the OS user postgres in as it).
        c.execute("CREATE ROLE regress_citus_user LOGIN")
        c.execute("GRANT CREATE ON SCHEMA public TO regress_citus_user")
        for name, _ in NODES:
            with open(os.path.join(args.home, name, "data", "pg_ident.conf"), "a") as ident:
                ident.write("owners postgres regress_citus_user\n")
            conns[name].execute("SELECT pg_reload_conf()")
        c.execute("SET ROLE regress_citus_user")
        c.execute("CREATE TABLE user_photos (id bigint PRIMARY KEY, data bytea, emb vector(512))")
        c.execute("SELECT create_distributed_table('user_photos', 'id')")
        c.execute("INSERT INTO user_photos (id, data) VALUES " + ", ".join(["(%s, %s)"] * len(images)),
                  [x for i, data in enumerate(images) for x in (i, data)])
        c.execute(f"CALL clip_embed_backfill('user_photos', 'data', 'emb', model => '{MODEL}')")
        mine = dict(c.execute("SELECT id, emb::text FROM user_photos").fetchall())
        c.execute("RESET ROLE")
        check("... by an ordinary role on its own table, the same vectors", mine == local)
        # Shadows never run: an operator for regclass = regclass on the caller's search_path, and on a
        # worker a procedure of the same name taking text (a better match for untyped literals).
        c.execute("CREATE SCHEMA shadow")
        c.execute("CREATE FUNCTION shadow.eq(regclass, regclass) RETURNS boolean LANGUAGE plpgsql "
                  "AS $$ BEGIN RAISE EXCEPTION 'the shadow = ran'; END $$")
        c.execute("CREATE OPERATOR shadow.= (leftarg = regclass, rightarg = regclass, function = shadow.eq)")
        w1 = conns["citus_w1"]
        with w1.transaction():  # Citus lets a worker create a local object with DDL propagation off
            w1.execute("SET LOCAL citus.enable_ddl_propagation = off")
            w1.execute("CREATE PROCEDURE public.clip_embed_backfill(a text, b text, c text, d integer, e text, f text) "
                       "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the shadow procedure ran'; END $$")
        c.execute("UPDATE old_photos SET emb = NULL")
        c.execute("SET search_path = shadow, public")
        c.execute(f"CALL clip_embed_backfill('old_photos', 'data', 'emb', model => '{MODEL}')")
        c.execute("RESET search_path")
        refilled = dict(c.execute("SELECT id, emb::text FROM old_photos").fetchall())
        check("... with another's operator on the search_path and procedure on a worker: the same vectors",
              refilled == local)
        c.execute("DROP SCHEMA shadow CASCADE")
        with w1.transaction():
            w1.execute("SET LOCAL citus.enable_ddl_propagation = off")
            w1.execute("DROP PROCEDURE public.clip_embed_backfill(text, text, text, integer, text, text)")
        # In a transaction block: 2D000 before any node works, as for a local table.
        c.execute("UPDATE old_photos SET emb = NULL")

        def in_a_block():
            with c.transaction():
                c.execute(f"CALL clip_embed_backfill('old_photos', 'data', 'emb', model => '{MODEL}')")

        state = sqlstate(in_a_block)
        untouched = c.execute("SELECT count(emb) FROM old_photos").fetchone()[0]
        check("... in a transaction block: 2D000, nothing embedded", (state, untouched) == ("2D000", 0),
              (state, untouched))
        # Replicated shards (or a reference table) would be embedded by each placement's node apart: refused.
        c.execute("SET citus.shard_replication_factor = 2")
        c.execute("CREATE TABLE replicated (id bigint PRIMARY KEY, data bytea, emb vector(512))")
        c.execute("SELECT create_distributed_table('replicated', 'id')")
        c.execute("RESET citus.shard_replication_factor")
        state = sqlstate(lambda: c.execute(f"CALL clip_embed_backfill('replicated', 'data', 'emb', model => '{MODEL}')"))
        check("... a table with replicated shards: 0A000", state == "0A000", state)
        # A worker that fails (here: a model no node has) is named, with its error; 38000.
        c.execute("UPDATE old_photos SET emb = NULL")
        state, message, _ = error(
            lambda: c.execute("CALL clip_embed_backfill('old_photos', 'data', 'emb', model => 'no-such')"))
        check("... a worker's failure: 38000 naming the node and the worker's error",
              state == "38000" and 'model "no-such" does not exist' in message
              and (f"{sockets['citus_w1']}:28821" in message or f"{sockets['citus_w2']}:28822" in message),
              (state, message))
        # A worker set up without the model directory: the extension's 58P01, which Citus passes back with
        # the node in its CONTEXT for INSERT; COPY turns it into XX000 with the worker's message only.
        w2 = conns["citus_w2"]
        w2.execute("ALTER SYSTEM SET clip_embed.model_dir = '/nonexistent/clip_models'")
        w2.execute("SELECT pg_reload_conf()")
        c.execute("TRUNCATE photos")

        def insert_everywhere():  # ids whose shards live on both workers
            c.execute("INSERT INTO photos (id, data) VALUES " + ", ".join(["(%s, %s)"] * 8),
                      [x for i in range(1, 9) for x in (i, images[0])])

        state, message, context = error(insert_everywhere)
        check("a worker without the model directory: 58P01 naming it, the node in Citus's CONTEXT",
              state == "58P01" and message == 'model directory not found at "/nonexistent/clip_models"'
              and f"{sockets['citus_w2']}:28822" in context, (state, message, context))

        def copy_everywhere():
            with c.cursor().copy("COPY photos (id, data) FROM STDIN") as copy:
                for i in range(1, 9):
                    copy.write_row((i, images[0]))

        state, message, _ = error(copy_everywhere)
        check("... through COPY: XX000 with the same message", (state, message) == (
            "XX000", 'model directory not found at "/nonexistent/clip_models"'), (state, message))
        w2.execute("ALTER SYSTEM RESET clip_embed.model_dir")
        w2.execute("SELECT pg_reload_conf()")
        for conn in conns.values():
            conn.close()
    finally:
        nodes.stop(NODES)
    print(f"citus: {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
