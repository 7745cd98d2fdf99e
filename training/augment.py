"""Photo augmentations for fine-tuning, as in the seed paper, with Pillow (no torchvision).

The seed applied ``RandomOrder([RandomRotation(10), RandomHorizontalFlip(0.5), ColorJitter(0.1, 0.1, 0.1)])``.
Here the random draws are separated from the pixel work: :func:`sample_params` turns settings and a
seeded ``random.Random`` into plain :class:`AugmentParams`, and :func:`apply_params` applies them. The
generator is seeded by ``(seed, epoch, example key, photo index)``, so a run is reproducible whatever
the order, process or machine the examples are visited on, and every epoch sees new variants.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageEnhance

from dermvqa.config import TrainingConfig

OPS = ("rotate", "flip", "jitter")


@dataclass(frozen=True)
class AugmentSettings:
    rotation_deg: float = 10.0  # angle drawn uniformly from [-deg, +deg]
    hflip_p: float = 0.5
    jitter: float = 0.1  # brightness, contrast and saturation factors drawn from [1 - j, 1 + j]

    @classmethod
    def from_config(cls, training: TrainingConfig) -> AugmentSettings:
        return cls(training.augment_rotation_deg, training.augment_hflip_p, training.augment_jitter)

    @property
    def enabled(self) -> bool:
        return self.rotation_deg > 0 or self.hflip_p > 0 or self.jitter > 0


@dataclass(frozen=True)
class AugmentParams:
    angle: float = 0.0  # degrees, counter-clockwise
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    order: tuple[str, ...] = OPS

    @property
    def is_identity(self) -> bool:
        return self.angle == 0 and not self.flip and self.brightness == self.contrast == self.saturation == 1.0


def rng_for(seed: int, epoch: int, key: str, photo: int) -> random.Random:
    """A generator fixed by where the photo is used (string seeds hash with sha512: stable across runs)."""
    return random.Random(f"augment:{seed}:{epoch}:{key}:{photo}")


def sample_params(settings: AugmentSettings, rng: random.Random) -> AugmentParams:
    """Draw one photo's augmentation. Always draws the same number of values, so streams stay aligned."""
    angle = rng.uniform(-settings.rotation_deg, settings.rotation_deg)
    flip = rng.random() < settings.hflip_p
    j = settings.jitter
    brightness, contrast, saturation = (rng.uniform(1 - j, 1 + j) for _ in range(3))
    order = list(OPS)
    rng.shuffle(order)
    return AugmentParams(angle, flip, brightness, contrast, saturation, tuple(order))


def apply_params(image: Image.Image, params: AugmentParams) -> Image.Image:
    """The augmented photo (a new image; ``image`` is left unchanged)."""
    out = image.convert("RGB")
    for op in params.order:
        if op == "rotate" and params.angle != 0:
            # Same size, black corners: torchvision's RandomRotation defaults.
            out = out.rotate(params.angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=(0, 0, 0))
        elif op == "flip" and params.flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        elif op == "jitter":
            if params.brightness != 1.0:
                out = ImageEnhance.Brightness(out).enhance(params.brightness)
            if params.contrast != 1.0:
                out = ImageEnhance.Contrast(out).enhance(params.contrast)
            if params.saturation != 1.0:
                out = ImageEnhance.Color(out).enhance(params.saturation)
    return out  # convert() already made a copy


def augment(image: Image.Image, settings: AugmentSettings, *, seed: int, epoch: int, key: str, photo: int = 0):
    """One photo of one example in one epoch, augmented reproducibly."""
    if not settings.enabled:
        return image
    return apply_params(image, sample_params(settings, rng_for(seed, epoch, key, photo)))
