"""The image corpus for decoding parity: every kind of input the seed's OpenCV
decoding treats differently from PIL, generated here with PIL, OpenCV and
numpy (no downloads), plus real-world oddities built byte by byte.

Each entry is (name, bytes, kind) where kind is
  "lossless": the reference decodes it to the pixels clip_embed must give exactly;
  "lossy":    JPEG or lossy WebP: same libjpeg/libwebp family, within rounding;
  "partial":  a file with no single reference: OpenCV 4.10 decodes a truncated
              JPEG to different pixels past the cut on every call, so only
              clip_embed's determinism is checked;
Used by tests/parity/parity.py (embeddings through SQL) and tools/decode_check.py
(pixels, without Postgres).
"""

import io
import struct
import zlib

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageDraw


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


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png16(img, alpha=False):
    """A 16-bit RGB(A) PNG: each 8-bit sample v becomes v*257 plus noise in the low byte."""
    arr = np.asarray(img.convert("RGBA" if alpha else "RGB"), dtype=np.uint16) * 257
    arr = arr ^ (np.arange(arr.size, dtype=np.uint16).reshape(arr.shape) % 251)
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")


def with_alpha(img, seed):
    rgba = img.convert("RGBA")
    a = np.asarray(scene(*img.size, seed + 1000).convert("L"))
    rgba.putalpha(Image.fromarray(a))
    return rgba


def exif(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def cv_encode(ext, arr, *params):
    ok, buf = cv2.imencode(ext, arr, list(params))
    assert ok
    return buf.tobytes()


def tiff_bytes(arr, **kw):
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    return buf.getvalue()


def palette_colormap(img):
    """A PIL palette as TIFF's 3 x 256 16-bit colormap."""
    pal = np.zeros((256, 3), np.uint16)
    entries = np.asarray(img.getpalette(), np.uint16).reshape(-1, 3)[:256]
    pal[: len(entries)] = entries * 257
    return pal.T.copy()


def insert_before(data, marker, extra):
    i = data.index(marker)
    return data[:i] + extra + data[i:]


def noise16(w, h, channels, seed):
    rng = np.random.default_rng(seed)
    base = np.asarray(scene(w, h, seed).convert("RGB"), dtype=np.uint16) * 257
    arr = base[..., :channels] if channels > 1 else base[..., 0]
    return (arr ^ rng.integers(0, 256, arr.shape).astype(np.uint16)).astype(np.uint16)


def corpus():
    s = scene
    out = []

    def add(name, data, kind):
        out.append((name, data, kind))

    # JPEG: what libjpeg decodes, including what it only warns about.
    add("jpeg baseline 640x480", save(s(640, 480, 1), "JPEG", quality=90), "lossy")
    add("jpeg progressive 500x375", save(s(500, 375, 2), "JPEG", quality=85, progressive=True), "lossy")
    add("jpeg greyscale 300x400", save(s(300, 400, 3).convert("L"), "JPEG", quality=90), "lossy")
    add("jpeg cmyk 320x240", save(s(320, 240, 4).convert("CMYK"), "JPEG", quality=90), "lossy")
    add("jpeg portrait 333x517", save(s(333, 517, 5), "JPEG", quality=75), "lossy")
    add("jpeg q40 1024x768", save(s(1024, 768, 6), "JPEG", quality=40), "lossy")
    add("jpeg tiny 5x7", save(s(5, 7, 7), "JPEG", quality=95), "lossy")
    add("jpeg 4:4:4 257x255", save(s(257, 255, 8), "JPEG", quality=90, subsampling=0), "lossy")
    add("jpeg 4:2:2 opencv 300x200", cv_encode(".jpg", np.asarray(s(300, 200, 40))[..., ::-1],
                                               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
        "lossy")
    add("jpeg restart markers 320x240", save(s(320, 240, 41), "JPEG", quality=90, restart_marker_blocks=3), "lossy")
    add("jpeg large 2000x1500", save(s(2000, 1500, 36), "JPEG", quality=85), "lossy")
    for o in range(1, 9):
        add(f"jpeg exif orientation {o} 200x120", save(s(200, 120, 50 + o), "JPEG", quality=90, exif=exif(o)), "lossy")
    def jpeg(seed):
        return save(s(160, 120, seed), "JPEG", quality=90)

    add("jpeg junk before SOS", insert_before(jpeg(42), b"\xff\xda", b"\x00\x00junk"), "lossy")
    add("jpeg junk before DQT", insert_before(jpeg(86), b"\xff\xdb", b"\x00\x00\x00"), "lossy")
    # A 6-byte APP14 ("Adobe" cut short): libjpeg skips a marker it cannot parse.
    add("jpeg short APP14", insert_before(jpeg(87), b"\xff\xdb", b"\xff\xee\x00\x06Adob"), "lossy")
    truncated = jpeg(88)
    add("jpeg truncated to 70%", truncated[: len(truncated) * 7 // 10], "partial")
    # Ultra HDR: a primary JPEG with an MPF APP2, the gain map JPEG appended after EOI.
    gain = save(s(80, 60, 43).convert("L"), "JPEG", quality=80)
    mpf = b"\xff\xe2" + struct.pack(">H", 2 + 4 + 8) + b"MPF\x00" + b"MM\x00\x2a\x00\x00\x00\x08"
    primary = jpeg(89)
    add("jpeg ultra hdr (gain map appended)", primary[:2] + mpf + primary[2:] + gain, "lossy")
    # PNG: every colour type and depth.
    add("png rgb 401x299", save(s(401, 299, 9), "PNG"), "lossless")
    add("png rgb exact 224x224", save(s(224, 224, 10), "PNG"), "lossless")
    # Tall enough that Pillow 13 runs the vertical pass first in the shorter-side resize (300x900 -> 224x672).
    add("png tall 300x900", save(s(300, 900, 11), "PNG"), "lossless")
    add("png 16-bit rgb 200x300", png16(s(200, 300, 12)), "lossless")
    add("png 16-bit rgba 240x180", png16(s(240, 180, 13), alpha=True), "lossless")
    add("png 16-bit greyscale 270x190", cv_encode(".png", noise16(270, 190, 1, 37)), "lossless")
    add("png 16-bit grey+alpha 150x110", save(Image.fromarray(noise16(150, 110, 1, 44)), "PNG"), "lossless")
    add("png palette 310x230", save(s(310, 230, 14).quantize(64), "PNG"), "lossless")
    add("png palette+transparency 150x150", save(s(150, 150, 15).quantize(32), "PNG", transparency=3), "lossless")
    add("png greyscale 260x390", save(s(260, 390, 16).convert("L"), "PNG"), "lossless")
    add("png greyscale+alpha 280x210", save(with_alpha(s(280, 210, 17), 17).convert("LA"), "PNG"), "lossless")
    add("png rgba 350x250", save(with_alpha(s(350, 250, 18), 18), "PNG"), "lossless")
    add("png 1-bit 230x170", save(s(230, 170, 19).convert("1"), "PNG"), "lossless")
    add("png 4-bit palette 120x90", save(s(120, 90, 45).quantize(16), "PNG", bits=4), "lossless")
    add("png tiny 1x1", save(s(1, 1, 20), "PNG"), "lossless")
    add("png extreme 3x200", save(s(3, 200, 21), "PNG"), "lossless")
    add("png extreme 400x9", save(s(400, 9, 22), "PNG"), "lossless")
    for o in (3, 6, 8):
        add(f"png eXIf orientation {o} 210x130", save(s(210, 130, 60 + o), "PNG", exif=exif(o)), "lossless")
    frames = [s(120, 80, 46).convert("RGBA"), s(120, 80, 47).convert("RGBA")]
    add("png animated (APNG)", save(frames[0], "PNG", save_all=True, append_images=frames[1:]), "lossless")
    # WebP: OpenCV ignores its Exif.
    add("webp lossy 400x300", save(s(400, 300, 23), "WEBP", quality=80), "lossy")
    add("webp lossless 300x400", save(s(300, 400, 24), "WEBP", lossless=True), "lossless")
    add("webp lossless alpha 256x256", save(with_alpha(s(256, 256, 25), 25), "WEBP", lossless=True), "lossless")
    add("webp lossy alpha 200x160", save(with_alpha(s(200, 160, 48), 48), "WEBP", quality=80), "lossy")
    add("webp exif orientation 6 (not applied)", save(s(180, 120, 49), "WEBP", lossless=True, exif=exif(6)),
        "lossless")
    # GIF: OpenCV 4.10 has no GIF decoder; the reference falls back to PIL.
    add("gif 300x200", save(s(300, 200, 26).quantize(128), "GIF"), "lossless")
    add("gif animated 200x200", save(s(200, 200, 27).quantize(64), "GIF", save_all=True,
                                     append_images=[s(200, 200, 99).quantize(64)], duration=100), "lossless")
    add("gif greyscale 180x240", save(s(180, 240, 28).convert("L"), "GIF"), "lossless")
    # BMP.
    add("bmp 24-bit 321x241", save(s(321, 241, 29), "BMP"), "lossless")
    add("bmp 32-bit rgba 200x150", save(with_alpha(s(200, 150, 70), 70), "BMP"), "lossless")
    add("bmp 8-bit palette 200x150", save(s(200, 150, 30).quantize(200), "BMP"), "lossless")
    add("bmp greyscale 150x200", save(s(150, 200, 31).convert("L"), "BMP"), "lossless")
    add("bmp 1-bit 130x90", save(s(130, 90, 71).convert("1"), "BMP"), "lossless")
    # TIFF: what libtiff's RGBA interface reads, as OpenCV uses it.
    add("tiff rgb 300x300", save(s(300, 300, 32), "TIFF"), "lossless")
    add("tiff lzw 250x330", save(s(250, 330, 33), "TIFF", compression="tiff_lzw"), "lossless")
    add("tiff deflate 210x160", save(s(210, 160, 72), "TIFF", compression="tiff_adobe_deflate"), "lossless")
    add("tiff packbits 210x160", save(s(210, 160, 73), "TIFF", compression="packbits"), "lossless")
    add("tiff greyscale 330x250", save(s(330, 250, 34).convert("L"), "TIFF"), "lossless")
    add("tiff rgba 200x260", save(with_alpha(s(200, 260, 35), 35), "TIFF"), "lossless")
    add("tiff 16-bit rgb 180x140", cv_encode(".tiff", noise16(180, 140, 3, 74)), "lossless")
    add("tiff 16-bit greyscale 180x140", cv_encode(".tiff", noise16(180, 140, 1, 75)), "lossless")
    add("tiff 1-bit 160x120", save(s(160, 120, 76).convert("1"), "TIFF"), "lossless")
    add("tiff cmyk 160x120", save(s(160, 120, 77).convert("CMYK"), "TIFF"), "lossless")
    for o in (3, 6):
        add(f"tiff orientation {o} 170x110", save(s(170, 110, 80 + o), "TIFF", exif=exif(o)), "lossless")
    add("tiff palette 160x120", save(s(160, 120, 78).quantize(40), "TIFF"), "lossless")
    add("tiff jpeg-compressed ycbcr 160x128", save(s(160, 128, 18), "TIFF", compression="jpeg"), "lossy")
    add("tiff bigtiff 160x120", save(s(160, 120, 79), "TIFF", big_tiff=True), "lossless")
    add("tiff lab 160x120", save(s(160, 120, 85).convert("LAB"), "TIFF"), "lossless")
    # Read by libtiff here (the `tiff` crate refuses palette TIFFs): its orientation handling too.
    for o in (2, 5, 6, 7, 8):
        add(f"tiff palette orientation {o} 150x100", save(s(150, 100, 90 + o).quantize(50), "TIFF", exif=exif(o)),
            "lossless")
    rgb = np.asarray(s(200, 150, 98))
    add("tiff tiled 200x150", tiff_bytes(rgb, tile=(64, 64)), "lossless")
    add("tiff planar separate 200x150", tiff_bytes(np.moveaxis(np.asarray(s(200, 150, 100)), -1, 0), planarconfig="separate",
                                                   photometric="rgb"), "lossless")
    add("tiff tiled palette 200x150", tiff_bytes(np.asarray(s(200, 150, 99).quantize(20)), tile=(64, 64),
                                                 colormap=palette_colormap(s(200, 150, 99).quantize(20))),
        "lossless")
    return out
