"""Store a worker's outcome for a job: a draft for review, or the case given up on.

Each draft's job, case and outbox row change together in one transaction (a batch's drafts share
it), so a crash leaves either all of it or none of it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from dermvqa.drafting.base import DraftResult
from dermvqa.errors import DraftingError
from dermvqa.queue.jobs import ClaimedJob, mark_cancelled, mark_done, record_failure
from dermvqa.queue.retry import RetryPolicy
from dermvqa.states import CaseState, JobState, check_case_transition
from dermvqa.storage.cases import mark_failed
from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, Draft, Job, OutboxMessage, utcnow
from dermvqa.storage.outbox import REVIEW_REQUEST, row_values
from dermvqa.storage.shared_writes import Failed, Write, write_together

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaveOutcome:
    saved: bool
    draft_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class DraftToSave:
    """One job's draft, for :func:`save_drafts`."""

    job: ClaimedJob
    result: DraftResult
    prompt_id: int
    queue_seconds: float


Plant = Callable[[Session, int, int], dict[str, Any]]


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
    plant: Plant | None = None,
) -> SaveOutcome:
    """Store the draft, move the case to review and ask the bot to notify clinicians, atomically.

    ``plant``: given the session, case id and draft id, extra payload for the review request (a
    planted safety check: ``dermvqa.casework.safety_checks.Planter``), written in this transaction.

    An empty draft is never stored (it could be approved and sent as an empty answer): the worker
    counts it as a failed attempt before it gets here; this refusal is the last line of defence.
    """
    with db.write() as session:
        return _save(session, DraftToSave(job, result, prompt_id, queue_seconds), worker_id, model_version, now, plant)


def save_drafts(
    db: Database,
    drafts: Sequence[DraftToSave],
    worker_id: str,
    *,
    model_version: str,
    now: dt.datetime,
    plant: Plant | None = None,
) -> list[SaveOutcome]:
    """:func:`save_draft` for a batch's drafts, in one transaction: the write lock is taken once per
    batch, not once per draft (the bot's Submits wait on it: ``bench/bot_load.py``). Each draft is
    still checked on its own (case withdrawn, lease lost). As any shared transaction
    (:func:`dermvqa.storage.shared_writes.write_together`): a busy database is raised for the caller
    to wait out and retry; any other failure saves each draft alone, so one bad draft fails alone,
    its error raised once the others are saved (:func:`save_each_draft` tells each draft's own)."""
    results = save_each_draft(db, drafts, worker_id, model_version=model_version, now=now, plant=plant)
    for result in results:
        if isinstance(result, Failed):
            raise result.error
    return results


def save_each_draft(
    db: Database,
    drafts: Sequence[DraftToSave],
    worker_id: str,
    *,
    model_version: str,
    now: dt.datetime,
    plant: Plant | None = None,
) -> list[SaveOutcome | Failed]:
    """:func:`save_drafts` with one result per draft: a draft that failed alone is a :class:`Failed`
    holding its error (the others are saved), for a caller that settles each job on its own."""
    return write_together(db, [Write(_save, (draft, worker_id, model_version, now, plant)) for draft in drafts])


# Built once (their cache keys are memoised): every stored draft runs them, inside the batch's
# write lock, which the bot's Submits wait on. Core: the ORM's bookkeeping was most of the lock time.
_CASES, _DRAFTS, _OUTBOX = Case.__table__, Draft.__table__, OutboxMessage.__table__
_CASE_STATE = select(_CASES.c.state).where(_CASES.c.id == bindparam("case"))
_INSERT_DRAFT = insert(_DRAFTS).returning(_DRAFTS.c.id)
_JOBS = Job.__table__
_OWN_DRAFT = (
    select(_DRAFTS.c.id)
    .join(_JOBS, _JOBS.c.id == _DRAFTS.c.job_id)
    .where(
        _JOBS.c.id == bindparam("job"),
        _JOBS.c.worker_id == bindparam("worker"),
        _JOBS.c.attempts == bindparam("attempt"),
        _JOBS.c.state == JobState.DONE,
    )
)
_TO_REVIEW = (
    update(_CASES)
    .where(_CASES.c.id == bindparam("case"), _CASES.c.state == CaseState.DRAFTING)
    .values(state=check_case_transition(CaseState.DRAFTING, CaseState.AWAITING_REVIEW))
)
_INSERT_MESSAGE = insert(_OUTBOX)


def _save(
    session: Session, draft: DraftToSave, worker_id: str, model_version: str, now: dt.datetime, plant: Plant | None
) -> SaveOutcome:
    job, result = draft.job, draft.result
    if not result.text.strip():
        raise DraftingError("refusing to store an empty draft")
    connection = session.connection()
    state = connection.execute(_CASE_STATE, {"case": job.case_id}).scalar()
    if state != CaseState.DRAFTING:
        own = connection.execute(_OWN_DRAFT, {"job": job.id, "worker": worker_id, "attempt": job.attempts}).scalar()
        if own is not None:  # saved by this very claim already (a batch saved again after a busy database)
            return SaveOutcome(True, own)
        # Withdrawn or deleted meanwhile: the draft is not wanted.
        mark_cancelled(session, job, worker_id, now, f"case is {state or 'gone'}")
        return SaveOutcome(False, reason=f"case is {state or 'gone'}")
    if not mark_done(session, job, worker_id, now):  # wrote nothing: the job is another worker's
        return SaveOutcome(False, reason="lease lost: another worker owns the job")
    draft_id = connection.execute(
        _INSERT_DRAFT,
        {
            "case_id": job.case_id,
            "job_id": job.id,
            "text": result.text,
            "model_version": model_version,
            "prompt_id": draft.prompt_id,
            "new_tokens": result.new_tokens,
            "prompt_tokens": result.prompt_tokens,
            "generate_seconds": result.seconds,
            "queue_seconds": draft.queue_seconds,
            "created_at": utcnow(),
        },
    ).scalar_one()
    connection.execute(_TO_REVIEW, {"case": job.case_id})  # drafting, checked above, in this transaction
    extra = plant(session, job.case_id, draft_id) if plant is not None else {}
    # A new draft's review request: no earlier row can hold its dedupe key (draft ids are never reused).
    payload = {"draft_id": draft_id, **extra}
    connection.execute(
        _INSERT_MESSAGE,
        row_values(REVIEW_REQUEST, None, job.case_id, payload, utcnow(), dedupe_key=f"{REVIEW_REQUEST}:{draft_id}"),
    )
    return SaveOutcome(True, draft_id)


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
