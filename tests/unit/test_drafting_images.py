from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from dermvqa.drafting.images import combine, grid, load_image
from dermvqa.errors import ImageError


def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def test_decodes_and_converts_to_rgb():
    image = load_image(encode(Image.new("L", (40, 30), 100), "PNG"), max_pixels=10**6, max_side=100)
    assert (image.mode, image.size) == ("RGB", (40, 30))


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty (0 bytes)"),
        (b"this is not an image at all", "not a readable image"),
        (encode(Image.effect_noise((200, 200), 64).convert("RGB"))[:2000], "corrupt or truncated"),
    ],
)
def test_bad_inputs_have_specific_reasons(data, needle):
    with pytest.raises(ImageError, match=re.escape(needle)):
        load_image(data, max_pixels=10**6, max_side=100)


def test_pixel_limit_refuses_before_decoding():
    with pytest.raises(ImageError, match="more than the 10,000 pixel limit"):
        load_image(encode(Image.new("RGB", (200, 100))), max_pixels=10_000, max_side=100)


def test_large_photo_is_scaled_down():
    image = load_image(encode(Image.new("RGB", (3000, 1500), (9, 9, 9))), max_pixels=10**8, max_side=512)
    assert max(image.size) <= 512 and image.size[0] == 2 * image.size[1]


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (60, 20))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert load_image(buf.getvalue(), max_pixels=10**6, max_side=1000).size == (20, 60)


def test_grid_and_policies():
    photos = [Image.new("RGB", (50, 80), (i * 40, 0, 0)) for i in range(3)]
    tiled = grid(photos, cell=100)
    assert tiled.size == (200, 200)  # 2 x 2 cells for 3 photos
    assert combine(photos, "grid", 1)[0].size == (2 * 448, 2 * 448)
    assert combine(photos, "first", 1) == [photos[0]]
    assert combine(photos, "all", 4) == photos
    assert len(combine(photos, "all", 1)) == 1
    assert combine(photos[:1], "grid", 1) == [photos[0]]
    with pytest.raises(ImageError, match="no usable photo"):
        combine([], "grid", 1)
