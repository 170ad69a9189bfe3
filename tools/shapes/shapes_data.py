"""Synthetic captioned images for training and evaluating the small CLIP
("clip-shapes"): shapes x colours x sizes x positions x backgrounds, with
noise, rotation, outline vs filled and several objects, drawn with PIL at
224x224 and captioned with several phrasings. Deterministic per seed."""

import itertools
import math
import random

import numpy as np
from PIL import Image, ImageDraw

SIZE = 224
COLOURS = {
    "red": (220, 30, 35), "green": (40, 170, 60), "blue": (35, 75, 220), "yellow": (240, 210, 30),
    "orange": (245, 140, 20), "purple": (140, 50, 180), "pink": (245, 120, 190), "brown": (130, 80, 40),
}
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "diamond"]
BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15), "gray": (128, 128, 128)}
POSITIONS = {"left": (0.28, 0.5), "right": (0.72, 0.5), "top": (0.5, 0.28), "bottom": (0.5, 0.72), "center": (0.5, 0.5)}
COUNT_WORDS = {1: "a", 2: "two", 3: "three"}
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars",
          "hexagon": "hexagons", "diamond": "diamonds"}


def polygon(shape, cx, cy, r, angle):
    if shape == "circle":
        return None
    n, inner = {"square": (4, None), "triangle": (3, None), "hexagon": (6, None), "diamond": (4, None),
                "star": (10, 0.45)}[shape]
    base = angle + (math.pi / 4 if shape == "square" else 0) - math.pi / 2
    pts = []
    for k in range(n):
        rr = r * (inner if inner and k % 2 else 1.0)
        rx = rr * (0.7 if shape == "diamond" else 1.0)
        a = base + 2 * math.pi * k / n
        pts.append((cx + rx * math.cos(a), cy + rr * math.sin(a)))
    return pts


def draw_shape(d, shape, colour, cx, cy, r, angle, filled, outline_width):
    pts = polygon(shape, cx, cy, r, angle)
    kw = {"fill": colour} if filled else {"outline": colour, "width": outline_width}
    if pts is None:
        d.ellipse([cx - r, cy - r, cx + r, cy + r], **kw)
    elif filled:
        d.polygon(pts, fill=colour)
    else:
        d.line(pts + [pts[0]], fill=colour, width=outline_width, joint="curve")


def sample(rng: random.Random):
    """One image and its attributes."""
    colour = rng.choice(list(COLOURS))
    shape = rng.choice(SHAPES)
    size = rng.choice(["small", "large"])
    position = rng.choice(list(POSITIONS))
    background = rng.choice(list(BACKGROUNDS))
    count = rng.choices([1, 2, 3], weights=[0.7, 0.2, 0.1])[0]
    filled = rng.random() < 0.8
    noise = rng.random() < 0.5
    attrs = dict(colour=colour, shape=shape, size=size, position=position, background=background,
                 count=count, filled=filled)
    return render(attrs, noise, rng), attrs


def render(attrs, noise, rng: random.Random):
    """Draws an image with these attributes; jitter, radius, rotation and noise come from rng."""
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUNDS[attrs["background"]])
    d = ImageDraw.Draw(img)
    r = SIZE * (rng.uniform(0.09, 0.14) if attrs["size"] == "small" else rng.uniform(0.2, 0.27))
    px, py = POSITIONS[attrs["position"]]
    count = attrs["count"]
    for k in range(count):
        if count == 1:
            cx, cy = px * SIZE, py * SIZE
        else:
            r = SIZE * rng.uniform(0.08, 0.12)
            cx = SIZE * (0.2 + 0.6 * (k + 0.5) / count) + rng.uniform(-8, 8)
            cy = SIZE * rng.uniform(0.3, 0.7)
        cx += rng.uniform(-10, 10)
        cy += rng.uniform(-10, 10)
        draw_shape(d, attrs["shape"], COLOURS[attrs["colour"]], cx, cy, r, rng.uniform(-0.4, 0.4), attrs["filled"],
                   rng.randint(4, 8))
    if noise:
        arr = np.asarray(img, dtype=np.int16)
        arr = arr + np.random.default_rng(rng.randrange(1 << 30)).integers(-25, 26, arr.shape)
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    return img


def caption_options(attrs):
    """Every caption phrasing that fits an image with these attributes."""
    c, s, n = attrs["colour"], attrs["shape"], attrs["count"]
    noun = s if n == 1 else PLURAL[s]
    head = f"{COUNT_WORDS[n]} {c} {noun}"
    style = "" if attrs["filled"] else " outline"
    return [
        head,
        f"a photo of {head}",
        f"{COUNT_WORDS[n]} {attrs['size']} {c} {noun}" if n == 1 else head,
        f"a photo of {head}{style} on a {attrs['background']} background",
        f"{head} on the {attrs['position']}" if n == 1 else f"{head} in a row",
        f"a picture of {head}{style}",
    ]


def caption(attrs, rng: random.Random):
    return rng.choice(caption_options(attrs))


# Zero-shot prompt templates (evaluate.py, the SQL tests and the demo use them).
TEMPLATES = ["a {c} {s}", "a photo of a {c} {s}", "a picture of a {c} {s}"]


def all_texts():
    """Every caption the generator can write and every zero-shot prompt, sorted:
    the training vocabulary (tools/shapes/train.py tokenizes these once)."""
    texts = set()
    for colour, shape, size, position, background, count, filled in itertools.product(
            COLOURS, SHAPES, ["small", "large"], POSITIONS, BACKGROUNDS, COUNT_WORDS, [True, False]):
        texts.update(caption_options(dict(colour=colour, shape=shape, size=size, position=position,
                                          background=background, count=count, filled=filled)))
    texts.update(t.format(c=c, s=s) for t in TEMPLATES for c in COLOURS for s in SHAPES)
    return sorted(texts)
