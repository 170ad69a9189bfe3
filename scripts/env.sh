# Shared settings for the clip_embed scripts; sourced, never run.
# Everything heavy lives outside the clone (CLIP_EMBED_HOME) so a rerun on the
# same machine, CI included, finds cargo's target directory, the Python venv
# and the downloaded wheels again.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLIP_EMBED_HOME="${CLIP_EMBED_HOME:-/var/tmp/clip_embed}"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
PG_BINDIR="$(dirname "$PG_CONFIG")"
PGRX_VERSION="$(sed -n 's/^pgrx = { *version = "=\([0-9.]*\)".*/\1/p; s/^pgrx = "=\([0-9.]*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)"
ORT_VERSION="1.32.0"
PGVECTOR_VERSION="0.8.0"
VENV="$CLIP_EMBED_HOME/venv"
PY="$VENV/bin/python"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CLIP_EMBED_HOME/target}"
export PATH="$HOME/.cargo/bin:$PATH"
# tokenizers would otherwise start a thread pool per CPU in every backend.
export TOKENIZERS_PARALLELISM=false

log() { printf '\n==> %s\n' "$*" >&2; }

# Where `make install`-style files go; the extension's settings default to these.
pg_pkglibdir() { "$PG_CONFIG" --pkglibdir; }
pg_sharedir() { "$PG_CONFIG" --sharedir; }
ORT_INSTALL_DIR() { echo "$(pg_pkglibdir)/clip_embed"; }
MODEL_INSTALL_DIR() { echo "$(pg_sharedir)/clip_embed/models"; }

# The models that ship with the extension (set-up installs them, scripts/package.sh
# packs them): the shared tokenizer, tiny-random and the default clip-shapes.
# Deterministic (seeded) generators: rerunning writes the same bytes, so a
# model name keeps denoting the same weights.
write_bundled_models() {
  local models="$1"
  install -d -m 755 "$models"
  "$PY" "$REPO_ROOT/tools/build_tokenizer.py" --bpe "$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz" \
    --out "$models/tokenizer.json"
  "$PY" "$REPO_ROOT/tools/make_clip_onnx.py" --preset tiny --tokenizer "$models/tokenizer.json" \
    --out "$models/tiny-random"
  # The default model: a small CLIP trained on synthetic shapes (models/clip-shapes/MODEL_CARD.md).
  install -d -m 755 "$models/clip-shapes"
  install -m 644 "$REPO_ROOT"/models/clip-shapes/{visual.onnx,textual.onnx,tokenizer.json,clip_config.json,MODEL_CARD.md} \
    "$models/clip-shapes/"
  chmod -R a+rX "$models"
}

# The demo and test clusters run a dev-profile build of this clone, installed
# into the system's PostgreSQL. An install made otherwise (a release build or a
# package: stripped, no .debug_info) is not replaced unless asked.
dev_install_would_replace_release() {
  [ -f "$1" ] && ! readelf -S "$1" 2>/dev/null | grep -q '\.debug_info'
}
# Fails, saying why, where installing a dev build would replace the release
# build or package's library at $1.
dev_install_allowed() {
  if dev_install_would_replace_release "$1" && [ "${CLIP_EMBED_REPLACE_INSTALL:-0}" != 1 ]; then
    echo "$1 is a release build or a package's (it has no debug info): these scripts would replace it" \
      "with a dev-profile build of this clone. Rerun with CLIP_EMBED_REPLACE_INSTALL=1 to allow that." >&2
    return 1
  fi
}
# Installs this clone's dev build into the PostgreSQL that pg_config $1 names
# (default $PG_CONFIG, the system's 15; another major builds with its feature).
install_dev_extension() {
  local config="${1:-$PG_CONFIG}" major
  dev_install_allowed "$("$config" --pkglibdir)/clip_embed.so" || return 1
  major="$("$config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
  if [ "$major" = 15 ]; then
    cargo pgrx install --pg-config "$config" >/dev/null
  else
    PGRX_PG_CONFIG_PATH="$config" cargo pgrx install --pg-config "$config" --no-default-features \
      --features "pg$major" >/dev/null
  fi
}
# The pg_regress schedule (tests/pg_regress) against the running cluster at
# socket $1, port $2, with results in $3; prints the diffs and fails on a
# difference. Writes, for the upgrade test, the 0.1.0 install script that
# tools/upgrade_script.py derives (it also fails if the committed upgrade
# script is stale), and removes it afterwards.
run_pg_regress() {
  local socket="$1" port="$2" out="$3" v010_script tests rc=0
  v010_script="$(pg_sharedir)/extension/clip_embed--0.1.0.sql"
  python3 "$REPO_ROOT/tools/upgrade_script.py" --install-script "$(pg_sharedir)/extension/clip_embed--0.2.0.sql" \
    --check --v010-script "$v010_script" || return 1
  rm -rf "$out" && mkdir -p "$out"
  # The cluster may outlive a run: recreate what the scripts use, so every run
  # tests this build's SQL definitions (a development build keeps its version number).
  runuser -u postgres -- "$PG_BINDIR/psql" -h "$socket" -p "$port" -qX \
    -c 'DROP DATABASE IF EXISTS contrib_regression' -c 'CREATE DATABASE contrib_regression' \
    -c 'SET client_min_messages = warning' -c 'DROP EXTENSION IF EXISTS clip_embed CASCADE' postgres || rc=1
  tests=$(sed -n 's/^test: //p' "$REPO_ROOT/tests/pg_regress/schedule" | tr '\n' ' ')
  if [ "$rc" = 0 ] && ! "$(pg_pkglibdir)/pgxs/src/test/regress/pg_regress" --use-existing --host="$socket" \
    --port="$port" --user=postgres --dbname=contrib_regression --inputdir="$REPO_ROOT/tests/pg_regress" \
    --outputdir="$out" --bindir="$PG_BINDIR" $tests; then
    cat "$out/regression.diffs" || true
    rc=1
  fi
  rm -f "$v010_script"
  return "$rc"
}
