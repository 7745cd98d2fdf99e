"""Chosen answers per family <-> the challenge's JSON object for one encounter.

The gold files fill a multi-answer family's ids in order: the chosen options first
(``CQID011-001`` = first site, ``CQID011-002`` = second site...), then "Not mentioned" in every
remaining id. A family that is not answered at all is "Not mentioned" in every id. The scorer
turns each family into a set, so the order of the chosen options does not change a score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dermvqa.closedqa.questions import Family, load_families
from dermvqa.closedqa.scorer import ENCOUNTER_KEY
from dermvqa.errors import DataFormatError


def _answers_of(family: Family, indices: Sequence[int]) -> tuple[int, ...]:
    """The distinct chosen options (first-seen order) other than "Not mentioned", validated."""
    kept: list[int] = []
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(family.options):
            raise DataFormatError(f"{family.id}: option {index!r} is not one of 0..{len(family.options) - 1}")
        if index != family.not_mentioned and index not in kept:
            kept.append(index)
    if len(kept) > len(family.qids):
        raise DataFormatError(f"{family.id}: {len(kept)} answers chosen, at most {len(family.qids)} allowed")
    return tuple(kept)


def encounter_json(
    encounter_id: str, chosen: Mapping[str, Sequence[int]], families: Sequence[Family] | None = None
) -> dict:
    """The challenge's object for one encounter: every qid of every family, unanswered -> "Not mentioned".

    ``chosen`` maps a family id (``CQID011``) to its chosen option indices; a single-answer family
    takes exactly one. Raises :class:`DataFormatError` for an unknown family or an invalid index.
    """
    families = tuple(families) if families is not None else load_families()
    known = {family.id for family in families}
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise DataFormatError(f"unknown question families: {', '.join(unknown)}")
    obj: dict = {ENCOUNTER_KEY: encounter_id}
    for family in families:
        answers = _answers_of(family, chosen.get(family.id, ()))
        padded = answers + (family.not_mentioned,) * (len(family.qids) - len(answers))
        obj.update(zip(family.qids, padded, strict=True))
    return obj


def chosen_from_json(obj: Mapping, families: Sequence[Family] | None = None) -> dict[str, tuple[int, ...]]:
    """The inverse of :func:`encounter_json`: each family's distinct answers other than "Not mentioned".

    A family whose only value is "Not mentioned" (or whose ids are absent) is left out. Raises
    :class:`DataFormatError` for an index outside the family's options.
    """
    families = tuple(families) if families is not None else load_families()
    family_by_qid = {qid: family for family in families for qid in family.qids}
    values: dict[str, list[int]] = {}
    for key, value in obj.items():
        if key == ENCOUNTER_KEY:
            continue
        if key not in family_by_qid:
            raise DataFormatError(f"{key}: not a question id of the closed questions")
        values.setdefault(family_by_qid[key].id, []).append(value)
    chosen = {}
    for family in families:
        answers = _answers_of(family, values.get(family.id, ()))
        if answers:
            chosen[family.id] = answers
    return chosen
