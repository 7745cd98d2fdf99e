"""Turn stored photos into model inputs: decode safely, bound their size, combine several photos.

* A zero-byte file, a file that is not an image, or a truncated/corrupt image raises
  :class:`ImageError` with a specific reason; it is never retried (the bytes will not change).
* More than ``max_pixels`` pixels (a decompression bomb) is refused before decoding.
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

from PIL import Image, ImageOps

from dermvqa.errors import ImageError

MAX_GRID = 9


def load_image(source: str | Path | bytes, *, max_pixels: int, max_side: int) -> Image.Image:
    """Decode one photo as RGB, refusing empty, corrupt and oversized inputs with a clear reason."""
    data = source if isinstance(source, bytes) else _read(Path(source))
    if not data:
        raise ImageError("the image file is empty (0 bytes)")
    with warnings.catch_warnings():
        # We enforce our own pixel limit below; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageError(f"the image has too many pixels (limit {max_pixels:,})") from None
        except (OSError, SyntaxError, ValueError):
            raise ImageError("the file is not a readable image (unknown format or corrupt header)") from None
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(f"the image is {width}x{height}: more than the {max_pixels:,} pixel limit")
        if max(width, height) > max_side and image.format == "JPEG":
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
