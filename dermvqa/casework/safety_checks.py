"""Safety checks, database side: plant a faulty draft in a case's review post, settle it when a
clinician acts on that post, and count the catch rate (the rules: ``dermvqa.casework.canaries``).

How a check runs:

* Planting (``Planter``, called by the worker when it stores a draft, in the same transaction): with
  probability ``[review] canary_rate``, and never on an urgent case, a ``SafetyCheck`` row records
  the planted text, which real draft it stands in for, the item id and the list version. The review
  request carries the check's id (``payload["safety_check"]``), and so does each clinician's copy.
  The real draft stays in ``drafts``, untouched.
* Showing: the post of such a request shows the planted text (``dermvqa.casework.review.post_detail``);
  its buttons name the real draft, but every press is first matched to its post: a planted post's
  buttons never approve, edit or reject the case.
* Settling: Approve on a planted post is a miss, Edit or Reject a catch; either way nothing is sent
  to the patient (no Edit text is ever asked for), the planted posts are closed with what was
  wrong, and the real draft is posted again for a real review. Regenerate, or any decision taken on
  a real post meanwhile, marks the check superseded.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.casework import canaries, kinds
from dermvqa.casework.canaries import CanaryList, CatchRate
from dermvqa.casework.posts import SAFETY_CHECK, PostRef, review_posts
from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, SafetyCheck
from dermvqa.storage.outbox import add_message


def plant_check(
    session: Session,
    case_id: int,
    draft_id: int,
    rate: float,
    draws: tuple[float, float],
    canary_list: CanaryList,
) -> SafetyCheck | None:
    """Plant a faulty draft for this case's new draft when the first draw falls under ``rate`` (the
    second picks the item); never on an urgent case. Returns the stored check, or None."""
    if rate <= 0 or not canaries.should_plant(rate, draws[0]):
        return None
    case = session.get(Case, case_id)
    if case is None or case.urgent:
        return None
    planted = canaries.plant(canary_list, case.description or "", draws[1])
    check = SafetyCheck(
        case_id=case_id,
        draft_id=draft_id,
        canary_id=planted.canary_id,
        list_version=planted.version,
        kind=planted.kind,
        planted_text=planted.text,
        explanation=planted.explanation,
        outcome=canaries.PENDING,
    )
    session.add(check)
    session.flush()
    return check


class Planter:
    """What the worker hands to ``save_draft``: given the session, case and new draft, the extra payload
    of the review request (``{"safety_check": id}`` when this post is a safety check, else nothing)."""

    def __init__(
        self, rate: float, draw: Callable[[], float] = random.random, canary_list: CanaryList | None = None
    ) -> None:
        self.rate, self.draw = rate, draw
        # Read (and validated) at the worker's start when checks are on, so a broken list stops it at once.
        self.canary_list = canary_list or (canaries.load_canaries() if rate > 0 else CanaryList("", ()))

    def __call__(self, session: Session, case_id: int, draft_id: int) -> dict[str, Any]:
        if self.rate <= 0:
            return {}
        check = plant_check(session, case_id, draft_id, self.rate, (self.draw(), self.draw()), self.canary_list)
        return {SAFETY_CHECK: check.id} if check is not None else {}


def _close_planted_posts(session: Session, check: SafetyCheck, note: str) -> None:
    for post in review_posts(session, check.case_id):
        if (post.payload or {}).get(SAFETY_CHECK) == check.id:
            add_message(
                session,
                kinds.REVIEW_UPDATE,
                chat_id=post.chat_id,
                case_id=check.case_id,
                payload={"post_id": post.id, "outcome": note},
            )


def _note(check: SafetyCheck, ending: str) -> str:
    return (
        "SAFETY CHECK: this draft was planted by the service to test the review; it was not sent to the "
        f"patient. What was wrong: {check.explanation} {ending}"
    )


def resolve(
    session: Session, check: SafetyCheck, action: str, clinician_id: int, post: PostRef, now: dt.datetime
) -> str | None:
    """A press of ``action`` on the check's ``post``: its outcome, or None when the check was already over.

    A miss or a catch closes the planted posts with what was wrong and posts the real draft again
    (nothing is ever sent to the patient from a planted post); Regenerate only closes them.
    """
    outcome = canaries.outcome_after(check.outcome, action)
    if outcome is None:
        return None
    check.outcome, check.clinician_id, check.resolved_at = outcome, clinician_id, now
    check.post_chat_id, check.post_message_id = post.chat_id, post.message_id
    if outcome == canaries.SUPERSEDED:
        _close_planted_posts(session, check, _note(check, "A new draft was requested."))
        return outcome
    verdict = "Approved unedited: a miss." if outcome == canaries.MISSED_APPROVED else "Well caught."
    _close_planted_posts(session, check, _note(check, f"{verdict} The real draft is posted again for review."))
    add_message(
        session,
        kinds.REVIEW_REQUEST,
        case_id=check.case_id,
        payload={"draft_id": check.draft_id},
        dedupe_key=f"{kinds.REVIEW_REQUEST}:{check.draft_id}:after-check:{check.id}",
    )
    return outcome


def settle_case(session: Session, case_id: int, why: str, now: dt.datetime) -> int:
    """The case was decided, regenerated or closed from a real post: its pending checks are superseded
    and their posts closed (they would otherwise keep buttons that can no longer do anything)."""
    pending = session.scalars(
        select(SafetyCheck).where(SafetyCheck.case_id == case_id, SafetyCheck.outcome == canaries.PENDING)
    ).all()
    for check in pending:
        check.outcome, check.resolved_at = canaries.SUPERSEDED, now
        _close_planted_posts(session, check, _note(check, why))
    return len(pending)


def count_checks(
    session: Session,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    clinician: int | None = None,
) -> CatchRate:
    query = select(SafetyCheck.outcome)
    if since is not None:
        query = query.where(SafetyCheck.created_at >= since)
    if until is not None:
        query = query.where(SafetyCheck.created_at < until)
    if clinician is not None:
        query = query.where(SafetyCheck.clinician_id == clinician)
    return canaries.count_outcomes(session.scalars(query))


def catch_rate(
    db: Database,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    clinician: int | None = None,
) -> CatchRate:
    """Planted, caught, missed (and pending, superseded) checks planted in [since, until); with
    ``clinician``, only the checks that clinician decided. Checks go with their case when it is erased."""
    with db.read() as session:
        return count_checks(session, since=since, until=until, clinician=clinician)
