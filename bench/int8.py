"""int8 against fp32 for one model: cosine of the embeddings (the same inputs
through the reference pipeline) and the vision tower's time per image, one ORT
thread, in one run. Not a test.
Inputs: 200 held-out clip-shapes pictures (seed 20261130) and their captions,
decoded and preprocessed as the reference does.
Usage: int8.py --model-dir DIR --fp32 NAME --int8 NAME --bpe FILE [--images 200]
"""

import argparse
import io
import os
import random
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "shapes"))
from clip_reference import ReferenceModel, preprocess  # noqa: E402
from shapes_data import caption, sample  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--int8", required=True)
    ap.add_argument("--bpe", required=True)
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args()
    rng = random.Random(20261130)
    images, texts = [], []
    for _ in range(args.images):
        img, attrs = sample(rng)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        images.append(buf.getvalue())
        texts.append(caption(attrs, rng))
    fp32 = ReferenceModel(os.path.join(args.model_dir, args.fp32), args.bpe)
    int8 = ReferenceModel(os.path.join(args.model_dir, args.int8), args.bpe)

    def cosines(embed_a, embed_b, items):
        return [float(np.dot(embed_a(x), embed_b(x))) for x in items]

    img_cos = cosines(fp32.embed_image, int8.embed_image, images)
    txt_cos = cosines(fp32.embed_text, int8.embed_text, texts)

    def vision_ms(model):
        x = preprocess(images[0], model.n_px, model.mean, model.std)[None]
        name = model.visual.get_inputs()[0].name
        model.visual.run(None, {name: x})
        times = []
        for _ in range(12):
            t0 = time.perf_counter()
            model.visual.run(None, {name: x})
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)

    ms32, ms8 = vision_ms(fp32), vision_ms(int8)
    print(f"{args.int8} vs {args.fp32}: image cosine median {statistics.median(img_cos):.5f} min {min(img_cos):.5f}; "
          f"text cosine median {statistics.median(txt_cos):.5f} min {min(txt_cos):.5f} ({args.images} each)")
    print(f"{args.int8} vs {args.fp32}: vision tower {ms8:.1f} ms vs {ms32:.1f} ms per image = {ms32 / ms8:.2f}x "
          f"(1 ORT thread)")


if __name__ == "__main__":
    main()
