"""The durable job queue: enqueue, claim under a lease, heartbeat, complete, fail, release.

Claiming is one conditional ``UPDATE ... WHERE id IN (SELECT ... LIMIT n [FOR UPDATE SKIP LOCKED])
RETURNING``: on SQLite the write lock is taken up front (``BEGIN IMMEDIATE``), on PostgreSQL rows
another worker is claiming are skipped. A job whose worker died keeps its lease until it expires;
then it is claimable again (its attempt counted).

Every transition of a claimed job (heartbeat, done, cancelled, failed, released) is a compare-and-set
on the claim: (job id, worker id, state running, attempt number). The attempt number is the claim
token: it grows with every claim, so a worker whose lease expired and was taken over (even by a
process that reuses its worker id) changes nothing, and its late report is only logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from dermvqa.queue.retry import GiveUp, RetryPolicy, decide, describe
from dermvqa.states import CaseState, JobState, job_sources
from dermvqa.storage.cases import mark_failed, transition, transition_many
from dermvqa.storage.database import Database
from dermvqa.storage.models import Job

logger = logging.getLogger(__name__)

DRAFT = "draft"


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    case_id: int
    attempts: int  # including this one
    max_attempts: int
    claimed_at: dt.datetime


def enqueue_draft(
    session: Session, case_id: int, *, priority: int = 0, max_attempts: int = 3, now: dt.datetime | None = None
) -> Job:
    """Add a drafting job in the caller's transaction (the one that marks the case queued)."""
    job = Job(kind=DRAFT, case_id=case_id, priority=priority, max_attempts=max_attempts, state=JobState.QUEUED)
    if now is not None:
        job.run_after = job.created_at = now
    session.add(job)
    session.flush()
    return job


_JOBS = Job.__table__


def _expire_exhausted(session: Session, now: dt.datetime) -> int:
    """Fail running jobs whose lease expired on their last allowed attempt, and their cases."""
    rows = (
        session.connection()  # Core: no ORM bookkeeping for a statement that rarely matches a row
        .execute(
            update(_JOBS)
            .where(
                _JOBS.c.state == JobState.RUNNING,
                _JOBS.c.lease_expires_at < now,
                _JOBS.c.attempts >= _JOBS.c.max_attempts,
            )
            .values(
                state=JobState.FAILED,
                finished_at=now,
                worker_id=None,
                last_error="lease expired on the last attempt (the worker died or hung)",
            )
            .returning(_JOBS.c.id, _JOBS.c.case_id)
        )
        .all()
    )
    for job_id, case_id in rows:
        logger.warning("job %s failed: lease expired on its last attempt", job_id)
        if case_id is not None:
            mark_failed(session, case_id, "drafting gave up: the worker died or hung on every attempt")
    return len(rows)


def _owned(job: ClaimedJob, worker_id: str):
    """The WHERE of every transition of a claimed job: this worker still holds this claim."""
    return and_(
        Job.id == job.id, Job.worker_id == worker_id, Job.state == JobState.RUNNING, Job.attempts == job.attempts
    )


def _stale(job: ClaimedJob, worker_id: str, what: str) -> None:
    logger.warning(
        "job %s: %s ignored: worker %s no longer holds attempt %d (lease expired and taken over, or job cancelled)",
        job.id,
        what,
        worker_id,
        job.attempts,
    )


def _due(now: dt.datetime):
    """Jobs that need a worker now: queued and due, or running with an expired lease (its worker died
    or hangs; ``claim`` fails those on their last attempt instead, whatever their kind)."""
    return or_(
        and_(_JOBS.c.state == JobState.QUEUED, _JOBS.c.run_after <= now),
        and_(_JOBS.c.state == JobState.RUNNING, _JOBS.c.lease_expires_at < now),
    )


def claim(db: Database, worker_id: str, limit: int, lease_seconds: float, now: dt.datetime) -> list[ClaimedJob]:
    """Claim up to ``limit`` drafting jobs (urgent first, then oldest).

    A read first: with nothing to claim (an idle worker polling), no write transaction is opened,
    so an idle worker never takes the write lock the bot's Submits wait on."""
    with db.read() as session:
        if session.connection().execute(select(_JOBS.c.id).where(_due(now)).limit(1)).first() is None:
            return []
    lease_until = now + dt.timedelta(seconds=lease_seconds)
    with db.write() as session:
        _expire_exhausted(session, now)
        claimable = (
            select(_JOBS.c.id)
            .where(_JOBS.c.kind == DRAFT, _due(now))
            .order_by(_JOBS.c.priority.desc(), _JOBS.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (
            session.connection()
            .execute(
                update(_JOBS)
                .where(_JOBS.c.id.in_(claimable.scalar_subquery()))
                .values(
                    state=JobState.RUNNING,
                    worker_id=worker_id,
                    attempts=_JOBS.c.attempts + 1,
                    lease_expires_at=lease_until,
                    heartbeat_at=now,
                    started_at=now,
                )
                .returning(_JOBS.c.id, _JOBS.c.case_id, _JOBS.c.attempts, _JOBS.c.max_attempts)
            )
            .all()
        )
        jobs = sorted((ClaimedJob(r[0], r[1], r[2], r[3], now) for r in rows), key=lambda j: j.id)
        # A re-claimed job's case is already drafting and stays so.
        transition_many(session, [j.case_id for j in jobs], CaseState.DRAFTING)
    return jobs


def heartbeat(
    db: Database, worker_id: str, jobs: Sequence[ClaimedJob], lease_seconds: float, now: dt.datetime
) -> int:
    """Extend the leases this worker still holds; returns how many it still holds."""
    if not jobs:
        return 0
    with db.write() as session:
        result = session.execute(
            update(Job)
            .where(or_(*(_owned(job, worker_id) for job in jobs)))
            .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds), heartbeat_at=now)
        )
        return result.rowcount or 0


# Built once (its cache key is memoised): every stored draft runs it, inside the batch's write lock.
_MARK_DONE = (
    update(_JOBS)
    .where(
        _JOBS.c.id == bindparam("job"),
        _JOBS.c.worker_id == bindparam("worker"),
        _JOBS.c.state == JobState.RUNNING,
        _JOBS.c.attempts == bindparam("attempt"),
    )
    .values(state=JobState.DONE, finished_at=bindparam("finished"), lease_expires_at=None, last_error=None)
)


def mark_done(session: Session, job: ClaimedJob, worker_id: str, now: dt.datetime) -> bool:
    """Compare-and-set the job to done in the caller's transaction; False if the lease was lost.
    (Core, on the claim of :func:`_owned`: no job object is loaded where drafts are stored.)"""
    result = session.connection().execute(
        _MARK_DONE, {"job": job.id, "worker": worker_id, "attempt": job.attempts, "finished": now}
    )
    if result.rowcount != 1:
        _stale(job, worker_id, "draft")
        return False
    return True


def mark_cancelled(session: Session, job: ClaimedJob, worker_id: str, now: dt.datetime, reason: str) -> bool:
    result = session.execute(
        update(Job)
        .where(_owned(job, worker_id))
        .values(state=JobState.CANCELLED, finished_at=now, lease_expires_at=None, last_error=reason)
    )
    if result.rowcount != 1:
        _stale(job, worker_id, "cancellation")
        return False
    return True


def record_failure(
    session: Session, job: ClaimedJob, worker_id: str, error: BaseException, policy: RetryPolicy, now: dt.datetime
) -> GiveUp | None:
    """Apply the retry policy in the caller's transaction. Returns GiveUp when the job is finished.

    A retry puts the job back in the queue after a backoff; giving up marks it failed with its last
    error. Nothing happens (None, no give-up) when this worker no longer holds the job: neither the
    job nor its case changes, and the stale report is logged.
    """
    # The job's own limit (set when it was queued) binds too: a dead worker's expired lease uses it.
    limit = min(policy.max_attempts, job.max_attempts) if job.max_attempts else policy.max_attempts
    decision = decide(replace(policy, max_attempts=limit), job.attempts, error)
    owned = _owned(job, worker_id)
    if isinstance(decision, GiveUp):
        result = session.execute(
            update(Job)
            .where(owned)
            .values(state=JobState.FAILED, finished_at=now, lease_expires_at=None, last_error=decision.reason)
        )
        if result.rowcount != 1:
            _stale(job, worker_id, "failure report")
            return None
        return decision
    result = session.execute(
        update(Job)
        .where(owned)
        .values(
            state=JobState.QUEUED,
            worker_id=None,
            lease_expires_at=None,
            run_after=now + dt.timedelta(seconds=decision.delay_seconds),
            last_error=describe(error),
        )
    )
    if result.rowcount != 1:
        _stale(job, worker_id, "failure report")
        return None
    transition(session, job.case_id, CaseState.QUEUED, expected=[CaseState.DRAFTING])
    return None


def release(db: Database, worker_id: str, jobs: Sequence[ClaimedJob]) -> int:
    """Give claimed jobs back untouched (a stopping worker): queued again, the attempt not counted.

    Only for a deliberate stop (SIGTERM) before drafting finished. A batch that ended in an error,
    a hang or a crash counts its attempt (``record_failure``), so a poison job cannot loop forever.
    """
    if not jobs:
        return 0
    released = 0
    with db.write() as session:
        for job in jobs:
            result = session.execute(
                update(Job)
                .where(_owned(job, worker_id))
                .values(state=JobState.QUEUED, worker_id=None, lease_expires_at=None, attempts=Job.attempts - 1)
            )
            if result.rowcount == 1:
                released += 1
                transition(session, job.case_id, CaseState.QUEUED, expected=[CaseState.DRAFTING])
            else:
                _stale(job, worker_id, "release")
    return released


def cancel_for_case(session: Session, case_id: int, reason: str, now: dt.datetime) -> int:
    """Cancel a case's queued or running jobs (the patient withdrew or deleted their data)."""
    result = session.execute(
        update(Job)
        .where(Job.case_id == case_id, Job.state.in_(list(job_sources(JobState.CANCELLED))))
        .values(state=JobState.CANCELLED, finished_at=now, worker_id=None, lease_expires_at=None, last_error=reason)
    )
    return result.rowcount or 0
