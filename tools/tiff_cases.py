"""TIFF layouts OpenCV 4.10 reads that our decoder once got wrong or refused
(16-bit with associated alpha, big-endian 16-bit, tiled + planar), with what
`cv2.imdecode(buf, cv2.IMREAD_COLOR)` returns for each (RGB, or None).

Writes crates/clip_embed_core/tests/data/tiff_cases.json, which the core's
tests/opencv_decode.rs checks pixel for pixel: [{"name", "tiff": hex, "expected": null
or {"width", "height", "rgb": hex}}]. The files are written here byte by byte
(tifffile cannot LZW-compress without imagecodecs), 37x23 pixels so that
32x32 tiles and 8-row strips both end part-filled. Not here, as we do not
match OpenCV there: 16-bit greyscale tiles that end part-filled (OpenCV's
16-bit tile path steps rows by the part's width, not the tile's, and reads
padding), and uncompressed tiles whose size a plane is not a multiple of 1024
bytes, which imdecode refuses (libtiff's unmapped reads round its buffer up to
1024 bytes, then find the byte count wrong). Run with the reference venv:
    /var/tmp/clip_embed/venv/bin/python tools/tiff_cases.py [--check]
"""

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import tifffile

from opencv_cases import list_entries, write_fixture

OUT = Path(__file__).resolve().parent.parent / "crates/clip_embed_core/tests/data/tiff_cases.json"
RNG = np.random.default_rng(1818)
W, H, TILE, ROWS = 37, 23, 32, 8


def lzw(data):
    """TIFF LZW (MSB-first codes, the code width grows one code early)."""
    bits, nbits = 0, 0
    out = bytearray()

    def put(code, width):
        nonlocal bits, nbits
        bits, nbits = (bits << width) | code, nbits + width
        while nbits >= 8:
            nbits -= 8
            out.append((bits >> nbits) & 0xFF)

    def reset():
        return {bytes([i]): i for i in range(256)}, 258, 9

    table, next_code, width = reset()
    put(256, width)
    w = b""
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        put(table[w], width)
        table[wc] = next_code
        next_code += 1
        if next_code == 1 << width and width < 12:
            width += 1
        if next_code == 4094:
            put(256, width)
            table, next_code, width = reset()
        w = bytes([byte])
    if w:
        put(table[w], width)
        next_code += 1
        if next_code == 1 << width and width < 12:
            width += 1
    put(257, width)
    if nbits:
        out.append((bits << (8 - nbits)) & 0xFF)
    return bytes(out)


def tiff(pixels, order="<", planar=False, tiled=False, compress=False, extra=None, photometric=2, predictor=False):
    """A one-image TIFF of `pixels` (H x W x S, uint8 or uint16), written as asked
    (`predictor`: horizontal differencing, Predictor = 2, on whole rows of strips)."""
    height, width, spp = pixels.shape
    bits = pixels.dtype.itemsize * 8
    if predictor:
        pixels = np.concatenate([pixels[:, :1], np.diff(pixels, axis=1)], axis=1)
    data = pixels.astype(pixels.dtype.newbyteorder(order))
    planes = [data[:, :, s : s + 1] for s in range(spp)] if planar else [data]
    chunks = []
    for plane in planes:
        if tiled:
            for y in range(0, height, TILE):
                for x in range(0, width, TILE):
                    tile = np.zeros((TILE, TILE, plane.shape[2]), plane.dtype)
                    part = plane[y : y + TILE, x : x + TILE]
                    tile[: part.shape[0], : part.shape[1]] = part
                    chunks.append(tile.tobytes())
        else:
            chunks += [plane[y : y + ROWS].tobytes() for y in range(0, height, ROWS)]
    if compress:
        chunks = [lzw(c) for c in chunks]
    body = bytearray(b"\0" * 8)
    offsets = []
    for c in chunks:
        offsets.append(len(body))
        body += c + (b"\0" if len(c) % 2 else b"")
    entries = [
        (256, 4, [width]),
        (257, 4, [height]),
        (258, 3, [bits] * spp),
        (259, 3, [5 if compress else 1]),
        (262, 3, [photometric]),
        (277, 3, [spp]),
        (284, 3, [2 if planar else 1]),
    ]
    if tiled:
        entries += [(322, 4, [TILE]), (323, 4, [TILE]), (324, 4, offsets), (325, 4, [len(c) for c in chunks])]
    else:
        entries += [(273, 4, offsets), (278, 4, [ROWS]), (279, 4, [len(c) for c in chunks])]
    if extra is not None:
        entries.append((338, 3, [extra]))
    if predictor:
        entries.append((317, 3, [2]))
    entries.sort()
    # Values over 4 bytes go after the IFD.
    ifd_at = len(body)
    after = ifd_at + 2 + 12 * len(entries) + 4
    ifd, spill = bytearray(struct.pack(order + "H", len(entries))), bytearray()
    for tag, kind, values in entries:
        fmt = order + ("H" if kind == 3 else "I") * len(values)
        raw = struct.pack(fmt, *values)
        if len(raw) <= 4:
            field = raw + b"\0" * (4 - len(raw))
        else:
            field = struct.pack(order + "I", after + len(spill))
            spill += raw
        ifd += struct.pack(order + "HHI", tag, kind, len(values)) + field
    ifd += b"\0\0\0\0"
    header = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, ifd_at)
    body[:8] = header
    return bytes(body + ifd + spill)


def noise(spp, dtype):
    top = 256 if dtype == np.uint8 else 65536
    return RNG.integers(0, top, (H, W, spp), dtype=np.int64).astype(dtype)


def cases():
    out = []
    for dtype, bits in ((np.uint8, 8), (np.uint16, 16)):
        rgb, rgba = noise(3, dtype), noise(4, dtype)
        for order, label in (("<", "II"), (">", "MM")):
            for tiled in (False, True):
                layout = "tiled" if tiled else "strips"
                for planar in (False, True):
                    arrangement = "planar" if planar else "chunky"
                    for compress in (False, True):
                        codec = "lzw" if compress else "raw"
                        name = f"rgb{bits} {label} {layout} {arrangement} {codec}"
                        # 8-bit samples have no byte order: a few MM files suffice.
                        if bits == 8 and order == ">" and tiled != planar:
                            continue
                        out.append((name, tiff(rgb, order, planar, tiled, compress)))
            for extra, kind in ((1, "associated"), (2, "unassociated"), (0, "unspecified")):
                for tiled, planar, compress in ((False, False, False), (False, True, False), (True, True, True)):
                    layout = ("tiled" if tiled else "strips") + (" planar" if planar else " chunky")
                    layout += " lzw" if compress else " raw"
                    if bits == 8 and order == ">" and (extra != 1 or planar):
                        continue
                    out.append((f"rgba{bits} {label} {kind} {layout}", tiff(rgba, order, planar, tiled, compress, extra)))
            out.append((f"rgba{bits} {label} no ExtraSamples strips chunky", tiff(rgba, order)))
            out.append((f"rgb{bits} {label} strips chunky lzw predictor", tiff(rgb, order, compress=True, predictor=True)))
        grey = noise(1, dtype)
        for order, label in (("<", "II"), (">", "MM")):
            out.append((f"grey{bits} {label} strips", tiff(grey, order, photometric=1)))
            if bits == 8:
                out.append((f"grey{bits} {label} tiled lzw", tiff(grey, order, tiled=True, compress=True, photometric=1)))
    # What tifffile writes (one strip, its own tag order), as the issue measured them.
    rgb16, rgba16 = noise(3, np.uint16), noise(4, np.uint16)
    for order, label in (("<", "II"), (">", "MM")):
        for planar in (False, True):
            arrangement = "planar" if planar else "chunky"
            for data, kw in ((rgb16, {}), (rgba16, {"extrasamples": ["assocalpha"]})):
                buf = io.BytesIO()
                pixels = data.transpose(2, 0, 1) if planar else data
                config = "separate" if planar else "contig"
                tifffile.imwrite(buf, pixels, photometric="rgb", planarconfig=config, byteorder=order, **kw)
                kind = "rgba16 associated" if kw else "rgb16"
                out.append((f"tifffile {kind} {label} {arrangement}", buf.getvalue()))
    # LZW checked against the data it encodes (OpenCV reads it back exactly).
    sample = noise(3, np.uint8)
    back = cv2.imdecode(np.frombuffer(tiff(sample, compress=True), np.uint8), cv2.IMREAD_COLOR)
    assert back is not None and (back[:, :, ::-1] == sample).all(), "LZW encoder"
    return out


def main():
    list_entries(write_fixture(cases(), OUT, "tiff", "tiff_cases.py"))


if __name__ == "__main__":
    main()
