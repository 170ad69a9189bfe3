"""Reference parity: the SQL functions against the Python reference pipeline
(tools/clip_reference.py: PIL + numpy + onnxruntime + OpenAI's tokenizer) on
the same model files.

Images: 37 generated images across JPEG (baseline, progressive, greyscale,
CMYK), PNG (8/16-bit, palette, greyscale, alpha, 1-bit), WebP, GIF, BMP and
TIFF, in odd sizes, portrait and landscape, tiny ones. Texts: 34 strings with
Unicode, emoji, punctuation, numbers, HTML entities, text over 77 tokens,
multi-line text under ftfy's per-line rules, and long texts (260 KB of words,
250,000 blank characters before a caption, words of 100,000+ characters).

Pass: cosine >= 0.999 per image (>= 0.999999 for lossless formats, whose
pixels and resize are identical in both) and >= 0.99999 per text, and every
image's SQL embedding is nearest to its own reference embedding.
Usage: parity.py --host SOCKET_DIR --port PORT --model-dir DIR --bpe FILE [--model NAME]
"""

import argparse
import io
import os
import struct
import sys
import zlib

import numpy as np
import psycopg
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from clip_reference import ReferenceModel  # noqa: E402

IMAGE_MIN_COSINE = 0.999
TEXT_MIN_COSINE = 0.99999
# Lossless formats decode to the same pixels in both pipelines, and the resize
# is Pillow's own algorithm (8- and 16-bit paths), so these must agree to float
# rounding.
EXACT_MIN_COSINE = 0.999999


def expected_exact(name):
    return name.startswith(("png", "gif", "bmp", "tiff", "webp lossless"))


def scene(w, h, seed):
    """A different picture per seed: gradient background, noise, shapes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(0, 255, 3)
    arr = np.stack([(base[c] + (xx if c % 2 else yy) * rng.integers(1, 4)) % 256 for c in range(3)], -1)
    arr = (arr + rng.integers(0, 30, arr.shape)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, max(w - 1, 1))), int(rng.integers(0, max(h - 1, 1)))
        x1, y1 = x0 + int(rng.integers(1, max(w // 2, 2))), y0 + int(rng.integers(1, max(h // 2, 2)))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=color)
    return img


def save(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png16(img, alpha=False):
    """A 16-bit RGB(A) PNG (PIL cannot write one): each 8-bit sample v becomes v*257 plus noise in the low byte."""
    arr = np.asarray(img.convert("RGBA" if alpha else "RGB"), dtype=np.uint16) * 257
    arr = arr ^ (np.arange(arr.size, dtype=np.uint16).reshape(arr.shape) % 251)
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def with_alpha(img, seed):
    rgba = img.convert("RGBA")
    a = np.asarray(scene(*img.size, seed + 1000).convert("L"))
    rgba.putalpha(Image.fromarray(a))
    return rgba


def images():
    s = scene
    out = [
        ("jpeg baseline 640x480", save(s(640, 480, 1), "JPEG", quality=90)),
        ("jpeg progressive 500x375", save(s(500, 375, 2), "JPEG", quality=85, progressive=True)),
        ("jpeg greyscale 300x400", save(s(300, 400, 3).convert("L"), "JPEG", quality=90)),
        ("jpeg cmyk 320x240", save(s(320, 240, 4).convert("CMYK"), "JPEG", quality=90)),
        ("jpeg portrait 333x517", save(s(333, 517, 5), "JPEG", quality=75)),
        ("jpeg q40 1024x768", save(s(1024, 768, 6), "JPEG", quality=40)),
        ("jpeg tiny 5x7", save(s(5, 7, 7), "JPEG", quality=95)),
        ("jpeg 4:4:4 257x255", save(s(257, 255, 8), "JPEG", quality=90, subsampling=0)),
        ("png rgb 401x299", save(s(401, 299, 9), "PNG")),
        ("png rgb exact 224x224", save(s(224, 224, 10), "PNG")),
        ("png rgb 225x224", save(s(225, 224, 11), "PNG")),
        ("png 16-bit rgb 200x300", png16(s(200, 300, 12))),
        ("png 16-bit rgba 240x180", png16(s(240, 180, 13), alpha=True)),
        ("png 16-bit greyscale 270x190", save(Image.fromarray((np.asarray(s(270, 190, 37).convert("L"),
                                                                       dtype=np.uint16) * 3)), "PNG")),
        ("png palette 310x230", save(s(310, 230, 14).quantize(64), "PNG")),
        ("png palette+transparency 150x150", save(s(150, 150, 15).quantize(32), "PNG", transparency=3)),
        ("png greyscale 260x390", save(s(260, 390, 16).convert("L"), "PNG")),
        ("png greyscale+alpha 280x210", save(with_alpha(s(280, 210, 17), 17).convert("LA"), "PNG")),
        ("png rgba 350x250", save(with_alpha(s(350, 250, 18), 18), "PNG")),
        ("png 1-bit 230x170", save(s(230, 170, 19).convert("1"), "PNG")),
        ("png tiny 1x1", save(s(1, 1, 20), "PNG")),
        ("png extreme 3x200", save(s(3, 200, 21), "PNG")),
        ("png extreme 400x9", save(s(400, 9, 22), "PNG")),
        ("webp lossy 400x300", save(s(400, 300, 23), "WEBP", quality=80)),
        ("webp lossless 300x400", save(s(300, 400, 24), "WEBP", lossless=True)),
        ("webp lossless alpha 256x256", save(with_alpha(s(256, 256, 25), 25), "WEBP", lossless=True)),
        ("gif 300x200", save(s(300, 200, 26).quantize(128), "GIF")),
        ("gif animated 200x200", save(s(200, 200, 27).quantize(64), "GIF", save_all=True,
                                      append_images=[s(200, 200, 99).quantize(64)], duration=100)),
        ("gif greyscale 180x240", save(s(180, 240, 28).convert("L"), "GIF")),
        ("bmp 24-bit 321x241", save(s(321, 241, 29), "BMP")),
        ("bmp 8-bit palette 200x150", save(s(200, 150, 30).quantize(200), "BMP")),
        ("bmp greyscale 150x200", save(s(150, 200, 31).convert("L"), "BMP")),
        ("tiff rgb 300x300", save(s(300, 300, 32), "TIFF")),
        ("tiff lzw 250x330", save(s(250, 330, 33), "TIFF", compression="tiff_lzw")),
        ("tiff greyscale 330x250", save(s(330, 250, 34).convert("L"), "TIFF")),
        ("tiff rgba 200x260", save(with_alpha(s(200, 260, 35), 35), "TIFF")),
        ("jpeg large 2000x1500", save(s(2000, 1500, 36), "JPEG", quality=85)),
    ]
    return out


TEXTS = [
    "a photo of a cat",
    "Hello World",
    "A RED BICYCLE leaning against a wall",
    "two dogs playing in the snow",
    "it's a beautiful day, isn't it? we'll see; they're here",
    "the year 2026 had 365 days and 12 months",
    "3.14159 is approximately pi",
    "café crème brûlée à la carte",
    "Straße in München",
    "东京的夜景",
    "서울의 밤",
    "منظر طبيعي جميل",
    "Привет, мир",
    "🚲🐱🐶 emoji only 🎉",
    "a 👍 thumbs up",
    "Tom &amp; Jerry &lt;3 &quot;quoted&quot;",
    "curly \u2018single\u2019 and \u201cdouble\u201d quotes",
    "ﬁne ligatures and ｆｕｌｌｗｉｄｔｈ text",
    "tabs\tand\nnewlines   and   spaces",
    "!!!???...,,,;;;",
    "<|startoftext|> special tokens <|endoftext|> in text",
    "UPPER lower MiXeD",
    "hyphen-ated words and under_scores",
    "e-mail: someone@example.com, url: https://example.com/path?q=1",
    "naïve coöperation résumé",
    "x",
    "a" * 100,
    " ".join(["word"] * 100),
    "a very long caption " + " ".join(f"token{i}" for i in range(90)),
    "the quick brown fox jumps over the lazy dog " * 5,
    "100% of $5.00 is €4.70 (roughly)",
    "C++ and C# and F#",
    "\u00e9 decomposed: e\u0301",
    "mixed 日本語 and English テキスト",
    # ftfy's per-line rules: unescaping to a fixed point stops from the first line holding '<'.
    "&amp;amp;amp; cat\n<b> dog",
    "<b>\n&amp;amp;amp; cat",
    "line one &amp;amp; two\r\nline &lt;3 three <i>\nafter &amp;amp; four",
    # Long inputs, which clip_embed reads only as far as the context needs.
    "a red circle " * 20000,
    "\u3000 \ufeff\t" * 50000 + "a cat after 250,000 blank characters",
    "x" * 100000,
    "abc" * 40000 + " tail",
    "word&amp;" * 20000,
]


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", default="postgres")
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--model", default="tiny-random")
    ap.add_argument("--bpe", required=True)
    args = ap.parse_args()
    ref = ReferenceModel(os.path.join(args.model_dir, args.model), args.bpe)
    failures = []
    passed = 0
    with psycopg.connect(host=args.host, port=args.port, dbname=args.dbname, user="postgres") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")

        def sql(query, *params):
            return np.array(conn.execute(query, params).fetchone()[0], np.float32)

        imgs = images()
        ref_img = [ref.embed_image(data) for _, data in imgs]
        sql_img = [sql("SELECT clip_embed_image(%s, %s)", data, args.model) for _, data in imgs]
        img_cos = []
        for i, (name, _) in enumerate(imgs):
            c = cosine(sql_img[i], ref_img[i])
            img_cos.append(c)
            nearest = int(np.argmax([cosine(sql_img[i], r) for r in ref_img]))
            floor = EXACT_MIN_COSINE if expected_exact(name) else IMAGE_MIN_COSINE
            ok = c >= floor and nearest == i
            print(f"  image {'ok  ' if ok else 'FAIL'} cos={c:.6f} nearest={'own' if nearest == i else imgs[nearest][0]}  {name}")
            passed += ok
            if not ok:
                failures.append(f"image {name}: cosine {c:.6f}, nearest {imgs[nearest][0]}")
        txt_cos = []
        for text in TEXTS:
            c = cosine(sql("SELECT clip_embed_text(%s, %s)", text, args.model), ref.embed_text(text))
            txt_cos.append(c)
            ok = c >= TEXT_MIN_COSINE
            print(f"  text  {'ok  ' if ok else 'FAIL'} cos={c:.8f}  {text[:60]!r}")
            passed += ok
            if not ok:
                failures.append(f"text {text[:40]!r}: cosine {c:.8f}")
    print(f"images: {len(imgs)}, cosine min {min(img_cos):.6f} median {np.median(img_cos):.6f}")
    print(f"texts:  {len(TEXTS)}, cosine min {min(txt_cos):.8f} median {np.median(txt_cos):.8f}")
    for f in failures:
        print("FAILED:", f)
    print(f"parity: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
