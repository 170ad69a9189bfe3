"""Makes a dynamically quantised int8 copy of an installed model under a new
name: `vit-b-16` -> `vit-b-16-int8`. A new name keeps the IMMUTABLE contract
honest: the int8 vectors differ from the fp32 ones, so they must never answer
to the old name.

Both towers go through onnxruntime.quantization.quantize_dynamic (QInt8
weights, activations quantised per run). Weights stored as fp16 behind a Cast
(the clip-shapes export) are first folded to fp32 initializers, since the
quantiser only quantises MatMul weights that are initializers. The tokenizer
and clip_config.json are copied; the description says what the copy is.

Usage: quantize_model.py --model-dir DIR --from NAME --to NEW_NAME
(scripts/quantize_model.sh runs it on the installed model directory).
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

TOWERS = ("visual.onnx", "textual.onnx")


def fold_fp16_casts(model):
    """Replaces Cast(fp16 initializer -> float) by an fp32 initializer."""
    inits = {i.name: i for i in model.graph.initializer}
    keep, folded = [], 0
    for node in model.graph.node:
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        source = inits.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if source is not None and source.data_type == onnx.TensorProto.FLOAT16 and to == onnx.TensorProto.FLOAT:
            array = numpy_helper.to_array(source).astype(np.float32)
            model.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
            folded += 1
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    used = {name for node in model.graph.node for name in node.input}
    unused = [i for i in model.graph.initializer if i.name not in used and i.name not in
              {o.name for o in model.graph.output}]
    for init in unused:
        model.graph.initializer.remove(init)
    return folded


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--from", dest="source", required=True)
    ap.add_argument("--to", dest="target", required=True)
    args = ap.parse_args()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for name in (args.source, args.target):
        # A model name as the extension takes it: a plain folder name, so it never leaves the model directory.
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,62}", name):
            sys.exit(f"quantize_model: {name[:64]!r} is not a model name (letters, digits, '.', '_', '-'; at most 63)")
    source = os.path.join(args.model_dir, args.source)
    target = os.path.join(args.model_dir, args.target)
    if os.path.islink(source) or not os.path.isdir(source):
        sys.exit(f"quantize_model: no model folder {source}")
    if os.path.exists(target):
        sys.exit(f"quantize_model: {target} exists; pick a new name (a name must keep denoting the same weights)")
    towers = [t for t in TOWERS if os.path.exists(os.path.join(source, t))]
    if not towers:
        sys.exit(f"quantize_model: {source} has neither visual.onnx nor textual.onnx")
    staging = tempfile.mkdtemp(prefix=f".{args.target}-", dir=args.model_dir)
    try:
        for tower in towers:
            model = onnx.load(os.path.join(source, tower))
            folded = fold_fp16_casts(model)
            plain = os.path.join(staging, "fp32-" + tower)
            onnx.save(model, plain)
            quantize_dynamic(plain, os.path.join(staging, tower), weight_type=QuantType.QInt8)
            os.remove(plain)
            before = os.path.getsize(os.path.join(source, tower)) / 1e6
            after = os.path.getsize(os.path.join(staging, tower)) / 1e6
            print(f"{tower}: {before:.1f} MB -> {after:.1f} MB int8 ({folded} fp16 casts folded)")
        for extra in ("tokenizer.json",):
            if os.path.exists(os.path.join(source, extra)):
                shutil.copy(os.path.join(source, extra), staging)
        config_path = os.path.join(source, "clip_config.json")
        config = json.load(open(config_path)) if os.path.exists(config_path) else {}
        config["description"] = (f"int8 (dynamic quantisation, QInt8 weights) of {args.source}"
                                 + (f": {config['description']}" if config.get("description") else ""))
        with open(os.path.join(staging, "clip_config.json"), "w") as f:
            json.dump(config, f, indent=2)
        for name in os.listdir(staging):
            os.chmod(os.path.join(staging, name), 0o644)
        os.chmod(staging, 0o755)
        os.rename(staging, target)  # appears whole or not at all
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"installed {target}: SELECT clip_embed_text('a photo', '{args.target}');")


if __name__ == "__main__":
    main()
