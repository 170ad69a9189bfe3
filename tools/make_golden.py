"""Writes the preprocessing goldens for the Rust unit tests: small images of the
kinds the seed's OpenCV decoding treats differently from PIL, and the reference
tensor for each (`clip_reference.preprocess` at n_px=64, raw little-endian
float32, CHW).

Run from the repo root; the outputs are committed under
crates/clip_embed_core/tests/data/ so `cargo test` needs no Python.
"""

import io
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import preprocess  # noqa: E402

OUT = "crates/clip_embed_core/tests/data"
N_PX = 64


def scene(w, h, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 127 // (w + h)], -1)
    arr = (arr + rng.integers(0, 40, arr.shape)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse([w // 5, h // 5, w * 3 // 5, h * 3 // 5], fill=(220, 30, 40))
    d.rectangle([w // 2, h // 2, w - 3, h - 3], outline=(10, 200, 30), width=2)
    return img


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def rotate_90_exif():
    """Exif with orientation 6: the camera was turned; upright means rotated 90 degrees clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()


def main():
    os.makedirs(OUT, exist_ok=True)
    rgba = scene(70, 90, 4).convert("RGBA")
    alpha = np.full((90, 70), 255, np.uint8)
    alpha[:, :20] = 0
    alpha[:, 20:40] = 128
    rgba.putalpha(Image.fromarray(alpha))
    cases = {
        "landscape_rgb.png": encode(scene(97, 61, 1), "PNG"),
        "portrait.jpg": encode(scene(150, 310, 2), "JPEG", quality=90),
        "palette.png": encode(scene(80, 50, 3).quantize(16), "PNG"),
        "rgba.png": encode(rgba, "PNG"),
        "exif_rotated.jpg": encode(scene(120, 70, 5), "JPEG", quality=90, exif=rotate_90_exif()),
        "palette.tif": encode(scene(80, 50, 7).quantize(16), "TIFF"),
        "grey16.png": encode(Image.fromarray((np.asarray(scene(60, 40, 6).convert("L"), np.uint16) * 257) ^ 0x3c), "PNG"),
    }
    for name, data in cases.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        tensor = preprocess(data, N_PX)
        assert tensor.shape == (3, N_PX, N_PX)
        tensor.astype("<f4").tofile(os.path.join(OUT, name + ".f32"))


if __name__ == "__main__":
    main()
