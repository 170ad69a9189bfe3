"""Writes the demo's gallery: 60 PNGs drawn like clip-shapes' training data
(tools/shapes/shapes_data.py) with a seed no training stream uses, named after
what they show so a person can check every hit:

- {colour}_{shape}.png: one filled shape for each of the 48 colour+shape pairs,
  background, size and position varying (red_circle.png, blue_square.png ...);
- 12 more with several objects, outlines and noise, e.g.
  two_green_triangles.png, purple_hexagon_outline.png.

Deterministic, so the demo and the README examples see the same files.
Usage: make_samples.py --out DIR
"""

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "shapes"))
from shapes_data import BACKGROUNDS, COLOURS, PLURAL, POSITIONS, SHAPES, render  # noqa: E402

# (count, colour, shape, filled, background, noise)
EXTRAS = [
    (2, "green", "triangle", True, "white", False),
    (3, "yellow", "star", True, "black", False),
    (1, "purple", "hexagon", False, "gray", False),
    (2, "orange", "diamond", True, "gray", True),
    (3, "blue", "circle", True, "white", True),
    (1, "red", "square", False, "white", False),
    (2, "pink", "star", True, "black", False),
    (1, "brown", "circle", False, "black", True),
    (3, "red", "triangle", True, "gray", False),
    (2, "blue", "hexagon", True, "black", False),
    (1, "green", "diamond", False, "white", True),
    (2, "yellow", "square", True, "gray", False),
]
NUMBERS = {1: "", 2: "two_", 3: "three_"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(20261203)
    images = {}
    for colour in COLOURS:
        for shape in SHAPES:
            attrs = dict(colour=colour, shape=shape, size=rng.choice(["small", "large"]),
                         position=rng.choice(list(POSITIONS)), background=rng.choice(list(BACKGROUNDS)),
                         count=1, filled=True)
            images[f"{colour}_{shape}.png"] = render(attrs, False, rng)
    for count, colour, shape, filled, background, noise in EXTRAS:
        attrs = dict(colour=colour, shape=shape, size="large", position="center", background=background,
                     count=count, filled=filled)
        noun = shape if count == 1 else PLURAL[shape]
        images[f"{NUMBERS[count]}{colour}_{noun}{'' if filled else '_outline'}.png"] = render(attrs, noise, rng)
    for name, img in images.items():
        path = os.path.join(args.out, name)
        img.save(path, "PNG")
        os.chmod(path, 0o644)
    os.chmod(args.out, 0o755)
    print(f"{len(images)} sample images in {args.out}")


if __name__ == "__main__":
    main()
