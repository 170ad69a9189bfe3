"""A Citus coordinator and its workers on this machine (Unix sockets), made
with scripts/pg_cluster.sh, for tests/citus/citus.py and bench/citus_bulk.py.
scripts/citus.sh must have installed Citus into the system's PostgreSQL 15."""

import os
import shutil
import subprocess

import psycopg

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "..", "scripts", "pg_cluster.sh")


def connect(socket, port):
    """An autocommit connection to one node as postgres."""
    return psycopg.connect(host=socket, port=port, user="postgres", dbname="postgres", autocommit=True)


def start(home, nodes, model_dir):
    """Fresh clusters for NODES [(name, port), ...], the first the coordinator,
    with citus, vector and clip_embed created on each and the workers added.
    Returns ({name: socket}, {name: autocommit connection})."""
    sockets = {name: os.path.join(home, name, "socket") for name, _ in nodes}
    for name, port in nodes:
        # Fresh every run: Citus's metadata of an earlier run would refuse the set-up.
        subprocess.run(["bash", CLUSTER, "stop", name])
        shutil.rmtree(os.path.join(home, name), ignore_errors=True)
        env = dict(os.environ, PG_CLUSTER_CONF=f"shared_preload_libraries = 'citus'\n"
                   f"citus.local_hostname = '{sockets[name]}'\nmax_worker_processes = 16\n")
        subprocess.run(["bash", CLUSTER, "start", name, str(port), model_dir], env=env, check=True)
    conns = {}
    for name, port in nodes:
        conn = connect(sockets[name], port)
        conn.execute("SET client_min_messages = warning")
        # Citus hides shard tables from other applications' catalogue queries.
        conn.execute("SET citus.show_shards_for_app_name_prefixes = '*'")
        for ext in ("citus", "vector", "clip_embed"):
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
        conns[name] = conn
    coordinator, port = nodes[0]
    c = conns[coordinator]
    c.execute("SELECT citus_set_coordinator_host(%s, %s)", (sockets[coordinator], port))
    for name, port in nodes[1:]:
        c.execute("SELECT citus_add_node(%s, %s)", (sockets[name], port))
    return sockets, conns


def stop(nodes):
    for name, _ in nodes:
        subprocess.run(["bash", CLUSTER, "stop", name])
