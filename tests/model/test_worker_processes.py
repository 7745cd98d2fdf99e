"""Reliability of real ``dermbot worker`` processes on a real database file (and PostgreSQL).

The workers draft with the tiny random LLaVA (meaningless text, real model code path)."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from sqlalchemy import func, select
from support.cases import submit
from support.worker import start_worker, stop, wait_until, write_config

from dermvqa.states import CaseState, JobState
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.models import Case, Draft, Job

pytestmark = pytest.mark.slow


def counts(db):
    with db.read() as session:
        drafts = Counter(session.scalars(select(Draft.case_id)).all())
        states = Counter(session.scalars(select(Case.state)).all())
        jobs = session.scalars(select(Job)).all()
    return drafts, states, jobs


def all_reviewable(db, n):
    with db.read() as session:
        return session.scalar(select(func.count()).where(Case.state == CaseState.AWAITING_REVIEW)) == n


def test_kill_9_mid_batch_then_the_next_worker_drafts_each_job_once(tmp_path, db, tiny_model_dir):
    cfg = write_config(tmp_path, db.url, tiny_model_dir, batch_size=8, lease_seconds=3.0, heartbeat_seconds=1.0)
    store = ImageStore(tmp_path / "images")
    for user in range(8):
        submit(db, store, user)
    first = start_worker(cfg, "doomed")

    def claimed_not_drafted():
        with db.read() as session:
            running = session.scalar(select(func.count()).where(Job.state == JobState.RUNNING))
            return running == 8 and session.scalar(select(func.count()).select_from(Draft)) == 0

    wait_until(claimed_not_drafted, 120, "the first worker to claim the batch")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    drafts, states, jobs = counts(db)
    assert not drafts and states == {CaseState.DRAFTING: 8}  # killed in the middle of the batch

    second = start_worker(cfg, "survivor")
    wait_until(lambda: all_reviewable(db, 8), 120, "the second worker to draft every case")
    assert stop(second) == 0
    drafts, states, jobs = counts(db)
    assert drafts == {case_id: 1 for case_id in range(1, 9)}
    assert states == {CaseState.AWAITING_REVIEW: 8}
    assert all(j.state == JobState.DONE and j.attempts == 2 and j.worker_id == "survivor" for j in jobs)


def _two_workers(tmp_path, db, tiny_model_dir):
    cfg = write_config(tmp_path, db.url, tiny_model_dir, batch_size=2, lease_seconds=30.0, heartbeat_seconds=2.0)
    store = ImageStore(tmp_path / "images")
    workers = [start_worker(cfg, name) for name in ("alpha", "beta")]
    logs = [cfg.with_name(f"{name}.log") for name in ("alpha", "beta")]
    wait_until(lambda: all("ready" in log.read_text() for log in logs), 120, "both workers to load the model", 0.1)
    n = 24
    for user in range(n):
        submit(db, store, user)
    wait_until(lambda: all_reviewable(db, n), 180, "every case drafted")
    assert [stop(w) for w in workers] == [0, 0]
    drafts, _, jobs = counts(db)
    assert drafts == {case_id: 1 for case_id in range(1, n + 1)}  # no job drafted twice
    assert all(j.state == JobState.DONE for j in jobs)
    assert {j.worker_id for j in jobs} == {"alpha", "beta"}  # both really took part


def test_two_workers_on_one_sqlite_file(tmp_path, db, tiny_model_dir):
    _two_workers(tmp_path, db, tiny_model_dir)


@pytest.mark.postgres
def test_two_workers_on_postgresql(tmp_path, pg_db, tiny_model_dir):
    _two_workers(tmp_path, pg_db, tiny_model_dir)


def test_sigterm_finishes_the_batch_and_exits_cleanly(tmp_path, db, tiny_model_dir):
    cfg = write_config(tmp_path, db.url, tiny_model_dir, batch_size=4)
    store = ImageStore(tmp_path / "images")
    for user in range(4):
        submit(db, store, user)
    worker = start_worker(cfg, "w")

    def claimed():
        with db.read() as session:
            return session.scalar(select(func.count()).where(Job.state == JobState.RUNNING)) > 0

    wait_until(claimed, 120, "a claimed batch")
    assert stop(worker) == 0
    with db.read() as session:
        assert session.scalar(select(func.count()).where(Job.state == JobState.RUNNING)) == 0


def test_unloadable_model_stops_with_a_clear_message(tmp_path, db):
    cfg = write_config(tmp_path, db.url, tmp_path / "missing-model")
    submit(db, ImageStore(tmp_path / "images"), 1)
    worker = start_worker(cfg, "w")
    assert worker.wait(120) == 3
    assert "the model cannot be loaded, so no job was taken" in cfg.with_name("w.log").read_text()
    _, states, jobs = counts(db)
    assert states == {CaseState.QUEUED: 1} and jobs[0].attempts == 0
