"""Answer a challenge encounter file with any drafter and write the challenge prediction format.

``dermvqa predict --model ID_OR_PATH --input ENCOUNTERS.json --images DIR --output PRED.json``;
the result scores with ``dermvqa evaluate``. Encounters are drafted in batches (one ``generate``
per batch) with the same drafters the worker uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from dermvqa.data.challenge import Encounter, Prediction
from dermvqa.data.image_files import resolve_images
from dermvqa.drafting.base import Drafter, DraftRequest
from dermvqa.drafting.images import load_image
from dermvqa.errors import DataFormatError, ImageError

logger = logging.getLogger(__name__)

BLANK_SIZE = (336, 336)


@dataclass(frozen=True)
class PredictOptions:
    prompt_id: int = 1
    batch_size: int = 4
    lang: str = "en"
    missing_images: str = "error"  # error | blank
    max_pixels: int = 200_000_000
    max_side: int = 2048
    progress: bool = True


@dataclass(frozen=True)
class PredictReport:
    predictions: list[Prediction]
    failed: list[tuple[str, str]]  # (encounter id, error)


def encounter_request(encounter: Encounter, images_dir: Path | None, options: PredictOptions) -> DraftRequest:
    paths = resolve_images(encounter, images_dir) if images_dir else []
    images = []
    for path in paths:
        try:
            images.append(load_image(path, max_pixels=options.max_pixels, max_side=options.max_side))
        except ImageError as exc:
            raise DataFormatError(f"encounter {encounter.encounter_id}: image {path.name}: {exc}") from None
    if not images:
        if options.missing_images != "blank":
            raise DataFormatError(
                f"encounter {encounter.encounter_id}: no image found under {images_dir} "
                "(use --missing-images blank to answer from the text alone)"
            )
        images = [Image.new("RGB", BLANK_SIZE, (128, 128, 128))]
    return DraftRequest(encounter.encounter_id, images, encounter.query_text(options.lang), options.prompt_id)


def predict(
    encounters: Sequence[Encounter], images_dir: Path | None, drafter: Drafter, options: PredictOptions
) -> PredictReport:
    """Draft every encounter; a failed draft is an empty answer, listed in ``failed``."""
    predictions: list[Prediction] = []
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(encounters), desc="drafting", unit="case", disable=not options.progress)
    for start in range(0, len(encounters), options.batch_size):
        chunk = encounters[start : start + options.batch_size]
        requests = [encounter_request(e, images_dir, options) for e in chunk]
        for outcome in drafter.draft_batch(requests):
            if outcome.result is None:
                failed.append((outcome.key, f"{type(outcome.error).__name__}: {outcome.error}"))
                predictions.append(Prediction(outcome.key, ""))
            else:
                predictions.append(Prediction(outcome.key, outcome.result.text))
        bar.update(len(chunk))
    bar.close()
    return PredictReport(predictions, failed)
