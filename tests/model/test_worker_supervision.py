"""Real worker processes that hang, crash or raise, restarted by ``dermbot run``'s supervisor.

Each case must end (drafted, or failed with the clinicians told) after ``max_attempts``: never a
worker that crash-loops on the same job. The drafter is scripted to misbehave
(tests/support/faulty_worker.py); the rest is the real worker loop and the real supervisor.
"""

from __future__ import annotations

import sys
import time

import pytest
from sqlalchemy import select
from support.cases import submit
from support.worker import ROOT, wait_until, write_config

from bot.service import WorkerProcess
from dermvqa.states import CaseState, JobState
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import Case, Job, OutboxMessage
from dermvqa.worker import EXIT_BATCH_TIMEOUT

pytestmark = pytest.mark.slow

FAULTY = ROOT / "tests" / "support" / "faulty_worker.py"
CRASH_STATUS = 70  # faulty_worker.CRASH_STATUS


def supervised(cfg, fault: str) -> WorkerProcess:
    return WorkerProcess(
        None, command=[sys.executable, str(FAULTY), str(cfg), f"w-{fault}", fault], first_delay=0.2, max_delay=1.0
    )


def job_and_case(db):
    with db.read() as session:
        job = session.scalar(select(Job))
        case = session.get(Case, job.case_id)
        kinds = session.scalars(select(OutboxMessage.kind)).all()
        return job, case, kinds


def job_failed(db) -> bool:
    with db.read() as session:
        return session.scalar(select(Job.state)) == JobState.FAILED


def test_a_hung_model_is_timed_out_restarted_and_the_case_failed_after_max_attempts(tmp_path, db):
    cfg = write_config(tmp_path, db.url, tmp_path / "unused", lease_seconds=30.0, batch_timeout_s=1.0, max_attempts=2)
    submit(db, ImageStore(tmp_path / "images"), 1)
    supervisor = supervised(cfg, "hang")
    supervisor.start()
    try:
        wait_until(lambda: job_failed(db), 90, "the hung job to fail", 0.1)
        wait_until(lambda: len(supervisor.exit_codes) == 2, 10, "the second hung worker to exit", 0.1)
        time.sleep(3)  # the third worker starts and finds nothing to hang on
        # Two hung batches, each ended by the watchdog's exit, and no more.
        assert supervisor.exit_codes == [EXIT_BATCH_TIMEOUT, EXIT_BATCH_TIMEOUT]
        assert supervisor.process.poll() is None
    finally:
        supervisor.stop(timeout=20)
    job, case, kinds = job_and_case(db)
    assert job.attempts == 2 and "batch_timeout_s" in job.last_error
    assert case.state == CaseState.FAILED and kinds == ["case_failed"]
    assert supervisor.exit_codes[2:] == [0]  # the idle third worker stopped cleanly


def test_a_job_that_kills_its_worker_fails_after_max_attempts_instead_of_looping(tmp_path, db):
    cfg = write_config(tmp_path, db.url, tmp_path / "unused", lease_seconds=1.5, heartbeat_seconds=0.5)
    submit(db, ImageStore(tmp_path / "images"), 1)
    supervisor = supervised(cfg, "crash")
    supervisor.start()
    try:
        wait_until(lambda: job_failed(db), 90, "the poison job to fail", 0.1)
        time.sleep(3)  # a crash loop would show up here as more exits
        assert supervisor.exit_codes == [CRASH_STATUS] * 3  # max_attempts = 3
        assert supervisor.process.poll() is None  # the fourth worker runs on, idle
    finally:
        supervisor.stop(timeout=20)
    job, case, kinds = job_and_case(db)
    assert job.attempts == 3 and "lease expired on the last attempt" in job.last_error
    assert case.state == CaseState.FAILED and kinds == ["case_failed"]


def test_an_unexpected_exception_fails_the_job_and_the_worker_lives_on(tmp_path, db):
    cfg = write_config(tmp_path, db.url, tmp_path / "unused", max_attempts=3)
    store = ImageStore(tmp_path / "images")
    submit(db, store, 1)
    supervisor = supervised(cfg, "raise")
    supervisor.start()
    try:
        wait_until(lambda: job_failed(db), 90, "the poison job to fail", 0.1)
        time.sleep(1)
        assert supervisor.exit_codes == []  # never crashed, never restarted
    finally:
        supervisor.stop(timeout=20)
    assert supervisor.exit_codes == [0]
    job, case, kinds = job_and_case(db)
    assert job.attempts == 3 and "gave up after 3 attempt(s): Poison" in job.last_error
    assert case.state == CaseState.FAILED and kinds == ["case_failed"]
