"""Soak: several clients at once on the default model, mixing text, image,
k-NN (pgvector HNSW) and error-raising calls, while a controller cancels and
terminates backends in the middle of model runs.

Pass (the suite runs the CI size; bench/soak.sh the long one):
  * 0 unexpected errors: every error is one of the deliberate ones, with its SQLSTATE;
  * no backend memory growth over the second half: each client's anonymous memory
    (/proc/PID/smaps_rollup) at the end is within --growth-mb of its value at
    the half-way point;
  * pg_cancel_backend during a model run cancels that query (57014) and its
    session goes on embedding; pg_terminate_backend ends only that session;
  * the server never restarted, so no backend crashed: pg_postmaster_start_time()
    and the checkpointer's backend_start unchanged (a crash's reinitialisation keeps
    the postmaster's start time and starts a new checkpointer)
    backend crashed.
Prints calls per kind, latency medians, memory, and a closing "N passed, N failed".
Usage: soak.py --host SOCKET_DIR --port PORT [--clients 4] [--seconds 60] [--growth-mb 4]
"""

import argparse
import random
import statistics
import sys
import threading
import time

import psycopg
from psycopg import errors

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/tools")
from backend_memory import anonymous_mb  # noqa: E402
from image_corpus import save, scene  # noqa: E402

CAPTIONS = [f"a {c} {s}" for c in ["red", "green", "blue", "yellow", "purple"] for s in ["circle", "square", "star"]]
# When the server and its checkpointer started: a crash restart changes the second.
SERVER_STARTED = ("SELECT pg_postmaster_start_time(), "
                  "(SELECT backend_start FROM pg_stat_activity WHERE backend_type = 'checkpointer')")
# Deliberate errors and the SQLSTATE each must raise.
BAD_CALLS = [
    ("SELECT clip_embed_image('\\x00010203'::bytea)", errors.InvalidBinaryRepresentation),
    ("SELECT clip_embed_text('   ')", errors.InvalidParameterValue),
    ("SELECT clip_similarity(ARRAY[1,2]::real[], ARRAY[1]::real[])", errors.DataException),
    ("SELECT clip_embed_text('x', 'no-such-model')", errors.UndefinedObject),
]


class Client(threading.Thread):
    def __init__(self, args, index, images, deadline):
        super().__init__(daemon=True)
        self.args, self.index, self.images, self.deadline = args, index, images, deadline
        self.calls = {"text": [], "image": [], "knn": [], "error": []}
        self.unexpected = []
        self.memory = {}

    def run(self):
        rng = random.Random(self.index)
        try:
            with psycopg.connect(host=self.args.host, port=self.args.port, dbname="postgres", user="postgres",
                                 autocommit=True) as conn:
                self.pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                half = self.deadline - self.args.seconds / 2
                while time.time() < self.deadline:
                    if "half" not in self.memory and time.time() >= half:
                        self.memory["half"] = anonymous_mb(self.pid)
                    self.one_call(conn, rng)
                self.memory["end"] = anonymous_mb(self.pid)
        except Exception as e:  # noqa: BLE001 - any failure of the client itself is unexpected
            self.unexpected.append(f"client {self.index}: {type(e).__name__}: {e}")

    def one_call(self, conn, rng):
        kind = rng.choices(["text", "image", "knn", "error"], weights=[4, 3, 3, 1])[0]
        t0 = time.perf_counter()
        try:
            if kind == "text":
                conn.execute("SELECT clip_embed_text(%s)", (rng.choice(CAPTIONS),)).fetchone()
            elif kind == "image":
                conn.execute("SELECT clip_embed_image(%s)", (rng.choice(self.images),)).fetchone()
            elif kind == "knn":
                rows = conn.execute("SELECT id FROM soak_photos ORDER BY emb <=> clip_embed_text(%s)::vector LIMIT 5",
                                    (rng.choice(CAPTIONS),)).fetchall()
                if len(rows) != 5:
                    self.unexpected.append(f"k-NN returned {len(rows)} rows")
            else:
                statement, expected = rng.choice(BAD_CALLS)
                try:
                    conn.execute(statement)
                    self.unexpected.append(f"no error from {statement}")
                except expected:
                    pass
        except psycopg.Error as e:
            self.unexpected.append(f"{kind}: {e.sqlstate}: {e}")
        self.calls[kind].append((time.perf_counter() - t0) * 1e3)


def long_model_run(args, outcome, key):
    """A query that runs the vision tower for seconds; records how it ended."""
    try:
        with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres",
                             autocommit=True) as conn:
            outcome[key + "_pid"] = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            try:
                conn.execute("SELECT count(clip_embed_image(data)) FROM soak_photos, generate_series(1, 50)")
                outcome[key] = "finished"
            except errors.QueryCanceled:
                outcome[key + "_ended"] = time.perf_counter()
                # The session must go on working after a cancel.
                n = len(conn.execute("SELECT clip_embed_text('still here')").fetchone()[0])
                outcome[key] = f"cancelled, then embedded {n} dims"
    except (errors.AdminShutdown, psycopg.OperationalError) as e:
        outcome[key + "_ended"] = time.perf_counter()
        outcome[key] = f"terminated ({type(e).__name__})"


def interrupt(args, outcome, key, function):
    worker = threading.Thread(target=long_model_run, args=(args, outcome, key), daemon=True)
    worker.start()
    for _ in range(100):
        if key + "_pid" in outcome:
            break
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the model runs
    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as c:
        sent = time.perf_counter()
        c.execute(f"SELECT {function}(%s)", (outcome[key + "_pid"],))
    worker.join(timeout=30)
    outcome[key + "_ms"] = (outcome.get(key + "_ended", float("nan")) - sent) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--growth-mb", type=float, default=4.0)
    args = ap.parse_args()

    images = []
    for i in range(24):
        fmt = ["JPEG", "PNG", "WEBP"][i % 3]
        images.append(save(scene(320 + 8 * i, 240, 500 + i), fmt, **({"quality": 85} if fmt != "PNG" else {})))
    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")
        conn.execute("DROP TABLE IF EXISTS soak_photos")
        conn.execute("CREATE TABLE soak_photos (id serial PRIMARY KEY, data bytea NOT NULL,"
                     " emb vector(512) GENERATED ALWAYS AS (clip_embed_image(data)::vector) STORED)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO soak_photos (data) VALUES (%s)", [(b,) for b in images])
        conn.execute("CREATE INDEX ON soak_photos USING hnsw (emb vector_cosine_ops)")
        started_at = conn.execute(SERVER_STARTED).fetchone()

    deadline = time.time() + args.seconds
    clients = [Client(args, i, images, deadline) for i in range(args.clients)]
    for c in clients:
        c.start()
    outcome = {}
    time.sleep(args.seconds * 0.3)
    interrupt(args, outcome, "cancel", "pg_cancel_backend")
    interrupt(args, outcome, "terminate", "pg_terminate_backend")
    for c in clients:
        c.join()

    with psycopg.connect(host=args.host, port=args.port, dbname="postgres", user="postgres", autocommit=True) as conn:
        restarted = conn.execute(SERVER_STARTED).fetchone() != started_at
        conn.execute("DROP TABLE soak_photos")

    checks = []
    unexpected = [u for c in clients for u in c.unexpected]
    checks.append(("0 unexpected errors", not unexpected, f"{len(unexpected)}: {unexpected[:3]}"))
    growth = [c.memory.get("end", 0) - c.memory.get("half", 0) for c in clients]
    checks.append((f"backend memory growth over the second half <= {args.growth_mb} MB", all(
        "half" in c.memory and g <= args.growth_mb for c, g in zip(clients, growth)),
        ", ".join(f"{c.memory.get('half', 0):.1f}->{c.memory.get('end', 0):.1f}" for c in clients)))
    checks.append(("pg_cancel_backend cancels a model run, the session goes on",
                   outcome.get("cancel", "").startswith("cancelled, then embedded 512"), outcome.get("cancel")))
    checks.append(("pg_terminate_backend ends only that session",
                   outcome.get("terminate", "").startswith("terminated"), outcome.get("terminate")))
    checks.append(("server never restarted (no backend crashed)", not restarted, f"restarted={restarted}"))

    total = {k: sum(len(c.calls[k]) for c in clients) for k in ["text", "image", "knn", "error"]}
    print(f"soak: {args.clients} clients, {args.seconds:.0f} s, {sum(total.values())} calls")
    for kind, n in total.items():
        ms = [t for c in clients for t in c.calls[kind]]
        print(f"  {kind:6s} {n:6d} calls, median {statistics.median(ms) if ms else 0:7.2f} ms, "
              f"{n / args.seconds:6.1f}/s")
    print(f"  a model run ended {outcome.get('cancel_ms', 0):.0f} ms after pg_cancel_backend, "
          f"{outcome.get('terminate_ms', 0):.0f} ms after pg_terminate_backend")
    failed = 0
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name} ({detail})")
        failed += not ok
    print(f"soak: {len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
