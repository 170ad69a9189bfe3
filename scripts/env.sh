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
install_dev_extension() {
  local so
  so="$(pg_pkglibdir)/clip_embed.so"
  if dev_install_would_replace_release "$so" && [ "${CLIP_EMBED_REPLACE_INSTALL:-0}" != 1 ]; then
    echo "$so is a release build or a package's (it has no debug info): these scripts would replace it" \
      "with a dev-profile build of this clone. Rerun with CLIP_EMBED_REPLACE_INSTALL=1 to allow that." >&2
    return 1
  fi
  cargo pgrx install --pg-config "$PG_CONFIG" >/dev/null
}
