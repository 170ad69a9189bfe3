"""Bulk embedding of an existing table, in one run: rows per second for
  * one UPDATE over the table (one backend, one ORT thread: what a user does today);
  * CALL clip_embed_backfill(..., threads => 1) in one session;
  * CALL clip_embed_backfill(..., threads => 2) in one session;
  * the same CALL (threads => 1) in two sessions at once, sharing the table
    through SKIP LOCKED.
Not a test. Usage: bulk.py --host SOCKET_DIR --port PORT --model NAME [--rows 24]
"""

import argparse
import io
import os
import sys
import threading
import time

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from image_corpus import scene  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", type=int, default=24)
    args = ap.parse_args()
    connect = dict(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True)
    images = []
    for i in range(args.rows):
        buf = io.BytesIO()
        scene(1280, 960, 700 + i).save(buf, "JPEG", quality=90)
        images.append(buf.getvalue())
    with psycopg.connect(**connect) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")
        conn.execute("ALTER EXTENSION clip_embed UPDATE")
        conn.execute("DROP TABLE IF EXISTS bulk_photos")
        conn.execute("CREATE TABLE bulk_photos (id serial PRIMARY KEY, data bytea, emb vector(512))")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bulk_photos (data) VALUES (%s)", [(b,) for b in images])

    def reset():
        with psycopg.connect(**connect) as c:
            c.execute("UPDATE bulk_photos SET emb = NULL")

    def warm(conn, threads):
        conn.execute(f"SET clip_embed.intra_op_threads = {threads}")
        conn.execute("SELECT clip_embed_image(data, %s) FROM bulk_photos LIMIT 1", (args.model,)).fetchone()

    def call(threads, sessions):
        reset()
        # A run must start from a table with every embedding NULL and end with none.
        conns = [psycopg.connect(**connect) for _ in range(sessions)]
        for c in conns:
            warm(c, threads)
        t0 = time.perf_counter()
        failures = []

        def run(c):
            try:
                c.execute("CALL clip_embed_backfill('bulk_photos', 'data', 'emb', batch_size => 4, model => %s,"
                          " threads => %s)", (args.model, threads))
            except psycopg.Error as e:
                failures.append(e)

        workers = [threading.Thread(target=run, args=(c,)) for c in conns]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if failures:
            raise failures[0]
        seconds = time.perf_counter() - t0
        for c in conns:
            c.close()
        with psycopg.connect(**connect) as c:
            left = c.execute("SELECT count(*) FROM bulk_photos WHERE emb IS NULL").fetchone()[0]
        if left:
            raise SystemExit(f"{left} rows left unembedded: the measurement is void")
        return args.rows / seconds

    reset()
    with psycopg.connect(**connect) as conn:
        warm(conn, 1)
        t0 = time.perf_counter()
        conn.execute("UPDATE bulk_photos SET emb = clip_embed_image(data, %s)", (args.model,))
        one_update = args.rows / (time.perf_counter() - t0)
    rows = [
        ("one UPDATE, 1 thread (baseline)", one_update),
        ("CALL clip_embed_backfill, 1 thread", call(1, 1)),
        ("CALL clip_embed_backfill, threads => 2", call(2, 1)),
        ("CALL in 2 sessions at once, 1 thread each", call(1, 2)),
    ]
    with psycopg.connect(**connect) as conn:
        left = conn.execute("SELECT count(*) FROM bulk_photos WHERE emb IS NULL").fetchone()[0]
        conn.execute("DROP TABLE bulk_photos")
    print(f"bulk embedding, model {args.model}, {args.rows} JPEGs of 1280x960, {os.cpu_count()} cores:")
    for name, rate in rows:
        print(f"  {name:45s} {rate:6.2f} rows/s  {rate / one_update:5.2f}x")
    print(f"  rows left unembedded after the last run: {left}")


if __name__ == "__main__":
    main()
