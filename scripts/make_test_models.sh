#!/usr/bin/env bash
# Fills $CLIP_EMBED_HOME/test-models, the model directory of the test clusters:
# the installed tiny model, plus deliberately unusual folders that exercise the
# loader (a bare export with int32 ids and other I/O names, broken files).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

models="$(MODEL_INSTALL_DIR)"
test_models="$CLIP_EMBED_HOME/test-models"
mkdir -p "$test_models"
cp -f "$models/tokenizer.json" "$test_models/tokenizer.json"
rm -rf "$test_models/tiny-random" && cp -r "$models/tiny-random" "$test_models/tiny-random"
rm -rf "$test_models/clip-shapes" && cp -r "$models/clip-shapes" "$test_models/clip-shapes"
# An int8 copy made with the README's tool (scripts/quantize_model.sh), under its own name.
rm -rf "$test_models/clip-shapes-int8"
"$PY" "$REPO_ROOT/tools/quantize_model.py" --model-dir "$test_models" --from clip-shapes --to clip-shapes-int8 >/dev/null
# Like an OpenAI-CLIP export from Roboflow Inference or clip-as-service: only
# the two towers, int32 ids, its own I/O names; tokenizer from the model dir.
"$PY" "$REPO_ROOT/tools/make_clip_onnx.py" --preset tiny --seed 7 --ids int32 --no-config \
  --visual-io input,output --textual-io input,output --out "$test_models/bare-export"
rm -f "$test_models/bare-export/tokenizer.json"
# A text tower with the length baked in as torch.onnx.export leaves it (Constant
# [1,1,77,77] masks per layer, Constant [77] shape pieces): prepared copies
# rewrite it to run at the caption's length (crates/clip_embed_core/src/prepared/text_length.rs).
"$PY" "$REPO_ROOT/tools/make_clip_onnx.py" --preset tiny --seed 11 --ids int32 --text-export torch \
  --out "$test_models/torch-export"
# The layouts people download, as published (tools/make_layout_models.py): Hugging Face /
# transformers.js splits of CLIP (with a _quantized variant) and SigLIP, Immich's open_clip
# exports of CLIP (bicubic and bilinear) and SigLIP.
"$PY" "$REPO_ROOT/tools/make_layout_models.py" --out "$test_models" --clip-tokenizer "$models/tokenizer.json"
# Folders that mix two layouts, miss a file, or state impossible values.
rm -rf "$test_models/mixed-layouts" "$test_models/hf-no-preprocessor" "$test_models/immich-bad-size"
cp -r "$test_models/hf-clip" "$test_models/mixed-layouts"
cp "$models/tiny-random/visual.onnx" "$test_models/mixed-layouts/"
cp -r "$test_models/hf-clip" "$test_models/hf-no-preprocessor"
# Their plain, quantized and fp16 graphs are enough to show the fault.
rm -f "$test_models"/{mixed-layouts,hf-no-preprocessor}/onnx/*_{int8,uint8,q4,q4f16,bnb4}.onnx
rm "$test_models/hf-no-preprocessor/preprocessor_config.json"
cp -r "$test_models/immich-siglip" "$test_models/immich-bad-size"
"$PY" - "$test_models/immich-bad-size/visual/preprocess_cfg.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["size"] = [224, 0]
json.dump(cfg, open(sys.argv[1], "w"))
PY
# clip-as-service's form: an attention_mask input beside int32 input_ids, used as a key-padding mask.
"$PY" "$REPO_ROOT/tools/make_clip_onnx.py" --preset tiny --seed 13 --ids int32 --attention-mask attention_mask \
  --textual-io input_ids,text_embeds --out "$test_models/mask-export"
# Files that exist but are not usable: a graph that is not ONNX, a config that is not valid.
rm -rf "$test_models/broken-graph" "$test_models/broken-config"
mkdir -p "$test_models/broken-graph" "$test_models/broken-config"
printf 'not an onnx graph' >"$test_models/broken-graph/visual.onnx"
printf 'not an onnx graph' >"$test_models/broken-graph/textual.onnx"
cp "$models/tiny-random/"*.onnx "$test_models/broken-config/"
printf '{"embed_dim": "wide"}' >"$test_models/broken-config/clip_config.json"
# A text tower but no vision tower.
rm -rf "$test_models/text-only" && mkdir -p "$test_models/text-only"
cp "$models/tiny-random/textual.onnx" "$models/tiny-random/clip_config.json" "$test_models/text-only/"
chmod -R a+rX "$test_models"
# A model whose text tower the server cannot read (the cluster runs as postgres).
rm -rf "$test_models/unreadable" && mkdir -p "$test_models/unreadable"
cp "$models/tiny-random/"*.onnx "$test_models/unreadable/"
chmod 000 "$test_models/unreadable/textual.onnx"
