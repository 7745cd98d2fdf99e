"""Store a worker's outcome for one job: a draft for review, or the case given up on.

Each function is one transaction that changes the job, the case and the outbox together, so a
crash leaves either all of it or none of it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dermvqa.drafting.base import DraftResult
from dermvqa.errors import DraftingError
from dermvqa.queue.jobs import ClaimedJob, mark_cancelled, mark_done, record_failure
from dermvqa.queue.retry import RetryPolicy
from dermvqa.states import CaseState
from dermvqa.storage.cases import mark_failed, transition
from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, Draft
from dermvqa.storage.outbox import REVIEW_REQUEST, add_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaveOutcome:
    saved: bool
    draft_id: int | None = None
    reason: str = ""


def save_draft(
    db: Database,
    job: ClaimedJob,
    worker_id: str,
    result: DraftResult,
    *,
    model_version: str,
    prompt_id: int,
    queue_seconds: float,
    now: dt.datetime,
    plant: Callable[[Session, int, int], dict[str, Any]] | None = None,
) -> SaveOutcome:
    """Store the draft, move the case to review and ask the bot to notify clinicians, atomically.

    ``plant``: given the session, case id and draft id, extra payload for the review request (a
    planted safety check: ``dermvqa.casework.safety_checks.Planter``), written in this transaction.

    An empty draft is never stored (it could be approved and sent as an empty answer): the worker
    counts it as a failed attempt before it gets here; this refusal is the last line of defence.
    """
    if not result.text.strip():
        raise DraftingError("refusing to store an empty draft")
    with db.write() as session:
        state = session.scalar(select(Case.state).where(Case.id == job.case_id))
        if state != CaseState.DRAFTING:
            # Withdrawn or deleted meanwhile: the draft is not wanted.
            mark_cancelled(session, job, worker_id, now, f"case is {state or 'gone'}")
            return SaveOutcome(False, reason=f"case is {state or 'gone'}")
        if not mark_done(session, job, worker_id, now):  # wrote nothing: the job is another worker's
            return SaveOutcome(False, reason="lease lost: another worker owns the job")
        draft = Draft(
            case_id=job.case_id,
            job_id=job.id,
            text=result.text,
            model_version=model_version,
            prompt_id=prompt_id,
            new_tokens=result.new_tokens,
            prompt_tokens=result.prompt_tokens,
            generate_seconds=result.seconds,
            queue_seconds=queue_seconds,
        )
        session.add(draft)
        session.flush()
        transition(session, job.case_id, CaseState.AWAITING_REVIEW, expected=[CaseState.DRAFTING])
        extra = plant(session, job.case_id, draft.id) if plant is not None else {}
        add_message(
            session,
            REVIEW_REQUEST,
            case_id=job.case_id,
            payload={"draft_id": draft.id, **extra},
            dedupe_key=f"{REVIEW_REQUEST}:{draft.id}",
        )
        return SaveOutcome(True, draft.id)


def save_failure(
    db: Database, job: ClaimedJob, worker_id: str, error: BaseException, policy: RetryPolicy, now: dt.datetime
) -> bool:
    """Retry later or give up (case failed, clinicians told). Returns True when it gave up."""
    with db.write() as session:
        gave_up = record_failure(session, job, worker_id, error, policy, now)
        if gave_up is None:
            return False
        mark_failed(session, job.case_id, gave_up.reason)
        return True
