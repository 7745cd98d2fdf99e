"""Augmentations (training.augment): parameters drawn within the configured ranges, deterministic under
a seed, applied with Pillow; checked on synthetic images."""

from __future__ import annotations

import random

import pytest
from PIL import Image

from dermvqa.config import TrainingConfig
from training.augment import OPS, AugmentParams, AugmentSettings, apply_params, augment, rng_for, sample_params


def halves(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", size, (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    return image


def pattern() -> Image.Image:
    """A deterministic, asymmetric test card."""
    image = Image.new("RGB", (48, 36))
    image.putdata([((x * 5) % 256, (y * 7) % 256, (x * y) % 256) for y in range(36) for x in range(48)])
    return image


def test_settings_come_from_the_training_config():
    s = AugmentSettings.from_config(TrainingConfig(augment_rotation_deg=7.0, augment_hflip_p=0.25, augment_jitter=0.2))
    assert s == AugmentSettings(7.0, 0.25, 0.2)
    assert not AugmentSettings(0, 0, 0).enabled


def test_parameters_stay_in_their_ranges_and_flip_at_the_configured_rate():
    settings = AugmentSettings(rotation_deg=10, hflip_p=0.3, jitter=0.1)
    rng = random.Random(5)
    draws = [sample_params(settings, rng) for _ in range(2000)]
    assert all(-10 <= p.angle <= 10 for p in draws)
    assert all(0.9 <= f <= 1.1 for p in draws for f in (p.brightness, p.contrast, p.saturation))
    assert all(sorted(p.order) == sorted(OPS) for p in draws)
    assert 0.26 < sum(p.flip for p in draws) / len(draws) < 0.34
    assert len({p.order for p in draws}) == 6  # every order of the three operations occurs (RandomOrder)
    assert min(p.angle for p in draws) < -9 and max(p.angle for p in draws) > 9


def test_draws_are_fixed_by_seed_epoch_key_and_photo():
    s = AugmentSettings()
    first = sample_params(s, rng_for(0, 1, "case:7", 0))
    assert sample_params(s, rng_for(0, 1, "case:7", 0)) == first
    others = [
        rng_for(1, 1, "case:7", 0),
        rng_for(0, 2, "case:7", 0),
        rng_for(0, 1, "case:8", 0),
        rng_for(0, 1, "case:7", 1),
    ]
    assert all(sample_params(s, rng) != first for rng in others)


def test_disabled_settings_change_nothing():
    image = halves()
    params = sample_params(AugmentSettings(0, 0, 0), random.Random(1))
    assert params.is_identity
    assert augment(image, AugmentSettings(0, 0, 0), seed=0, epoch=0, key="k") is image
    assert apply_params(image, params).tobytes() == image.tobytes()


def test_flip_mirrors_left_and_right():
    out = apply_params(halves(), AugmentParams(flip=True))
    assert out.getpixel((2, 10)) == (0, 0, 255) and out.getpixel((37, 10)) == (255, 0, 0)


def test_rotation_keeps_the_size_turns_counter_clockwise_and_fills_black():
    image = Image.new("RGB", (41, 41), (200, 200, 200))
    image.putpixel((35, 20), (255, 0, 0))  # right of the centre
    out = apply_params(image, AugmentParams(angle=90.0))
    assert out.size == image.size
    r, g, _ = out.getpixel((20, 5))  # now above the centre
    assert r > 150 and g < 100
    small = apply_params(Image.new("RGB", (40, 40), (200, 200, 200)), AugmentParams(angle=10.0))
    assert small.getpixel((0, 0)) == (0, 0, 0)  # a corner rotated in from outside


@pytest.mark.parametrize(("field", "factor"), [("brightness", 0.5), ("brightness", 1.5), ("contrast", 0.5)])
def test_colour_jitter_scales_as_asked(field, factor):
    image = Image.new("RGB", (8, 8), (100, 120, 140))
    image.paste((20, 40, 60), (0, 0, 4, 8))
    out = apply_params(image, AugmentParams(**{field: factor}))
    if field == "brightness":
        assert out.getpixel((6, 6)) == tuple(min(255, round(v * factor)) for v in (100, 120, 140))
    else:
        spread_in = image.getpixel((6, 6))[0] - image.getpixel((1, 1))[0]
        spread_out = out.getpixel((6, 6))[0] - out.getpixel((1, 1))[0]
        assert abs(spread_out - spread_in * factor) <= 2


def test_saturation_zero_gives_grey():
    out = apply_params(Image.new("RGB", (4, 4), (200, 50, 50)), AugmentParams(saturation=0.0))
    r, g, b = out.getpixel((1, 1))
    assert r == g == b


def test_augment_is_reproducible_and_varies_by_epoch():
    image = pattern()
    s = AugmentSettings(rotation_deg=15, hflip_p=0.5, jitter=0.2)
    a = augment(image, s, seed=3, epoch=0, key="case:1")
    assert a.tobytes() == augment(image, s, seed=3, epoch=0, key="case:1").tobytes()
    assert a.tobytes() != augment(image, s, seed=3, epoch=1, key="case:1").tobytes()
    assert a.size == image.size and a.mode == "RGB"
    assert image.tobytes() == pattern().tobytes()  # the input is left unchanged
