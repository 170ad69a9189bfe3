#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and the demo, run as the postgres
# user (initdb refuses root), on a Unix socket only.
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
  if [ ! -f "$data/PG_VERSION" ]; then
    as_postgres "$PG_BINDIR/initdb" -D "$data" -A trust -U postgres --no-sync >/dev/null
  fi
  {
    echo "port = $port"
    echo "unix_socket_directories = '$socket'"
    echo "listen_addresses = ''"
    echo "max_connections = 20"
    echo "shared_buffers = 128MB"
    echo "fsync = off"
    if [ -n "$model_dir" ]; then echo "clip_embed.model_dir = '$model_dir'"; fi
  } | as_postgres tee "$data/postgresql.auto.conf" >/dev/null
  if ! as_postgres "$PG_BINDIR/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_postgres "$PG_BINDIR/pg_ctl" -D "$data" -l "$CLIP_EMBED_HOME/$name/server.log" -w start >/dev/null
  else
    as_postgres "$PG_BINDIR/pg_ctl" -D "$data" -w restart -m fast >/dev/null
  fi
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
