"""A case's structured-intake answers: the questions' state and the challenge's JSON, on the case row.

Both live in columns of ``cases`` (``questionnaire``, ``closed_qa``), so they go wherever the case
goes: erased with it (``/delete``, retention), never left behind. Runs inside the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dermvqa.closedqa.answers import chosen_from_json, encounter_json
from dermvqa.errors import DataFormatError
from dermvqa.storage.models import Case


def encounter_id(case_id: int) -> str:
    """The case's id in the challenge's JSON: no dash (the scorer reads the id up to the first dash)."""
    return f"CASE{case_id:05d}"


def save_answers(case: Case, state: dict[str, Any], chosen: Mapping[str, Sequence[int]]) -> None:
    """Store the questions' state (plain JSON) and the answers that count, as the challenge's object
    (every question id present, unanswered ones "Not mentioned")."""
    case.questionnaire = state
    case.closed_qa = encounter_json(encounter_id(case.id), chosen)


def chosen_answers(closed_qa: dict[str, Any] | None) -> dict[str, tuple[int, ...]]:
    """The answered families of a stored object ({} when none was stored, or it no longer reads)."""
    if not closed_qa:
        return {}
    try:
        return chosen_from_json(closed_qa)
    except DataFormatError:
        return {}
