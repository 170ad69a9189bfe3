"""clip_embed.preload_models (issue 18): what the postmaster prepares before it forks.

Starts its own cluster (scripts/pg_cluster.sh, data in $CLIP_EMBED_HOME/preload, Unix
socket only) on its own model folder ($CLIP_EMBED_HOME/preload-models: tiny-random and
hf-clip from the test models, a torch-exported ViT-B/16 (int32 ids, 77 baked in) made
once with tools/make_clip_onnx.py, and broken-tokenizer, tiny-random with a tokenizer.json
that is not JSON). First without preloading, then restarted with
shared_preload_libraries = 'clip_embed' and clip_embed.preload_models naming all of
them and a model that does not exist. Asserted:
   1. the server starts; each model that cannot preload is a WARNING in the log, the others
      are named in the "preloaded" LOG line; clip_embed.preload_models is a postmaster setting
   2. the postmaster has one thread (/proc/PID/task)
   3. every model's text and image vectors are bit-identical to the ones without preloading
      (real[]::text, shortest round-trip digits), and broken-tokenizer fails with the same
      SQLSTATE and message
   4. cancel works in a backend forked from the preloaded postmaster: statement_timeout during
      its first (loading) ViT-B/16 call, during a steady call (ONNX Runtime's run, stopped by
      the extension's watchdog), and pg_cancel_backend 0.1 s into a call: 57014 each, within
      0.5 s of the timeout or the cancel
   5. a preloaded model whose files changed since (a new mtime on its tokenizer.json) is
      dropped by the next backend (its LOG line) and gives the same vector
The cluster is stopped at the end, whatever happened. Prints "ok"/"FAIL" per check and
exits 1 if any failed. Run as root (runuser, /proc).

Usage: preload.py [--home $CLIP_EMBED_HOME] [--port 28836]
       (PG_CONFIG picks the PostgreSQL, as for scripts/pg_cluster.sh)
"""

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
CLUSTER = os.path.join(REPO, "scripts", "pg_cluster.sh")
sys.path.insert(0, os.path.join(REPO, "tools"))
from image_corpus import scene  # noqa: E402

NAME = "preload"
VIT = "vit-b-16-torch"
GOOD = ["tiny-random", "hf-clip", VIT]
BROKEN = "broken-tokenizer"
MISSING = "no-such-model"
TEXTS = ["a photo of a red bicycle", "Ünïcödé, emoji 🚲 and a long " + "word " * 100]


def make_models(home, python):
    """The test's model folder: copies of two test models, the ViT-B/16 (made once), a broken one."""
    models = os.path.join(home, "preload-models")
    os.makedirs(models, exist_ok=True)
    test_models = os.path.join(home, "test-models")
    for name in ("tiny-random", "hf-clip"):
        shutil.rmtree(os.path.join(models, name), ignore_errors=True)
        shutil.copytree(os.path.join(test_models, name), os.path.join(models, name))
    broken = os.path.join(models, BROKEN)
    shutil.rmtree(broken, ignore_errors=True)
    shutil.copytree(os.path.join(test_models, "tiny-random"), broken)
    with open(os.path.join(broken, "tokenizer.json"), "w") as f:
        f.write("{ not json")
    vit = os.path.join(models, VIT)
    if not os.path.isfile(os.path.join(vit, "clip_config.json")):
        subprocess.run([python, os.path.join(REPO, "tools", "make_clip_onnx.py"), "--preset", "vit-b-16",
                        "--ids", "int32", "--text-export", "torch",
                        "--tokenizer", os.path.join(test_models, "tokenizer.json"), "--out", vit], check=True)
    subprocess.run(["chmod", "-R", "a+rX", models], check=True)
    return models


def start(home, port, models, conf):
    env = dict(os.environ, CLIP_EMBED_HOME=home, PG_CLUSTER_CONF=conf)
    subprocess.run(["bash", CLUSTER, "start", NAME, str(port), models], env=env, check=True)


def stop(home):
    subprocess.run(["bash", CLUSTER, "stop", NAME], env=dict(os.environ, CLIP_EMBED_HOME=home))


def connect(home, port, **kw):
    return psycopg.connect(host=os.path.join(home, NAME, "socket"), port=port, dbname="postgres", user="postgres",
                           autocommit=True, **kw)


def outcome(conn, sql, params):
    """The vector as text, or (SQLSTATE, message)."""
    try:
        return conn.execute(sql, params).fetchone()[0]
    except psycopg.Error as e:
        return (e.sqlstate, e.diag.message_primary)


def vectors(conn, image):
    conn.execute("SET clip_embed.text_cache_entries = 0")
    out = {}
    for model in GOOD + [BROKEN]:
        for i, text in enumerate(TEXTS):
            out[(model, f"text {i}")] = outcome(conn, "SELECT clip_embed_text(%s, %s)::text", (text, model))
        out[(model, "image")] = outcome(conn, "SELECT clip_embed_image(%s, %s)::text", (image, model))
    return out


def cancelled_within(conn, sql, params, limit_s, cancel=None):
    """Runs sql; requires 57014. Returns (ok, seconds from the cancel to the error)."""
    t0 = time.perf_counter()
    fired = [None]
    if cancel is not None:
        def later():
            time.sleep(cancel[1])
            fired[0] = time.perf_counter()
            cancel[0]()
        threading.Thread(target=later, daemon=True).start()
    try:
        conn.execute(sql, params).fetchone()
        return False, None
    except psycopg.Error as e:
        end = time.perf_counter()
        since = end - (fired[0] if fired[0] is not None else t0 + limit_s[1])
        return e.sqlstate == "57014" and since <= limit_s[0], round(since, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--home", default=os.environ.get("CLIP_EMBED_HOME", "/var/tmp/clip_embed"))
    ap.add_argument("--port", type=int, default=28836)
    args = ap.parse_args()
    home, port = args.home, args.port
    failures = []

    def check(name, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)
        if not ok:
            failures.append(name)

    models = make_models(home, os.path.join(home, "venv", "bin", "python"))
    buf = io.BytesIO()
    scene(640, 480, 3).save(buf, "PNG")
    image = buf.getvalue()
    log = os.path.join(home, NAME, "server.log")
    stop(home)
    try:
        start(home, port, models, "")
        with connect(home, port) as conn:
            conn.execute("SET client_min_messages = warning")
            conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed CASCADE")
            plain = vectors(conn, image)
        check("reference vectors without preloading (broken-tokenizer's texts fail)",
              all(isinstance(plain[(m, "image")], str) for m in GOOD) and isinstance(plain[(BROKEN, "text 0")], tuple),
              str(plain.get((BROKEN, "text 0")))[:200])

        log_start = os.path.getsize(log) if os.path.exists(log) else 0
        names = ", ".join(GOOD + [BROKEN, MISSING])
        start(home, port, models, f"shared_preload_libraries = 'clip_embed'\nclip_embed.preload_models = '{names}'")
        with open(log, errors="replace") as f:
            f.seek(log_start)
            startup = f.read()
        warned = {m: bool(re.search(rf'WARNING:  clip_embed: could not preload model "{m}"', startup))
                  for m in (BROKEN, MISSING)}
        check("1. each model that cannot preload is a WARNING", all(warned.values()), warned)
        line = re.search(r"LOG:  clip_embed: preloaded (\[.*?\])", startup)
        check("1. the others are preloaded", line is not None and all(f'"{m}"' in line.group(1) for m in GOOD)
              and BROKEN not in line.group(1), line.group(0) if line else startup[-2000:])
        with connect(home, port) as conn:
            context = conn.execute("SELECT context FROM pg_settings WHERE name = 'clip_embed.preload_models'").fetchone()
            check("1. clip_embed.preload_models is a postmaster setting", context == ("postmaster",), context)
        with open(os.path.join(home, NAME, "data", "postmaster.pid")) as f:
            pm = int(f.readline())
        threads = len(os.listdir(f"/proc/{pm}/task"))
        check("2. the postmaster has one thread", threads == 1, threads)

        with connect(home, port) as conn:
            preloaded = vectors(conn, image)
        differ = [k for k in plain if plain[k] != preloaded.get(k)]
        check(f"3. {len(plain)} vectors and errors bit-identical with preloading", not differ,
              [(k, str(plain[k])[:80], str(preloaded.get(k))[:80]) for k in differ[:3]])

        sql = "SELECT clip_embed_image(%s, %s) IS NULL"
        with connect(home, port) as conn:
            conn.execute("SET statement_timeout = '50ms'")
            ok, since = cancelled_within(conn, sql, (image, VIT), (0.5, 0.05))
            check("4. statement_timeout during the first (loading) call", ok, since)
        with connect(home, port) as conn:
            conn.execute(sql, (image, VIT))  # loads the towers
            steady = time.perf_counter()
            conn.execute(sql, (image, VIT))
            steady = time.perf_counter() - steady
            timeout = max(0.02, steady / 3)
            conn.execute(f"SET statement_timeout = '{int(timeout * 1000)}ms'")
            ok, since = cancelled_within(conn, sql, (image, VIT), (0.5, timeout))
            check(f"4. statement_timeout = {int(timeout * 1000)} ms in a steady {steady * 1000:.0f} ms call", ok, since)
            conn.execute("SET statement_timeout = 0")
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            with connect(home, port) as admin:
                def cancel():
                    admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
                ok, since = cancelled_within(conn, sql, (image, VIT), (0.5, 0), cancel=(cancel, min(0.1, steady / 3)))
            check("4. pg_cancel_backend during a call", ok, since)

        log_start = os.path.getsize(log)
        tokenizer = os.path.join(models, "tiny-random", "tokenizer.json")
        later = time.time() + 10
        os.utime(tokenizer, (later, later))
        with connect(home, port) as conn:
            again = outcome(conn, "SELECT clip_embed_text(%s, 'tiny-random')::text", (TEXTS[0],))
        time.sleep(0.2)
        with open(log, errors="replace") as f:
            f.seek(log_start)
            dropped = 'model "tiny-random" changed since the server preloaded it' in f.read()
        check("5. a changed preloaded model is dropped by the next backend", dropped)
        check("5. and gives the same vector", again == plain[("tiny-random", "text 0")])
    finally:
        stop(home)
    print(f"preload: {'FAILED ' + ', '.join(failures) if failures else 'all checks passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
