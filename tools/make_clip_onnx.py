"""Writes a CLIP-architecture model folder (ONNX towers, tokenizer, config) with seeded random weights.

No registry reachable from our machines ships real CLIP weights, so tests and
the demo run on models generated here. The graphs are OpenAI CLIP's
architecture, op for op in ONNX (no torch needed):

* visual.onnx:  pixels [N,3,S,S] float32 -> patch Conv -> [CLS]+patches + positional
  embedding -> ln_pre -> pre-LN transformer (QuickGELU MLP) -> ln_post(CLS) -> @proj -> [N,D]
* textual.onnx: ids [N,77] -> token + positional embedding -> causal pre-LN transformer
  -> ln_final -> features at the EOT token (argmax of ids) -> @proj -> [N,D]

With --text-export torch the text graph has the length baked in the way
`torch.onnx.export` of OpenAI/open_clip's text tower leaves it (FIELD_NOTES.md):
int32 ids [N,77] fixed, a Constant [1,1,77,77] causal mask per layer, and
Constant int64 [77] shape pieces feeding Concat -> Reshape of Q, K and V. The
numbers it computes are the same as the plain graph's for the same weights.

Outputs are not normalised, like OpenAI's `encode_image`/`encode_text`. The same
weights for a given preset and seed, so a model name keeps denoting the same
weights. A real export (e.g. ViT-B/16) uses the same folder layout.
"""

import argparse
import json
import os
import shutil
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

PRESETS = {
    # A few MB: fast enough for every test; embed_dim 512 so the README's vector(512) examples run as written.
    "tiny": dict(image_size=224, patch=32, v_width=64, v_layers=2, v_heads=2,
                 t_width=64, t_layers=2, t_heads=2, embed_dim=512, vocab=49408, context=77),
    # The small model trained on synthetic shapes (tools/shapes/train.py).
    # Patch 16 (196 patches): at patch 32 a small shape covers one or two patches and a CPU-trained
    # patch-32 model reached 34% shape accuracy (colour 100%); see models/clip-shapes/MODEL_CARD.md.
    "shapes": dict(image_size=224, patch=16, v_width=192, v_layers=6, v_heads=6,
                   t_width=128, t_layers=4, t_heads=4, embed_dim=512, vocab=49408, context=77),
    # Small enough for the 2-core build machine's CPU (train.py --preset shapes-cpu): 45 minutes there
    # reached 50% colour+shape, against 98% for "shapes" trained on a GPU (the model card has both).
    "shapes-cpu": dict(image_size=224, patch=16, v_width=96, v_layers=4, v_heads=4,
                       t_width=64, t_layers=2, t_heads=2, embed_dim=512, vocab=49408, context=77),
    # OpenAI ViT-B/16's shapes (~600 MB of fp32 weights), for benchmarks only.
    "vit-b-16": dict(image_size=224, patch=16, v_width=768, v_layers=12, v_heads=12,
                     t_width=512, t_layers=12, t_heads=8, embed_dim=512, vocab=49408, context=77),
}


class RandomWeights:
    """Seeded initial weights: normal(0, std) draws in creation order, LayerNorm ones/zeros."""

    def __init__(self, rng):
        self.rng = rng

    def take(self, shape, init, std=None):
        if init == "normal":
            return (self.rng.standard_normal(shape) * std).astype(np.float32)
        return (np.ones if init == "ones" else np.zeros)(shape, np.float32)


class GivenWeights:
    """Trained weights, consumed in the order the builder creates parameters."""

    def __init__(self, arrays):
        self.arrays = iter(arrays)

    def take(self, shape, init, std=None):
        array = np.asarray(next(self.arrays), dtype=np.float32)
        assert array.shape == tuple(shape), f"weight of shape {array.shape}, graph wants {shape}"
        return array


class Graph:
    """A tiny ONNX graph builder: named initializers and nodes with unique names.

    With half=True the weight matrices are stored as float16 behind a Cast to
    float32 (ONNX Runtime folds the Cast when it loads the graph), which halves
    the file; the arithmetic stays float32. LayerNorm parameters stay float32."""

    def __init__(self, weights, half=False):
        self.weights = weights
        self.half = half
        self.baked_length = None
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base, array):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def rand(self, base, shape, std):
        array = self.weights.take(shape, "normal", std)
        if not self.half:
            return self.const(base, array)
        return self.op("Cast", [self.const(base, array.astype(np.float16))], base=base + "_f32", to=TensorProto.FLOAT)

    def op(self, op_type, inputs, base=None, **attrs):
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def layer_norm(self, x, width):
        gamma = self.const("ln_w", self.weights.take((width,), "ones"))
        beta = self.const("ln_b", self.weights.take((width,), "zeros"))
        return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-5)

    def linear(self, x, d_in, d_out, bias=True):
        std = d_in**-0.5
        y = self.op("MatMul", [x, self.rand("w", (d_in, d_out), std)])
        if bias:
            y = self.op("Add", [y, self.rand("b", (d_out,), 0.02)])
        return y

    def attention(self, x, width, heads, mask=None):
        head_dim = width // heads
        if self.baked_length:
            return self.baked_attention(x, width, heads, mask)
        qkv = self.linear(x, width, 3 * width)
        q, k, v = [self.name(s) for s in "qkv"]
        self.nodes.append(helper.make_node("Split", [qkv, self.const("split", np.array([width] * 3, np.int64))],
                                           [q, k, v], axis=-1, name=self.name("split")))
        shape = self.const("heads", np.array([0, 0, heads, head_dim], np.int64))

        def to_heads(t, perm):
            return self.op("Transpose", [self.op("Reshape", [t, shape])], perm=perm)

        qh = to_heads(q, [0, 2, 1, 3])  # N,H,L,Dh
        kt = to_heads(k, [0, 2, 3, 1])  # N,H,Dh,L
        vh = to_heads(v, [0, 2, 1, 3])
        scores = self.op("Mul", [self.op("MatMul", [qh, kt]), self.const("scale", np.float32(head_dim**-0.5))])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        ctx = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), vh])
        ctx = self.op("Transpose", [ctx], perm=[0, 2, 1, 3])
        ctx = self.op("Reshape", [ctx, self.const("merge", np.array([0, 0, width], np.int64))])
        return self.linear(ctx, width, width)

    def constant(self, base, array):
        """A Constant node, as torch.onnx.export writes small tensors."""
        out = self.name(base)
        self.nodes.append(helper.make_node("Constant", [], [out], name=out,
                                           value=numpy_helper.from_array(np.asarray(array), out + "_value")))
        return out

    def baked_attention(self, x, width, heads, mask):
        """torch.onnx.export's pattern: shapes rebuilt from Shape(x) and Constant [L] pieces,
        the causal mask a Constant [1,1,L,L] per layer."""
        length = self.baked_length
        head_dim = width // heads
        qkv = self.linear(x, width, 3 * width)
        q, k, v = [self.name(s) for s in "qkv"]
        self.nodes.append(helper.make_node("Split", [qkv, self.const("split", np.array([width] * 3, np.int64))],
                                           [q, k, v], axis=-1, name=self.name("split")))
        batch = self.op("Slice", [self.op("Shape", [x]), self.constant("s0", np.array([0], np.int64)),
                                  self.constant("s1", np.array([1], np.int64))])

        def to_heads(t, perm):
            shape = self.op("Concat", [batch, self.constant("len", np.array([length], np.int64)),
                                       self.constant("h", np.array([heads], np.int64)),
                                       self.constant("dh", np.array([head_dim], np.int64))], axis=0)
            return self.op("Transpose", [self.op("Reshape", [t, shape])], perm=perm)

        qh = to_heads(q, [0, 2, 1, 3])
        kt = to_heads(k, [0, 2, 3, 1])
        vh = to_heads(v, [0, 2, 1, 3])
        scores = self.op("Mul", [self.op("MatMul", [qh, kt]), self.const("scale", np.float32(head_dim**-0.5))])
        causal = np.triu(np.full((length, length), -np.inf, np.float32), 1)[None, None]
        scores = self.op("Add", [scores, self.constant("attn_mask", causal)])
        ctx = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), vh])
        ctx = self.op("Transpose", [ctx], perm=[0, 2, 1, 3])
        merge = self.op("Concat", [batch, self.constant("len", np.array([length], np.int64)),
                                   self.constant("w", np.array([width], np.int64))], axis=0)
        ctx = self.op("Reshape", [ctx, merge])
        return self.linear(ctx, width, width)

    def key_padding_mask(self, mask_input):
        """[N,1,1,L]: 0 where the attention mask input is 1, -inf where it is 0 (padding)."""
        keep = self.op("Cast", [mask_input], to=TensorProto.BOOL)
        padding = self.op("Where", [keep, self.const("zero_f", np.float32(0)),
                                    self.const("neg_inf", np.float32(-np.inf))])
        return self.op("Unsqueeze", [padding, self.const("axes12", np.array([1, 2], np.int64))])

    def block(self, x, width, heads, mask=None):
        x = self.op("Add", [x, self.attention(self.layer_norm(x, width), width, heads, mask)])
        h = self.linear(self.layer_norm(x, width), width, 4 * width)
        h = self.op("Mul", [h, self.op("Sigmoid", [self.op("Mul", [h, self.const("qg", np.float32(1.702))])])])
        return self.op("Add", [x, self.linear(h, 4 * width, width)])

    def model(self, inputs, outputs, name):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="clip_embed")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def visual(p, weights, input_name, output_name, half=False):
    g = Graph(weights, half)
    w, s, patch = p["v_width"], p["image_size"], p["patch"]
    grid = s // patch
    x = g.op("Conv", [input_name, g.rand("conv", (w, 3, patch, patch), (3 * patch * patch) ** -0.5)],
             strides=[patch, patch])
    x = g.op("Reshape", [x, g.const("flat", np.array([0, w, grid * grid], np.int64))])
    x = g.op("Transpose", [x], perm=[0, 2, 1])  # N, grid², W
    batch = g.op("Slice", [g.op("Shape", [input_name]), g.const("s0", np.array([0], np.int64)),
                           g.const("s1", np.array([1], np.int64))])
    cls_shape = g.op("Concat", [batch, g.const("cls_tail", np.array([1, w], np.int64))], axis=0)
    cls = g.op("Expand", [g.rand("class_embedding", (1, 1, w), w**-0.5), cls_shape])
    x = g.op("Concat", [cls, x], axis=1)
    x = g.op("Add", [x, g.rand("positional_embedding", (grid * grid + 1, w), w**-0.5)])
    x = g.layer_norm(x, w)  # ln_pre
    for _ in range(p["v_layers"]):
        x = g.block(x, w, p["v_heads"])
    cls_out = g.op("Gather", [x, g.const("zero", np.array(0, np.int64))], axis=1)  # N, W
    cls_out = g.layer_norm(cls_out, w)  # ln_post
    g.op("MatMul", [cls_out, g.rand("proj", (w, p["embed_dim"]), w**-0.5)], base=output_name)
    g.nodes[-1].output[0] = output_name
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", 3, s, s])]
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", p["embed_dim"]])]
    return g.model(inputs, outputs, "clip_visual")


def textual(p, weights, input_name, output_name, id_type, half=False, token_rows=None, baked=False,
            attention_mask=None):
    """token_rows: optional int32 array of length vocab mapping each token id to a row of a
    compact embedding table (a model trained on a small vocabulary stores only the rows it
    trained, so the file is kB instead of vocab x width x 4 bytes); the lookup is still one
    embedding per token id, computed as two Gathers."""
    g = Graph(weights, half)
    w, ctx = p["t_width"], p["context"]
    g.baked_length = ctx if baked else None
    if token_rows is None:
        tok = g.op("Gather", [g.rand("token_embedding", (p["vocab"], w), 0.02), input_name], axis=0)
    else:
        assert token_rows.shape == (p["vocab"],) and token_rows.dtype == np.int32
        rows = g.op("Gather", [g.const("token_rows", token_rows), input_name], axis=0)
        table = g.rand("token_embedding", (int(token_rows.max()) + 1, w), 0.02)
        tok = g.op("Gather", [table, rows], axis=0)
    x = g.op("Add", [tok, g.rand("positional_embedding", (ctx, w), 0.01)])
    mask = np.triu(np.full((ctx, ctx), -np.inf, np.float32), 1)
    mask_name = None if baked else g.const("causal_mask", mask)
    if attention_mask:
        # clip-as-service's export: a key-padding mask beside the ids (1 for the text's tokens
        # up to EOT, 0 for padding), added to the causal mask as -inf; an all-zero mask gives NaN.
        mask_name = g.op("Add", [mask_name, g.key_padding_mask(attention_mask)])
    for _ in range(p["t_layers"]):
        x = g.block(x, w, p["t_heads"], mask_name)
    x = g.layer_norm(x, w)  # ln_final
    # OpenAI pools at the EOT token, the highest id in every sequence.
    eot = g.op("ArgMax", [g.op("Cast", [input_name], to=TensorProto.FLOAT)], axis=-1, keepdims=1)  # N,1
    pooled = g.op("GatherND", [x, eot], batch_dims=1)  # N, W
    g.op("MatMul", [pooled, g.rand("text_projection", (w, p["embed_dim"]), w**-0.5)])
    g.nodes[-1].output[0] = output_name
    inputs = [helper.make_tensor_value_info(input_name, id_type, ["batch", ctx])]
    if attention_mask:
        inputs.append(helper.make_tensor_value_info(attention_mask, id_type, ["batch", ctx]))
    outputs = [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", p["embed_dim"]])]
    return g.model(inputs, outputs, "clip_textual")


def write_model(path, model):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    os.close(fd)
    onnx.save(model, tmp)
    os.chmod(tmp, 0o644)  # onnx.save leaves 600; the postgres user must read it
    if os.path.exists(path) and open(path, "rb").read() == open(tmp, "rb").read():
        os.unlink(tmp)
    else:
        os.replace(tmp, path)


def write_config(path, p, description):
    """clip_config.json for a preset: sizes, OpenAI's mean/std, and what the weights are."""
    config = {
        "embed_dim": p["embed_dim"],
        "image_size": p["image_size"],
        "context_length": p["context"],
        "image_mean": CLIP_MEAN,
        "image_std": CLIP_STD,
        "description": description,
    }
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.chmod(path, 0o644)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--tokenizer", help="tokenizer.json to copy into the folder")
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--ids", choices=["int64", "int32"], default="int64", help="token id element type")
    ap.add_argument("--visual-io", default="pixel_values,image_embeds", help="input,output names")
    ap.add_argument("--textual-io", default="input_ids,text_embeds", help="input,output names")
    ap.add_argument("--text-export", choices=["plain", "torch"], default="plain",
                    help="torch: bake the context length in as torch.onnx.export does")
    ap.add_argument("--attention-mask", metavar="NAME",
                    help="a key-padding mask input of this name beside the ids, as clip-as-service exports it")
    ap.add_argument("--no-config", action="store_true",
                    help="omit clip_config.json, like a bare OpenAI-CLIP export")
    args = ap.parse_args()
    p = PRESETS[args.preset]
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    vin, vout = args.visual_io.split(",")
    tin, tout = args.textual_io.split(",")
    id_type = TensorProto.INT64 if args.ids == "int64" else TensorProto.INT32
    weights = RandomWeights(rng)
    write_model(os.path.join(args.out, "visual.onnx"), visual(p, weights, vin, vout))
    write_model(os.path.join(args.out, "textual.onnx"),
                textual(p, weights, tin, tout, id_type, baked=args.text_export == "torch",
                        attention_mask=args.attention_mask))
    if args.tokenizer:
        shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
    cfg_path = os.path.join(args.out, "clip_config.json")
    if args.no_config:
        if os.path.exists(cfg_path):
            os.unlink(cfg_path)
        return
    write_config(cfg_path, p, f"CLIP {args.preset} architecture with seeded random weights (seed {args.seed}): "
                 "rankings mean nothing")


if __name__ == "__main__":
    main()
