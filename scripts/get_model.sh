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
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$PY" "$REPO_ROOT/tools/get_model.py" "$@"
