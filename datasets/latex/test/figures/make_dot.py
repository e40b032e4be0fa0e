#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write figures/dot.png: a 32x32 RGB image of a filled blue dot.

Standard library only (zlib + struct); the output is byte-for-byte
deterministic. Run from anywhere:  python3 make_dot.py
"""

import os
import struct
import zlib

SIZE = 32
HERE = os.path.dirname(os.path.abspath(__file__))


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def dot_png(size: int = SIZE) -> bytes:
    centre = (size - 1) / 2.0
    radius = size * 0.4
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type 0 (None) for every scanline
        for x in range(size):
            inside = (x - centre) ** 2 + (y - centre) ** 2 <= radius ** 2
            row += bytes((33, 102, 172)) if inside else bytes((255, 255, 255))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    with open(os.path.join(HERE, "dot.png"), "wb") as fh:
        fh.write(dot_png())
