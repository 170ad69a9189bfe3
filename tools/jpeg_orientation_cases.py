"""Small JPEGs whose EXIF orientation OpenCV 4.10 finds its own way, with what
`cv2.imdecode(buf, cv2.IMREAD_COLOR)` returns for each (RGB).

OpenCV's JPEG decoder hands the first APP1 segment before the first scan to
its ExifReader, 6 bytes in, whatever the segment's signature: an XMP APP1
ahead of the Exif one hides the orientation, and the EXIF of an appended Ultra
HDR gain map is never read. Each case is a 24x16 image with four coloured
quadrants, so a rotation or flip shows, and APP segments built by hand.

Writes crates/clip_embed_core/tests/data/jpeg_orientation_cases.json, which
the core's tests/opencv_decode.rs checks pixel for pixel: [{"name", "jpeg":
hex, "expected": {"width", "height", "rgb": hex}}]. Run with the reference venv:
    /var/tmp/clip_embed/venv/bin/python tools/jpeg_orientation_cases.py [--check]
"""

import struct
from pathlib import Path

import cv2
import numpy as np

from opencv_cases import write_fixture

OUT = Path(__file__).resolve().parent.parent / "crates/clip_embed_core/tests/data/jpeg_orientation_cases.json"
W, H = 24, 16


def picture(progressive=False):
    """A baseline (or progressive) JPEG of four quadrants, as OpenCV encodes it."""
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[: H // 2, : W // 2] = (0, 0, 255)
    bgr[: H // 2, W // 2 :] = (0, 255, 0)
    bgr[H // 2 :, : W // 2] = (255, 0, 0)
    bgr[H // 2 :, W // 2 :] = (0, 255, 255)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)]
    ok, buf = cv2.imencode(".jpg", bgr, params)
    assert ok
    return buf.tobytes()


def segment(marker, payload):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def app1(payload):
    return segment(0xE1, payload)


def tiff(entries, order="II", mark=42):
    """A TIFF header and one IFD of (tag, type, count, value field bytes), then 16 bytes of data."""
    e = "<" if order == "II" else ">"
    ifd = struct.pack(e + "H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack(e + "HHI", tag, kind, count) + value
    return order.encode()[:2] + struct.pack(e + "HI", mark, 8) + ifd + b"\0\0\0\0" + bytes(range(16))


def short(value, order="II"):
    e = "<" if order == "II" else ">"
    return struct.pack(e + "HH", value, 0)


def exif(orientation, order="II"):
    return b"Exif\0\0" + tiff([(0x0112, 3, 1, short(orientation, order))], order)


XMP = b"http://ns.adobe.com/xap/1.0/\0" + b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><hdrgm:Version>1.0</hdrgm:Version></x:xmpmeta>'
# An MPF APP2 as Ultra HDR writers put in the primary image (its index IFD left empty).
MPF = segment(0xE2, b"MPF\0" + b"MM\0\x2a\0\0\0\x08" + b"\0\0" + b"\0\0\0\0")
JFIF = segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")


def after_soi(jpeg, *segments):
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def before(jpeg, marker, *segments, nth=0):
    """`segments` inserted before the `nth` occurrence of the two marker bytes."""
    at = -1
    for _ in range(nth + 1):
        at = jpeg.index(marker, at + 1)
    return jpeg[:at] + b"".join(segments) + jpeg[at:]


def cases():
    base = picture()
    out = []

    def add(name, data):
        out.append((name, data))

    add("no APP1", base)
    for o in range(1, 9):
        add(f"Exif orientation {o}", after_soi(base, app1(exif(o))))
    add("Exif orientation 6, big-endian", after_soi(base, app1(exif(6, "MM"))))
    # Ultra HDR: the primary image, then the gain map JPEG appended after its EOI.
    gain = after_soi(picture(), app1(exif(6)))
    add("ultra hdr: primary without Exif, gain map Exif 6", after_soi(base, MPF, app1(XMP)) + gain)
    add("ultra hdr: primary Exif 1, gain map Exif 6", after_soi(base, app1(exif(1)), MPF, app1(XMP)) + gain)
    add("ultra hdr: primary Exif 8, gain map Exif 6", after_soi(base, app1(exif(8)), MPF, app1(XMP)) + gain)
    add("ultra hdr: XMP, then Exif 1, gain map Exif 6", after_soi(base, app1(XMP), app1(exif(1)), MPF) + gain)
    add("ultra hdr: XMP, then Exif 6 after MPF", after_soi(base, app1(XMP), MPF, app1(exif(6))) + gain)
    add("Exif 6 segment after EOI", base + app1(exif(6)))
    # Which APP1: the first, whatever it holds.
    add("XMP, then Exif 6", after_soi(base, app1(XMP), app1(exif(6))))
    add("Exif 6, then XMP", after_soi(base, app1(exif(6)), app1(XMP)))
    add("Exif 1, then Exif 6", after_soi(base, app1(exif(1)), app1(exif(6))))
    add("Exif 6, then Exif 1", after_soi(base, app1(exif(6)), app1(exif(1))))
    add("Exif 6 after APP0 and MPF APP2", after_soi(base, JFIF, MPF, app1(exif(6))))
    add("Exif 6 after the MPF APP2", after_soi(base, MPF, app1(exif(6))))
    add("Exif 6 between DQT and SOF", before(base, b"\xff\xc0", app1(exif(6))))
    add("Exif 6 just before SOS", before(base, b"\xff\xda", app1(exif(6))))
    add("Exif 6 in a COM-led header", after_soi(base, segment(0xFE, b"comment"), app1(exif(6))))
    progressive = picture(progressive=True)
    add("progressive: Exif 6 before the second scan", before(progressive, b"\xff\xda", app1(exif(6)), nth=1))
    add("progressive: Exif 3 first, Exif 6 before the second scan",
        before(after_soi(progressive, app1(exif(3))), b"\xff\xda", app1(exif(6)), nth=1))
    add("empty APP1, then Exif 6", after_soi(base, app1(b""), app1(exif(6))))
    add("APP1 of 6 bytes, then Exif 6", after_soi(base, app1(b"Exif\0\0"), app1(exif(6))))
    add("APP1 with junk after Exif, then Exif 6", after_soi(base, app1(b"Exif\0\0JUNKJUNK"), app1(exif(6))))
    add("APP1 'Exix' signature with a TIFF orientation 6", after_soi(base, app1(b"Exix\0\0" + exif(6)[6:])))
    add("APP1 'abcdef' prefix with a TIFF orientation 5", after_soi(base, app1(b"abcdef" + exif(5)[6:])))
    # The TIFF inside, as OpenCV's ExifReader reads it.
    add("byte order 'AB' read big-endian", after_soi(base, app1(b"Exif\0\0" + b"AB" + tiff([(0x0112, 3, 1, short(6, "MM"))], "MM")[2:])))
    add("byte order 'IM' read big-endian", after_soi(base, app1(b"Exif\0\0" + b"IM" + tiff([(0x0112, 3, 1, short(6, "MM"))], "MM")[2:])))
    add("tag mark 43", after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 3, 1, short(6))], mark=43))))
    add("orientation 9", after_soi(base, app1(exif(9))))
    add("orientation 0", after_soi(base, app1(exif(0))))
    add("orientation 0x106 (low byte 6)", after_soi(base, app1(exif(0x106))))
    add("orientation as LONG 6, little-endian", after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 4, 1, struct.pack("<I", 6))]))))
    add("orientation as LONG 6, big-endian", after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 4, 1, struct.pack(">I", 6))], "MM"))))
    add("two orientation entries, 6 then 3", after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 3, 1, short(6)), (0x0112, 3, 1, short(3))]))))
    add("Make in range, then orientation 6",
        after_soi(base, app1(b"Exif\0\0" + tiff([(0x010F, 2, 6, struct.pack("<I", 8)), (0x0112, 3, 1, short(6))]))))
    add("Make past the data, then orientation 6",
        after_soi(base, app1(b"Exif\0\0" + tiff([(0x010F, 2, 60, struct.pack("<I", 8)), (0x0112, 3, 1, short(6))]))))
    add("XResolution past the data, then orientation 6",
        after_soi(base, app1(b"Exif\0\0" + tiff([(0x011A, 5, 1, struct.pack("<I", 4000)), (0x0112, 3, 1, short(6))]))))
    add("ReferenceBlackWhite reaching past the data, then orientation 6",
        after_soi(base, app1(b"Exif\0\0" + tiff([(0x0214, 5, 6, struct.pack("<I", 30)), (0x0112, 3, 1, short(6))]))))
    add("unknown tags and ExifIFD pointer, then orientation 7",
        after_soi(base, app1(b"Exif\0\0" + tiff([(0x0100, 3, 1, short(24)), (0x8769, 4, 1, struct.pack("<I", 9999)),
                                                 (0x0112, 3, 1, short(7))]))))
    add("orientation 6, then entries cut off",
        after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 3, 1, short(6))])[:8] + struct.pack("<H", 40)
                             + tiff([(0x0112, 3, 1, short(6))])[10:22])))
    add("entry count past the data", after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 3, 1, short(6))])[:8] + b"\xff")))
    add("IFD offset past the data", after_soi(base, app1(b"Exif\0\0" + b"II*\0" + struct.pack("<I", 5000))))
    add("orientation value cut off", after_soi(base, app1(b"Exif\0\0" + tiff([(0x0112, 3, 1, short(6))])[:19])))
    return out


def main():
    entries = write_fixture(cases(), OUT, "jpeg", "jpeg_orientation_cases.py", refusals_allowed=False)
    if entries is None:
        return
    upright = cv2.cvtColor(cv2.imdecode(np.frombuffer(picture(), np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for name, e in ((entry["name"], entry["expected"]) for entry in entries):
        rgb = np.frombuffer(bytes.fromhex(e["rgb"]), np.uint8).reshape(e["height"], e["width"], 3)
        turned = next((f"orientation {o}" for o, t in ORIENTED.items() if t(upright).shape == rgb.shape
                       and (t(upright) == rgb).all()), "?")
        print(f"{name:62} {e['width']}x{e['height']} {turned}")


ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}

if __name__ == "__main__":
    main()
