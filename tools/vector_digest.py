"""Digests of everything the SQL functions return, for checking that a change
moved code without changing behaviour (issue 15's "parity bit-identical").

For every installed model: the exact float4 bytes of clip_embed_text over the
parity suite's texts and clip_embed_image over the image corpus (normalized and
raw), clip_similarity and clip_classify on a few pairs, and each refused input's
SQLSTATE and message; plus the rows of clip_models() and clip_model_layouts()
without the per-backend load timings. Prints one sha256 line per model and per
listing, so two runs (before/after) compare with `diff`.
Usage: vector_digest.py --host SOCKET_DIR --port PORT [--dbname DB] [--verbose]
"""

import argparse
import hashlib
import os
import struct
import sys

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "parity"))
from image_corpus import corpus  # noqa: E402
from parity import TEXTS  # noqa: E402

LABELS = ["a photo of a cat", "a red circle", "a blue square", "東京"]


def floats(values):
    return b"" if values is None else struct.pack(f"<{len(values)}f", *values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", default="postgres")
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    images = corpus()
    conn = psycopg.connect(host=args.host, port=args.port, dbname=args.dbname, user=args.user, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")

    def call(digest, sql, params):
        try:
            row = conn.execute(sql, params).fetchone()[0]
        except psycopg.Error as e:
            digest.update(f"ERROR {e.sqlstate} {e.diag.message_primary}".encode())
            return "error"
        if isinstance(row, list):
            digest.update(floats(row))
        else:
            digest.update(repr(row).encode())
        return "ok"

    rows = conn.execute(
        "SELECT name, embedding_dim, image_size, context_length, fingerprint, is_default, description, path"
        " FROM clip_models() ORDER BY name"
    ).fetchall()
    print("clip_models", hashlib.sha256(repr(rows).encode()).hexdigest(), len(rows))
    layouts = conn.execute("SELECT * FROM clip_model_layouts() ORDER BY name").fetchall()
    print("clip_model_layouts", hashlib.sha256(repr(layouts).encode()).hexdigest(), len(layouts))
    for name, *_ in rows:
        digest = hashlib.sha256()
        counts = {"ok": 0, "error": 0}
        for text in TEXTS:
            for normalized in (True, False):
                counts[call(digest, "SELECT clip_embed_text(%s, %s, %s)", (text, name, normalized))] += 1
        for _, data, _ in images:
            for normalized in (True, False):
                counts[call(digest, "SELECT clip_embed_image(%s, %s, %s)", (data, name, normalized))] += 1
        for _, data, _ in images[:3]:
            counts[call(digest, "SELECT clip_similarity(%s::bytea, %s, %s)", (data, TEXTS[0], name))] += 1
            counts[call(digest, "SELECT array_agg(array[probability, similarity]::float8[] ORDER BY label)::text FROM clip_classify(%s::bytea, %s, %s)",
                         (data, LABELS, name))] += 1
        print(f"model {name}", digest.hexdigest(), f"ok={counts['ok']} error={counts['error']}")
    conn.close()


if __name__ == "__main__":
    main()
