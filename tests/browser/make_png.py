"""Writes a 48×40 RGB gradient PNG (not 32×32, so that the page's resize and crop are exercised).

Standard library only: used by tests/browser/run.sh and bench/browser.sh as the known image.
Usage: python3 make_png.py OUT.png
"""
import struct
import sys
import zlib

width, height = 48, 40
rows = b"".join(
    b"\x00" + bytes(v for x in range(width) for v in (x * 5 % 256, y * 6 % 256, (x * y) % 256))
    for y in range(height)
)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


png = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(rows))
    + chunk(b"IEND", b"")
)
with open(sys.argv[1], "wb") as f:
    f.write(png)
