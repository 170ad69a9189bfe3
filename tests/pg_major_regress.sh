#!/usr/bin/env bash
# The SQL tests on another PostgreSQL major: the pg_regress schedule (same
# expected output as on 15) and every sql block of README.md and docs/*.md, on
# a cluster of the major PG_CONFIG names, with the build installed into it.
#   PG_CONFIG=$CLIP_EMBED_HOME/pg18/bin/pg_config bash tests/pg_major_regress.sh NAME PORT
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO_ROOT"
name="${1:?usage: pg_major_regress.sh NAME PORT}" port="${2:?usage: pg_major_regress.sh NAME PORT}"
socket="$CLIP_EMBED_HOME/$name/socket"
bash scripts/pg_cluster.sh start "$name" "$port" "$CLIP_EMBED_HOME/test-models"
trap 'bash scripts/pg_cluster.sh stop "$name"' EXIT
"$PG_BINDIR/postgres" --version
run_pg_regress "$socket" "$port" "$CLIP_EMBED_HOME/$name/out"
"$PY" tests/readme_examples.py --host "$socket" --port "$port" README.md docs/*.md
