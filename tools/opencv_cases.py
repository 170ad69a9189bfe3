"""The fixture writer of tools/{bmp,tiff,jpeg_orientation}_cases.py: what
`cv2.imdecode(buf, cv2.IMREAD_COLOR)` (OpenCV 4.10.0.84, pinned in
tools/requirements.txt) returns for each generated file, as JSON that the
core's tests/opencv_decode.rs checks pixel for pixel:
[{"name", KEY: hex of the file, "expected": null (refused) or {"width", "height", "rgb": hex}}].
`--check` on the command line: exit 1 when the committed fixture is stale.
"""

import json
import sys

import cv2
import numpy as np


def opencv_rgb(data, name):
    """OpenCV's decode as {"width", "height", "rgb"}, or None where it refuses the file."""
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    # OpenCV's output buffer starts uninitialised: a case it leaves partly
    # unwritten would differ between decodes, and has no single answer.
    for _ in range(3):
        again = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert (again is None) == (decoded is None) and (again is None or (again == decoded).all()), name
    if decoded is None:
        return None
    rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return {"width": rgb.shape[1], "height": rgb.shape[0], "rgb": rgb.tobytes().hex()}


def write_fixture(cases, out, key, script, refusals_allowed=True):
    """Decodes every (name, bytes) of `cases` with OpenCV and writes (or, with
    --check, compares) `out`; returns the entries, or exits when --check finds it stale."""
    entries = []
    for name, data in cases:
        expected = opencv_rgb(data, name)
        assert refusals_allowed or expected is not None, f"OpenCV refuses {name}"
        entries.append({"name": name, key: data.hex(), "expected": expected})
    text = json.dumps(entries, indent=1) + "\n"
    if "--check" in sys.argv:
        if out.read_text() != text:
            sys.exit(f"{out} is stale: run tools/{script}")
        return None
    out.write_text(text)
    return entries


def list_entries(entries):
    """Prints each written entry's name and whether OpenCV decoded it (nothing after --check)."""
    for e in entries or []:
        print(f"{e['name']:45} {'None' if e['expected'] is None else 'decoded'}")
