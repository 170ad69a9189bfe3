"""Benchmark: prepared copies against loading the original graphs, in one run.

For one model, with `clip_embed.prepared_dir` off ('') and on (the default):
  * first-call overhead in a fresh backend: its first call minus a steady call of
    the same kind (median of 3), for image + text together and for text alone;
  * private memory (smaps_rollup) of a *second* backend with both towers loaded
    and run, while a first backend holds them too (pages shared through the page
    cache count as private while only one process maps them);
  * the one-off cost of the first backend that writes the copies.
Not a test: prints numbers. Usage: prepared.py --host DIR --port PORT --model NAME
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
from image_corpus import scene  # noqa: E402


def connect(args, prepared):
    conn = psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True)
    conn.execute("SET clip_embed.text_cache_entries = 0")
    if not prepared:
        conn.execute("SET clip_embed.prepared_dir = ''")
    return conn


def ms(conn, sql, params):
    t0 = time.perf_counter()
    conn.execute(sql, params).fetchone()
    return (time.perf_counter() - t0) * 1e3


def overhead(conn, sql, params):
    """First call minus the median of three steady ones."""
    first = ms(conn, sql, params)
    steady = statistics.median(ms(conn, sql, params) for _ in range(3))
    return first - steady, steady


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    buf = io.BytesIO()
    scene(1280, 960, 7).save(buf, "JPEG", quality=90)
    image = buf.getvalue()
    both = "SELECT clip_embed_image(%s, %s), clip_embed_text('a photo of a red bicycle', %s)"
    both_params = (image, args.model, args.model)
    text = "SELECT clip_embed_text('a photo of a red bicycle', %s)"

    with connect(args, True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")
        copies = admin.execute("SELECT name FROM clip_prepared_models() WHERE model = %s", (args.model,)).fetchall()
        for (name,) in copies:
            admin.execute("SELECT clip_prepared_remove(%s)", (name,)).fetchall()

    results = {}
    for prepared in (False, True):
        if prepared:
            with connect(args, True) as writer:
                t0 = time.perf_counter()
                writer.execute(both, both_params).fetchone()
                writing = time.perf_counter() - t0
                sizes = writer.execute(
                    "SELECT tower, size_bytes FROM clip_prepared_models() WHERE model = %s AND state = 'current'",
                    (args.model,)).fetchall()
        with connect(args, prepared) as first:
            both_overhead, both_steady = overhead(first, both, both_params)
            with connect(args, prepared) as second:
                pid = second.execute("SELECT pg_backend_pid()").fetchone()[0]
                second.execute(both, both_params).fetchone()
                memory = private_mb(pid)
        with connect(args, prepared) as text_only:
            text_overhead, text_steady = overhead(text_only, text, (args.model,))
        results[prepared] = (both_overhead, text_overhead, memory, both_steady, text_steady)

    print(f"model {args.model}: the first backend ever prepares both towers in {writing:.2f} s "
          "(loads, optimises and writes them; once per model, ONNX Runtime build and CPU); copies: "
          + ", ".join(f"{t} {b / 1e6:.0f} MB" for t, b in sizes))
    print(f"{'fresh backend':52s} {'original':>10s} {'prepared':>10s} {'ratio':>7s}")
    labels = ["first call overhead, image + text (s)", "first call overhead, text only (s)",
              "private memory of a 2nd backend, both towers (MB)", "steady image + text call (ms)",
              "steady text call (ms)"]
    scale = [1e-3, 1e-3, 1, 1, 1]
    for i, label in enumerate(labels):
        original, prepared = results[False][i] * scale[i], results[True][i] * scale[i]
        print(f"{label:52s} {original:10.2f} {prepared:10.2f} {original / prepared:6.2f}x")


if __name__ == "__main__":
    main()
