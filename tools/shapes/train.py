"""Trains the small CLIP ("clip-shapes") on synthetic shapes with symmetric
InfoNCE and a learned temperature, then exports it through the same ONNX
builder as the random models (tools/make_clip_onnx.py), so the graphs, I/O
and preprocessing are exactly what the extension loads.

Three steps, so the training can run on a machine without ftfy:

  tokens:  python train.py tokens --bpe BPE --out tokens.json
           every caption and prompt the generator writes, tokenized once with
           OpenAI's tokenizer (1,872 texts, 47 distinct token ids).
  train:   python train.py train --tokens tokens.json --out DIR [--preset shapes] [--minutes M | --steps N]
           [--batch 1024] [--device cuda|cpu]
           writes DIR/weights.pt (float16, checkpointed every minute) and DIR/train_eval.json.
  export:  python train.py export --weights DIR/weights.pt --tokens tokens.json --out MODEL_DIR [--preset shapes]
           writes visual.onnx, textual.onnx, clip_config.json and checks them against torch.

Choices, with the reasons:
- The torch modules mirror the ONNX graph op for op (attention through
  scaled_dot_product_attention, which computes the same softmax(QK^T/sqrt(d))V);
  `visual_weights()`/`text_weights()` list parameters in the builder's order.
- Text is trained on the first CONTEXT_TRAIN positions: under the causal mask
  with EOT pooling, positions after EOT cannot change the result, so the
  exported [N,77] graph gives the same embeddings for captions that fit.
- The token table holds only the ids the captions use (plus one all-zero row
  shared by every other id); the export keeps the 49,408-entry id space with a
  row map, so the file is small and the I/O is a full CLIP text tower's.
- Captions repeat ("a red circle" fits many images in a batch of 1,024), so
  the InfoNCE targets spread evenly over every pair in the batch with the same
  caption text instead of treating identical captions as negatives.
- Weights are rounded to float16 for storage; the export check runs torch on
  the rounded weights, so it compares like with like.
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
from shapes_data import all_texts, caption, sample  # noqa: E402

from make_clip_onnx import CLIP_MEAN, CLIP_STD, PRESETS  # noqa: E402

CONTEXT_TRAIN = 20
VOCAB = 49408


def preset(name="shapes"):
    return PRESETS[name]


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

    def forward(self, x, causal=False):
        n, l, w = x.shape
        q, k, v = (self.ln1(x) @ self.qkv_w + self.qkv_b).split(w, dim=-1)
        q, k, v = (t.reshape(n, l, self.heads, w // self.heads).transpose(1, 2) for t in (q, k, v))
        ctx = F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(n, l, w)
        x = x + ctx @ self.out_w + self.out_b
        h = self.ln2(x) @ self.fc_w + self.fc_b
        h = h * torch.sigmoid(1.702 * h)
        return x + h @ self.proj_w + self.proj_b

    def ordered(self):
        return [self.ln1.weight, self.ln1.bias, self.qkv_w, self.qkv_b, self.out_w, self.out_b,
                self.ln2.weight, self.ln2.bias, self.fc_w, self.fc_b, self.proj_w, self.proj_b]


class Clip(torch.nn.Module):
    def __init__(self, p, token_rows):
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
        self.register_buffer("token_rows", torch.as_tensor(token_rows, dtype=torch.long))
        tok = torch.randn(int(token_rows.max()) + 1, tw) * 0.02
        tok[-1] = 0  # the shared row of every id no caption uses; it gets no gradient and stays zero
        self.tok = torch.nn.Parameter(tok)
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
        x = self.tok[self.token_rows[ids]] + self.tpos[: ids.shape[1]]
        for b in self.tblocks:
            x = b(x, causal=True)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), ids.argmax(-1)] @ self.tproj

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


def load_tokens(path):
    with open(path) as f:
        tokens = json.load(f)
    used = sorted({t for ids in tokens.values() for t in ids})
    token_rows = np.full(VOCAB, len(used), np.int32)  # every unused id -> the shared zero row
    token_rows[used] = np.arange(len(used), dtype=np.int32)
    return tokens, token_rows


def ids_for(tokens, texts):
    out = np.zeros((len(texts), CONTEXT_TRAIN), np.int64)
    for i, t in enumerate(texts):
        ids = tokens[t]
        assert len(ids) <= CONTEXT_TRAIN, f"caption longer than {CONTEXT_TRAIN} tokens: {t!r}"
        out[i, : len(ids)] = ids
    return out


class Stream(torch.utils.data.IterableDataset):
    """Endless batches of (uint8 images [B,224,224,3], token ids [B,20]); worker k draws
    from random.Random(seed * 1000 + k), so a run is reproducible for a worker count."""

    def __init__(self, tokens, batch, seed):
        self.tokens, self.batch, self.seed = tokens, batch, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(self.seed * 1000 + (info.id if info else 0))
        while True:
            images, texts = [], []
            for _ in range(self.batch):
                img, attrs = sample(rng)
                images.append(np.asarray(img))
                texts.append(caption(attrs, rng))
            yield torch.from_numpy(np.stack(images)), torch.from_numpy(ids_for(self.tokens, texts))


def to_pixels(images_u8, device):
    mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
    return (images_u8.to(device).permute(0, 3, 1, 2).float() / 255.0 - mean) / std


def held_out_eval(model, tokens, device, pairs=500, seed=20261130):
    """The figures of evaluate.py, computed in torch (a quick look at the end of a run;
    the model card's figures come from evaluate.py on the exported ONNX files)."""
    from evaluate import held_out, measure

    images, attrs, captions = held_out(pairs, seed)

    def embed_texts(texts):
        with torch.no_grad():
            return model.encode_text(torch.from_numpy(ids_for(tokens, texts)).to(device)).float().cpu().numpy()

    with torch.no_grad():
        vecs = []
        for i in range(0, len(images), 100):
            u8 = torch.from_numpy(np.stack([np.asarray(im) for im in images[i: i + 100]]))
            vecs.append(model.encode_image(to_pixels(u8, device)).float().cpu().numpy())
    return measure(np.concatenate(vecs), attrs, captions, embed_texts)


def save_weights(model, path):
    state = {k: (v.detach().half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def cmd_tokens(args):
    from clip_reference import SimpleTokenizer

    tok = SimpleTokenizer(args.bpe)
    out = {}
    for t in all_texts():
        ids = [int(i) for i in tok.tokenize(t, 77)]
        out[t] = ids[: ids.index(49407) + 1]
    with open(args.out, "w") as f:  # one text per line, so a diff shows what changed
        f.write("{\n" + ",\n".join(f"{json.dumps(t)}: {json.dumps(out[t])}" for t in sorted(out)) + "\n}\n")
    print(f"{len(out)} texts, {len({i for v in out.values() for i in v})} distinct token ids -> {args.out}")


def cmd_train(args):
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    tokens, token_rows = load_tokens(args.tokens)
    model = Clip(preset(args.preset), token_rows).to(device)
    # Weight decay on matrices only, not on embeddings, norms, biases or the temperature.
    decays = {n: p.ndim >= 2 and n not in ("tok", "tpos", "vpos", "cls") for n, p in model.named_parameters()}
    decay = [p for n, p in model.named_parameters() if decays[n]]
    rest = [p for n, p in model.named_parameters() if not decays[n]]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    # Workers hand over chunks of 256 images (38 MB of shared memory each), joined on the device.
    chunk = min(args.batch, 256)
    assert args.batch % chunk == 0
    loader = torch.utils.data.DataLoader(Stream(tokens, chunk, args.seed), batch_size=None,
                                         num_workers=args.workers, prefetch_factor=2 if args.workers else None,
                                         persistent_workers=bool(args.workers))
    budget = args.minutes * 60
    warmup = args.warmup
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train.log"), "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    say(f"preset {args.preset} {preset(args.preset)} batch {args.batch} lr {args.lr} workers {args.workers} device {device} "
        f"{'steps ' + str(args.steps) if args.steps else 'minutes ' + str(args.minutes)}")
    started = time.time()
    last_save = started
    step = 0
    chunks = iter(loader)
    while True:
        parts = [next(chunks) for _ in range(args.batch // chunk)]
        # Cosine decay over the steps, or over the time budget when no step count is given
        # (a probe of the step time misleads while the loaders' prefetch queue drains).
        progress = step / args.steps if args.steps else (time.time() - started) / budget
        if progress >= 1:
            break
        scale_lr = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * progress))
        for g in opt.param_groups:
            g["lr"] = args.lr * scale_lr
        pixels = torch.cat([to_pixels(images, device) for images, _ in parts])
        ids = torch.cat([ids.to(device) for _, ids in parts])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            img = model.encode_image(pixels)
            txt = model.encode_text(ids)
        img = F.normalize(img.float(), dim=-1)
        txt = F.normalize(txt.float(), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img @ txt.t()
        same = (ids[:, None, :] == ids[None, :, :]).all(-1).float()
        target = same / same.sum(1, keepdim=True)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0:
            hit = same[torch.arange(len(same)), logits.argmax(1)].mean().item()
            say(f"step {step} ({progress:.0%}) loss {loss.item():.3f} batch-acc {hit:.3f} "
                f"scale {model.logit_scale.exp().item():.1f} lr {args.lr * scale_lr:.2e} {time.time() - started:.0f}s")
        if time.time() - last_save > 60:
            save_weights(model, os.path.join(args.out, "weights.pt"))
            last_save = time.time()
        step += 1
    save_weights(model, os.path.join(args.out, "weights.pt"))
    say(f"trained {step} steps x {args.batch} in {time.time() - started:.0f}s")
    model.eval()
    figures = held_out_eval(model, tokens, device)
    figures.update(steps=step, batch=args.batch, seconds=round(time.time() - started), device=str(device))
    say("held-out (torch): " + json.dumps(figures))
    with open(os.path.join(args.out, "train_eval.json"), "w") as f:
        json.dump(figures, f, indent=2)


def cmd_export(args):
    import onnxruntime as ort
    from make_clip_onnx import GivenWeights, textual, visual, write_config, write_model
    from onnx import TensorProto

    tokens, token_rows = load_tokens(args.tokens)
    p = preset(args.preset)
    model = Clip(p, token_rows)
    state = torch.load(args.weights, map_location="cpu")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    with torch.no_grad():
        vw = [t.detach().numpy() for t in model.visual_weights()]
        tw = [t.detach().numpy() for t in model.text_weights()]
    write_model(os.path.join(args.out, "visual.onnx"),
                visual(p, GivenWeights(vw), "pixel_values", "image_embeds", half=True))
    write_model(os.path.join(args.out, "textual.onnx"),
                textual(p, GivenWeights(tw), "input_ids", "text_embeds", TensorProto.INT64, half=True,
                        token_rows=token_rows))
    # The exported graphs must compute what torch computes on the same (float16-rounded) weights.
    rng = random.Random(99)
    u8 = torch.from_numpy(np.stack([np.asarray(sample(rng)[0]) for _ in range(4)]))
    pixels = to_pixels(u8, "cpu")
    texts = ["a red circle", "two blue squares", "a small green star", "a picture of a pink hexagon"]
    ids = torch.from_numpy(ids_for(tokens, texts))
    full = np.zeros((4, 77), np.int64)
    full[:, :CONTEXT_TRAIN] = ids.numpy()
    with torch.no_grad():
        ti, tt = model.encode_image(pixels).numpy(), model.encode_text(ids).numpy()
    oi = ort.InferenceSession(os.path.join(args.out, "visual.onnx")).run(None, {"pixel_values": pixels.numpy()})[0]
    ot = ort.InferenceSession(os.path.join(args.out, "textual.onnx")).run(None, {"input_ids": full})[0]
    di, dt = float(np.abs(ti - oi).max()), float(np.abs(tt - ot).max())
    print(f"export check: max |torch - onnx| image {di:.2e} text {dt:.2e}")
    assert di < 1e-3 and dt < 1e-3
    write_config(os.path.join(args.out, "clip_config.json"), p,
                 "small CLIP trained on synthetic shapes and colours only (see MODEL_CARD.md)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokens")
    t.add_argument("--bpe", required=True)
    t.add_argument("--out", required=True)
    tr = sub.add_parser("train")
    tr.add_argument("--tokens", required=True)
    tr.add_argument("--out", required=True)
    tr.add_argument("--preset", default="shapes", help="a tools/make_clip_onnx.py preset")
    tr.add_argument("--steps", type=int, help="fixed step count (default: as many as --minutes allows)")
    tr.add_argument("--minutes", type=float, default=10.0)
    tr.add_argument("--batch", type=int, default=1024)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--warmup", type=int, default=200)
    tr.add_argument("--workers", type=int, default=max(0, (os.cpu_count() or 2) - 1))
    tr.add_argument("--seed", type=int, default=1)
    tr.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ex = sub.add_parser("export")
    ex.add_argument("--weights", required=True)
    ex.add_argument("--tokens", required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--preset", default="shapes", help="the preset the weights were trained with")
    args = ap.parse_args()
    {"tokens": cmd_tokens, "train": cmd_train, "export": cmd_export}[args.cmd](args)


if __name__ == "__main__":
    main()
