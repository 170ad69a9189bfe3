"""Writes test model folders in the layouts people download, with seeded random weights.

Each folder is laid out exactly as its publisher ships it, with the I/O names,
dtypes and shapes of the real exports and config files in their real formats;
only the weights are random and the towers tiny (tools/make_clip_onnx.py's
"tiny" preset: width 64, 2 layers):

* hf-clip/   transformers.js / Optimum (Xenova/clip-vit-base-patch16): onnx/vision_model.onnx
             (pixel_values [batch_size,3,224,224] -> image_embeds, last_hidden_state),
             onnx/text_model.onnx (input_ids int64 [batch_size,sequence_length], dynamic
             length -> text_embeds, last_hidden_state), the `_quantized` variant (dynamic
             uint8 weights, as transformers.js ships it) and the `_fp16` one (float16
             inputs, outputs and weights), transformers.js's other quantisations
             (`_int8`, `_uint8`, `_q4`, `_q4f16`, `_bnb4`, made as its scripts/quantize.py
             makes them), config.json, preprocessor_config.json
             (CLIPImageProcessor), tokenizer.json, tokenizer_config.json, special_tokens_map.json.
* hf-siglip/ the same shape for SigLIP (Xenova/siglip-base-patch16-224): model_type siglip,
             SiglipImageProcessor (squash to 224, mean/std 0.5), a SentencePiece-style
             Unigram tokenizer.json with `</s>` appended, pooler_output outputs; the text
             tower attends to every slot and pools the last, so texts must be padded to 64.
* immich-clip/  Immich's open_clip export (immich-app/ViT-B-32__openai): config.json (open_clip
             model config), visual/model.onnx (image [1,3,224,224] -> embedding [1,512],
             normalised in the graph), visual/preprocess_cfg.json (shortest, bicubic),
             textual/model.onnx (text int32 [1,77] -> embedding), textual/tokenizer.json,
             tokenizer_config.json (pad_token <|endoftext|>), special_tokens_map.json.
* immich-clip-bilinear/  the same weights with `"interpolation": "bilinear"`.
* immich-siglip/ Immich's SigLIP form: init_logit_bias -10, text_cfg context 64 with
             tokenizer_kwargs clean canonicalize, preprocess_cfg squash, pad_token <pad>.
* immich-multilingual/  Immich's M-CLIP form (immich-app/XLM-Roberta-Large-Vit-B-32): the
             vision side of immich-clip, a text graph taking input_ids and attention_mask
             (int32 [1,77]) that mean-pools over the mask, an XLM-R-style tokenizer
             (<s> ... </s>, pad <pad>, a few words in several languages).

SigLIP's vision pooling is an attention-pooling head with one learned probe
(the MAP head reduced to one head, no MLP): the I/O is SigLIP's, the
arithmetic a small stand-in. Nothing here is a trained model.

Usage: make_layout_models.py --out DIR --clip-tokenizer tokenizer.json
"""

import argparse
import json
import os
import shutil
import sys

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_clip_onnx import CLIP_MEAN, CLIP_STD, PRESETS, Graph, RandomWeights, write_model  # noqa: E402

P = PRESETS["tiny"]
SIGLIP_CONTEXT = 64
HALF = [0.5, 0.5, 0.5]


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.chmod(path, 0o644)


def l2_normalize(g, y):
    return g.op("Div", [y, g.op("ReduceL2", [y], axes=[-1], keepdims=1)])


def vision(weights, *, input_name, batch, embed_name, embed_dim, hidden_name=None, pool="cls", normalize=False):
    """OpenAI CLIP's vision transformer (pool="cls": ln_post(CLS) @ proj), or SigLIP's
    shape (pool="map": no class token, attention pooling with a learned probe, then a head)."""
    g = Graph(weights)
    w, s, patch = P["v_width"], P["image_size"], P["patch"]
    grid = s // patch
    x = g.op("Conv", [input_name, g.rand("conv", (w, 3, patch, patch), (3 * patch * patch) ** -0.5)],
             strides=[patch, patch])
    x = g.op("Reshape", [x, g.const("flat", np.array([0, w, grid * grid], np.int64))])
    x = g.op("Transpose", [x], perm=[0, 2, 1])
    if pool == "cls":
        n = g.op("Slice", [g.op("Shape", [input_name]), g.const("s0", np.array([0], np.int64)),
                           g.const("s1", np.array([1], np.int64))])
        cls_shape = g.op("Concat", [n, g.const("cls_tail", np.array([1, w], np.int64))], axis=0)
        cls = g.op("Expand", [g.rand("class_embedding", (1, 1, w), w**-0.5), cls_shape])
        x = g.op("Concat", [cls, x], axis=1)
        x = g.op("Add", [x, g.rand("positional_embedding", (grid * grid + 1, w), w**-0.5)])
        x = g.layer_norm(x, w)
    else:
        x = g.op("Add", [x, g.rand("positional_embedding", (grid * grid, w), w**-0.5)])
    for _ in range(P["v_layers"]):
        x = g.block(x, w, P["v_heads"])
    tokens = grid * grid + (1 if pool == "cls" else 0)
    if hidden_name:
        g.op("Identity", [x])
        g.nodes[-1].output[0] = hidden_name
    if pool == "cls":
        pooled = g.layer_norm(g.op("Gather", [x, g.const("zero", np.array(0, np.int64))], axis=1), w)
        y = g.op("MatMul", [pooled, g.rand("proj", (w, embed_dim), w**-0.5)])
    else:
        x = g.layer_norm(x, w)  # post_layernorm
        probe = g.rand("probe", (1, 1, w), w**-0.5)
        keys = g.linear(x, w, w)
        scores = g.op("MatMul", [g.linear(probe, w, w), g.op("Transpose", [keys], perm=[0, 2, 1])])
        scores = g.op("Mul", [scores, g.const("scale", np.float32(w**-0.5))])
        pooled = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), g.linear(x, w, w)])  # N,1,W
        pooled = g.op("Squeeze", [pooled, g.const("axis1", np.array([1], np.int64))])
        y = g.linear(g.layer_norm(pooled, w), w, embed_dim)
    if normalize:
        y = l2_normalize(g, y)
    g.op("Identity", [y])
    g.nodes[-1].output[0] = embed_name
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, s, s])]
    outputs = [helper.make_tensor_value_info(embed_name, TensorProto.FLOAT, [batch, embed_dim])]
    if hidden_name:
        outputs.append(helper.make_tensor_value_info(hidden_name, TensorProto.FLOAT, [batch, tokens, w]))
    return g.model(inputs, outputs, "vision_model")


def text(weights, *, input_name, id_type, batch, length, context, vocab, embed_name, embed_dim,
         hidden_name=None, causal=True, normalize=False, mask_name=None):
    """CLIP's text transformer (causal, pooled at the argmax id, @ projection) or SigLIP's
    (no mask, pooled at the last slot, then a linear head). `length` a name makes the
    sequence dimension dynamic: positional embedding and mask are sliced to it."""
    g = Graph(weights)
    w = P["t_width"]
    tok = g.op("Gather", [g.rand("token_embedding", (vocab, w), 0.02), input_name], axis=0)
    pos = g.rand("positional_embedding", (context, w), 0.01)
    dynamic = isinstance(length, str)
    if dynamic:
        n_len = g.op("Slice", [g.op("Shape", [input_name]), g.const("s1", np.array([1], np.int64)),
                               g.const("s2", np.array([2], np.int64))])
        pos = g.op("Slice", [pos, g.const("zero", np.array([0], np.int64)), n_len,
                             g.const("axis0", np.array([0], np.int64))])
    x = g.op("Add", [tok, pos])
    mask = None
    if mask_name:
        # A key-padding mask (M-CLIP's XLM-R): padded slots are never attended to.
        mask = g.key_padding_mask(mask_name)
    if causal:
        mask = g.const("causal_mask", np.triu(np.full((context, context), -np.inf, np.float32), 1))
        if dynamic:
            ends = g.op("Concat", [n_len, n_len], axis=0)
            mask = g.op("Slice", [mask, g.const("zeros", np.array([0, 0], np.int64)), ends,
                                  g.const("axes01", np.array([0, 1], np.int64))])
    for _ in range(P["t_layers"]):
        x = g.block(x, w, P["t_heads"], mask)
    x = g.layer_norm(x, w)
    if hidden_name:
        g.op("Identity", [x])
        g.nodes[-1].output[0] = hidden_name
    if mask_name:
        # M-CLIP's pooling: the mean over the masked slots, then a linear map.
        weights_ = g.op("Unsqueeze", [g.op("Cast", [mask_name], to=TensorProto.FLOAT),
                                      g.const("axis2", np.array([2], np.int64))])  # N,L,1
        total = g.op("ReduceSum", [g.op("Mul", [x, weights_]), g.const("axis1", np.array([1], np.int64))],
                     keepdims=0)
        count = g.op("ReduceSum", [weights_, g.const("axis1b", np.array([1], np.int64))], keepdims=0)
        y = g.linear(g.op("Div", [total, count]), w, embed_dim)
    elif causal:
        eot = g.op("ArgMax", [g.op("Cast", [input_name], to=TensorProto.FLOAT)], axis=-1, keepdims=1)
        pooled = g.op("GatherND", [x, eot], batch_dims=1)
        y = g.op("MatMul", [pooled, g.rand("text_projection", (w, embed_dim), w**-0.5)])
    else:
        pooled = g.op("Gather", [x, g.const("last", np.array(-1, np.int64))], axis=1)
        y = g.linear(pooled, w, embed_dim)
    if normalize:
        y = l2_normalize(g, y)
    g.op("Identity", [y])
    g.nodes[-1].output[0] = embed_name
    inputs = [helper.make_tensor_value_info(input_name, id_type, [batch, length])]
    if mask_name:
        inputs.append(helper.make_tensor_value_info(mask_name, id_type, [batch, length]))
    outputs = [helper.make_tensor_value_info(embed_name, TensorProto.FLOAT, [batch, embed_dim])]
    if hidden_name:
        outputs.append(helper.make_tensor_value_info(hidden_name, TensorProto.FLOAT, [batch, length, w]))
    return g.model(inputs, outputs, "text_model")


def to_fp16(src, dst):
    """transformers.js's `_fp16` files as clip_embed sees them: float16 inputs and outputs, and
    float16 weights (each large float32 initializer stored as float16 behind a Cast); the
    arithmetic between stays float32 here, where a real fp16 export computes in float16."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(src)
    graph = model.graph
    front, keep = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size > 1024:
            half = numpy_helper.from_array(array.astype(np.float16), init.name + "_fp16")
            keep.append(half)
            front.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                          name=init.name + "_cast"))
        else:
            keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = value.name + "_fp32"
            for node in graph.node:
                node.input[:] = [inner if i == value.name else i for i in node.input]
            front.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.FLOAT, name=inner + "_cast"))
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    back = []
    for value in graph.output:
        inner = value.name + "_fp32"
        for node in graph.node:
            node.output[:] = [inner if o == value.name else o for o in node.output]
        back.append(helper.make_node("Cast", [inner], [value.name], to=TensorProto.FLOAT16, name=value.name + "_cast"))
        value.type.tensor_type.elem_type = TensorProto.FLOAT16
    nodes = front + list(graph.node) + back
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    write_model(dst, model)


def quantize(src, dst):
    """transformers.js's `_quantized` files: dynamic quantisation, uint8 weights."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process first, printed per call
    quantize_dynamic(src, dst, weight_type=QuantType.QUInt8)
    os.chmod(dst, 0o644)


def transformers_js_variants(src, onnx_dir, tower):
    """The variants transformers.js's scripts/quantize.py (@124f7dd) writes beside
    `_quantized` and `_fp16`, with its settings: `_int8`/`_uint8` (dynamic
    quantisation of MatMul/Gather weights, QInt8/QUInt8), `_q4` (MatMulNBits, block
    32, symmetric), `_q4f16` (`_q4`, then float16 with float32 inputs and outputs),
    `_bnb4` (MatMulBnb4, NF4, block 64). The three 4-bit ones use com.microsoft
    operators that ONNX Runtime's CPU provider has."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantizationMode, QuantType
    from onnxruntime.quantization.matmul_bnb4_quantizer import MatMulBnb4Quantizer
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer
    from onnxruntime.quantization.registry import IntegerOpsRegistry
    from onnxruntime.transformers import float16
    logging.getLogger().setLevel(logging.ERROR)

    def q8(model, weight_type):
        quantizer = ONNXQuantizer(model, False, False, mode=QuantizationMode.IntegerOps, static=False,
                                  weight_qType=weight_type, activation_qType=QuantType.QUInt8, tensors_range=None,
                                  nodes_to_quantize=[], nodes_to_exclude=[],
                                  op_types_to_quantize=set(IntegerOpsRegistry.keys()),
                                  extra_options={"EnableSubgraph": True, "MatMulConstBOnly": True})
        quantizer.quantize_model()
        return quantizer.model.model

    def q4(model):
        quantizer = MatMulNBitsQuantizer(model=model, block_size=32, is_symmetric=True, accuracy_level=None)
        quantizer.process()
        return quantizer.model.model

    def bnb4(model):
        quantizer = MatMulBnb4Quantizer(model=model, block_size=64, quant_type=MatMulBnb4Quantizer.NF4)
        quantizer.process()
        return quantizer.model.model

    makers = {"int8": lambda m: q8(m, QuantType.QInt8), "uint8": lambda m: q8(m, QuantType.QUInt8), "q4": q4,
              "q4f16": lambda m: float16.convert_float_to_float16(q4(m), keep_io_types=True), "bnb4": bnb4}
    for variant, make in makers.items():
        dst = os.path.join(onnx_dir, f"{tower}_{variant}.onnx")
        onnx.save(make(onnx.load(src)), dst)  # each quantiser changes its model in place
        os.chmod(dst, 0o644)


# The SentencePiece-style vocabulary of the SigLIP test tokenizer: whole words
# of the test captions, every letter and digit alone (so nothing is unknown in
# ASCII text), and the specials where transformers' SigLIP tokenizer has them.
SIGLIP_WORDS = ("a an the of in on at and with photo picture image red green blue yellow black white orange "
                "purple circle square triangle star cat dog bicycle car house tree sky day night two three "
                "hello world small large big little playing snow wall leaning").split()


def unigram_tokenizer(specials, words, chars, normalizer_steps, single, pair):
    """A SentencePiece-style Unigram tokenizer.json: `specials` first (their ids are their
    places), then whole words after "\u2581", then each of `chars` alone and after "\u2581" (so
    nothing in those characters is unknown); Metaspace pre-tokenizer; `single`/`pair` templates."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    vocab = [(t, 0.0) for t in specials] + [("\u2581", -6.0)]
    vocab += [("\u2581" + word, -5.0 - 0.01 * i) for i, word in enumerate(words)]
    vocab += [(c, -9.0) for c in chars] + [("\u2581" + c, -8.5) for c in chars]
    tok = Tokenizer(models.Unigram(vocab, unk_id=specials.index("<unk>"), byte_fallback=False))
    tok.normalizer = normalizers.Sequence(normalizer_steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    used = [t for t in specials if t in single or t in pair]
    tok.post_processor = processors.TemplateProcessing(single=single, pair=pair,
                                                       special_tokens=[(t, specials.index(t)) for t in used])
    tok.add_special_tokens([AddedToken(t, special=True) for t in specials])
    return tok, len(vocab)


def siglip_tokenizer(canonicalize_in_normalizer):
    from tokenizers import Regex, normalizers
    steps = []
    if canonicalize_in_normalizer:
        # The transformers.js SigLIP tokenizers do SiglipTokenizer's canonicalisation in the normaliser.
        steps += [normalizers.Replace(Regex(r"[!-/:-@\[-`{-~]"), ""), normalizers.Lowercase()]
    steps += [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    chars = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?'-&;:\"()éàüöäß"
    return unigram_tokenizer(["<pad>", "</s>", "<unk>"], SIGLIP_WORDS, chars, steps, "$A </s>", "$A </s> $B </s>")


# Words of the multilingual test tokenizer: "a red circle", "a cat" in a few languages.
XLM_WORDS = ("a red circle cat photo of the un une rouge cercle chat ein eine rot roter kreis katze "
             "un rojo círculo gato 赤い 円 猫 красный круг кот").split()


def xlm_tokenizer():
    """An XLM-R-style SentencePiece tokenizer: <s> 0, <pad> 1, </s> 2, <unk> 3, `<s> $A </s>`."""
    from tokenizers import Regex, normalizers
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?'-&;:\"()"
                       + "".join(XLM_WORDS)))
    steps = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")]
    return unigram_tokenizer(["<s>", "<pad>", "</s>", "<unk>"], XLM_WORDS, chars, steps,
                             "<s> $A </s>", "<s> $A </s> </s> $B </s>")


CLIP_SPECIALS = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                 "unk_token": "<|endoftext|>"}


def vision_config(model_type):
    """transformers' vision_config of the tiny preset."""
    return {"hidden_size": P["v_width"], "image_size": P["image_size"], "intermediate_size": 4 * P["v_width"],
            "model_type": model_type, "num_attention_heads": P["v_heads"], "num_hidden_layers": P["v_layers"],
            "patch_size": P["patch"]}


def hf_clip(out, clip_tokenizer, seed):
    weights = RandomWeights(np.random.default_rng(seed))
    onnx_dir = os.path.join(out, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    write_model(os.path.join(onnx_dir, "vision_model.onnx"),
                vision(weights, input_name="pixel_values", batch="batch_size", embed_name="image_embeds",
                       embed_dim=P["embed_dim"], hidden_name="last_hidden_state"))
    write_model(os.path.join(onnx_dir, "text_model.onnx"),
                text(weights, input_name="input_ids", id_type=TensorProto.INT64, batch="batch_size",
                     length="sequence_length", context=P["context"], vocab=P["vocab"], embed_name="text_embeds",
                     embed_dim=P["embed_dim"], hidden_name="last_hidden_state"))
    for tower in ("vision_model", "text_model"):
        quantize(os.path.join(onnx_dir, f"{tower}.onnx"), os.path.join(onnx_dir, f"{tower}_quantized.onnx"))
        to_fp16(os.path.join(onnx_dir, f"{tower}.onnx"), os.path.join(onnx_dir, f"{tower}_fp16.onnx"))
        transformers_js_variants(os.path.join(onnx_dir, f"{tower}.onnx"), onnx_dir, tower)
    shutil.copyfile(clip_tokenizer, os.path.join(out, "tokenizer.json"))
    write_json(os.path.join(out, "config.json"), {
        "_name_or_path": "clip-embed/hf-clip-tiny-random",
        "architectures": ["CLIPModel"],
        "logit_scale_init_value": 2.6592,
        "model_type": "clip",
        "projection_dim": P["embed_dim"],
        "text_config": {"hidden_size": P["t_width"], "intermediate_size": 4 * P["t_width"],
                        "max_position_embeddings": P["context"], "model_type": "clip_text_model",
                        "num_attention_heads": P["t_heads"], "num_hidden_layers": P["t_layers"],
                        "bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 1},
        "vision_config": vision_config("clip_vision_model"),
        "transformers_version": "4.57.1",
    })
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224},
    })
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "add_prefix_space": False, "clean_up_tokenization_spaces": True, "do_lower_case": True,
        "errors": "replace", "model_max_length": 77, "processor_class": "CLIPProcessor",
        "tokenizer_class": "CLIPTokenizer", **CLIP_SPECIALS,
    })
    write_json(os.path.join(out, "special_tokens_map.json"), CLIP_SPECIALS)


def hf_siglip(out, seed):
    weights = RandomWeights(np.random.default_rng(seed))
    tok, vocab = siglip_tokenizer(canonicalize_in_normalizer=True)
    onnx_dir = os.path.join(out, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    width = P["t_width"]
    write_model(os.path.join(onnx_dir, "vision_model.onnx"),
                vision(weights, input_name="pixel_values", batch="batch_size", embed_name="pooler_output",
                       embed_dim=width, hidden_name="last_hidden_state", pool="map"))
    write_model(os.path.join(onnx_dir, "text_model.onnx"),
                text(weights, input_name="input_ids", id_type=TensorProto.INT64, batch="batch_size",
                     length="sequence_length", context=SIGLIP_CONTEXT, vocab=vocab, embed_name="pooler_output",
                     embed_dim=width, hidden_name="last_hidden_state", causal=False))
    tok.save(os.path.join(out, "tokenizer.json"))
    os.chmod(os.path.join(out, "tokenizer.json"), 0o644)
    write_json(os.path.join(out, "config.json"), {
        "_name_or_path": "clip-embed/hf-siglip-tiny-random",
        "architectures": ["SiglipModel"],
        "model_type": "siglip",
        "text_config": {"hidden_size": width, "intermediate_size": 4 * width,
                        "max_position_embeddings": SIGLIP_CONTEXT, "model_type": "siglip_text_model",
                        "num_attention_heads": P["t_heads"], "num_hidden_layers": P["t_layers"],
                        "vocab_size": vocab},
        "vision_config": vision_config("siglip_vision_model"),
        "transformers_version": "4.57.1",
    })
    write_json(os.path.join(out, "preprocessor_config.json"), {
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": HALF,
        "image_processor_type": "SiglipImageProcessor", "image_std": HALF, "processor_class": "SiglipProcessor",
        "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"height": 224, "width": 224},
    })
    specials = {"eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "do_lower_case": True, "model_max_length": SIGLIP_CONTEXT, "processor_class": "SiglipProcessor",
        "tokenizer_class": "SiglipTokenizer", **specials,
    })
    write_json(os.path.join(out, "special_tokens_map.json"), specials)


def immich(out, seed, *, siglip, clip_tokenizer=None, interpolation="bicubic", multilingual=False):
    weights = RandomWeights(np.random.default_rng(seed))
    context = SIGLIP_CONTEXT if siglip else P["context"]
    if siglip:
        tok, vocab = siglip_tokenizer(canonicalize_in_normalizer=False)
        embed_dim = P["t_width"]
    elif multilingual:
        tok, vocab = xlm_tokenizer()
        embed_dim = P["embed_dim"]
    else:
        vocab, embed_dim = P["vocab"], P["embed_dim"]
    for part in ("visual", "textual"):
        os.makedirs(os.path.join(out, part), exist_ok=True)
    write_model(os.path.join(out, "visual", "model.onnx"),
                vision(weights, input_name="image", batch=1, embed_name="embedding", embed_dim=embed_dim,
                       pool="map" if siglip else "cls", normalize=True))
    write_model(os.path.join(out, "textual", "model.onnx"),
                text(weights, input_name="input_ids" if multilingual else "text", id_type=TensorProto.INT32,
                     batch=1, length=context, context=context, vocab=vocab, embed_name="embedding",
                     embed_dim=embed_dim, causal=not (siglip or multilingual), normalize=True,
                     mask_name="attention_mask" if multilingual else None))
    if siglip:
        tok.save(os.path.join(out, "textual", "tokenizer.json"))
        os.chmod(os.path.join(out, "textual", "tokenizer.json"), 0o644)
        specials = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
        tokenizer_class = "T5Tokenizer"
        config = {"embed_dim": embed_dim, "init_logit_bias": -10, "custom_text": True,
                  "vision_cfg": {"image_size": P["image_size"], "timm_model_name": "vit_tiny_patch32_siglip_224",
                                 "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
                  "text_cfg": {"context_length": context, "vocab_size": vocab,
                               "hf_tokenizer_name": "timm/ViT-B-16-SigLIP",
                               "tokenizer_kwargs": {"clean": "canonicalize"}, "width": P["t_width"],
                               "heads": P["t_heads"], "layers": P["t_layers"], "no_causal_mask": True,
                               "proj_bias": True, "pool_type": "last", "norm_kwargs": {"eps": 1e-06}}}
        mean = std = HALF
        resize_mode = "squash"
    else:
        if multilingual:
            tok.save(os.path.join(out, "textual", "tokenizer.json"))
            os.chmod(os.path.join(out, "textual", "tokenizer.json"), 0o644)
            specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
                        "sep_token": "</s>", "unk_token": "<unk>"}
            tokenizer_class = "XLMRobertaTokenizer"
        else:
            shutil.copyfile(clip_tokenizer, os.path.join(out, "textual", "tokenizer.json"))
            specials, tokenizer_class = CLIP_SPECIALS, "CLIPTokenizer"
        config = {"embed_dim": embed_dim,
                  "vision_cfg": {"image_size": P["image_size"], "layers": P["v_layers"], "width": P["v_width"],
                                 "patch_size": P["patch"]},
                  "text_cfg": {"context_length": context, "vocab_size": vocab, "width": P["t_width"],
                               "heads": P["t_heads"], "layers": P["t_layers"]}}
        mean, std = CLIP_MEAN, CLIP_STD
        resize_mode = "shortest"
    write_json(os.path.join(out, "config.json"), config)
    write_json(os.path.join(out, "visual", "preprocess_cfg.json"), {
        "size": [P["image_size"], P["image_size"]], "mode": "RGB", "mean": mean, "std": std,
        "interpolation": interpolation, "resize_mode": resize_mode, "fill_color": 0})
    write_json(os.path.join(out, "textual", "tokenizer_config.json"),
               {"model_max_length": context, "clean_up_tokenization_spaces": True,
                "tokenizer_class": tokenizer_class, **specials})
    write_json(os.path.join(out, "textual", "special_tokens_map.json"), specials)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="model directory to write the folders into")
    ap.add_argument("--clip-tokenizer", required=True, help="CLIP's tokenizer.json (HF form)")
    args = ap.parse_args()
    for name in ("hf-clip", "hf-siglip", "immich-clip", "immich-clip-bilinear", "immich-siglip",
                 "immich-multilingual"):
        shutil.rmtree(os.path.join(args.out, name), ignore_errors=True)
        os.makedirs(os.path.join(args.out, name))
    hf_clip(os.path.join(args.out, "hf-clip"), args.clip_tokenizer, seed=21)
    hf_siglip(os.path.join(args.out, "hf-siglip"), seed=22)
    immich(os.path.join(args.out, "immich-clip"), seed=23, siglip=False, clip_tokenizer=args.clip_tokenizer)
    immich(os.path.join(args.out, "immich-clip-bilinear"), seed=23, siglip=False,
           clip_tokenizer=args.clip_tokenizer, interpolation="bilinear")
    immich(os.path.join(args.out, "immich-siglip"), seed=24, siglip=True)
    immich(os.path.join(args.out, "immich-multilingual"), seed=25, siglip=False, multilingual=True)


if __name__ == "__main__":
    main()
