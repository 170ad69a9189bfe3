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
import json
import os
import random
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from shapes_data import COLOURS, SHAPES, TEMPLATES, caption, sample  # noqa: E402

HELD_OUT_SEED = 20261130  # training streams use seeds 1000..1015; this one no training run draws from


def unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def held_out(pairs=500, seed=HELD_OUT_SEED):
    """The held-out set: PIL images, their attributes and one caption each."""
    rng = random.Random(seed)
    images, attrs, captions = [], [], []
    for _ in range(pairs):
        img, a = sample(rng)
        images.append(img)
        attrs.append(a)
        captions.append(caption(a, rng))
    return images, attrs, captions


def classes():
    return [(c, s) for c in COLOURS for s in SHAPES]


def measure(image_vecs, attrs, captions, embed_texts):
    """Zero-shot accuracy and retrieval from image embeddings and a text embedder
    (list of str -> [N, D] array). Ties cannot decide a hit: argmax/argsort over
    float64 cosines of distinct vectors."""
    images = unit(image_vecs)
    names = classes()
    prompts = np.stack([unit(np.mean(unit(embed_texts([t.format(c=c, s=s) for t in TEMPLATES])), 0))
                        for c, s in names])
    predicted = [names[i] for i in (images @ prompts.T).argmax(1)]
    colour = np.mean([p[0] == a["colour"] for p, a in zip(predicted, attrs)])
    shape = np.mean([p[1] == a["shape"] for p, a in zip(predicted, attrs)])
    both = np.mean([p == (a["colour"], a["shape"]) for p, a in zip(predicted, attrs)])

    texts = unit(embed_texts(captions))
    sims = texts @ images.T  # text i vs image j
    same = np.array([[ci == cj for cj in captions] for ci in captions])
    order = np.argsort(-sims, axis=1)
    t2i_r1 = np.mean([same[i, order[i, 0]] for i in range(len(captions))])
    t2i_r5 = np.mean([same[i, order[i, :5]].any() for i in range(len(captions))])
    i2t = np.argsort(-sims.T, axis=1)
    i2t_r1 = np.mean([same[j, i2t[j, 0]] for j in range(len(captions))])
    return {"pairs": len(captions), "colour": round(float(colour), 4), "shape": round(float(shape), 4),
            "colour_shape": round(float(both), 4), "t2i_r1": round(float(t2i_r1), 4),
            "t2i_r5": round(float(t2i_r5), 4), "i2t_r1": round(float(i2t_r1), 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--pairs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    from clip_reference import ReferenceModel

    ref = ReferenceModel(args.model, args.bpe)
    images, attrs, captions = held_out(args.pairs, args.seed)
    vecs = []
    for img in images:
        buf = io.BytesIO()
        img.save(buf, "PNG")
        vecs.append(ref.embed_image(buf.getvalue()))
    figures = measure(np.stack(vecs), attrs, captions, lambda texts: np.stack([ref.embed_text(t) for t in texts]))
    print(f"held-out pairs {args.pairs} (seed {args.seed})")
    print(f"zero-shot accuracy: colour {figures['colour']:.3f}  shape {figures['shape']:.3f}  "
          f"colour+shape {figures['colour_shape']:.3f}")
    print(f"text->image R@1 {figures['t2i_r1']:.3f}  R@5 {figures['t2i_r5']:.3f}   image->text R@1 {figures['i2t_r1']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
