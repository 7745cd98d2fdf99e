"""The retention purge: delete what ``[retention]`` no longer keeps (rules in :mod:`dermvqa.retention`).

One purge deletes, each by its own age:

- cases in a final state past their cutoff, with everything that cascades from them (photos' rows,
  messages, drafts, reviews, jobs, outbox rows, clinicians' unfinished edits), in batches of short
  transactions so the bot is never blocked for long; their review posts are withdrawn from the review
  chat as when a patient deletes their data; then their photo files, each only when no remaining case
  refers to it. Models trained on them are tainted (``dermvqa.storage.model_taint``), as after a
  patient's erasure. A case that is due while a message about it is still owed (pending in the
  outbox) is kept until that message is delivered or fails for good. The patient row stays (consent);
- delivered or failed-for-good outbox rows: those of no case, and those of settled cases (answered,
  rejected, withdrawn) except the review posts, which stay with their case (a patient's erasure finds
  them there to withdraw them). A failed row's watchdog report stays while the failed row does (the
  report's key is what keeps the watchdog from reporting it again);
- message-log rows and audit rows older than their ages.

Then, on SQLite, a ``wal_checkpoint(TRUNCATE)`` so deleted rows do not linger in the write-ahead log
(``secure_delete`` already overwrites them in the database file). The report (counts only) is logged
and kept in the ``retention:last_report`` service flag for ``dermbot retention status``.

Photo hashes about to lose their rows are written, in the same transaction, to the
``retention:pending_files`` flag and cleared once their files are gone: a crash in between leaves the
files to the next purge, never on disk for good.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, delete, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from dermvqa.casework.erasure import checkpoint, ensure_secure_delete, erase_case_rows
from dermvqa.casework.posts import close_review_posts
from dermvqa.config import Config, RetentionConfig
from dermvqa.retention import PURGED_STATES, SETTLED_STATES, Cutoffs, PurgeReport, cutoffs
from dermvqa.states import CaseState
from dermvqa.storage.database import Database, open_database
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import load_data_key
from dermvqa.storage.model_taint import taint_models_for_cases
from dermvqa.storage.models import Case, CaseAudit, CaseImage, MessageLog, OutboxMessage, ServiceFlag, utcnow
from dermvqa.storage.outbox import REVIEW_REQUEST

logger = logging.getLogger(__name__)

LAST_REPORT = "retention:last_report"
PENDING_FILES = "retention:pending_files"
BATCH = 200  # cases per transaction
PENDING, SENT, FAILED = "pending", "sent", "failed"
ACTOR = "retention"  # recorded on the model events of a model retired because it trained on purged cases
FAILED_REPORT_PREFIX = "watchdog:failed:"  # dermvqa.casework.watchdog.failed_key


class _DryRun(Exception):
    """Raised inside a dry run's transaction so that everything it did is rolled back."""


# -- conditions -------------------------------------------------------------------------------------


def _case_due(state: CaseState, limit: dt.datetime) -> ColumnElement[bool]:
    column = getattr(Case, PURGED_STATES[state][1])
    return and_(Case.state == state.value, func.coalesce(column, Case.updated_at) < limit)


def _owed() -> ColumnElement[bool]:
    """The case still has a message on its way (pending in the outbox)."""
    return exists().where(OutboxMessage.case_id == Case.id, OutboxMessage.state == PENDING)


def _outbox_due(limit: dt.datetime) -> ColumnElement[bool]:
    aged = func.coalesce(OutboxMessage.sent_at, OutboxMessage.next_attempt_at, OutboxMessage.created_at) < limit
    settled_case = exists().where(Case.id == OutboxMessage.case_id, Case.state.in_([s.value for s in SETTLED_STATES]))
    of_settled = and_(settled_case, OutboxMessage.kind != REVIEW_REQUEST)
    return and_(OutboxMessage.state.in_([SENT, FAILED]), aged, or_(OutboxMessage.case_id.is_(None), of_settled))


def _is_failed_report() -> ColumnElement[bool]:
    return func.coalesce(OutboxMessage.dedupe_key, "").like(FAILED_REPORT_PREFIX + "%")


def _reported_row_remains() -> ColumnElement[bool]:
    failed = aliased(OutboxMessage)
    return exists().where(
        failed.state == FAILED, OutboxMessage.dedupe_key == FAILED_REPORT_PREFIX + cast(failed.id, String)
    )


# -- steps ------------------------------------------------------------------------------------------


def _purge_case_batch(
    session: Session,
    state: CaseState,
    limit: dt.datetime,
    now: dt.datetime,
    report: PurgeReport,
    hashes: set[str],
    size: int | None,
    *,
    taint: bool = True,
) -> int:
    """Delete up to ``size`` (None: all) due cases in ``state``; returns how many were deleted.

    The cases are locked as they are chosen (PostgreSQL; SQLite's write transaction holds the whole
    database), so a failed case a clinician regenerates at that moment is either purged or kept whole."""
    query = select(Case.id).where(_case_due(state, limit), ~_owed()).order_by(Case.id).with_for_update()
    ids = list(session.scalars(query if size is None else query.limit(size)))
    if not ids:
        return 0
    for start in range(0, len(ids), 500):  # parameter limits of SQLite
        chunk = ids[start : start + 500]
        hashes.update(session.scalars(select(CaseImage.sha256).where(CaseImage.case_id.in_(chunk))))
        report.photos += session.scalar(select(func.count()).where(CaseImage.case_id.in_(chunk))) or 0
        for case_id in chunk:
            report.review_posts += close_review_posts(session, case_id, "retention period ended", erase=True)
        if taint:  # not in a dry run: the registry would retire an active model, then be rolled back
            report.models_tainted += len(taint_models_for_cases(session, chunk, now=now, actor=ACTOR))
        erase_case_rows(session, chunk)
        report.add_cases(state, len(chunk))
    return len(ids)


def _remember_pending(session: Session, hashes: set[str]) -> None:
    flag = session.get(ServiceFlag, PENDING_FILES)
    known = set((flag.value or {}).get("hashes", [])) if flag is not None else set()
    if hashes <= known:
        return
    value = {"hashes": sorted(known | hashes)}
    if flag is None:
        session.add(ServiceFlag(name=PENDING_FILES, value=value, updated_at=utcnow()))
    else:
        flag.value, flag.updated_at = value, utcnow()


def _pending_files(db: Database) -> set[str]:
    with db.read() as session:
        flag = session.get(ServiceFlag, PENDING_FILES)
        return set((flag.value or {}).get("hashes", [])) if flag is not None else set()


def _forget_pending(db: Database, done: set[str]) -> None:
    with db.write() as session:
        flag = session.get(ServiceFlag, PENDING_FILES)
        if flag is None:
            return
        left = sorted(set((flag.value or {}).get("hashes", [])) - done)
        if left:
            flag.value, flag.updated_at = {"hashes": left}, utcnow()
        else:
            session.delete(flag)


def _purge_rows(session: Session, limits: Cutoffs, report: PurgeReport) -> None:
    """The outbox, the message log and the audit, each by its own age."""
    if limits.outbox is not None:
        due = _outbox_due(limits.outbox)
        report.outbox += session.execute(delete(OutboxMessage).where(due, ~_is_failed_report())).rowcount or 0
        # After the failed rows went: a report goes only once the row it reports is gone.
        kept = ~_reported_row_remains()
        report.outbox += session.execute(delete(OutboxMessage).where(due, _is_failed_report(), kept)).rowcount or 0
    if limits.message_log is not None:
        rows = session.execute(delete(MessageLog).where(MessageLog.created_at < limits.message_log))
        report.message_log += rows.rowcount or 0
    if limits.audit is not None:
        report.audit += session.execute(delete(CaseAudit).where(CaseAudit.at < limits.audit)).rowcount or 0


def _count_kept_owed(session: Session, limits: Cutoffs) -> int:
    total = 0
    for state in PURGED_STATES:
        limit = limits.cases[state]
        if limit is not None:
            total += session.scalar(select(func.count(Case.id)).where(_case_due(state, limit), _owed())) or 0
    return total


# -- the purge --------------------------------------------------------------------------------------


def purge(
    db: Database,
    store: ImageStore,
    config: RetentionConfig,
    now: dt.datetime | None = None,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
) -> PurgeReport:
    """Delete everything past its retention (``dry_run``: count it, delete nothing) and return the counts.

    A real run logs the report at INFO and keeps it as the ``retention:last_report`` flag."""
    now = now or utcnow()
    started = time.monotonic()
    limits = cutoffs(now, config)
    report = PurgeReport(dry_run=dry_run, started_at=now.isoformat(timespec="seconds"))
    if dry_run:
        _dry_run(db, limits, now, report)
    else:
        _real_run(db, store, limits, now, report, batch)
    report.seconds = round(time.monotonic() - started, 3)
    if not dry_run:
        with db.write() as session:
            _save_report(session, report)
        checkpoint(db)  # last: the deleted rows' old page images leave the write-ahead log
        logger.info("retention purge: %s", report.summary())
    return report


def _real_run(
    db: Database, store: ImageStore, limits: Cutoffs, now: dt.datetime, report: PurgeReport, batch: int
) -> None:
    hashes = _pending_files(db)  # left by a purge that stopped before removing its files
    for state in PURGED_STATES:
        limit = limits.cases[state]
        while limit is not None:
            found: set[str] = set()
            with db.write() as session:
                ensure_secure_delete(session)
                n = _purge_case_batch(session, state, limit, now, report, found, batch)
                _remember_pending(session, found)
            hashes |= found
            if n < batch:
                break
    with db.write() as session:
        ensure_secure_delete(session)
        report.cases_kept_owed = _count_kept_owed(session, limits)
        _purge_rows(session, limits, report)
    if hashes:
        with db.read() as session:
            report.photo_files = store.delete_unreferenced(session, hashes)
        _forget_pending(db, hashes)


def _dry_run(db: Database, limits: Cutoffs, now: dt.datetime, report: PurgeReport) -> None:
    """The same steps in one transaction, rolled back: exact counts, nothing deleted."""
    try:
        with db.write() as session:
            hashes: set[str] = set()
            for state in PURGED_STATES:
                limit = limits.cases[state]
                if limit is not None:
                    _purge_case_batch(session, state, limit, now, report, hashes, None, taint=False)
            report.cases_kept_owed = _count_kept_owed(session, limits)
            _purge_rows(session, limits, report)
            still = set(session.scalars(select(CaseImage.sha256).where(CaseImage.sha256.in_(list(hashes)))))
            report.photo_files = len(hashes - still)  # files that would be removed
            raise _DryRun
    except _DryRun:
        pass


def _save_report(session: Session, report: PurgeReport) -> None:
    flag = session.get(ServiceFlag, LAST_REPORT)
    value: dict[str, Any] = report.to_json()
    if flag is None:
        session.add(ServiceFlag(name=LAST_REPORT, value=value, updated_at=utcnow()))
    else:
        flag.value, flag.updated_at = value, utcnow()


def last_report(db: Database) -> tuple[PurgeReport, dt.datetime] | None:
    """The last real purge's report and when it was saved; None before the first purge."""
    with db.read() as session:
        flag = session.get(ServiceFlag, LAST_REPORT)
        if flag is None:
            return None
        return PurgeReport.from_json(dict(flag.value or {})), flag.updated_at


@contextmanager
def opened(config: Config) -> Iterator[tuple[Database, ImageStore]]:
    """The configured database and photo store, for one purge (the command line, the scheduler)."""
    key = load_data_key(config)
    db = open_database(config.database_url, key=key, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        yield db, ImageStore(config.storage_dir, key)
    finally:
        db.dispose()


def scheduled_purge(config: Config) -> PurgeReport | None:
    """The nightly job: as :func:`purge`, but an error is logged (its type only: a message may hold a
    path or a value) instead of raised; the scheduler runs it again at the next scheduled time."""
    try:
        with opened(config) as (db, store):
            return purge(db, store, config.retention)
    except Exception as exc:
        logger.error("retention purge failed (%s); it runs again at the next scheduled time", type(exc).__name__)
        return None
