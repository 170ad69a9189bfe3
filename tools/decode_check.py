"""Pixels, without Postgres: clip_embed's decoder (the decode_rgb example of
clip_embed_core) against the reference's cv2.imdecode(IMREAD_COLOR) + BGR->RGB
(PIL's convert("RGB") where OpenCV cannot read the format), on the corpus of
tools/image_corpus.py. Prints one line per image; a development tool, the
suite's pass/fail is tests/parity/parity.py.
Usage: decode_check.py DECODE_RGB_BINARY
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import decode_rgb  # noqa: E402
from image_corpus import corpus  # noqa: E402


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        items = corpus()
        paths = []
        for i, (name, data, _) in enumerate(items):
            path = os.path.join(tmp, f"{i:03d}")
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        lines = subprocess.run([binary, tmp, *paths], check=True, capture_output=True, text=True).stdout.splitlines()
        got = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines}
        exact = 0
        for i, (name, data, kind) in enumerate(items):
            key = f"{i:03d}"
            try:
                ref = decode_rgb(data)
            except Exception as e:  # noqa: BLE001 - the reference refusing is a result
                ref = None
                ref_err = str(e)[:60]
            ours = got[key]
            if ours.startswith("error"):
                print(f"{name:42s} ours: {ours[:70]}   reference: {'decodes' if ref is not None else ref_err}")
                continue
            w, h = map(int, ours.split())
            arr = np.fromfile(os.path.join(tmp, key + ".rgb"), np.uint8).reshape(h, w, 3).astype(int)
            if ref is None:
                print(f"{name:42s} ours {w}x{h}, reference refuses: {ref_err}")
                continue
            ref = np.asarray(ref, dtype=int)
            if ref.shape != arr.shape:
                print(f"{name:42s} SHAPE ours {arr.shape} reference {ref.shape}")
                continue
            d = np.abs(ref - arr)
            exact += d.max() == 0
            print(f"{name:42s} {kind:8s} max {d.max():3d} mean {d.mean():.4f}")
        print(f"{exact} of {len(items)} pixel-identical")


if __name__ == "__main__":
    main()
