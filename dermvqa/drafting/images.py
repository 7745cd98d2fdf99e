"""Turn stored photos into model inputs: decode safely, bound their size, combine several photos.

* A zero-byte file, a file that is not an image, or a truncated/corrupt image raises
  :class:`ImageError` with a specific reason; it is never retried (the bytes will not change).
* Only JPEG, PNG and WebP are opened (Pillow's other parsers, EPS, PSD, TIFF..., never see a
  patient's file): anything else raises :class:`UnsupportedImageFormat`.
* More than ``max_pixels`` pixels (a decompression bomb) is refused from the header, before
  anything is decoded (:class:`ImageTooLarge`).
* A large photo is scaled down so its longer side is at most ``max_side`` (JPEG is decoded at a
  reduced scale directly, so a 12000x12000 photo never occupies 432 MB).
* Several photos, for a model that takes one image (``[model] multi_image``):
  ``grid`` (default) tiles up to 9 photos into one square-ish image so the model sees all of them;
  ``first`` uses the first photo only; ``all`` passes every photo (for multi-image models; a
  one-image model then gets a grid anyway).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageOps

from dermvqa.errors import ImageError, ImageTooLarge, UnsupportedImageFormat


class PhotoSource(Protocol):
    """Anything that reads a photo's bytes on demand: a stored photo (decrypted in memory,
    :class:`dermvqa.storage.image_store.StoredPhoto`) or a :class:`Path`."""

    def read_bytes(self) -> bytes: ...


MAX_GRID = 9
# The formats a photo may be in; Pillow opens nothing else (``Image.open(formats=...)``).
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
_SIGNATURES = {"JPEG": (b"\xff\xd8\xff",), "PNG": (b"\x89PNG\r\n\x1a\n",), "WEBP": (b"RIFF",)}


def sniff_format(data: bytes) -> str | None:
    """The accepted format ``data`` starts like (by its signature bytes), or None."""
    for fmt, signatures in _SIGNATURES.items():
        if data.startswith(signatures) and (fmt != "WEBP" or data[8:12] == b"WEBP"):
            return fmt
    return None


def open_image(data: bytes, *, max_pixels: int, formats: Sequence[str] = ALLOWED_FORMATS) -> Image.Image:
    """Open a photo reading only its header: its format must be one of ``formats`` and its pixel count
    at most ``max_pixels``. Nothing is decoded; raises :class:`ImageError` (or a subclass)."""
    with warnings.catch_warnings():
        # We enforce our own pixel limit below; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(formats))
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"the image has too many pixels (limit {max_pixels:,})") from None
        except (OSError, SyntaxError, ValueError):
            if sniff_format(data) is None:
                raise UnsupportedImageFormat(
                    "the file is not a readable image in an accepted format (JPEG, PNG or WebP)"
                ) from None
            raise ImageError("the file is not a readable image (corrupt header)") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLarge(f"the image is {width}x{height}: more than the {max_pixels:,} pixel limit")
    return image


def load_image(source: str | Path | bytes | PhotoSource, *, max_pixels: int, max_side: int) -> Image.Image:
    """Decode one photo as RGB, refusing empty, corrupt and oversized inputs with a clear reason.

    ``source``: the photo's bytes, a file path (a plain image file: the base corpus, ``predict``), or a
    stored photo (``ImageStore.photo(name)``: read and decrypted in memory)."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        data = _read(Path(source))
    else:
        data = source.read_bytes()
    if not data:
        raise ImageError("the image file is empty (0 bytes)")
    image = open_image(data, max_pixels=max_pixels)  # format and pixel count from the header only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        width, height = image.size
        if max(width, height) > max_side and image.format in ("JPEG", "MPO"):
            image.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
        try:
            image.load()
        except (OSError, SyntaxError, ValueError):
            raise ImageError("the image data is corrupt or truncated") from None
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError("the image file is missing from storage") from None


def grid(images: Sequence[Image.Image], cell: int = 448) -> Image.Image:
    """Tile up to 9 photos into one image, each letterboxed into a ``cell`` x ``cell`` square."""
    images = list(images)[:MAX_GRID]
    if len(images) == 1:
        return images[0]
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    canvas = Image.new("RGB", (cols * cell, rows * cell), (255, 255, 255))
    for i, image in enumerate(images):
        tile = ImageOps.contain(image, (cell, cell))
        x = (i % cols) * cell + (cell - tile.width) // 2
        y = (i // cols) * cell + (cell - tile.height) // 2
        canvas.paste(tile, (x, y))
    return canvas


def combine(images: Sequence[Image.Image], policy: str, max_images: int) -> list[Image.Image]:
    """The images one request passes to a model taking at most ``max_images`` images."""
    if not images:
        raise ImageError("the case has no usable photo")
    if policy == "first":
        return [images[0]]
    if policy == "all" and len(images) <= max_images:
        return list(images)
    if len(images) == 1:
        return [images[0]]
    return [grid(images)]
