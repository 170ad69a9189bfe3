"""Writes the hostile image files of tests/hostile/hostile.py (issue 14) into a folder.

Small on disk, costly to decode. Built byte by byte with the standard library
(zlib, struct): PIL refuses most of them. Deterministic: the same bytes on
every run, so a file already present is kept (--force rewrites).

  scan-bomb-9000.jpg   progressive JPEG, 8192x8192 YCbCr 4:4:4, 9,000 scans. SOI, DQT,
                       SOF2, DHT, then 9,000 DC scan headers (SOS) with no entropy-coded
                       data between them, EOI. libjpeg warns "premature end of data
                       segment" once per scan and fills zeros, but still visits all
                       3 x 1,048,576 blocks in every scan. 126 KB.
  scan-bomb-600.jpg    the same with 600 scans (over libjpeg-turbo's 500-scan limit).
  png-wrap-19173962x1.png, png-wrap-76695845x1.png
                       8-bit greyscale, one row of zeros: 224 x width wraps a u32
                       (224 x 19,173,962 = 2^32 + 192). 19 KB and 75 KB.
  png-wide-1048576x1.png
                       the same at OpenCV's largest side (CV_IO_MAX_IMAGE_WIDTH): no wrap,
                       but its 224-high resize has 235 M pixels, over max_image_pixels. 1 KB.
  png16-rgba-9400.png  9,400 x 9,400 16-bit RGBA of one colour: 707 MB of samples, 0.75 MB.
  tiff-tile-bomb.tif   1,048,576 x 16 8-bit RGB, planar (libtiff's path), in 16,112 x 16,112
                       Deflate tiles (198, three planes): 16.7 M pixels, but 51 GB for libtiff
                       to inflate, every tile pointing at the same zeros. 1.1 MB.
  small.png            64 x 48 RGB gradient: a harmless image for load and thread cases.
  large.png            3,000 x 3,000 RGB gradient: 27 MB decoded, for the memory an idle
                       backend keeps. 0.1 MB.

Usage: hostile_files.py OUT_DIR [--force]
"""

import argparse
import os
import struct
import zlib

JPEG_SIZE = 8192
# Annex K's luminance DC table: code lengths 2..9 bits for categories 0..11.
DC_BITS = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
DC_VALUES = bytes(range(12))


def segment(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def scan_bomb_jpeg(scans, size=JPEG_SIZE):
    """A progressive JPEG whose scans carry no data: each is a DC-first scan of the
    three components (Ss = Se = Ah = Al = 0), so repeating it is not even a
    progression warning; only the missing data is."""
    dqt = segment(0xDB, b"\x00" + bytes([1] * 64))
    components = b"".join(bytes([c, 0x11, 0]) for c in (1, 2, 3))
    sof2 = segment(0xC2, struct.pack(">BHHB", 8, size, size, 3) + components)
    dht = segment(0xC4, b"\x00" + DC_BITS + DC_VALUES)
    # Ns = 3, each component on DC table 0; Ss = 0, Se = 0, Ah/Al = 0.
    sos = segment(0xDA, b"\x03" + b"".join(bytes([c, 0x00]) for c in (1, 2, 3)) + b"\x00\x00\x00")
    return b"\xff\xd8" + dqt + sof2 + dht + sos * scans + b"\xff\xd9"


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_of_rows(width, height, bit_depth, colour_type, row):
    """A PNG whose every row is `row` (its filter byte first), compressed as a stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    z = zlib.compressobj(9)
    parts = [z.compress(row) for _ in range(height)]
    parts.append(z.flush())
    idat = b"".join(parts)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def wrapping_png(width):
    """width x 1, 8-bit greyscale, all zeros."""
    return png_of_rows(width, 1, 8, 0, bytes(1 + width))


def deep_rgba_png(side=9400):
    """side x side, 16-bit RGBA, one colour in every pixel. Each row is Sub-filtered
    (filter 1): the first pixel, then zeros, which deflate packs at its 1032:1 best."""
    pixel = struct.pack(">4H", 0x1234, 0x5678, 0x9ABC, 0xFFFF)
    return png_of_rows(side, side, 16, 6, b"\x01" + pixel + bytes(8 * (side - 1)))


def small_png(width=64, height=48):
    rows = [bytes(v for x in range(width) for v in ((x * 4) % 256, (y * 5) % 256, (x + y) % 256))
            for y in range(height)]
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9)) + \
        png_chunk(b"IEND", b"")


def tile_bomb_tiff(tile=16112, width=1 << 20, height=16):
    """Little-endian TIFF: one Deflate tile of zeros that every tile entry of the
    three planes points at; header, data, BitsPerSample, offsets, counts, IFD."""
    data = zlib.compress(bytes(tile * tile), 1)
    tiles = -(-width // tile) * -(-height // tile) * 3
    blob = bytearray(b"II*\0\0\0\0\0")
    data_at = len(blob)
    blob += data
    bits_at = len(blob)
    blob += struct.pack("<3H", 8, 8, 8)
    offsets_at = len(blob)
    blob += struct.pack(f"<{tiles}I", *[data_at] * tiles)
    counts_at = len(blob)
    blob += struct.pack(f"<{tiles}I", *[len(data)] * tiles)
    blob += bytes(len(blob) % 2)
    struct.pack_into("<I", blob, 4, len(blob))
    # (tag, type, count, value): ImageWidth, ImageLength, BitsPerSample, Compression (Deflate),
    # Photometric (RGB), SamplesPerPixel, PlanarConfiguration (separate), TileWidth, TileLength,
    # TileOffsets, TileByteCounts.
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits_at), (259, 3, 1, 8), (262, 3, 1, 2),
               (277, 3, 1, 3), (284, 3, 1, 2), (322, 4, 1, tile), (323, 4, 1, tile),
               (324, 4, tiles, offsets_at), (325, 4, tiles, counts_at)]
    blob += struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        blob += struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == 3 and count == 1 else \
            struct.pack("<HHII", tag, kind, count, value)
    blob += struct.pack("<I", 0)
    return bytes(blob)


def large_png(side=3000):
    """side x side 8-bit RGB; each row Sub-filtered from a pixel that depends on the row."""
    def row(y):
        return b"\x01" + bytes(((y * 7) % 256, (y * 3) % 256, 200)) + bytes([1, 0, 255]) * (side - 1)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row(y)) for y in range(side)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


FILES = {
    "scan-bomb-9000.jpg": lambda: scan_bomb_jpeg(9000),
    "scan-bomb-600.jpg": lambda: scan_bomb_jpeg(600),
    "png-wrap-19173962x1.png": lambda: wrapping_png(19_173_962),
    "png-wrap-76695845x1.png": lambda: wrapping_png(76_695_845),
    "png-wide-1048576x1.png": lambda: wrapping_png(1 << 20),
    "png16-rgba-9400.png": deep_rgba_png,
    "small.png": small_png,
    "large.png": large_png,
    "tiff-tile-bomb.tif": tile_bomb_tiff,
}


def write_all(out, force=False):
    """Writes every file into `out` (kept if present, unless force); returns {name: path}."""
    os.makedirs(out, exist_ok=True)
    paths = {}
    for name, make in FILES.items():
        path = os.path.join(out, name)
        if force or not os.path.exists(path):
            temp = f"{path}.tmp-{os.getpid()}"
            with open(temp, "wb") as f:
                f.write(make())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        paths[name] = path
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("out")
    ap.add_argument("--force", action="store_true", help="rewrite files already present")
    args = ap.parse_args()
    for name, path in write_all(args.out, args.force).items():
        print(f"{os.path.getsize(path):>10,} bytes  {name}")


if __name__ == "__main__":
    main()
