"""Benchmark: how soon a statement_timeout stops each phase of clip_embed_image, in one run.

For a 10000 x 8900 image (just under the default max_image_pixels) as a PNG, a
baseline and a progressive JPEG, and for one ViT-B/16-shaped image inference:
the time the call takes uncancelled, then with statement_timeouts that land
inside it, printing how long after the timeout the query returned (57014).
Loads and preparations are measured by the hostile stage (tests/hostile/hostile.py,
case 5). Not a test: prints numbers. The images are generated (numpy + Pillow)
into --work once and read by the server with pg_read_binary_file (superuser).
Usage: cancel.py --host DIR --port PORT --model NAME [--work DIR] [--model-dir DIR]
"""

import argparse
import os
import statistics
import time

import numpy as np
import psycopg
from PIL import Image


def make_images(work):
    os.makedirs(work, exist_ok=True)
    paths = {k: os.path.join(work, f"big-{k}") for k in ("smooth.png", "baseline.jpg", "progressive.jpg")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    w, h = 10000, 8900
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(2)
    base = ((x * 255 // w)[..., None] + (y * 255 // h)[..., None] + np.array([0, 60, 120])) % 256
    smooth = ((base + rng.integers(0, 3, size=(h, w, 3))) % 256).astype(np.uint8)
    Image.fromarray(smooth, "RGB").save(paths["smooth.png"], compress_level=9)
    noisy = ((base + rng.integers(0, 40, size=(h, w, 3))) % 256).astype(np.uint8)
    Image.fromarray(noisy, "RGB").save(paths["baseline.jpg"], quality=90)
    Image.fromarray(noisy, "RGB").save(paths["progressive.jpg"], quality=90, progressive=True)
    small = os.path.join(work, "small.png")
    Image.new("RGB", (64, 48), (200, 10, 10)).save(small)
    for p in list(paths.values()) + [small]:
        os.chmod(p, 0o644)
    os.chmod(work, 0o755)
    return paths


def one_call(args, sql, timeout_ms):
    """Seconds the call took beyond its timeout (or in all, uncancelled), and how it ended."""
    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as c:
        c.execute("SET clip_embed.max_image_bytes = '100MB'")
        if args.model_dir:
            c.execute(f"SET clip_embed.model_dir = '{args.model_dir}'")
        c.execute("SELECT clip_embed_image(pg_read_binary_file(%s), %s)", (os.path.join(args.work, "small.png"),
                                                                         args.model))  # loads the tower
        c.execute(f"SET statement_timeout = {int(timeout_ms)}")
        t0 = time.perf_counter()
        try:
            c.execute(sql)
            outcome = "ok"
        except psycopg.errors.QueryCanceled:
            outcome = "57014"
        return time.perf_counter() - t0 - (timeout_ms / 1e3 if timeout_ms else 0), outcome


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", default="/var/tmp/clip_embed/cancel-files")
    ap.add_argument("--model-dir", help="clip_embed.model_dir for the calls (superuser), if not the server's")
    args = ap.parse_args()
    paths = make_images(args.work)
    cases = {name: f"SELECT clip_embed_image(pg_read_binary_file('{p}'), '{args.model}')" for name, p in paths.items()}
    cases["inference (64x48 PNG)"] = (f"SELECT clip_embed_image(pg_read_binary_file("
                                      f"'{os.path.join(args.work, 'small.png')}'), '{args.model}')")
    print(f"cancel latency, model {args.model}: seconds from statement_timeout to the 57014")
    for name, sql in cases.items():
        whole, _ = one_call(args, sql, 0)
        timeouts = [t for t in (50, 100, 150, 400) if t / 1e3 < whole * 0.8]
        after = []
        for t in timeouts:
            late, outcome = one_call(args, sql, t)
            if outcome == "57014":
                after.append(late)
        shown = ", ".join(f"{a * 1e3:.0f} ms" for a in after) or "no timeout landed inside"
        worst = f"; worst {max(after) * 1e3:.0f} ms, median {statistics.median(after) * 1e3:.0f} ms" if after else ""
        print(f"  {name:<24} uncancelled {whole:.2f} s; after the timeout: {shown}{worst}")


if __name__ == "__main__":
    main()
