"""pgvector's halfvec against vector for clip_embed's vectors: recall@10 and
storage, measured in one run. Not a test.

Two galleries, embedded by SQL with one model (clip-shapes by default):
- the demo's 60 sample images (tools/make_samples.py, already on disk);
- 5,000 generated clip-shapes pictures (seed 20261206, no training stream's),
  where many near-duplicates crowd each query's neighbourhood.
Queries: the 48 colour+shape captions ("a red circle") and 100 generated
captions. The truth is an exact search over `vector` (sequential scan); each
other search's recall@10 is the share of those 10 ids it returns.

Usage: halfvec.py --host SOCKET_DIR --port PORT --samples DIR [--model clip-shapes] [--gallery 5000]
"""

import argparse
import io
import os
import random
import sys

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "shapes"))
from shapes_data import COLOURS, SHAPES, caption, sample  # noqa: E402

K = 10


def load_gallery(conn, table, images, model):
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, data bytea, emb vector(512), emb_half halfvec(512))")
        with cur.copy(f"COPY {table} (id, data) FROM STDIN") as copy:
            for i, data in enumerate(images):
                copy.write_row((i, data))
        cur.execute(f"UPDATE {table} SET emb = clip_embed_image(data, %s)::vector", (model,))
        cur.execute(f"UPDATE {table} SET emb_half = emb::halfvec(512)")
        cur.execute(f"CREATE INDEX {table}_emb ON {table} USING hnsw (emb vector_cosine_ops)")
        cur.execute(f"CREATE INDEX {table}_half ON {table} USING hnsw (emb_half halfvec_cosine_ops)")
        cur.execute(f"VACUUM ANALYZE {table}")


def top_ids(cur, table, column, query, exact):
    cur.execute("SET enable_seqscan = %s" % ("on" if exact else "off"))
    cur.execute("SET enable_indexscan = %s" % ("off" if exact else "on"))
    cast = "halfvec(512)" if column == "emb_half" else "vector(512)"
    cur.execute(f"SELECT id FROM {table} ORDER BY {column} <=> %s::{cast} LIMIT {K}", (query,))
    return [r[0] for r in cur.fetchall()]


def measure(conn, table, queries, model):
    recalls = {"vector, HNSW": [], "halfvec, exact": [], "halfvec, HNSW": []}
    with conn.cursor() as cur:
        for text in queries:
            cur.execute("SELECT clip_embed_text(%s, %s)::vector::text", (text, model))
            query = cur.fetchone()[0]
            truth = set(top_ids(cur, table, "emb", query, exact=True))
            for name, column, exact in (("vector, HNSW", "emb", False), ("halfvec, exact", "emb_half", True),
                                        ("halfvec, HNSW", "emb_half", False)):
                got = top_ids(cur, table, column, query, exact)
                recalls[name].append(len(truth & set(got)) / K)
        cur.execute("RESET enable_seqscan; RESET enable_indexscan")
        cur.execute(f"SELECT avg(pg_column_size(emb)), avg(pg_column_size(emb_half)), "
                    f"pg_relation_size('{table}_emb'), pg_relation_size('{table}_half'), count(*) FROM {table}")
        col, col_half, idx, idx_half, rows = cur.fetchone()
    print(f"  {table}: {rows} images, {len(queries)} queries, recall@{K} against an exact search over vector")
    for name, values in recalls.items():
        print(f"    {name:15} mean {sum(values) / len(values):.4f}  min {min(values):.2f}")
    print(f"    bytes per value: vector {col:.0f}, halfvec {col_half:.0f} ({col_half / col:.2f}x); "
          f"HNSW index: vector {idx / 1e6:.2f} MB, halfvec {idx_half / 1e6:.2f} MB ({idx_half / idx:.2f}x)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--samples", required=True, help="the demo's sample images (tools/make_samples.py --out)")
    ap.add_argument("--model", default="clip-shapes")
    ap.add_argument("--gallery", type=int, default=5000)
    args = ap.parse_args()
    rng = random.Random(20261206)
    queries = [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    queries += [caption(sample(rng)[1], rng) for _ in range(100)]
    demo = [open(os.path.join(args.samples, f), "rb").read() for f in sorted(os.listdir(args.samples))
            if f.endswith(".png")]
    gallery = []
    for _ in range(args.gallery):
        img, _attrs = sample(rng)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        gallery.append(buf.getvalue())
    print(f"halfvec against vector, model {args.model} (hnsw defaults: m 16, ef_construction 64, ef_search 40)")
    with psycopg.connect(host=args.host, port=args.port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")
        for table, images in (("halfvec_demo", demo), ("halfvec_gallery", gallery)):
            load_gallery(conn, table, images, args.model)
            measure(conn, table, queries, args.model)
            conn.execute(f"DROP TABLE {table}")


if __name__ == "__main__":
    main()
