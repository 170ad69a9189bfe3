#!/usr/bin/env bash
# Runs bench/bench.py against a dedicated cluster on the installed tiny model
# and a generated full-size ViT-B/16-shaped model (random weights, ~600 MB,
# written once under $CLIP_EMBED_HOME/bench-models). Run after scripts/setup.sh
# and an install of the extension (scripts/test.sh or scripts/demo.sh do both).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
cd "$REPO_ROOT"
models="$CLIP_EMBED_HOME/bench-models"
mkdir -p "$models"
cp -f "$(MODEL_INSTALL_DIR)/tokenizer.json" "$models/"
for m in tiny-random clip-shapes; do rm -rf "${models:?}/$m" && cp -r "$(MODEL_INSTALL_DIR)/$m" "$models/"; done
if [ ! -f "$models/vit-b-16-random/textual.onnx" ]; then
  "$PY" tools/make_clip_onnx.py --preset vit-b-16 --out "$models/vit-b-16-random"
fi
# The same shape exported the way torch.onnx.export leaves it (int32 ids, 77 baked in),
# as Roboflow's files are made (issue 18): the first-call and memory figures.
if [ ! -f "$models/vit-b-16-torch/clip_config.json" ]; then
  "$PY" tools/make_clip_onnx.py --preset vit-b-16 --ids int32 --text-export torch \
    --tokenizer "$models/tokenizer.json" --out "$models/vit-b-16-torch"
fi
# int8 copies, made by the README's tool.
for m in clip-shapes vit-b-16-random; do
  [ -d "$models/$m-int8" ] || "$PY" tools/quantize_model.py --model-dir "$models" --from "$m" --to "$m-int8" 2>/dev/null
done
chmod -R a+rX "$models"
bash scripts/pg_cluster.sh start bench 28817 "$models"
trap 'bash scripts/pg_cluster.sh stop bench' EXIT
# This build's SQL objects (a development build keeps its version number).
runuser -u postgres -- "$PG_BINDIR/psql" -h "$CLIP_EMBED_HOME/bench/socket" -p 28817 -qX -c 'SET client_min_messages = warning' \
  -c 'DROP EXTENSION IF EXISTS clip_embed CASCADE' -c 'CREATE EXTENSION clip_embed CASCADE' postgres
for model in tiny-random clip-shapes vit-b-16-random vit-b-16-random-int8; do
  OMP_NUM_THREADS=1 "$PY" bench/bench.py --host "$CLIP_EMBED_HOME/bench/socket" --port 28817 --model-dir "$models" \
    --bpe "$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz" --model "$model" "$@"
done
# Prepared copies (shared, memory-mapped weights; text at the caption's length) against the original graphs.
for m in vit-b-16-random vit-b-16-torch; do
  OMP_NUM_THREADS=1 "$PY" bench/prepared.py --host "$CLIP_EMBED_HOME/bench/socket" --port 28817 --model "$m"
done
# clip_embed.preload_models off and on (a cluster of its own, restarted), the torch-export ViT-B/16.
OMP_NUM_THREADS=1 "$PY" bench/preload.py --home "$CLIP_EMBED_HOME" --port 28824 --model-dir "$models" \
  --model vit-b-16-torch
for m in clip-shapes vit-b-16-random; do
  OMP_NUM_THREADS=1 "$PY" bench/int8.py --model-dir "$models" --fp32 "$m" --int8 "$m-int8" \
    --bpe "$CLIP_EMBED_HOME/bpe_simple_vocab_16e6.txt.gz" 2>/dev/null
done
# How soon a statement_timeout stops decoding, resizing and inference.
OMP_NUM_THREADS=1 "$PY" bench/cancel.py --host "$CLIP_EMBED_HOME/bench/socket" --port 28817 --model vit-b-16-random
# Bulk embedding (CALL clip_embed_backfill) throughput, as bench/bulk.sh runs it.
OMP_NUM_THREADS=1 "$PY" bench/bulk.py --host "$CLIP_EMBED_HOME/bench/socket" --port 28817 --model vit-b-16-random
# pgvector's halfvec against vector: recall@10 and storage (the demo's images, a 5,000-image gallery).
"$PY" tools/make_samples.py --out "$CLIP_EMBED_HOME/samples" >/dev/null
OMP_NUM_THREADS=1 "$PY" bench/halfvec.py --host "$CLIP_EMBED_HOME/bench/socket" --port 28817 \
  --samples "$CLIP_EMBED_HOME/samples"
# Citus (built by scripts/citus.sh): backfill and bulk load on a coordinator and two workers against one
# node, connection caching, worker memory, prepared copy against original graph (docs/scale-out.md).
bash scripts/citus.sh
OMP_NUM_THREADS=1 "$PY" bench/citus_bulk.py --home "$CLIP_EMBED_HOME" --models "$models" \
  --samples "$CLIP_EMBED_HOME/samples"
