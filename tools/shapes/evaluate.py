"""Measures a shapes model folder on held-out images (a seed the training never
used), through the reference pipeline (PIL + numpy + onnxruntime + OpenAI's
tokenizer): zero-shot colour, shape and colour+shape accuracy with a prompt
ensemble, and text->image R@1/R@5 and image->text R@1 over N image-caption
pairs. Retrieval counts a hit when the retrieved item carries the same caption
text (captions repeat: "a red circle" fits many images).

Usage: evaluate.py --model DIR --bpe FILE [--pairs 500] [--seed 20261130]
"""

import argparse
import io
import os
import random
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from clip_reference import ReferenceModel  # noqa: E402
from shapes_data import COLOURS, SHAPES, caption, sample  # noqa: E402

TEMPLATES = ["a {c} {s}", "a photo of a {c} {s}", "a picture of a {c} {s}"]


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    ref = ReferenceModel(args.model, args.bpe)
    rng = random.Random(args.seed)
    images, attrs, captions = [], [], []
    for _ in range(args.pairs):
        img, a = sample(rng)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        images.append(unit(ref.embed_image(buf.getvalue())))
        attrs.append(a)
        captions.append(caption(a, rng))
    images = np.stack(images)

    classes = [(c, s) for c in COLOURS for s in SHAPES]
    prompts = np.stack([unit(np.mean([unit(ref.embed_text(t.format(c=c, s=s))) for t in TEMPLATES], 0))
                        for c, s in classes])
    predicted = [classes[i] for i in (images @ prompts.T).argmax(1)]
    colour = np.mean([p[0] == a["colour"] for p, a in zip(predicted, attrs)])
    shape = np.mean([p[1] == a["shape"] for p, a in zip(predicted, attrs)])
    both = np.mean([p == (a["colour"], a["shape"]) for p, a in zip(predicted, attrs)])

    texts = np.stack([unit(ref.embed_text(t)) for t in captions])
    sims = texts @ images.T  # text i vs image j
    same = np.array([[ci == cj for cj in captions] for ci in captions])
    order = np.argsort(-sims, axis=1)
    t2i_r1 = np.mean([same[i, order[i, 0]] for i in range(len(captions))])
    t2i_r5 = np.mean([same[i, order[i, :5]].any() for i in range(len(captions))])
    i2t = np.argsort(-sims.T, axis=1)
    i2t_r1 = np.mean([same[j, i2t[j, 0]] for j in range(len(captions))])
    print(f"held-out pairs {args.pairs} (seed {args.seed})")
    print(f"zero-shot accuracy: colour {colour:.3f}  shape {shape:.3f}  colour+shape {both:.3f}")
    print(f"text->image R@1 {t2i_r1:.3f}  R@5 {t2i_r5:.3f}   image->text R@1 {i2t_r1:.3f}")


if __name__ == "__main__":
    main()
