"""BMP files of every kind OpenCV 4.10's BMP reader treats its own way, with
what `cv2.imdecode(buf, cv2.IMREAD_COLOR)` returns for each (RGB, or None).

Writes crates/clip_embed_core/tests/data/bmp_cases.json, which the core's
tests/opencv_decode.rs checks pixel for pixel: [{"name", "bmp": hex, "expected": null
or {"width", "height", "rgb": hex}}]. Images are small (at most 9x7), so the
hex stays readable in a diff. Run with the reference venv:
    /var/tmp/clip_embed/venv/bin/python tools/bmp_cases.py [--check]
"""

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from opencv_cases import list_entries, write_fixture

OUT = Path(__file__).resolve().parent.parent / "crates/clip_embed_core/tests/data/bmp_cases.json"
RNG = np.random.default_rng(1810)


def noise(n):
    return bytes(RNG.integers(0, 256, n, dtype=np.uint8))


def info_header(size, width, height, bpp, compression, clrused=0, planes=1, extra=b""):
    """A BITMAPINFOHEADER-shaped header of `size` bytes (extra fills bytes 40.., zero-padded)."""
    head = struct.pack("<IiiHHIIiiII", size, width, height, planes, bpp, compression, 0, 2835, 2835, clrused, 0)
    tail = (extra + bytes(max(0, size - 40)))[: max(0, size - 40)]
    return (head + tail)[:size]


def bmp(header, palette=b"", pixels=b"", after_header=b""):
    """File header + `header` + `after_header` (masks) + `palette`, pixels at the offset."""
    offset = 14 + len(header) + len(after_header) + len(palette)
    body = header + after_header + palette + pixels
    return b"BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, offset) + body


def rows(width, height, bpp):
    pitch = ((width * bpp + 7) // 8 + 3) & ~3
    return noise(pitch * height)


def palette(n):
    return b"".join(noise(3) + b"\0" for _ in range(n))


def masks(*m):
    return struct.pack("<" + "I" * len(m), *m)


def cases():
    w, h = 9, 7
    out = []

    def add(name, data):
        out.append((name, data))

    # Uncompressed, as the existing corpus has them.
    add("rgb24 bottom-up", bmp(info_header(40, w, h, 24, 0), pixels=rows(w, h, 24)))
    add("rgb24 top-down", bmp(info_header(40, w, -h, 24, 0), pixels=rows(w, h, 24)))
    add("rgb32 BI_RGB", bmp(info_header(40, w, h, 32, 0), pixels=rows(w, h, 32)))
    add("pal8 full palette", bmp(info_header(40, w, h, 8, 0), palette(256), rows(w, h, 8)))
    add("pal8 12 colours, indices past them", bmp(info_header(40, w, h, 8, 0, clrused=12), palette(12), rows(w, h, 8)))
    add("pal4", bmp(info_header(40, w, h, 4, 0), palette(16), rows(w, h, 4)))
    add("pal1", bmp(info_header(40, w, h, 1, 0), palette(2), rows(w, h, 1)))
    add("rgb16 BI_RGB (555)", bmp(info_header(40, w, h, 16, 0), pixels=rows(w, h, 16)))
    # BI_BITFIELDS.
    add("bf16 565", bmp(info_header(40, w, h, 16, 3), pixels=rows(w, h, 16), after_header=masks(0xF800, 0x7E0, 0x1F)))
    add("bf16 555", bmp(info_header(40, w, h, 16, 3), pixels=rows(w, h, 16), after_header=masks(0x7C00, 0x3E0, 0x1F)))
    add("bf16 444", bmp(info_header(40, w, h, 16, 3), pixels=rows(w, h, 16), after_header=masks(0xF00, 0xF0, 0xF)))
    add(
        "bf32 8-8-8 standard",
        bmp(info_header(40, w, h, 32, 3), pixels=rows(w, h, 32), after_header=masks(0xFF0000, 0xFF00, 0xFF)),
    )
    add(
        "bf32 8-8-8 other positions",
        bmp(info_header(40, w, h, 32, 3), pixels=rows(w, h, 32), after_header=masks(0xFF000000, 0xFF0000, 0xFF00)),
    )
    add(
        "bf32 11-11-10",
        bmp(info_header(40, w, h, 32, 3), pixels=rows(w, h, 32), after_header=masks(0xFFE00000, 0x1FFC00, 0x3FF)),
    )
    v5 = masks(0xFF0000, 0xFF00, 0xFF, 0xFF000000) + b"BGRs"
    add("v5 bf32 alpha mask", bmp(info_header(124, w, h, 32, 3, extra=v5), pixels=rows(w, h, 32)))
    v5_other = masks(0xFF000000, 0xFF0000, 0xFF00, 0xFF) + b"BGRs"
    add("v5 bf32 alpha mask, other positions", bmp(info_header(124, w, h, 32, 3, extra=v5_other), pixels=rows(w, h, 32)))
    for size, m in (
        (124, (0xFFE00000, 0x1FFC00, 0x3FF, 0)),
        (108, (0xFF00, 0xFF0000, 0xFF000000, 0)),
        (56, (0xFF, 0xFF00, 0xFF0000, 0)),
        (52, (0xFF000000, 0xFF0000, 0xFF00)),
        (124, (0xF0F, 0xF0, 0xFF0000, 0)),
        (124, (0x7, 0x38, 0x1C0, 0)),
        (124, (0xFFFFFFFF, 0xFF00, 0x3)),
        (124, (0xFF0000, 0, 0xFF, 0xFF000000)),
    ):
        mask_names = "-".join(f"{x:x}" for x in m)
        add(f"{size}-byte bf32 masks {mask_names}", bmp(info_header(size, w, h, 32, 3, extra=masks(*m)), pixels=rows(w, h, 32)))
    v4_565 = masks(0xF800, 0x7E0, 0x1F, 0) + b"BGRs"
    add("v4 bf16 565, masks in the header", bmp(info_header(108, w, h, 16, 3, extra=v4_565), pixels=rows(w, h, 16)))
    add("BI_ALPHABITFIELDS", bmp(info_header(40, w, h, 32, 6), pixels=rows(w, h, 32), after_header=v5[:16]))
    # Header sizes and planes.
    add("os2 v1 12-byte 24-bit", bmp(struct.pack("<IHHHH", 12, w, h, 1, 24), pixels=rows(w, h, 24)))
    os2_pal = b"".join(noise(3) for _ in range(256))
    add("os2 v1 12-byte 8-bit", bmp(struct.pack("<IHHHH", 12, w, h, 1, 8), os2_pal, rows(w, h, 8)))
    add("os2 v2 64-byte 24-bit", bmp(info_header(64, w, h, 24, 0), pixels=rows(w, h, 24)))
    add("os2 v2 64-byte 8-bit", bmp(info_header(64, w, h, 8, 0), palette(256), rows(w, h, 8)))
    add("os2 v2 16-byte", bmp(struct.pack("<IIIHH", 16, w, h, 1, 24), pixels=rows(w, h, 24)))
    add("66-byte header 24-bit", bmp(info_header(66, w, h, 24, 0), pixels=rows(w, h, 24)))
    add("planes=2 24-bit", bmp(info_header(40, w, h, 24, 0, planes=2), pixels=rows(w, h, 24)))
    add("planes=0 8-bit", bmp(info_header(40, w, h, 8, 0, planes=0), palette(256), rows(w, h, 8)))
    # RLE8: [count, index] runs, 0 0 end of line, 0 1 end of bitmap, 0 2 dx dy delta, 0 n absolute.
    p8 = palette(256)
    full8 = b"".join(bytes([4, 10 + y, 0, 5]) + bytes(range(y, y + 5)) + b"\0" + b"\0\0" for y in range(h)) + b"\0\1"
    for height, label in ((h, "bottom-up"), (-h, "top-down")):
        add(f"rle8 full {label}", bmp(info_header(40, w, height, 8, 1), p8, full8))
    delta8 = bytes([3, 7, 0, 2, 2, 1, 2, 9, 0, 0]) + bytes([9, 11, 0, 0]) + bytes([2, 12, 0, 2, 3, 2, 1, 13, 0, 1])
    add("rle8 delta and early end", bmp(info_header(40, w, h, 8, 1), p8, delta8))
    add("rle8 delta and early end top-down", bmp(info_header(40, w, -h, 8, 1), p8, delta8))
    add("rle8 end of lines only", bmp(info_header(40, w, h, 8, 1), p8, bytes([5, 3, 0, 0, 0, 0, 2, 4, 0, 1])))
    add("rle8 no end of bitmap", bmp(info_header(40, w, h, 8, 1), p8, bytes([9, 3] * h)))
    add("rle8 exact rows then end of lines", bmp(info_header(40, w, h, 8, 1), p8, bytes([9, 3, 0, 0] * h) + b"\0\1"))
    add("rle8 run past the row", bmp(info_header(40, w, h, 8, 1), p8, bytes([12, 3, 0, 1])))
    add("rle8 truncated", bmp(info_header(40, w, h, 8, 1), p8, bytes([5, 3, 0])))
    add("rle8 delta past the row", bmp(info_header(40, w, h, 8, 1), p8, bytes([0, 2, 12, 0, 2, 5, 0, 1])))
    # RLE4: [count, two indices] alternate, absolute runs of nibbles.
    p4 = palette(16)
    full4 = b"".join(bytes([4, 0x12 + y, 0, 5, 0x34, 0x56, 0x70, 0]) + b"\0\0" for y in range(h)) + b"\0\1"
    for height, label in ((h, "bottom-up"), (-h, "top-down")):
        add(f"rle4 full {label}", bmp(info_header(40, w, height, 4, 2), p4, full4))
    delta4 = bytes([3, 0x7A, 0, 2, 2, 1, 2, 0x9B, 0, 0, 9, 0x1C, 0, 0, 2, 0xD3, 0, 2, 3, 2, 1, 0x5E, 0, 1])
    add("rle4 delta and early end", bmp(info_header(40, w, h, 4, 2), p4, delta4))
    add("rle4 delta and early end top-down", bmp(info_header(40, w, -h, 4, 2), p4, delta4))
    delta4_full = bytes([3, 0x7A, 0, 2, 2, 1, 2, 0x9B, 0, 0]) + bytes([9, 0x1C, 0, 0]) * h
    add("rle4 delta, rows to the end", bmp(info_header(40, w, h, 4, 2), p4, delta4_full))
    add("rle4 absolute odd", bmp(info_header(40, w, h, 4, 2), p4, bytes([0, 5, 0x12, 0x34, 0x50, 0, 4, 0x66, 0, 0]) * h))
    add("rle4 early end", bmp(info_header(40, w, h, 4, 2), p4, bytes([5, 0x31, 0, 1])))
    add("rle4 early end then more", bmp(info_header(40, w, h, 4, 2), p4, bytes([5, 0x31, 0, 1]) + bytes([9, 0x42, 0, 0]) * h))
    add("rle4 run past the row", bmp(info_header(40, w, h, 4, 2), p4, bytes([12, 0x31, 0, 1])))
    # Refusals and truncation.
    add("rgb24 truncated", bmp(info_header(40, w, h, 24, 0), pixels=rows(w, h, 24)[:-5]))
    add("rle8 at 24-bit", bmp(info_header(40, w, h, 24, 1), pixels=rows(w, h, 24)))
    add("zero height", bmp(info_header(40, w, 0, 24, 0), pixels=rows(w, h, 24)))
    # What Pillow writes (the parity corpus's BMPs), small.
    src = Image.fromarray(np.frombuffer(noise(w * h * 3), np.uint8).reshape(h, w, 3))
    for label, image in (
        ("pillow rgb", src),
        ("pillow rgba", src.convert("RGBA")),
        ("pillow palette", src.quantize(200)),
        ("pillow greyscale", src.convert("L")),
        ("pillow 1-bit", src.convert("1")),
    ):
        buf = io.BytesIO()
        image.save(buf, "BMP")
        add(label, buf.getvalue())
    return out


def main():
    list_entries(write_fixture(cases(), OUT, "bmp", "bmp_cases.py"))


if __name__ == "__main__":
    main()
