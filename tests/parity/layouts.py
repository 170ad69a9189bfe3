"""Layout parity: each downloaded-model family through SQL against a Python
reference of *that family's own* preprocessing and tokenisation, on the same
graph files (tools/make_layout_models.py writes them).

- hf-clip and its variants (quantized, fp16, and transformers.js's int8, uint8, q4,
  q4f16, bnb4), hf-siglip: transformers' own processors
  (CLIPImageProcessor / SiglipImageProcessor, the fast tokenizer from the
  folder's tokenizer.json), transformers pinned in tools/requirements.txt,
  called as transformers.js calls them (CLIP: no padding for one text; SigLIP:
  padding "max_length" to 64, truncation).
- immich-clip, immich-clip-bilinear, immich-siglip, immich-multilingual: Immich's recipe written out
  from immich_ml/models/clip/{visual,textual}.py and transforms.py
  (resize_pil + crop_pil or a squash, PIL's filter from preprocess_cfg.json,
  clean_text, tokenizers padded to the context with tokenizer_config's pad_token;
  M-CLIP's text graph also gets the encoding's attention_mask).

Decoding is common to every family: both sides start from the seed's OpenCV
decode (tools/clip_reference.decode_rgb: a PIL image of OpenCV's pixels) of the same bytes.
Targets: lossless images cosine >= 0.999999, JPEGs >= 0.9995, texts >= 0.99999.
Usage: layouts.py --host SOCKET_DIR --port PORT --model-dir DIR
"""

import argparse
import json
import os
import string
import sys

import numpy as np
import onnxruntime as ort
import psycopg
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
from clip_reference import decode_rgb  # noqa: E402
from image_corpus import corpus  # noqa: E402
from parity import EXACT_MIN_COSINE, IMAGE_MIN_COSINE, TEXT_MIN_COSINE, TEXTS, cosine  # noqa: E402

MODELS = ["hf-clip", "hf-clip:quantized", "hf-clip:fp16", "hf-clip:int8", "hf-clip:uint8", "hf-clip:q4",
          "hf-clip:q4f16", "hf-clip:bnb4", "hf-siglip", "immich-clip", "immich-clip-bilinear", "immich-siglip",
          "immich-multilingual"]
LAYOUT_TEXTS = TEXTS + [
    "A Photo, of: a CAT!!",  # punctuation that SigLIP's canonicalisation removes
    "   leading and trailing   ",
]


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


class HfReference:
    """transformers' processors, as transformers.js applies them."""

    def __init__(self, folder, variant):
        from transformers import AutoImageProcessor, PreTrainedTokenizerFast
        suffix = f"_{variant}" if variant else ""
        self.vision = session(os.path.join(folder, "onnx", f"vision_model{suffix}.onnx"))
        self.text = session(os.path.join(folder, "onnx", f"text_model{suffix}.onnx"))
        self.processor = AutoImageProcessor.from_pretrained(folder, use_fast=False)
        config = json.load(open(os.path.join(folder, "config.json")))
        tok_config = json.load(open(os.path.join(folder, "tokenizer_config.json")))
        self.siglip = config["model_type"] == "siglip"
        self.tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"),
                                                 pad_token=tok_config["pad_token"],
                                                 model_max_length=tok_config["model_max_length"])
        self.output = "pooler_output" if self.siglip else None

    def embed_image(self, data):
        # channels_last stated: transformers guesses the channel axis, and guesses wrong for a 1x1 image.
        pixels = self.processor(images=decode_rgb(data), return_tensors="np",
                                input_data_format="channels_last")["pixel_values"]
        # transformers.js casts the pixels to float16 for an _fp16 graph.
        dtype = np.float16 if self.vision.get_inputs()[0].type == "tensor(float16)" else np.float32
        return self.run(self.vision, {"pixel_values": pixels.astype(dtype)}, "image_embeds")

    def has_tokens(self, text):
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) > 0

    def embed_text(self, text):
        padding = "max_length" if self.siglip else True
        ids = self.tokenizer(text, padding=padding, truncation=True, return_tensors="np")["input_ids"]
        return self.run(self.text, {"input_ids": ids.astype(np.int64)}, "text_embeds")

    def run(self, sess, feeds, clip_output):
        return sess.run([self.output or clip_output], feeds)[0][0].astype(np.float32)


class ImmichReference:
    """immich_ml's OpenClipVisualEncoder / OpenClipTextualEncoder, written out."""

    def __init__(self, folder):
        from tokenizers import Tokenizer
        self.vision = session(os.path.join(folder, "visual", "model.onnx"))
        self.text = session(os.path.join(folder, "textual", "model.onnx"))
        self.pre = json.load(open(os.path.join(folder, "visual", "preprocess_cfg.json")))
        config = json.load(open(os.path.join(folder, "config.json")))
        tok_config = json.load(open(os.path.join(folder, "textual", "tokenizer_config.json")))
        text_cfg = config["text_cfg"]
        context = text_cfg.get("context_length", 77)
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "textual", "tokenizer.json"))
        pad = tok_config["pad_token"]
        self.tokenizer.enable_padding(length=context, pad_token=pad, pad_id=self.tokenizer.token_to_id(pad))
        self.tokenizer.enable_truncation(max_length=context)
        self.canonicalize = (text_cfg.get("tokenizer_kwargs") or {}).get("clean") == "canonicalize"
        # Immich picks MClipTextualEncoder by model name; its graphs are the ones taking an attention_mask.
        self.mclip = "attention_mask" in [i.name for i in self.text.get_inputs()]
        size = self.pre["size"]
        self.size = size[0] if isinstance(size, list) else size
        self.resample = {r.name.lower(): r for r in Image.Resampling}[self.pre["interpolation"].lower()]
        self.mean = np.array(self.pre["mean"], dtype=np.float32)
        self.std = np.array(self.pre["std"], dtype=np.float32)

    def resize(self, image):
        size, resample = self.size, self.resample
        if self.pre.get("resize_mode", "shortest") == "squash":
            return image.resize((size, size), resample=resample)
        if image.width < image.height:
            image = image.resize((size, int((image.height / image.width) * size)), resample=resample)
        else:
            image = image.resize((int((image.width / image.height) * size), size), resample=resample)
        left = int((image.size[0] / 2) - (size / 2))
        upper = int((image.size[1] / 2) - (size / 2))
        return image.crop((left, upper, left + size, upper + size))

    def embed_image(self, data):
        image = self.resize(decode_rgb(data))
        x = np.asarray(image, dtype=np.float32) / 255.0
        x *= 1.0 / self.std
        x -= self.mean / self.std
        return self.vision.run(None, {"image": x.transpose(2, 0, 1)[None]})[0][0]

    def clean(self, text):
        text = " ".join(text.split())
        if self.canonicalize:
            text = text.translate(str.maketrans("", "", string.punctuation)).lower()
        return text

    def has_tokens(self, text):
        return sum(self.tokenizer.encode(self.clean(text), add_special_tokens=False).attention_mask) > 0

    def embed_text(self, text):
        encoding = self.tokenizer.encode(self.clean(text))
        if self.mclip:  # MClipTextualEncoder
            feeds = {"input_ids": np.array([encoding.ids], dtype=np.int32),
                     "attention_mask": np.array([encoding.attention_mask], dtype=np.int32)}
        else:
            feeds = {"text": np.array([encoding.ids], dtype=np.int32)}
        return self.text.run(None, feeds)[0][0]


def reference(model_dir, model):
    folder, _, variant = model.partition(":")
    path = os.path.join(model_dir, folder)
    return HfReference(path, variant) if folder.startswith("hf-") else ImmichReference(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", default="postgres")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--model", action="append", help="only these models (default: all layout test models)")
    args = ap.parse_args()
    failures = []
    imgs = [(name, data, kind) for name, data, kind in corpus() if kind != "partial"]
    with psycopg.connect(host=args.host, port=args.port, dbname=args.dbname, user="postgres") as conn:
        conn.autocommit = True
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")

        def sql(query, *params):
            return np.array(conn.execute(query, params).fetchone()[0], np.float32)

        for model in args.model or MODELS:
            ref = reference(args.model_dir, model)
            worst = {"lossless": 1.0, "lossy": 1.0, "text": 1.0}
            for name, data, kind in imgs:
                expected = ref.embed_image(data)
                c = cosine(sql("SELECT clip_embed_image(%s, %s)", data, model), expected)
                worst[kind] = min(worst[kind], c)
                floor = {"lossless": EXACT_MIN_COSINE, "lossy": IMAGE_MIN_COSINE}[kind]
                if c < floor:
                    failures.append(f"{model} image {name}: cosine {c:.7f} < {floor}")
            for text in LAYOUT_TEXTS:
                if not ref.has_tokens(text):
                    # Nothing left once cleaned: the reference would embed only the special tokens;
                    # clip_embed refuses it as an empty text (22023), as it refuses ''.
                    try:
                        sql("SELECT clip_embed_text(%s, %s)", text, model)
                        failures.append(f"{model} text {text[:40]!r}: has no tokens, yet SQL embedded it")
                    except psycopg.errors.InvalidParameterValue:
                        pass
                    continue
                c = cosine(sql("SELECT clip_embed_text(%s, %s)", text, model), ref.embed_text(text))
                worst["text"] = min(worst["text"], c)
                if c < TEXT_MIN_COSINE:
                    failures.append(f"{model} text {text[:40]!r}: cosine {c:.8f}")
            print(f"  {model:22s} {len(imgs)} images: lossless min {worst['lossless']:.8f}, "
                  f"JPEG/WebP min {worst['lossy']:.6f}; {len(LAYOUT_TEXTS)} texts: min {worst['text']:.8f}")
    for f in failures:
        print("FAILED:", f)
    print(f"layout parity: {len(MODELS if not args.model else args.model)} models, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
