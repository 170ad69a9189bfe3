"""Trains the small CLIP ("clip-shapes") on synthetic shapes with symmetric
InfoNCE and a learned temperature, then exports it through the same ONNX
builder as the random models (tools/make_clip_onnx.py), so the graphs, I/O
and preprocessing are exactly what the extension loads.

The torch modules mirror the ONNX graph op for op; `ordered_weights()` lists
parameters in the order the builder creates initializers. Text is trained on
the first CONTEXT_TRAIN positions: under the causal mask with EOT pooling,
positions after EOT cannot change the result, so the exported [N,77] graph
gives the same embeddings for captions that fit.

Run with a venv holding torch (CPU is enough):  python tools/shapes/train.py --out DIR
"""

import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from clip_reference import CLIP_MEAN, CLIP_STD, SimpleTokenizer  # noqa: E402
from make_clip_onnx import PRESETS, GivenWeights, textual, visual, write_model  # noqa: E402
from shapes_data import caption, sample  # noqa: E402

CONTEXT_TRAIN = 20


class Block(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(width)
        self.qkv_w = torch.nn.Parameter(torch.randn(width, 3 * width) * width**-0.5)
        self.qkv_b = torch.nn.Parameter(torch.zeros(3 * width))
        self.out_w = torch.nn.Parameter(torch.randn(width, width) * width**-0.5)
        self.out_b = torch.nn.Parameter(torch.zeros(width))
        self.ln2 = torch.nn.LayerNorm(width)
        self.fc_w = torch.nn.Parameter(torch.randn(width, 4 * width) * width**-0.5)
        self.fc_b = torch.nn.Parameter(torch.zeros(4 * width))
        self.proj_w = torch.nn.Parameter(torch.randn(4 * width, width) * (4 * width) ** -0.5)
        self.proj_b = torch.nn.Parameter(torch.zeros(width))

    def forward(self, x, mask=None):
        n, l, w = x.shape
        h = self.ln1(x) @ self.qkv_w + self.qkv_b
        q, k, v = h.split(w, dim=-1)
        heads = lambda t: t.reshape(n, l, self.heads, w // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = heads(q), heads(k), heads(v)
        scores = (q @ k.transpose(-1, -2)) * (w // self.heads) ** -0.5
        if mask is not None:
            scores = scores + mask
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, l, w)
        x = x + ctx @ self.out_w + self.out_b
        h = self.ln2(x) @ self.fc_w + self.fc_b
        h = h * torch.sigmoid(1.702 * h)
        return x + h @ self.proj_w + self.proj_b

    def ordered(self):
        return [self.ln1.weight, self.ln1.bias, self.qkv_w, self.qkv_b, self.out_w, self.out_b,
                self.ln2.weight, self.ln2.bias, self.fc_w, self.fc_b, self.proj_w, self.proj_b]


class Clip(torch.nn.Module):
    def __init__(self, p):
        super().__init__()
        vw, tw, d = p["v_width"], p["t_width"], p["embed_dim"]
        self.p = p
        grid = p["image_size"] // p["patch"]
        self.conv = torch.nn.Parameter(torch.randn(vw, 3, p["patch"], p["patch"]) * (3 * p["patch"] ** 2) ** -0.5)
        self.cls = torch.nn.Parameter(torch.randn(1, 1, vw) * vw**-0.5)
        self.vpos = torch.nn.Parameter(torch.randn(grid * grid + 1, vw) * vw**-0.5)
        self.ln_pre = torch.nn.LayerNorm(vw)
        self.vblocks = torch.nn.ModuleList(Block(vw, p["v_heads"]) for _ in range(p["v_layers"]))
        self.ln_post = torch.nn.LayerNorm(vw)
        self.vproj = torch.nn.Parameter(torch.randn(vw, d) * vw**-0.5)
        self.tok = torch.nn.Parameter(torch.randn(p["vocab"], tw) * 0.02)
        self.tpos = torch.nn.Parameter(torch.randn(p["context"], tw) * 0.01)
        self.tblocks = torch.nn.ModuleList(Block(tw, p["t_heads"]) for _ in range(p["t_layers"]))
        self.ln_final = torch.nn.LayerNorm(tw)
        self.tproj = torch.nn.Parameter(torch.randn(tw, d) * tw**-0.5)
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x):
        x = F.conv2d(x, self.conv, stride=self.p["patch"]).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_pre(x)
        for b in self.vblocks:
            x = b(x)
        return self.ln_post(x[:, 0]) @ self.vproj

    def encode_text(self, ids):
        l = ids.shape[1]
        x = self.tok[ids] + self.tpos[:l]
        mask = torch.triu(torch.full((l, l), float("-inf")), 1)
        for b in self.tblocks:
            x = b(x, mask)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(-1)] @ self.tproj

    def visual_weights(self):
        out = [self.conv, self.cls, self.vpos, self.ln_pre.weight, self.ln_pre.bias]
        for b in self.vblocks:
            out += b.ordered()
        return out + [self.ln_post.weight, self.ln_post.bias, self.vproj]

    def text_weights(self):
        out = [self.tok, self.tpos]
        for b in self.tblocks:
            out += b.ordered()
        return out + [self.ln_final.weight, self.ln_final.bias, self.tproj]


def batch(rng, tokenizer, n):
    mean = np.array(CLIP_MEAN, np.float32)[:, None, None]
    std = np.array(CLIP_STD, np.float32)[:, None, None]
    images, ids = [], []
    for _ in range(n):
        img, attrs = sample(rng)
        images.append((np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0 - mean) / std)
        tokens = tokenizer.tokenize(caption(attrs, rng), CONTEXT_TRAIN)
        assert tokens[-1] == 0, "caption longer than CONTEXT_TRAIN"
        ids.append(tokens)
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(ids))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=1e9, help="stop early after this much training time")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    tokenizer = SimpleTokenizer(args.bpe)
    p = PRESETS["shapes"]
    model = Clip(p)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    started = time.time()
    for step in range(args.steps):
        images, ids = batch(rng, tokenizer, args.batch)
        img = F.normalize(model.encode_image(images), dim=-1)
        txt = F.normalize(model.encode_text(ids), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.t()
        labels = torch.arange(len(images))
        loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0:
            acc = (logits.argmax(1) == labels).float().mean().item()
            print(f"step {step} loss {loss.item():.3f} batch-acc {acc:.2f} scale {model.logit_scale.exp().item():.1f} "
                  f"{time.time() - started:.0f}s", flush=True)
        if (time.time() - started) / 60 > args.minutes:
            print(f"stopping at step {step}: time budget", flush=True)
            break
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "weights.pt"))
    with torch.no_grad():
        vw = [t.detach().numpy() for t in model.visual_weights()]
        tw = [t.detach().numpy() for t in model.text_weights()]
    write_model(os.path.join(args.out, "visual.onnx"), visual(p, GivenWeights(vw), "pixel_values", "image_embeds"))
    from onnx import TensorProto
    write_model(os.path.join(args.out, "textual.onnx"),
                textual(p, GivenWeights(tw), "input_ids", "text_embeds", TensorProto.INT64))
    # The exported graphs must compute what torch computes.
    import onnxruntime as ort
    images, ids = batch(random.Random(99), tokenizer, 4)
    full = np.zeros((4, 77), np.int64)
    full[:, :CONTEXT_TRAIN] = ids.numpy()
    with torch.no_grad():
        ti, tt = model.encode_image(images).numpy(), model.encode_text(ids).numpy()
    oi = ort.InferenceSession(os.path.join(args.out, "visual.onnx")).run(None, {"pixel_values": images.numpy()})[0]
    ot = ort.InferenceSession(os.path.join(args.out, "textual.onnx")).run(None, {"input_ids": full})[0]
    print("export check: max |torch - onnx| image", float(np.abs(ti - oi).max()), "text", float(np.abs(tt - ot).max()))
    assert np.abs(ti - oi).max() < 1e-3 and np.abs(tt - ot).max() < 1e-3
    config = {"embed_dim": p["embed_dim"], "image_size": p["image_size"], "context_length": p["context"],
              "image_mean": [float(v) for v in CLIP_MEAN], "image_std": [float(v) for v in CLIP_STD],
              "description": "small CLIP trained on synthetic shapes and colours only (see MODEL_CARD.md)"}
    with open(os.path.join(args.out, "clip_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
