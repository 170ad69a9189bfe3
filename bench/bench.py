"""Benchmark: clip_embed in SQL against the Python reference pipeline (PIL +
numpy + onnxruntime, what a Python embedding service runs), on the same model
files, one ORT thread each, in one run, printing ratios. Not a test.

Per item, median of repeated single calls:
  * python: ReferenceModel.embed_image(bytes) / embed_text(str) in-process
    (no HTTP hop, so the service's real cost is higher);
  * sql:    SELECT clip_embed_image($1, model) over a Unix socket (includes the
    round trip and bytea transfer);
  * sql-bulk: SELECT count(clip_embed_image(data)) FROM table, per row (no round trips),
    median of three passes.
Usage: bench.py --host SOCKET_DIR --port PORT --model-dir DIR --bpe FILE --model NAME [--images N]
"""

import argparse
import io
import os
import statistics
import sys
import time

import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from backend_memory import private_mb  # noqa: E402
from clip_reference import ReferenceModel  # noqa: E402
from image_corpus import scene  # noqa: E402

CAPTIONS = [f"a photo of a {c} {s} on a {b} background" for c in ["red", "blue", "green", "small", "large"]
            for s in ["circle", "square", "bicycle", "cat"] for b in ["white", "dark"]]


def timed(fn, items, repeat=1):
    times = []
    for _ in range(repeat):
        for item in items:
            t0 = time.perf_counter()
            fn(item)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", type=int, default=12)
    args = ap.parse_args()

    images = []
    for i in range(args.images):
        buf = io.BytesIO()
        scene(1280, 960, 100 + i).save(buf, "JPEG", quality=90)
        images.append(buf.getvalue())

    t0 = time.perf_counter()
    ref = ReferenceModel(os.path.join(args.model_dir, args.model), args.bpe)
    py_load = time.perf_counter() - t0
    rows = []
    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")
        t0 = time.perf_counter()
        conn.execute("SELECT clip_embed_image(%s, %s), clip_embed_text('warm up', %s)", (images[0], args.model, args.model))
        sql_load = time.perf_counter() - t0
        ref.embed_image(images[0])
        ref.embed_text("warm up")

        py_img = timed(ref.embed_image, images)
        sql_img = timed(lambda b: conn.execute("SELECT clip_embed_image(%s, %s)", (b, args.model)).fetchone(), images)
        py_txt = timed(ref.embed_text, CAPTIONS)
        # Each caption once with the cache off (every call runs the tower), then
        # repeated with it on: the first pass fills it, the timed pass hits.
        conn.execute("SET clip_embed.text_cache_entries = 0")
        sql_txt = timed(lambda t: conn.execute("SELECT clip_embed_text(%s, %s)", (t, args.model)).fetchone(), CAPTIONS)
        conn.execute("RESET clip_embed.text_cache_entries")
        timed(lambda t: conn.execute("SELECT clip_embed_text(%s, %s)", (t, args.model)).fetchone(), CAPTIONS)
        sql_hit = timed(lambda t: conn.execute("SELECT clip_embed_text(%s, %s)", (t, args.model)).fetchone(), CAPTIONS)
        # The function's own time on a hit: 10,000 calls in one query, minus the
        # same query over a plain array constructor.
        per_row = "SELECT count(%s) FROM generate_series(1, 10000) g"
        hit_expr = "clip_embed_text(CASE WHEN g > 0 THEN 'a photo of a red circle on a white background' END, %s)"
        t0 = time.perf_counter()
        conn.execute(per_row % hit_expr, (args.model,)).fetchone()
        hit_in_query = (time.perf_counter() - t0) * 1e3 / 10000
        t0 = time.perf_counter()
        conn.execute(per_row % "ARRAY[g::real]").fetchone()
        baseline_row = (time.perf_counter() - t0) * 1e3 / 10000

        conn.execute("DROP TABLE IF EXISTS bench_images")
        conn.execute("CREATE TABLE bench_images (data bytea)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_images VALUES (%s)", [(b,) for b in images])
        bulk = []
        for _ in range(3):  # the first pass also warms the TOAST pages and allocator
            t0 = time.perf_counter()
            conn.execute("SELECT count(clip_embed_image(data, %s)) FROM bench_images", (args.model,)).fetchone()
            bulk.append((time.perf_counter() - t0) * 1e3 / len(images))
        sql_bulk = statistics.median(bulk)
        conn.execute("DROP TABLE bench_images")

        # Cancellation: statement_timeout must stop a model run, not wait for it.
        conn.execute("SET statement_timeout = '20ms'")
        cancels = []
        for _ in range(4):
            t0 = time.perf_counter()
            try:
                conn.execute("SELECT clip_embed_image(%s, %s)", (images[1], args.model)).fetchone()
            except psycopg.errors.QueryCanceled:
                cancels.append((time.perf_counter() - t0) * 1e3)
        conn.execute("RESET statement_timeout")

    # Memory of a fresh backend, then with the text tower, then with both (the server runs on this machine).
    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        memory = [private_mb(pid)]
        conn.execute("SELECT clip_embed_text('memory', %s)", (args.model,)).fetchone()
        memory.append(private_mb(pid))
        conn.execute("SELECT clip_embed_image(%s, %s)", (images[0], args.model)).fetchone()
        memory.append(private_mb(pid))

    rows = [
        ("image 1280x960 JPEG, per call", py_img, sql_img),
        ("image, bulk per row (sql: one query)", py_img, sql_bulk),
        ("text, per call (cache off)", py_txt, sql_txt),
        ("text, per call, cache hit", py_txt, sql_hit),
    ]
    print(f"model {args.model}: python creates both sessions in {py_load:.2f} s; "
          f"sql's first call (loads both towers, embeds one image and one text) takes {sql_load:.2f} s")
    print(f"{'workload':40s} {'python ms':>10s} {'sql ms':>10s} {'python/sql':>11s}")
    for name, py, sql in rows:
        print(f"{name:40s} {py:10.2f} {sql:10.2f} {py / sql:10.2f}x")
    print(f"text cache hit inside one query: {hit_in_query:.4f} ms per call "
          f"({hit_in_query - baseline_row:.4f} ms over a plain array expression)")
    print("backend private memory (mapped weights count while no other backend maps them; bench/prepared.py "
          "measures a second backend): fresh {:.0f} MB, with the text tower {:.0f} MB, with both towers {:.0f} MB"
          .format(*memory))
    if not cancels:
        print("statement_timeout 20 ms: every image call finished before the timeout")
    else:
        ms = ", ".join(f"{c:.0f}" for c in cancels)
        print(f"statement_timeout 20 ms: image calls cancelled after {ms} ms (one run takes {sql_img:.0f} ms)")


if __name__ == "__main__":
    main()
