"""A photo as it is stored: re-encoded without its metadata (pure: bytes in, bytes out, no I/O).

A patient's photo file carries more than the picture: EXIF (the camera's make and model, serial
numbers, the date, GPS coordinates), XMP (editing history, sometimes names), an ICC colour profile
(with free-text description and copyright tags) and PNG text chunks. None of it helps a clinician or
the model, and GPS alone can locate the patient's home, so nothing of it is kept:

* the photo is decoded from memory (the original bytes are never written to disk) and its EXIF
  orientation applied first (``ImageOps.exif_transpose``), so the stored picture is upright without
  the tag that said how to turn it;
* a photo with an ICC profile is converted to sRGB (its colours kept, which matters for skin) and
  stored without the profile; if the profile cannot be used it is dropped;
* it is re-encoded with no EXIF, XMP, ICC, comment or text chunk:

  - JPEG (and MPO, a multi-picture JPEG: its first picture) stays JPEG, quality 92 (visually lossless;
    the sizes stay comparable to a phone's own JPEGs);
  - PNG stays PNG (lossless; palette transparency is kept);
  - WebP stays WebP, lossy at quality 92 (photos; Telegram and the model read WebP as before).

  An animated PNG or WebP keeps its first frame. Re-encoding the same photo gives the same bytes, so a
  photo sent twice is still stored once.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from dermvqa.drafting.images import open_image
from dermvqa.errors import ImageError

JPEG_QUALITY = 92
WEBP_QUALITY = 92
MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Where the re-encoded photo goes (MPO: a multi-picture JPEG; its first picture becomes a plain JPEG).
_OUTPUT_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_JPEG_MODES = ("L", "RGB", "CMYK")
_ALPHA_MODES = ("RGBA", "LA", "PA")


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    width: int
    height: int
    mime_type: str


def clean_photo(data: bytes, *, max_pixels: int) -> CleanPhoto:
    """Decode ``data`` in full (refusing what :func:`open_image` refuses, and corrupt or truncated
    data) and re-encode it upright, in sRGB, without metadata. Raises :class:`ImageError`."""
    if not data:
        raise ImageError("the image file is empty (0 bytes)")
    with open_image(data, max_pixels=max_pixels) as image:  # format and pixel count from the header
        source_format = image.format or ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                image.load()  # full decode: catches truncation and corrupt data
                upright = ImageOps.exif_transpose(image)
            except (OSError, SyntaxError, ValueError):
                raise ImageError("the image data is corrupt or truncated") from None
    output = _OUTPUT_FORMAT.get(source_format)
    if output is None:  # open_image admits only JPEG, PNG and WebP
        raise ImageError("the image is in a format that is not stored")
    transparency = upright.info.get("transparency") if output == "PNG" else None
    picture = _to_srgb(upright)
    buffer = io.BytesIO()
    if output == "JPEG":
        if picture.mode not in _JPEG_MODES:
            picture = picture.convert("RGB")
        picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, exif=b"", icc_profile=None)
    elif output == "PNG":
        extra = {"transparency": transparency} if transparency is not None and picture.mode in ("P", "L", "RGB") else {}
        picture.save(buffer, format="PNG", **extra)
    else:
        if picture.mode not in ("RGB", "RGBA"):
            picture = picture.convert("RGBA" if picture.mode in _ALPHA_MODES else "RGB")
        picture.save(buffer, format="WEBP", quality=WEBP_QUALITY, exif=b"", icc_profile=None, xmp=b"")
    return CleanPhoto(buffer.getvalue(), picture.width, picture.height, MIME_BY_FORMAT[output])


def _to_srgb(image: Image.Image) -> Image.Image:
    """``image`` (a copy the caller owns) with its ICC profile applied (converted to sRGB) and every
    metadata field gone."""
    icc = image.info.get("icc_profile")
    picture = image
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGBA" if image.mode in _ALPHA_MODES or "transparency" in image.info else "RGB"
            if image.mode not in ("RGB", "RGBA", "CMYK", "L"):
                image = image.convert(mode)
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=mode)
            if converted is not None:
                picture = converted
        except Exception:  # a broken or unusual profile: keep the pixels as they are, drop the profile
            picture = image
    picture.info = {}  # EXIF, XMP, ICC, comments, PNG text chunks: the encoders fall back to info
    return picture
