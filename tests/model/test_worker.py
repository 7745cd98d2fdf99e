"""The worker in-process on the tiny model and a real SQLite file."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from sqlalchemy import select
from support.cases import photo_bytes, raw_stored, submit
from support.worker import config_for

from dermvqa.drafting.factory import ModelSpec, create_drafter
from dermvqa.errors import ModelLoadError
from dermvqa.states import CaseState, JobState
from dermvqa.storage.models import Case, Draft, Job, OutboxMessage
from dermvqa.storage.registry import activate, register
from dermvqa.worker import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path, db, tiny_model_dir):
    return config_for(tmp_path, db.url, tiny_model_dir)


def make_worker(config, db, store, **kw):
    return Worker(config, db, lambda spec: create_drafter(spec, config.model), store=store, worker_id="w-test", **kw)


def cases(db):
    with db.read() as session:
        return {c.id: c for c in session.scalars(select(Case))}


def test_drafts_a_batch_and_asks_for_review(config, db, store):
    ids = [submit(db, store, user, photos=[photo_bytes((user * 30, 80, 60))] * (1 + user % 3)) for user in range(6)]
    worker = make_worker(config, db, store)
    worker.run(threading.Event(), exit_when_idle=True)
    assert worker.stats.batch_sizes == [4, 2]
    assert {c.state for c in cases(db).values()} == {CaseState.AWAITING_REVIEW}
    with db.read() as session:
        drafts = session.scalars(select(Draft)).all()
        assert sorted(d.case_id for d in drafts) == ids
        assert all(d.model_version.endswith("@main") and d.prompt_id == 1 and d.new_tokens > 0 for d in drafts)
        assert all(d.generate_seconds > 0 for d in drafts)
        kinds = session.scalars(select(OutboxMessage.kind)).all()
        assert kinds == ["review_request"] * 6


def test_bad_photos_end_clearly_and_never_crash_the_worker(config, db, store, tmp_path):
    corrupt = submit(db, store, 1, stored=[raw_stored(store, b"\xff\xd8\xff\xe0 not really a jpeg")])
    empty = submit(db, store, 2, stored=[raw_stored(store, b"")])
    buf = io.BytesIO()
    # Under [storage] max_pixels (40 MP) but far over max_side_px: scaled down, then drafted.
    Image.new("RGB", (6000, 6000), (180, 120, 90)).save(buf, format="JPEG", quality=50)
    huge = submit(db, store, 3, stored=[raw_stored(store, buf.getvalue())])
    fine = submit(db, store, 4)
    worker = make_worker(config, db, store)
    worker.run(threading.Event(), exit_when_idle=True)
    state = cases(db)
    assert state[corrupt].state == CaseState.FAILED and "photo 1 of 1" in state[corrupt].failure
    assert "not a readable image" in state[corrupt].failure
    assert state[empty].state == CaseState.FAILED and "empty (0 bytes)" in state[empty].failure
    assert state[huge].state == CaseState.AWAITING_REVIEW  # scaled down, drafted
    assert state[fine].state == CaseState.AWAITING_REVIEW
    with db.read() as session:
        failed = session.scalars(select(Job).where(Job.state == JobState.FAILED)).all()
        assert sorted(j.case_id for j in failed) == [corrupt, empty]
        assert all(j.attempts == 1 for j in failed)  # permanent: never retried


def test_model_that_cannot_load_leaves_jobs_queued(tmp_path, db, store):
    config = config_for(tmp_path, db.url, tmp_path / "no-such-model")
    case_id = submit(db, store, 1)
    worker = make_worker(config, db, store)
    with pytest.raises(ModelLoadError, match="no-such-model"):
        worker.run(threading.Event())
    with db.read() as session:
        job = session.scalar(select(Job))
        assert (job.state, job.attempts) == (JobState.QUEUED, 0)
        assert session.get(Case, case_id).state == CaseState.QUEUED


def test_switches_to_a_newly_active_model_between_batches(config, db, store, tmp_path):
    from dermvqa.drafting.tiny_model import make_tiny_model

    other = make_tiny_model(tmp_path / "other-model", seed=1)
    loaded: list[ModelSpec] = []

    def factory(spec):
        loaded.append(spec)
        return create_drafter(spec, config.model)

    worker = Worker(config, db, factory, store=store, worker_id="w")
    submit(db, store, 1)
    worker.run_once()
    with db.write() as session:
        record = register(session, backend="hf", name=str(other))
        activate(session, record.id, action="promote", reason="test", actor="test")
    second = submit(db, store, 2)
    worker.run_once()
    assert [s.name for s in loaded] == [config.model.name, str(other)]
    with db.read() as session:
        draft = session.scalar(select(Draft).where(Draft.case_id == second))
        assert draft.model_version.startswith(f"registry#{record.id}:")


def test_stop_releases_claimed_jobs(config, db, store):
    submit(db, store, 1)
    worker = make_worker(config, db, store)
    worker.ensure_model()

    def boom(*_a, **_k):
        raise KeyboardInterrupt  # a second SIGTERM arriving mid-batch

    worker.drafter.draft_batch = boom
    with pytest.raises(KeyboardInterrupt):
        worker.run(threading.Event())
    with db.read() as session:
        job = session.scalar(select(Job))
        assert (job.state, job.attempts, job.worker_id) == (JobState.QUEUED, 0, None)
