"""Reference parity: the SQL functions against the Python reference pipeline
(tools/clip_reference.py: the seed's OpenCV decoding + PIL + numpy +
onnxruntime + OpenAI's tokenizer) on the same model files.

Images: the corpus of tools/image_corpus.py (every kind of file the seed's
OpenCV decoding treats differently from PIL: EXIF orientations in JPEG, PNG and
TIFF, alpha, palettes, 16-bit, CMYK, JPEGs libjpeg only warns about, TIFF
compressions, ...). Texts: 42 strings with Unicode, emoji, punctuation, numbers,
HTML entities, text over 77 tokens, multi-line text under ftfy's per-line
rules, and long texts (260 KB of words, 250,000 blank characters before a
caption, words of 100,000+ characters).

Pass: cosine >= 0.999999 per lossless image (same pixels, Pillow's own resize),
>= 0.9995 per JPEG or lossy WebP, >= 0.99999 per text; every image's SQL
embedding is nearest to its own reference embedding (none is refused).
Usage: parity.py --host SOCKET_DIR --port PORT --model-dir DIR --bpe FILE [--model NAME]
"""

import argparse
import os
import sys

import numpy as np
import psycopg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from clip_reference import ReferenceModel  # noqa: E402
from image_corpus import corpus  # noqa: E402

# JPEG and lossy WebP: the same libjpeg-turbo/libwebp algorithms as OpenCV's build.
IMAGE_MIN_COSINE = 0.9995
TEXT_MIN_COSINE = 0.99999
# Lossless formats decode to the same pixels in both pipelines, and the resize
# is Pillow's own algorithm, so these must agree to float rounding.
EXACT_MIN_COSINE = 0.999999
# A truncated JPEG has no single reference: OpenCV 4.10 reads through a
# suspending libjpeg source and returns rows past the cut from memory it never
# wrote (three decodes of the same bytes in one process gave three different
# images; cosines to one reference decode ranged 0.57-0.97 between runs). So
# such a file is held to what is deterministic: it embeds, identically on every
# call; its cosine to one reference decode is printed, not asserted.


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
    # ftfy's 1,000,000-character segments: '<' in the first turns unescaping off for the second.
    "<b>" + " " * 1000010 + "&amp;amp;amp; cat",
    "<b>" + " " * 999990 + "&amp;amp;amp; cat",  # the boundary falls inside the reference
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
        conn.autocommit = True
        conn.execute("CREATE EXTENSION IF NOT EXISTS clip_embed")

        def sql(query, *params):
            return np.array(conn.execute(query, params).fetchone()[0], np.float32)

        imgs = corpus()
        ref_img = [ref.embed_image(data) for _, data, _ in imgs]
        sql_img = [sql("SELECT clip_embed_image(%s, %s)", data, args.model) for _, data, _ in imgs]
        img_cos = []
        for i, (name, _, kind) in enumerate(imgs):
            c = cosine(sql_img[i], ref_img[i])
            if kind != "partial":
                img_cos.append(c)
            nearest = int(np.argmax([cosine(sql_img[i], r) for r in ref_img]))
            if kind == "partial":
                again = sql("SELECT clip_embed_image(%s, %s)", imgs[i][1], args.model)
                ok = bool(np.array_equal(again, sql_img[i]))
                print(f"  image {'ok  ' if ok else 'FAIL'} deterministic={ok}, cos to one reference decode {c:.6f}"
                      f" (not asserted)  {name}")
                passed += ok
                if not ok:
                    failures.append(f"image {name}: two embeddings of the same bytes differ")
                continue
            floor = {"lossless": EXACT_MIN_COSINE, "lossy": IMAGE_MIN_COSINE}[kind]
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
    print(f"images: {len(imgs)} embedded; with a single reference: {len(img_cos)}, cosine min {min(img_cos):.6f} "
          f"median {np.median(img_cos):.6f}")
    print(f"texts:  {len(TEXTS)}, cosine min {min(txt_cos):.8f} median {np.median(txt_cos):.8f}")
    for f in failures:
        print("FAILED:", f)
    print(f"parity: {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
