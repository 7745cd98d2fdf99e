"""What a photo must be before it costs anything: JPEG, PNG or WebP only, a bounded pixel count read
from the header (nothing decoded), and documents judged by what Telegram says before downloading."""

from __future__ import annotations

import pytest
from PIL import Image
from support.images import EPS, bomb_png, encoded

from dermvqa.casework.intake import Refusal, check_document
from dermvqa.drafting.images import load_image, open_image, sniff_format
from dermvqa.errors import ImageError, ImageTooLarge, UnsupportedImageFormat


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_three_accepted_formats_decode(fmt, decoded):
    image = load_image(encoded(fmt), max_pixels=10**6, max_side=100)
    assert (image.mode, image.size) == ("RGB", (40, 30))
    assert set(decoded) == {(40, 30)}  # the spy sees decoding


@pytest.mark.parametrize(
    "data", [EPS, encoded("TIFF"), encoded("GIF", mode="P"), encoded("BMP"), b"8BPS\x00\x01" + b"\x00" * 64]
)
def test_other_formats_are_never_opened(data, decoded, monkeypatch):
    opened: list[str] = []
    real_open = Image.open

    def spy_open(fp, mode="r", formats=None):
        opened.append(",".join(formats or ["ANY"]))
        return real_open(fp, mode, formats)

    monkeypatch.setattr(Image, "open", spy_open)
    with pytest.raises(UnsupportedImageFormat, match=r"accepted format \(JPEG, PNG or WebP\)"):
        load_image(data, max_pixels=10**6, max_side=100)
    assert opened == ["JPEG,PNG,WEBP"] and decoded == []


def test_a_decompression_bomb_is_refused_from_its_header(decoded):
    bomb = bomb_png()  # 13000 x 13000: 169 megapixels in about 20 KB
    assert len(bomb) < 50_000
    with pytest.raises(ImageTooLarge, match="13000x13000: more than the 40,000,000 pixel limit"):
        load_image(bomb, max_pixels=40_000_000, max_side=2048)
    with pytest.raises(ImageTooLarge):
        open_image(bomb, max_pixels=40_000_000)
    assert decoded == []  # not one pixel decoded


def test_corrupt_data_in_an_accepted_format_is_told_apart_from_a_foreign_format():
    with pytest.raises(ImageError, match="corrupt header") as error:
        load_image(b"\xff\xd8\xff\xe0 definitely not a jpeg", max_pixels=10**6, max_side=100)
    assert not isinstance(error.value, UnsupportedImageFormat)
    assert sniff_format(encoded("WEBP")) == "WEBP" and sniff_format(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert sniff_format(encoded("PNG")) == "PNG" and sniff_format(EPS) is None


@pytest.mark.parametrize(
    ("mime", "name", "code"),
    [
        ("image/jpeg", "a.jpg", None),
        ("image/png", None, None),
        ("image/webp", "x.webp", None),
        (None, "photo.JPG", None),
        ("application/octet-stream", "photo.png", None),
        ("image/tiff", "scan.tiff", "unsupported_format"),
        ("application/postscript", "rash.eps", "unsupported_format"),
        ("image/vnd.adobe.photoshop", "rash.psd", "unsupported_format"),
        ("application/octet-stream", "rash.psd", "unsupported_format"),
        ("image/gif", "a.gif", "unsupported_format"),
        ("image/heic", "IMG_1.HEIC", "unsupported_format"),
        ("application/pdf", "report.pdf", "not_an_image_type"),
        (None, None, "not_an_image_type"),
    ],
)
def test_documents_are_judged_before_downloading(mime, name, code):
    expected = None if code is None else Refusal(code)
    assert check_document(mime, name) == expected
