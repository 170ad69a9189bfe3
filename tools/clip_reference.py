"""The reference pipeline clip_embed must match: the seed's decoding, then OpenAI
CLIP's preprocessing and tokenizer in Python (OpenCV + PIL + numpy + ftfy +
regex), running the same ONNX files with onnxruntime. It mirrors what Roboflow
Inference's `Clip(...).embed_text` / `embed_image` do with OpenAI's `clip`
package, without torch.

Decoding is Roboflow Inference's `load_image_rgb` with the opencv-python pinned
then (4.10.0.84, headless here): `cv2.imdecode(bytes, cv2.IMREAD_COLOR)`, BGR to
RGB, `PIL.Image.fromarray`. OpenCV 4.10 reads no GIF; for such formats the
reference falls back to `PIL.Image.open(...).convert("RGB")`.
Preprocessing is OpenAI's `_transform(n_px)`:
  Resize(n_px, BICUBIC) -> CenterCrop(n_px) -> convert("RGB") -> ToTensor -> Normalize
written out with the same PIL calls torchvision makes on a PIL image.
Tokenization is `clip/simple_tokenizer.py` + `clip.tokenize(truncate=True)`.
"""

import gzip
import html
import io
import json
import os
from functools import lru_cache

import cv2
import ftfy
import numpy as np
import regex as re
from PIL import Image

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


# ---- OpenAI's simple_tokenizer.py (MIT), unchanged in behaviour ----
def bytes_to_unicode():
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    pairs = set()
    prev = word[0]
    for char in word[1:]:
        pairs.add((prev, char))
        prev = char
    return pairs


def basic_clean(text):
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    return re.sub(r"\s+", " ", text).strip()


class SimpleTokenizer:
    def __init__(self, bpe_path):
        self.byte_encoder = bytes_to_unicode()
        merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
        merges = merges[1 : 49152 - 256 - 2 + 1]
        merges = [tuple(m.split()) for m in merges]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE,
        )

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        tokens = []
        text = whitespace_clean(basic_clean(text)).lower()
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            tokens.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return tokens

    def tokenize(self, text, context_length=77):
        """clip.tokenize([text], truncate=True)[0]"""
        sot, eot = self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"]
        tokens = [sot] + self.encode(text) + [eot]
        if len(tokens) > context_length:
            tokens = tokens[:context_length]
            tokens[-1] = eot
        out = np.zeros(context_length, dtype=np.int64)
        out[: len(tokens)] = tokens
        return out


# ---- The seed's decoding: OpenCV, upright 8-bit RGB ----
def decode_rgb(data):
    """Roboflow Inference's load_image_rgb: cv2.imdecode(IMREAD_COLOR), BGR -> RGB."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return Image.open(io.BytesIO(data)).convert("RGB")  # GIF: OpenCV 4.10 cannot read it
    return Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))


# ---- OpenAI's _transform, as torchvision runs it on a PIL image ----
def preprocess(data, n_px=224, mean=CLIP_MEAN, std=CLIP_STD):
    img = decode_rgb(data)
    w, h = img.size
    # torchvision Resize(int): shorter side -> n_px, longer -> int(n_px * long / short)
    if w <= h:
        ow, oh = n_px, int(n_px * h / w)
    else:
        oh, ow = n_px, int(n_px * w / h)
    if (ow, oh) != (w, h):
        img = img.resize((ow, oh), Image.BICUBIC)
    # CenterCrop: int(round((size - n_px) / 2.0))
    top = int(round((oh - n_px) / 2.0))
    left = int(round((ow - n_px) / 2.0))
    img = img.crop((left, top, left + n_px, top + n_px))
    img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return arr.transpose(2, 0, 1).astype(np.float32)


class ReferenceModel:
    """A model folder run by onnxruntime with the reference pre-processing."""

    def __init__(self, folder, tokenizer_bpe):
        import onnxruntime as ort

        cfg_path = os.path.join(folder, "clip_config.json")
        self.config = json.load(open(cfg_path)) if os.path.exists(cfg_path) else {}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self.visual = ort.InferenceSession(os.path.join(folder, "visual.onnx"), opts)
        self.textual = ort.InferenceSession(os.path.join(folder, "textual.onnx"), opts)
        self.tokenizer = SimpleTokenizer(tokenizer_bpe)
        self.n_px = self.config.get("image_size", 224)
        self.context = self.config.get("context_length", 77)
        self.mean = np.array(self.config.get("image_mean", CLIP_MEAN), np.float32)
        self.std = np.array(self.config.get("image_std", CLIP_STD), np.float32)

    def embed_image(self, data, normalize=True):
        x = preprocess(data, self.n_px, self.mean, self.std)[None]
        inp = self.visual.get_inputs()[0].name
        out = self.visual.run(None, {inp: x})[0][0]
        return out / np.linalg.norm(out) if normalize else out

    def embed_text(self, text, normalize=True):
        ids = self.tokenizer.tokenize(text, self.context)[None]
        inputs = self.textual.get_inputs()
        inp = inputs[0]
        if inp.type == "tensor(int32)":
            ids = ids.astype(np.int32)
        feeds = {inp.name: ids}
        for extra in inputs[1:]:
            # clip-as-service's attention_mask: 1 for the text's tokens up to and including EOT.
            eot = int(np.argmax(ids[0]))
            feeds[extra.name] = (np.arange(ids.shape[1]) <= eot).astype(ids.dtype)[None]
        out = self.textual.run(None, feeds)[0][0]
        return out / np.linalg.norm(out) if normalize else out


@lru_cache(maxsize=None)
def default_tokenizer(bpe_path):
    return SimpleTokenizer(bpe_path)
