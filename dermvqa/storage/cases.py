"""Case rows: state changes as compare-and-set through the pure rules of ``dermvqa.states``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dermvqa.states import CaseState, case_sources, check_case_transition
from dermvqa.storage.models import Case, CaseImage
from dermvqa.storage.outbox import CASE_FAILED, add_message


def transition(
    session: Session,
    case_id: int,
    target: CaseState,
    *,
    expected: Iterable[CaseState] | None = None,
    **values: Any,
) -> bool:
    """Move one case to ``target`` if it is in an allowed (and ``expected``) state.

    Returns False when the case was not in such a state (someone else acted first): the caller
    tells its user instead of acting twice. Extra column ``values`` are set in the same UPDATE.
    """
    allowed = case_sources(target)
    if expected is not None:
        expected = frozenset(CaseState(s) for s in expected)
        for state in expected:
            check_case_transition(state, target)  # a programming error if it can never happen
        allowed &= expected
    result = session.execute(
        update(Case).where(Case.id == case_id, Case.state.in_(list(allowed))).values(state=target, **values)
    )
    return result.rowcount == 1


def transition_many(session: Session, case_ids: Sequence[int], target: CaseState) -> int:
    """Move cases to ``target`` where allowed; how many moved. Core: no case object is kept in step
    (its callers load none), and the ORM's bookkeeping cost the worker's claim most of its write lock."""
    if not case_ids:
        return 0
    cases = Case.__table__
    result = session.connection().execute(
        update(cases)
        .where(cases.c.id.in_(list(case_ids)), cases.c.state.in_(list(case_sources(target))))
        .values(state=target)
    )
    return result.rowcount or 0


def mark_failed(session: Session, case_id: int, reason: str) -> bool:
    """Drafting gave up on a case: mark it failed (with why) and tell the clinicians."""
    if not transition(session, case_id, CaseState.FAILED, failure=reason):
        return False
    add_message(session, CASE_FAILED, case_id=case_id, payload={"reason": reason})
    return True


@dataclass(frozen=True)
class DraftInput:
    """What the worker needs to draft one case."""

    case_id: int
    state: CaseState
    description: str
    prompt_id: int
    image_hashes: tuple[str, ...]
    submitted_at: dt.datetime | None
    closed_qa: dict | None = None  # the structured intake's answers (the challenge's JSON), if any


def load_draft_inputs(session: Session, case_ids: Sequence[int]) -> dict[int, DraftInput]:
    cases = session.scalars(select(Case).where(Case.id.in_(list(case_ids)))).all()
    images: dict[int, list[str]] = {}
    for case_id, sha in session.execute(
        select(CaseImage.case_id, CaseImage.sha256)
        .where(CaseImage.case_id.in_(list(case_ids)))
        .order_by(CaseImage.case_id, CaseImage.position)
    ):
        images.setdefault(case_id, []).append(sha)
    return {
        c.id: DraftInput(
            case_id=c.id,
            state=CaseState(c.state),
            description=c.description or "",
            prompt_id=c.prompt_id,
            image_hashes=tuple(images.get(c.id, ())),
            submitted_at=c.submitted_at,
            closed_qa=c.closed_qa,
        )
        for c in cases
    }
