"""Citus 13.2.2 with clip_embed: a coordinator and two workers on this machine
(Unix sockets), 4 shards; checks what docs/scale-out.md says, each surprise
with its documented workaround working. Clusters are made with
scripts/pg_cluster.sh (shared_preload_libraries = 'citus') and stopped at the end.
Usage: citus.py --home CLIP_EMBED_HOME --samples DIR (scripts/citus.sh installed Citus)
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "..", "scripts", "pg_cluster.sh")
MODEL = "clip-shapes"
NODES = [("citus_c", 28820), ("citus_w1", 28821), ("citus_w2", 28822)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True)
    ap.add_argument("--samples", required=True)
    args = ap.parse_args()
    sockets = {name: os.path.join(args.home, name, "socket") for name, _ in NODES}
    failures = []

    def check(name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}")
        if not ok:
            failures.append(name)

    for name, port in NODES:
        # Fresh clusters every run: Citus's metadata of an earlier run would refuse the set-up.
        subprocess.run(["bash", CLUSTER, "stop", name])
        shutil.rmtree(os.path.join(args.home, name), ignore_errors=True)
        env = dict(os.environ, PG_CLUSTER_CONF=f"shared_preload_libraries = 'citus'\n"
                   f"citus.local_hostname = '{sockets[name]}'\nmax_worker_processes = 16")
        subprocess.run(["bash", CLUSTER, "start", name, str(port), os.path.join(args.home, "test-models")],
                       env=env, check=True)
    try:
        conns = {}
        for name, port in NODES:
            conn = psycopg.connect(host=sockets[name], port=port, user="postgres", dbname="postgres", autocommit=True)
            conn.execute("SET client_min_messages = warning")
            # Citus hides shard tables from other applications' catalogue queries.
            conn.execute("SET citus.show_shards_for_app_name_prefixes = '*'")
            for ext in ("citus", "vector", "clip_embed"):
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
            conns[name] = conn
        c = conns["citus_c"]
        c.execute("SELECT citus_set_coordinator_host(%s, %s)", (sockets["citus_c"], 28820))
        for name, port in NODES[1:]:
            c.execute("SELECT citus_add_node(%s, %s)", (sockets[name], port))
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
        def sqlstate(run):
            try:
                run()
            except psycopg.Error as e:
                return e.sqlstate
            return None

        def copy_bad():
            with c.cursor().copy("COPY photos (id, data) FROM STDIN") as copy:
                copy.write_row((1000, b"not an image"))

        check("COPY of a bad image through Citus: XX000", sqlstate(copy_bad) == "XX000", sqlstate(copy_bad))
        state = sqlstate(lambda: c.execute("INSERT INTO photos (id, data) VALUES (1001, 'not an image'::bytea)"))
        check("INSERT ... VALUES of a bad image: 22P03", state == "22P03", state)

        # Surprise: clip_embed_backfill on a distributed table fails (0A000); one UPDATE, run per shard by Citus, fills it.
        c.execute("CREATE TABLE old_photos (id bigint PRIMARY KEY, data bytea, emb vector(512))")
        c.execute("SELECT create_distributed_table('old_photos', 'id')")
        c.execute("INSERT INTO old_photos (id, data) SELECT id, data FROM photos")
        state = sqlstate(lambda: c.execute(f"CALL clip_embed_backfill('old_photos', 'data', 'emb', model => '{MODEL}')"))
        check("CALL clip_embed_backfill on a distributed table: 0A000", state == "0A000", state)
        c.execute(f"UPDATE old_photos SET emb = clip_embed_image(data, '{MODEL}')::vector WHERE emb IS NULL")
        filled = dict(c.execute("SELECT id, emb::text FROM old_photos").fetchall())
        check("... an UPDATE of the missing vectors fills them, the same vectors", filled == local)
        for conn in conns.values():
            conn.close()
    finally:
        for name, _ in NODES:
            subprocess.run(["bash", CLUSTER, "stop", name])
    print(f"citus: {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
