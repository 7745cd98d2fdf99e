"""Hostile image files built cheaply for tests: a decompression bomb and formats we never open."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 13_000, height: int = 13_000) -> bytes:
    """A valid black-and-white PNG of ``width`` x ``height`` (169 megapixels by default) that
    compresses to about 20 KB: decoding it in RGB would take over 0.5 GB."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + one bit per pixel
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def encoded(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    """A small image saved by Pillow in ``fmt`` (TIFF, GIF, BMP, WEBP, PNG, JPEG...)."""
    buf = io.BytesIO()
    Image.new(mode, size, (120, 60, 30) if mode == "RGB" else 0).save(buf, format=fmt)
    return buf.getvalue()


# An Encapsulated PostScript file: Pillow's EPS plugin would hand it to Ghostscript when decoded.
EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 30\n%%EndComments\n"
    b"newpath 0 0 moveto 40 30 lineto stroke\nshowpage\n%%EOF\n"
)
