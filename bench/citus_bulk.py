"""Citus with clip_embed on one machine: a coordinator and two workers, 4 shards
(tests/citus/nodes.py), against one node. Prints, measured in one run:
  - bulk embedding: CALL clip_embed_backfill on a local table of the coordinator
    (one backend) against the same CALL on a distributed table (it runs on
    every shard placement at once, on the workers), and INSERT ... SELECT into a
    table with a generated column, local against distributed; with the ratio;
  - autocommit multi-row INSERTs (4 rows, one per shard) with Citus's default
    connection caching (citus.max_cached_conns_per_worker = 1) against 2: the
    first-row cost of the fresh worker backends each statement opens;
  - a fresh worker backend's first image, and the private memory of two
    backends per worker holding both towers;
  - text and image vectors from a prepared copy against the original graph
    (clip_embed.prepared_dir = ''): how many floats differ, by how much.
Usage: citus_bulk.py --home CLIP_EMBED_HOME --models DIR --samples DIR [--model M] [--images N] [--rows R] [--repeat K]
Run by bench/run.sh after scripts/citus.sh; not a test (no assertion on speed).
"""

import argparse
import glob
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "citus"))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import nodes  # noqa: E402
from backend_memory import private_mb  # noqa: E402

NODES = [("citusb_c", 28840), ("citusb_w1", 28841), ("citusb_w2", 28842)]


def timed(run):
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--model", default="vit-b-16-random")
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--rows", type=int, default=180, help="backfill rows (the images repeated)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    m = args.model
    images = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(args.samples, "*.png")))[: args.images]]
    sockets, conns = nodes.start(args.home, NODES, args.models)
    try:
        c = conns["citusb_c"]
        dim = len(c.execute("SELECT clip_embed_text('x', %s)", (m,)).fetchone()[0])
        c.execute("SET citus.shard_count = 4")
        print(f"citus bulk: {m}, {args.rows} rows of {len(images)} images, coordinator + 2 workers, 4 shards, on one machine "
              f"({os.cpu_count()} cores)")

        # Bulk: backfill, local (this backend, model loaded) against distributed.
        for t in ("local_t", "dist_t"):
            c.execute(f"CREATE TABLE {t} (id bigint PRIMARY KEY, data bytea, emb vector({dim}))")
        c.execute("SELECT create_distributed_table('dist_t', 'id')")
        for t in ("local_t", "dist_t"):
            with c.cursor().copy(f"COPY {t} (id, data) FROM STDIN") as copy:
                for i in range(args.rows):
                    copy.write_row((i, images[i % len(images)]))
        # Every node prepares its copies of the towers once (docs/prepared-copies.md); what is timed
        # after that is what every later backfill costs.
        for conn in conns.values():
            conn.execute("SELECT clip_embed_image(%s, %s), clip_embed_text('x', %s)", (images[0], m, m))
        # Alternated, --repeat times each (this machine is noisy): the medians' ratio.
        runs = {"local_t": [], "dist_t": []}
        for _ in range(args.repeat):
            for t in runs:
                c.execute(f"UPDATE {t} SET emb = NULL")
                runs[t].append(timed(lambda: c.execute(
                    f"CALL clip_embed_backfill('{t}', 'data', 'emb', model => '{m}')")))
        local_s, dist_s = statistics.median(runs["local_t"]), statistics.median(runs["dist_t"])
        same = c.execute("SELECT count(*) FROM local_t l JOIN dist_t d USING (id) WHERE l.emb = d.emb").fetchone()[0]
        print(f"  backfill        one node {local_s:6.2f} s   distributed {dist_s:6.2f} s   "
              f"ratio {local_s / dist_s:.2f}x   (medians of {args.repeat}: "
              f"{' '.join(f'{x:.2f}' for x in runs['local_t'])} / {' '.join(f'{x:.2f}' for x in runs['dist_t'])} s; "
              f"{same} of {args.rows} vectors bit-identical)")

        # Bulk: INSERT ... SELECT into a generated column, local against distributed.
        for t in ("gen_local", "gen_dist"):
            c.execute(f"CREATE TABLE {t} (id bigint PRIMARY KEY, data bytea, emb vector({dim}) "
                      f"GENERATED ALWAYS AS (clip_embed_image(data, '{m}')::vector) STORED)")
        c.execute("SELECT create_distributed_table('gen_dist', 'id')")
        one_per_image = "SELECT id, data FROM local_t WHERE id < %s"
        local_s = timed(lambda: c.execute(f"INSERT INTO gen_local (id, data) {one_per_image}", (len(images),)))
        dist_s = timed(lambda: c.execute(f"INSERT INTO gen_dist (id, data) {one_per_image}", (len(images),)))
        print(f"  INSERT..SELECT  one node {local_s:6.2f} s   distributed {dist_s:6.2f} s   "
              f"ratio {local_s / dist_s:.2f}x")

        # Autocommit multi-row INSERTs: fresh worker backends per statement, by connection caching.
        ids = iter(range(10_000, 1_000_000))
        four = [images[i % len(images)] for i in range(4)]

        def insert_four():
            rows = [(next(ids), d) for d in four]
            c.execute("INSERT INTO gen_dist (id, data) VALUES " + ", ".join(["(%s, %s)"] * 4),
                      [x for r in rows for x in r])

        for cached in (1, 2):
            c.execute(f"ALTER SYSTEM SET citus.max_cached_conns_per_worker = {cached}")
            c.execute("SELECT pg_reload_conf()")
            time.sleep(0.3)
            c.close()
            c = nodes.connect(sockets["citusb_c"], 28840)
            c.execute("SELECT clip_embed_text('x', %s)", (m,))
            insert_four()  # the first statement opens every connection
            times = [timed(insert_four) for _ in range(8)]
            print(f"  4-row INSERT, max_cached_conns_per_worker = {cached}: median {statistics.median(times) * 1000:6.1f}"
                  f" ms, max {max(times) * 1000:6.1f} ms (8 statements after the first)")
        conns["citusb_c"] = c

        # A fresh worker backend's first row (what a new Citus connection pays), and private memory of
        # worker backends holding both towers, two per worker, sharing the prepared copies.
        held = []
        for name, port in NODES[1:]:
            firsts = []
            for _ in range(2):
                s_conn = nodes.connect(sockets[name], port)
                first = timed(lambda: s_conn.execute("SELECT clip_embed_image(%s, %s)", (images[1], m)))
                second = timed(lambda: s_conn.execute("SELECT clip_embed_image(%s, %s)", (images[1], m)))
                s_conn.execute("SELECT clip_embed_text('a red bicycle', %s)", (m,))
                firsts.append(f"{first * 1000:.0f} ms (then {second * 1000:.0f} ms)")
                held.append(s_conn)
            pids = [x.info.backend_pid for x in held[-2:]]
            print(f"  {name}: first image in a fresh backend {', '.join(firsts)}; private MB of two backends "
                  f"holding both towers: {[round(private_mb(p), 1) for p in pids]}")
        for x in held:
            x.close()

        # A prepared copy against the original graph: one node, two fresh sessions.
        def vectors(prepared):
            with nodes.connect(sockets["citusb_c"], 28840) as s:
                if not prepared:
                    s.execute("SET clip_embed.prepared_dir = ''")
                t = s.execute("SELECT clip_embed_text('a photo of a red bicycle', %s)", (m,)).fetchone()[0]
                i = s.execute("SELECT clip_embed_image(%s, %s)", (images[0], m)).fetchone()[0]
                return t, i  # real[] arrives as Python floats, each exactly its float4

        (tp, ip), (to, io) = vectors(True), vectors(False)
        for what, a, b in (("text", tp, to), ("image", ip, io)):
            diff = [abs(x - y) for x, y in zip(a, b)]
            print(f"  {what} vector, prepared copy vs original graph: {sum(d > 0 for d in diff)} of {len(diff)} floats "
                  f"differ, max {max(diff):.2e}")
    finally:
        for conn in conns.values():
            conn.close()
        nodes.stop(NODES)


if __name__ == "__main__":
    main()
