"""Writes the demo's sample images: simple shapes in colours on plain
backgrounds, one PNG each, named after what they show (red_circle.png ...).
Deterministic, so the demo and the README examples see the same files."""

import argparse
import os

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 40), "blue": (30, 70, 220), "green": (30, 170, 60), "yellow": (235, 200, 20)}
SHAPES = ["circle", "square", "triangle"]


def draw(shape, colour, size=256):
    img = Image.new("RGB", (size, size), (245, 245, 240))
    d = ImageDraw.Draw(img)
    box = [size * 0.2, size * 0.2, size * 0.8, size * 0.8]
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rectangle(box, fill=colour)
    else:
        d.polygon([(size * 0.5, size * 0.15), (size * 0.85, size * 0.8), (size * 0.15, size * 0.8)], fill=colour)
    return img


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for colour, rgb in COLOURS.items():
        for shape in SHAPES:
            path = os.path.join(args.out, f"{colour}_{shape}.png")
            draw(shape, rgb).save(path, "PNG")
            os.chmod(path, 0o644)
    os.chmod(args.out, 0o755)


if __name__ == "__main__":
    main()
