#!/usr/bin/env bash
# The SQL tests on another PostgreSQL major: the pg_regress schedule (same
# expected output as on 15) and every sql block of README.md and docs/*.md, on
# a cluster of the major PG_CONFIG names, with the build installed into it.
#   PG_CONFIG=$CLIP_EMBED_HOME/pg18/bin/pg_config bash tests/pg_major_regress.sh NAME PORT
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO_ROOT"
name="${1:?usage: pg_major_regress.sh NAME PORT}" port="${2:?usage: pg_major_regress.sh NAME PORT}"
socket="$CLIP_EMBED_HOME/$name/socket"
# The upgrade test's 0.1.0 install script, derived as on 15 (tools/upgrade_script.py).
v010_script="$(pg_sharedir)/extension/clip_embed--0.1.0.sql"
python3 tools/upgrade_script.py --install-script "$(pg_sharedir)/extension/clip_embed--0.2.0.sql" --check \
  --v010-script "$v010_script"
bash scripts/pg_cluster.sh start "$name" "$port" "$CLIP_EMBED_HOME/test-models"
trap 'rm -f "$v010_script"; bash scripts/pg_cluster.sh stop "$name"' EXIT
"$PG_BINDIR/postgres" --version
out="$CLIP_EMBED_HOME/$name/out"
rm -rf "$out" && mkdir -p "$out"
runuser -u postgres -- "$PG_BINDIR/psql" -h "$socket" -p "$port" -qX \
  -c 'DROP DATABASE IF EXISTS contrib_regression' -c 'CREATE DATABASE contrib_regression' postgres
tests=$(sed -n 's/^test: //p' tests/pg_regress/schedule | tr '\n' ' ')
if ! "$(pg_pkglibdir)/pgxs/src/test/regress/pg_regress" --use-existing --host="$socket" --port="$port" \
  --user=postgres --dbname=contrib_regression --inputdir="$REPO_ROOT/tests/pg_regress" --outputdir="$out" \
  --bindir="$PG_BINDIR" $tests; then
  cat "$out/regression.diffs" || true
  exit 1
fi
"$PY" tests/readme_examples.py --host "$socket" --port "$port" README.md docs/*.md
