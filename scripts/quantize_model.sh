#!/usr/bin/env bash
# Makes an int8 copy of an installed model under a new name, e.g.
#   bash scripts/quantize_model.sh vit-b-16 vit-b-16-int8
# in the installed model directory (pg_config --sharedir/clip_embed/models), or
# in MODEL_DIR if set. Runs scripts/setup.sh's Python venv; downloads nothing.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ $# -ne 2 ]; then
  echo "usage: $0 FROM_NAME TO_NAME" >&2
  exit 2
fi
[ -x "$PY" ] || bash "$REPO_ROOT/scripts/setup.sh"
"$PY" "$REPO_ROOT/tools/quantize_model.py" --model-dir "${MODEL_DIR:-$(MODEL_INSTALL_DIR)}" --from "$1" --to "$2"
