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
from dermvqa.errors import DataFormatError, ImageError, UsageError

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


def _preview(ids: Sequence[str], limit: int = 10) -> str:
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def check_images(encounters: Sequence[Encounter], images_dir: Path | None, options: PredictOptions) -> None:
    """Before drafting anything: every encounter has an image (unless ``blank``) and every image opens.

    Raises one error that counts and names every problem, by encounter id and file name only, so a
    run never stops half-way on the 40th encounter. Reads image headers, not pixels.
    """
    if images_dir is None:
        if options.missing_images != "blank":
            raise UsageError(
                "no --images folder given; give one, or --missing-images blank to answer from the text alone"
            )
        return
    if not Path(images_dir).is_dir():
        raise UsageError(f"--images {images_dir}: no such folder")
    missing: list[str] = []
    unreadable: list[str] = []
    for encounter in encounters:
        paths = resolve_images(encounter, images_dir)
        if not paths and options.missing_images != "blank":
            missing.append(encounter.encounter_id)
        for path in paths:
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except Image.DecompressionBombError:
                unreadable.append(f"{encounter.encounter_id}/{path.name} (too many pixels)")
                continue
            except (OSError, SyntaxError, ValueError):
                unreadable.append(f"{encounter.encounter_id}/{path.name} (not a readable image)")
                continue
            if width * height > options.max_pixels:
                unreadable.append(f"{encounter.encounter_id}/{path.name} ({width}x{height}: too many pixels)")
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} of {len(encounters)} encounter(s) have no image in the --images folder: "
            f"{_preview(missing)} (use --missing-images blank to answer those from the text alone)"
        )
    if unreadable:
        problems.append(f"{len(unreadable)} image(s) cannot be used: {_preview(unreadable)}")
    if problems:
        raise DataFormatError("; ".join(problems))


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
                f"encounter {encounter.encounter_id}: no image found in the --images folder "
                "(use --missing-images blank to answer from the text alone)"
            )
        images = [Image.new("RGB", BLANK_SIZE, (128, 128, 128))]
    return DraftRequest(encounter.encounter_id, images, encounter.query_text(options.lang), options.prompt_id)


def predict(
    encounters: Sequence[Encounter], images_dir: Path | None, drafter: Drafter, options: PredictOptions
) -> PredictReport:
    """Draft every encounter; a failed draft is an empty answer, listed in ``failed``.

    Call :func:`check_images` first: an image that still cannot be decoded here (truncated data)
    fails only its own encounter, so the answers drafted so far are kept.
    """
    predictions: list[Prediction] = []
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(encounters), desc="drafting", unit="case", disable=not options.progress)
    for start in range(0, len(encounters), options.batch_size):
        chunk = encounters[start : start + options.batch_size]
        requests, texts = [], {}
        for encounter in chunk:
            try:
                requests.append(encounter_request(encounter, images_dir, options))
            except DataFormatError as exc:
                failed.append((encounter.encounter_id, f"{type(exc).__name__}: {exc}"))
                texts[encounter.encounter_id] = ""
        for outcome in drafter.draft_batch(requests) if requests else ():
            if outcome.result is None:
                failed.append((outcome.key, f"{type(outcome.error).__name__}: {outcome.error}"))
            texts[outcome.key] = outcome.result.text if outcome.result is not None else ""
        predictions += [Prediction(e.encounter_id, texts[e.encounter_id]) for e in chunk]
        bar.update(len(chunk))
    bar.close()
    return PredictReport(predictions, failed)
