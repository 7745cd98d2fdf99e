"""Answer the closed questions of challenge encounters: the text extractor, then (optionally) a VLM, then a default.

``dermvqa predict-closed --split valid --out closed.json`` (text only) or with ``--images DIR
--model ID`` (the drafting VLM is asked every family the text leaves open, one multiple-choice
prompt per family, see :mod:`dermvqa.closedqa.asking`). A family neither answers gets the
default: the train split's most frequent option per question id (``--fallback majority``, the
default: 0.692 on valid with the extractor, against 0.265 for ``--fallback not-mentioned``) or
"Not mentioned". The output scores with ``dermvqa evaluate-closed``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dermvqa.closedqa.answers import chosen_from_json, encounter_json
from dermvqa.closedqa.asking import choice_prompt, parse_choice
from dermvqa.closedqa.extractor import extract
from dermvqa.closedqa.files import load_closed_file, split_files
from dermvqa.closedqa.questions import Family, load_families
from dermvqa.data.challenge import Encounter, load_encounters
from dermvqa.data.image_files import resolve_images
from dermvqa.drafting.base import Drafter, DraftRequest
from dermvqa.drafting.images import load_image
from dermvqa.errors import ImageError
from dermvqa.prompts import RAW_PROMPT_ID

logger = logging.getLogger(__name__)

FALLBACKS = ("majority", "not-mentioned")


@dataclass(frozen=True)
class ClosedPredictOptions:
    fallback: str = "majority"  # majority | not-mentioned
    lang: str = "en"
    max_pixels: int = 200_000_000
    max_side: int = 2048


@dataclass
class ClosedPredictReport:
    """The prediction objects and where their answers came from (counts of families)."""

    objects: list[dict] = field(default_factory=list)
    from_text: int = 0
    from_model: int = 0
    unparsed: int = 0  # model replies that named no option: the family took the default
    failed: int = 0  # model requests that failed (or images that could not be read)
    defaulted: int = 0


def encounter_text(encounter: Encounter, lang: str = "en") -> str:
    """Title and content on two lines: what the extractor reads."""
    return "\n".join(part for part in (encounter.title.get(lang, ""), encounter.content.get(lang, "")) if part)


def _ask_model(
    encounter: Encounter,
    open_families: Sequence[Family],
    images_dir: Path,
    drafter: Drafter,
    options: ClosedPredictOptions,
    report: ClosedPredictReport,
) -> dict[str, tuple[int, ...]]:
    """One batch per encounter: a multiple-choice request for every family the text left open."""
    try:
        images = [
            load_image(path, max_pixels=options.max_pixels, max_side=options.max_side)
            for path in resolve_images(encounter, images_dir)
        ]
    except ImageError:
        report.failed += len(open_families)
        return {}
    if not images:
        return {}
    query = encounter.query_text(options.lang)
    requests = [
        DraftRequest(f"{encounter.encounter_id}|{family.id}", images, choice_prompt(family, query), RAW_PROMPT_ID)
        for family in open_families
    ]
    by_key = {request.key: family for request, family in zip(requests, open_families, strict=True)}
    answers: dict[str, tuple[int, ...]] = {}
    for outcome in drafter.draft_batch(requests):
        family = by_key[outcome.key]
        if outcome.result is None:
            report.failed += 1
            continue
        chosen = parse_choice(outcome.result.text, family)
        if chosen is None:
            report.unparsed += 1
        else:
            answers[family.id] = chosen
    return answers


def predict_closed(
    encounters: Sequence[Encounter],
    majority: Mapping[str, int],
    options: ClosedPredictOptions = ClosedPredictOptions(),
    images_dir: Path | None = None,
    drafter: Drafter | None = None,
) -> ClosedPredictReport:
    """One challenge object per encounter, answered by text, then the model (if given), then the default."""
    families = load_families()
    default = chosen_from_json({"encounter_id": "", **majority}) if options.fallback == "majority" else {}
    report = ClosedPredictReport()
    for encounter in encounters:
        chosen = extract(encounter_text(encounter, options.lang))
        report.from_text += len(chosen)
        open_families = [family for family in families if family.id not in chosen]
        if drafter is not None and images_dir is not None and open_families:
            answered = _ask_model(encounter, open_families, images_dir, drafter, options, report)
            report.from_model += len(answered)
            chosen.update(answered)
        for family in families:
            if family.id not in chosen:
                report.defaulted += 1
                if family.id in default:
                    chosen[family.id] = default[family.id]
        report.objects.append(encounter_json(encounter.encounter_id, chosen, families))
    logger.info(
        "closed questions: %d families from text, %d from the model (%d unparsed, %d failed), %d defaulted",
        report.from_text, report.from_model, report.unparsed, report.failed, report.defaulted,
    )  # fmt: skip
    return report


def split_encounters(split: str) -> list[Encounter]:
    """The DermaVQA encounters of a MEDIQA-MAGIC 2025 split (those its gold file answers), from ``../shared``."""
    queries, gold = split_files(split)
    wanted = {obj["encounter_id"] for obj in load_closed_file(gold)}
    return [encounter for encounter in load_encounters(queries) if encounter.encounter_id in wanted]
