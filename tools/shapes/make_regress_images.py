"""Writes tests/pg_regress/data/shapes.tsv: twelve 224x224 PNGs of single shapes
(no noise, so each is a few kB), one "name<TAB>base64" line each, for the
pg_regress semantic tests (tests/pg_regress/sql/semantic.sql reads the file with
psql). Drawn by shapes_data.render with a seed no training stream uses.

Usage: make_regress_images.py [--out tests/pg_regress/data/shapes.tsv]
"""

import argparse
import base64
import io
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shapes_data import render  # noqa: E402

# name -> (background, size, position): every colour, every shape, all backgrounds.
IMAGES = {
    "red circle": ("white", "large", "center"),
    "red square": ("gray", "small", "left"),
    "blue circle": ("black", "large", "right"),
    "blue square": ("white", "large", "top"),
    "green triangle": ("white", "small", "bottom"),
    "green star": ("white", "large", "bottom"),
    "yellow star": ("black", "large", "center"),
    "yellow hexagon": ("gray", "small", "center"),
    "purple hexagon": ("white", "large", "left"),
    "orange diamond": ("gray", "large", "center"),
    "pink circle": ("white", "small", "right"),
    "brown triangle": ("gray", "large", "top"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "pg_regress", "data", "shapes.tsv"))
    args = ap.parse_args()
    rng = random.Random(20261201)
    lines = []
    for name, (background, size, position) in IMAGES.items():
        colour, shape = name.split()
        attrs = dict(colour=colour, shape=shape, size=size, position=position, background=background,
                     count=1, filled=True)
        buf = io.BytesIO()
        render(attrs, False, rng).save(buf, "PNG", optimize=True)
        lines.append(f"{name}\t{base64.b64encode(buf.getvalue()).decode()}")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} images, {os.path.getsize(args.out)} bytes -> {args.out}")


if __name__ == "__main__":
    main()
