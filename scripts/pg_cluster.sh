#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and the demo, run as the postgres
# user (initdb refuses root), on a Unix socket only, that only the OS users who
# own it can enter: the socket's folder is the postgres user's with mode 0700,
# and authentication is peer, mapped so that the OS users postgres and root
# (who runs the tests) may connect as the postgres role. Nothing else on the machine reaches it; an
# `initdb -A trust` cluster on a world-reachable socket made every local user
# its superuser (and with COPY ... TO PROGRAM, the postgres OS user).
#   pg_cluster.sh start NAME PORT [MODEL_DIR]   idempotent; prints nothing on success
#   pg_cluster.sh stop NAME
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

action="$1" name="$2"
data="$CLIP_EMBED_HOME/$name/data"
socket="$CLIP_EMBED_HOME/$name/socket"
# RUST_BACKTRACE in a server's environment makes every ERROR raised through
# Rust symbolise a backtrace of the extension's debug build: 0.12-0.4 s per
# ERROR measured here (a cancel's ERROR included), so the servers start without it.
as_postgres() { runuser -u postgres -- env -u RUST_BACKTRACE "$@"; }

case "$action" in
start)
  port="$3" model_dir="${4:-}"
  mkdir -p "$CLIP_EMBED_HOME/$name" "$socket"
  chown postgres "$CLIP_EMBED_HOME/$name" "$socket"
  chmod 700 "$socket"
  if [ ! -f "$data/PG_VERSION" ]; then
    as_postgres "$PG_BINDIR/initdb" -D "$data" -A peer -U postgres --no-sync >/dev/null
  fi
  # Written on every start, so a cluster made by an older script is closed too.
  printf '%s\n' 'local all all peer map=owners' 'local replication all peer map=owners' \
    | as_postgres tee "$data/pg_hba.conf" >/dev/null
  printf '%s\n' 'owners postgres postgres' 'owners root postgres' | as_postgres tee "$data/pg_ident.conf" >/dev/null
  {
    echo "port = $port"
    echo "unix_socket_directories = '$socket'"
    echo "listen_addresses = ''"
    echo "max_connections = 20"
    echo "shared_buffers = 128MB"
    echo "fsync = off"
    if [ -n "$model_dir" ]; then echo "clip_embed.model_dir = '$model_dir'"; fi
    # Extra settings for one test's clusters (tests/citus/citus.py: Citus), one per line.
    if [ -n "${PG_CLUSTER_CONF:-}" ]; then printf '%s\n' "$PG_CLUSTER_CONF"; fi
  } | as_postgres tee "$data/postgresql.auto.conf" >/dev/null
  # A running one is stopped and started again (pg_ctl restart would drop the server log).
  if as_postgres "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_postgres "$PG_BINDIR/pg_ctl" -D "$data" -w stop -m fast >/dev/null
  fi
  as_postgres "$PG_BINDIR/pg_ctl" -D "$data" -l "$CLIP_EMBED_HOME/$name/server.log" -w start >/dev/null
  ;;
stop)
  if [ -f "$data/PG_VERSION" ]; then
    as_postgres "$PG_BINDIR/pg_ctl" -D "$data" -w stop -m fast >/dev/null 2>&1 || true
  fi
  ;;
*)
  echo "usage: $0 start NAME PORT [MODEL_DIR] | stop NAME" >&2
  exit 2
  ;;
esac
