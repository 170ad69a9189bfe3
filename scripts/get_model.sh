#!/usr/bin/env bash
# Fetches a CLIP model from the Hugging Face hub and installs it under a name:
#   bash scripts/get_model.sh Xenova/clip-vit-base-patch16 vit-b-16
#   bash scripts/get_model.sh Xenova/clip-vit-base-patch16 vit-b-16-q8 --variant quantized
#   bash scripts/get_model.sh immich-app/ViT-B-16__openai immich-vit-b-16 [--revision main]
# Only the files the repository's family needs are fetched, one variant (fp32 by
# default), through huggingface_hub (HF_ENDPOINT, HF_HOME, HF_TOKEN are honoured;
# a run that was interrupted resumes). scripts/install_model.sh then checks the
# folder with clip_embed's own loader and renames it into the model directory
# (MODEL_DIR if set), or removes it with the reason. See tools/get_model.py.
# A variant installs as NAME:VARIANT (NAME is the folder). The download stays
# in huggingface_hub's cache (HF_HOME, ~/.cache/huggingface by default) for a
# later resume or re-install: the script prints its path and size.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# A name that exists is refused before anything is fetched (install_model.sh
# refuses it too: a name must keep its weights).
if [ $# -ge 2 ] && [[ "$2" != -* ]] && [ -e "${MODEL_DIR:-$(MODEL_INSTALL_DIR)}/$2" ]; then
  echo "get_model: ${MODEL_DIR:-$(MODEL_INSTALL_DIR)}/$2 exists; pick a new name" >&2
  exit 1
fi
exec "$PY" "$REPO_ROOT/tools/get_model.py" "$@"
