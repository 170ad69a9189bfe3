#!/usr/bin/env bash
# Installs a downloaded model folder under a name, after checking that it loads:
#   bash scripts/install_model.sh ~/Downloads/clip-vit-b-16 vit-b-16
# Copies the folder into the model directory (pg_config --sharedir/clip_embed/models,
# or MODEL_DIR if set) inside a staging folder whose name no backend can load
# (".installing-PID": a model name never starts with '.'), loads it there with
# clip_embed's own core and runs both towers once, then renames it to NAME and
# prints what was detected. A folder that would not serve is removed again, with
# the reason; so is one holding anything but plain files and folders (a symlink
# could point anywhere, a FIFO named config.json would block every backend that
# reads it). Nothing is downloaded; a NAME that exists is never replaced (a name
# must keep its weights).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_FOLDER NAME" >&2
  exit 2
fi
src="$1" name="$2"
models="${MODEL_DIR:-$(MODEL_INSTALL_DIR)}"
if ! [[ "$name" =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$ ]]; then
  echo "install_model: \"$name\" is not a model name (letters, digits, '.', '_', '-'; at most 63)" >&2
  exit 2
fi
[ -d "$src" ] || { echo "install_model: no folder $src" >&2; exit 1; }
[ -e "$models/$name" ] && { echo "install_model: $models/$name exists; pick a new name" >&2; exit 1; }
odd="$(find "$src/" -mindepth 1 ! -type f ! -type d -print | head -5)"
if [ -n "$odd" ]; then
  echo "install_model: $src holds entries that are not plain files or folders (symlinks, FIFOs, devices):" >&2
  echo "$odd" >&2
  exit 1
fi
# The dev profile shares the test suite's builds (dependencies are optimised in it).
cargo build -q --example inspect_model -p clip_embed_core --manifest-path "$REPO_ROOT/Cargo.toml"
staging="$models/.installing-$$"
trap 'rm -rf "$staging"' EXIT
mkdir -m 755 "$staging"
cp -r "$src/." "$staging/$name"
# OpenAI-layout folders without a tokenizer.json read the model directory's.
if [ -f "$models/tokenizer.json" ]; then cp "$models/tokenizer.json" "$staging/"; fi
chmod -R a+rX "$staging"
if ! "$CARGO_TARGET_DIR/debug/examples/inspect_model" "$staging" "$name" "$(ORT_INSTALL_DIR)/libonnxruntime.so"; then
  echo "install_model: $src was not installed" >&2
  exit 1
fi
mv "$staging/$name" "$models/$name"
echo "installed $models/$name: SELECT clip_embed_text('a photo of a cat', '$name');"
