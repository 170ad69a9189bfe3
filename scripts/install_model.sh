#!/usr/bin/env bash
# Installs a downloaded model folder under a name, after checking that it loads:
#   bash scripts/install_model.sh ~/Downloads/clip-vit-b-16 vit-b-16
# Copies the folder into the model directory (pg_config --sharedir/clip_embed/models,
# or MODEL_DIR if set) under a temporary name, loads it with clip_embed's own core
# and runs both towers once, then renames it to NAME and prints what was detected.
# A folder that would not serve is removed again, with the reason. Nothing is
# downloaded; a NAME that exists is never replaced (a name must keep its weights).
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
# The dev profile shares the test suite's builds (dependencies are optimised in it).
cargo build -q --example inspect_model -p clip_embed_core --manifest-path "$REPO_ROOT/Cargo.toml"
staging="$name.installing-$$"
trap 'rm -rf "${models:?}/$staging"' EXIT
cp -r "$src" "$models/$staging"
chmod -R a+rX "$models/$staging"
if ! "$CARGO_TARGET_DIR/debug/examples/inspect_model" "$models" "$staging" "$(ORT_INSTALL_DIR)/libonnxruntime.so" "$name"; then
  echo "install_model: $src was not installed" >&2
  exit 1
fi
mv "$models/$staging" "$models/$name"
echo "installed $models/$name: SELECT clip_embed_text('a photo of a cat', '$name');"
