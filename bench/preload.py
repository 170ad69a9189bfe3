"""Benchmark: clip_embed.preload_models against loading lazily, in one run.

For one model (the torch-export ViT-B/16 in bench/run.sh), on a cluster of its own
(scripts/pg_cluster.sh), restarted without and with shared_preload_libraries =
'clip_embed' and clip_embed.preload_models = MODEL, each with clip_embed.onnx_cpu_arena
on (how sessions were made before the setting) and off (the default), in turn, --rounds
times each:
  * first-call overhead in a fresh backend: its first call minus the median of three
    steady calls of the same kind, for image + text together and for text alone;
  * private memory (smaps_rollup) of a *second* backend with both towers loaded and
    run, while a first backend holds them too (as bench/prepared.py measures it);
  * the postmaster's own private memory and thread count;
  * the steady image + text and text calls (the medians the overheads subtract).
Prepared copies are on in both (the default); the first start writes them. Medians of
the rounds. Not a test: prints numbers. Run as root (runuser, /proc).
Usage: preload.py --home CLIP_EMBED_HOME --port PORT --model-dir DIR --model NAME [--rounds 5]
"""

import argparse
import io
import os
import statistics
import subprocess
import sys

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "scripts", "pg_cluster.sh")
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from backend_memory import private_mb  # noqa: E402
from image_corpus import scene  # noqa: E402
from prepared import overhead  # noqa: E402  (bench/prepared.py: first call minus the steady median)

NAME = "bench_preload"


def start(args, preload, arena):
    conf = f"shared_preload_libraries = 'clip_embed'\nclip_embed.preload_models = '{args.model}'\n" if preload else ""
    conf += f"clip_embed.onnx_cpu_arena = {'on' if arena else 'off'}\n"
    env = dict(os.environ, CLIP_EMBED_HOME=args.home, PG_CLUSTER_CONF=conf)
    subprocess.run(["bash", CLUSTER, "start", NAME, str(args.port), args.model_dir], env=env, check=True)


def connect(args):
    conn = psycopg.connect(host=os.path.join(args.home, NAME, "socket"), port=args.port, dbname="postgres",
                           user="postgres", autocommit=True)
    conn.execute("SET clip_embed.text_cache_entries = 0")
    return conn


def postmaster(args):
    with open(os.path.join(args.home, NAME, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
    return private_mb(pid), len(os.listdir(f"/proc/{pid}/task"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    buf = io.BytesIO()
    scene(1280, 960, 7).save(buf, "JPEG", quality=90)
    both = "SELECT clip_embed_image(%s, %s), clip_embed_text('a photo of a red bicycle', %s)"
    both_params = (buf.getvalue(), args.model, args.model)
    text = "SELECT clip_embed_text('a photo of a red bicycle', %s)"

    # (preload, arena): with the arena on, sessions keep ONNX Runtime's CPU arena as they all did before the setting.
    configurations = [(False, True), (False, False), (True, True), (True, False)]
    samples = {c: [] for c in configurations}
    try:
        start(args, False, False)
        with connect(args) as admin:
            admin.execute("SET client_min_messages = warning")
            admin.execute("CREATE EXTENSION IF NOT EXISTS clip_embed CASCADE")
            admin.execute(both, both_params).fetchone()  # writes the prepared copies once
        for _ in range(args.rounds):
            for preload, arena in configurations:
                start(args, preload, arena)
                with connect(args) as first:
                    both_overhead, both_steady = overhead(first, both, both_params)
                    with connect(args) as second:
                        pid = second.execute("SELECT pg_backend_pid()").fetchone()[0]
                        second.execute(both, both_params).fetchone()
                        memory = private_mb(pid)
                with connect(args) as text_only:
                    text_overhead, text_steady = overhead(text_only, text, (args.model,))
                samples[(preload, arena)].append(
                    (both_overhead / 1e3, text_overhead / 1e3, memory) + postmaster(args) + (both_steady, text_steady))
    finally:
        subprocess.run(["bash", CLUSTER, "stop", NAME], env=dict(os.environ, CLIP_EMBED_HOME=args.home))

    print(f"model {args.model}: clip_embed.preload_models off and on, clip_embed.onnx_cpu_arena on and off, "
          f"median of {args.rounds} restarts each")
    heads = {(False, True): "lazy+arena", (False, False): "lazy", (True, True): "preld+arena", (True, False): "preloaded"}
    print(f"{'fresh backend':52s}" + "".join(f" {heads[c]:>11s}" for c in configurations) + "  ratio (lazy+arena / preloaded)")
    labels = ["first call overhead, image + text (s)", "first call overhead, text only (s)",
              "private memory of a 2nd backend, both towers (MB)", "postmaster private memory (MB)",
              "postmaster threads", "steady image + text call (ms)", "steady text call (ms)"]
    for i, label in enumerate(labels):
        medians = [statistics.median(s[i] for s in samples[c]) for c in configurations]
        ratio = f"{medians[0] / medians[-1]:6.2f}x" if medians[-1] else ""
        print(f"{label:52s}" + "".join(f" {m:11.3f}" for m in medians) + f"  {ratio}")


if __name__ == "__main__":
    main()
