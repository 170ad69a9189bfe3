#!/usr/bin/env bash
# Bulk embedding throughput (bench/bulk.py) on the ViT-B/16-shaped model that
# bench/run.sh generates; run bench/run.sh once first. Extra arguments go to bulk.py.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO_ROOT"
models="$CLIP_EMBED_HOME/bench-models"
[ -f "$models/vit-b-16-random/visual.onnx" ] || { echo "run bench/run.sh first (it generates the model)" >&2; exit 1; }
bash scripts/pg_cluster.sh start bench 28817 "$models"
trap 'bash scripts/pg_cluster.sh stop bench' EXIT
OMP_NUM_THREADS=1 "$PY" bench/bulk.py --host "$CLIP_EMBED_HOME/bench/socket" --port 28817 --model vit-b-16-random "$@"
