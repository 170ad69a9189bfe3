"""A hot standby serves clip_embed: made with `pg_basebackup -R` from the test
cluster, it must embed text (the extension and its models are files on the
standby's machine; no WAL is written, only its own prepared model copies) and answer a k-NN query through the HNSW
index that replication brought, with the primary's vectors and order.

Checks, printed with a closing "N passed, N failed":
  * the standby is in recovery and has replayed the primary's table and index;
  * clip_embed_text gives the same array on both, bit for bit;
  * the stored embeddings replicated unchanged and equal what the standby computes;
  * the k-NN query runs as an index scan on the standby and returns the primary's ids in order;
  * pg_basebackup did not copy the primary's prepared model copies (pgsql_tmp_clip_embed: derived,
    CPU-specific data); the standby prepared and loaded its own.
Usage: standby.py --host SOCKET_DIR --port PORT --home DIR --bindir PG_BINDIR [--standby-port N]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

import psycopg

QUERY = "SELECT id FROM standby_photos ORDER BY emb <=> clip_embed_text('a red circle')::vector LIMIT 3"


def as_postgres(*cmd):
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--home", required=True)
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--standby-port", type=int, default=28820)
    args = ap.parse_args()
    root = os.path.join(args.home, "standby")
    data, socket = os.path.join(root, "data"), os.path.join(root, "socket")
    primary = dict(host=args.host, port=args.port, dbname="contrib_regression", user="postgres", autocommit=True)
    standby = dict(primary, host=socket, port=args.standby_port)
    checks = []
    try:
        with psycopg.connect(**primary) as conn:
            conn.execute("DROP TABLE IF EXISTS standby_photos")
            conn.execute("CREATE TABLE standby_photos (id int PRIMARY KEY, emb vector(512))")
            conn.execute("INSERT INTO standby_photos SELECT row_number() OVER (ORDER BY name), clip_embed_image(data)"
                         " FROM regress_images")
            conn.execute("CREATE INDEX ON standby_photos USING hnsw (emb vector_cosine_ops)")
            primary_text = conn.execute("SELECT clip_embed_text('a red circle')").fetchone()[0]
            primary_rows = conn.execute("SELECT id, emb::real[] FROM standby_photos ORDER BY id").fetchall()
            conn.execute("SET enable_seqscan = off")
            primary_knn = [r[0] for r in conn.execute(QUERY).fetchall()]
            primary_copies = conn.execute("SELECT count(*) FROM clip_prepared_models() WHERE loaded_here").fetchone()[0]

        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(socket)
        shutil.chown(root, "postgres")
        shutil.chown(socket, "postgres")
        as_postgres(os.path.join(args.bindir, "pg_basebackup"), "-D", data, "-R", "-X", "stream",
                    "-h", args.host, "-p", str(args.port), "-U", "postgres")
        copied = os.path.exists(os.path.join(data, "pgsql_tmp_clip_embed"))
        # The copy carries the primary's port and socket (later lines win) and -R's primary_conninfo.
        with open(os.path.join(data, "postgresql.auto.conf"), "a") as f:
            f.write(f"port = {args.standby_port}\nunix_socket_directories = '{socket}'\nhot_standby = on\n")
        as_postgres(os.path.join(args.bindir, "pg_ctl"), "-D", data, "-l", os.path.join(root, "server.log"),
                    "-w", "start")

        with psycopg.connect(**standby) as conn:
            in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            for _ in range(100):  # base backups are consistent; wait for any WAL after it anyway
                if conn.execute("SELECT to_regclass('standby_photos') IS NOT NULL").fetchone()[0]:
                    break
                time.sleep(0.1)
            checks.append(("the standby is in recovery and has the table", in_recovery,
                           f"pg_is_in_recovery={in_recovery}"))
            standby_text = conn.execute("SELECT clip_embed_text('a red circle')").fetchone()[0]
            checks.append(("clip_embed_text is bit-identical on the standby", standby_text == primary_text,
                           f"{len(standby_text)} dims"))
            standby_rows = conn.execute("SELECT id, emb::real[] FROM standby_photos ORDER BY id").fetchall()
            recomputed = conn.execute("SELECT bool_and(s.emb = clip_embed_image(r.data)::vector) FROM standby_photos s"
                                      " JOIN (SELECT row_number() OVER (ORDER BY name) AS id, data FROM regress_images)"
                                      " r USING (id)").fetchone()[0]
            checks.append(("stored embeddings replicated unchanged and equal the standby's own",
                           standby_rows == primary_rows and recomputed, f"{len(standby_rows)} rows"))
            conn.execute("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + QUERY).fetchall())
            standby_knn = [r[0] for r in conn.execute(QUERY).fetchall()]
            uses_index = "Index Scan using standby_photos_emb_idx" in plan
            checks.append(("k-NN through the HNSW index on the standby, same ids in order",
                           uses_index and standby_knn == primary_knn,
                           f"index scan={uses_index}, {standby_knn} vs {primary_knn}"))
            standby_copies = conn.execute("SELECT count(*) FROM clip_prepared_models()"
                                          " WHERE loaded_here AND state = 'current'").fetchone()[0]
            checks.append(("pg_basebackup skipped the prepared copies; the standby prepared its own",
                           primary_copies == 2 and not copied and standby_copies == 2
                           and os.path.isdir(os.path.join(data, "pgsql_tmp_clip_embed")),
                           f"primary loaded {primary_copies}, copied={copied}, standby loaded {standby_copies}"))
    finally:
        if os.path.exists(os.path.join(data, "PG_VERSION")):
            subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(args.bindir, "pg_ctl"), "-D", data,
                            "-w", "-m", "fast", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
        with psycopg.connect(**primary) as conn:
            conn.execute("DROP TABLE IF EXISTS standby_photos")
    failed = 0
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name} ({detail})")
        failed += not ok
    print(f"standby: {len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed or len(checks) < 5 else 0)


if __name__ == "__main__":
    main()
