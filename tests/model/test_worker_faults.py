"""Faults that must not strand a case, with the worker in-process on a real SQLite file.

The drafter is scripted (no model) so each test controls exactly how drafting misbehaves: an
unexpected exception, an empty draft, a hang, a model that cannot be loaded, a locked database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import select
from support.cases import submit
from support.worker import config_for

from dermvqa.drafting.base import DraftOutcome, DraftRequest
from dermvqa.drafting.scripted import ScriptedDrafter
from dermvqa.errors import ModelLoadError
from dermvqa.states import CaseState, JobState
from dermvqa.storage import registry
from dermvqa.storage.database import open_database
from dermvqa.storage.models import Case, Draft, Job, ModelEvent, ModelRecord, OutboxMessage
from dermvqa.worker import EXIT_BATCH_TIMEOUT, Worker


class Poison(Exception):
    """Not one of ours: the kind of error a drafter's own handling does not expect."""


class PoisonDrafter(ScriptedDrafter):
    """Raises (instead of returning an error outcome) whenever a batch holds a poisoned query."""

    def draft_batch(self, requests: Sequence[DraftRequest]) -> list[DraftOutcome]:
        if any("poison" in r.query for r in requests):
            raise Poison("tensor shapes do not match")
        return super().draft_batch(requests)


@pytest.fixture
def config(tmp_path, db):
    return config_for(tmp_path, db.url, tmp_path / "unused-model", backoff_base_seconds=0.0, max_attempts=3)


def worker_with(config, db, store, drafter, **kw) -> Worker:
    return Worker(config, db, lambda spec: drafter, store=store, worker_id="w", **kw)


def job_of(db, case_id) -> Job:
    with db.read() as session:
        return session.scalar(select(Job).where(Job.case_id == case_id).order_by(Job.id.desc()))


def case_of(db, case_id) -> Case:
    with db.read() as session:
        return session.get(Case, case_id)


def outbox_kinds(db) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


def test_an_unexpected_drafter_exception_counts_attempts_until_the_case_fails(config, db, store):
    poisoned = submit(db, store, 1, text="poison: this case always breaks the model")
    healthy = submit(db, store, 2)
    drafter = PoisonDrafter()
    worker = worker_with(config, db, store, drafter)
    worker.run(threading.Event(), exit_when_idle=True)  # never raises: the worker outlives the poison
    job = job_of(db, poisoned)
    assert (job.state, job.attempts) == (JobState.FAILED, 3)
    assert "gave up after 3 attempt(s): Poison" in job.last_error
    case = case_of(db, poisoned)
    assert case.state == CaseState.FAILED and "Poison" in case.failure
    # The healthy case in the same batch was drafted on its own, once.
    assert case_of(db, healthy).state == CaseState.AWAITING_REVIEW
    assert job_of(db, healthy).attempts == 1
    assert sorted(outbox_kinds(db)) == ["case_failed", "review_request"]
    assert worker.stats.failed == 1 and worker.stats.drafted == 1


def test_an_error_outside_the_drafter_counts_the_attempt_instead_of_giving_it_back(config, db, store, monkeypatch):
    case_id = submit(db, store, 1)
    worker = worker_with(config, db, store, ScriptedDrafter())

    def broken_store(*_a, **_k):
        raise Poison("a bug while storing")

    monkeypatch.setattr(worker, "_store", broken_store)
    for attempt in (1, 2):
        with pytest.raises(Poison):  # the process would exit here and be restarted
            worker.run(threading.Event())
        job = job_of(db, case_id)
        assert (job.state, job.attempts, job.worker_id) == (JobState.QUEUED, attempt, None)
        assert job.last_error.startswith("Poison")
    with pytest.raises(Poison):
        worker.run(threading.Event())
    assert (job_of(db, case_id).state, case_of(db, case_id).state) == (JobState.FAILED, CaseState.FAILED)
    assert outbox_kinds(db) == ["case_failed"]
    monkeypatch.undo()
    worker.run(threading.Event(), exit_when_idle=True)  # the next process finds nothing to loop on
    assert job_of(db, case_id).attempts == 3


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_an_empty_draft_is_a_failed_attempt_and_never_approvable(config, db, store, text):
    case_id = submit(db, store, 1)
    worker = worker_with(config, db, store, ScriptedDrafter(template=text))
    worker.run(threading.Event(), exit_when_idle=True)
    job = job_of(db, case_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 3)
    assert "empty draft" in job.last_error
    assert case_of(db, case_id).state == CaseState.FAILED
    with db.read() as session:
        assert session.scalar(select(Draft)) is None
    assert outbox_kinds(db) == ["case_failed"]


class HangingDrafter(ScriptedDrafter):
    """Blocks until released (a hung CUDA call, in-process)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def draft_batch(self, requests):
        self.release.wait(30)
        return super().draft_batch(requests)


def test_the_watchdog_requeues_a_hung_batch_and_exits(tmp_path, db, store):
    config = config_for(tmp_path, db.url, tmp_path / "unused", batch_timeout_s=1.0, backoff_base_seconds=0.0)
    ids = [submit(db, store, user) for user in (1, 2)]
    drafter = HangingDrafter()
    exits: list[int] = []

    def exit_process(code: int) -> None:  # os._exit in production; here: record it, un-hang the model
        exits.append(code)
        drafter.release.set()

    worker = worker_with(config, db, store, drafter, exit_process=exit_process)
    worker.run_once()
    assert exits == [EXIT_BATCH_TIMEOUT]
    for case_id in ids:
        job = job_of(db, case_id)
        assert (job.state, job.attempts, job.worker_id) == (JobState.QUEUED, 1, None)
        assert "batch_timeout_s" in job.last_error
        assert case_of(db, case_id).state == CaseState.QUEUED
    with db.read() as session:  # the model returned after all, too late: nothing stored
        assert session.scalar(select(Draft)) is None


# -- a model that cannot be loaded -----------------------------------------------------------------


class Factory:
    """Scripted drafters per model name; a name in ``broken`` fails to load like a missing checkpoint."""

    def __init__(self, broken: set[str]) -> None:
        self.broken = broken
        self.loaded: list[str] = []

    def __call__(self, spec):
        self.loaded.append(spec.name)
        if spec.name in self.broken:
            raise ModelLoadError(f"{spec.name}: no config.json in the checkpoint folder")
        drafter = ScriptedDrafter(template=f"drafted by {spec.name}")
        drafter.model_version = spec.version or spec.name
        return drafter


def promote(db, name) -> int:
    with db.write() as session:
        record = registry.register(session, backend="hf", name=name)
        registry.promote(session, record.id, reason="test", actor="test")
        return record.id


def test_a_model_that_cannot_load_is_rolled_back_and_the_old_one_keeps_drafting(config, db, store, tmp_path):
    with db.write() as session:
        base = registry.ensure_baseline(session, backend="hf", name=config.model.name).id
    factory = Factory(broken={"broken-model"})
    worker = Worker(config, db, factory, store=store, worker_id="w")
    submit(db, store, 1)
    worker.run_once()
    broken = promote(db, "broken-model")
    second = submit(db, store, 2)
    assert worker.run_once() == 1  # no exception, no exit
    assert factory.loaded == [config.model.name, "broken-model"]
    with db.read() as session:
        assert session.scalar(select(Draft.text).where(Draft.case_id == second)) == f"drafted by {config.model.name}"
        record = session.get(ModelRecord, broken)
        assert record.status == registry.FAILED and "no config.json" in record.note
        assert registry.active_record(session).id == base  # rolled back
        actions = [(e.action, e.model_id) for e in registry.events(session)]
        assert actions[-2:] == [(registry.LOAD_FAILED, broken), (registry.ROLLBACK, base)]
        notice = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "case_failed"))
        assert notice.chat_id is None and notice.case_id is None  # to the review recipients
        assert f"model {broken}" in notice.payload["reason"] and "cannot be loaded" in notice.payload["reason"]
    submit(db, store, 3)
    worker.run_once()
    assert factory.loaded == [config.model.name, "broken-model"]  # never tried again

    # A fresh worker (a restart) starts straight on the model that works.
    fresh = Factory(broken={"broken-model"})
    Worker(config, db, fresh, store=store, worker_id="w2").ensure_model()
    assert fresh.loaded == [config.model.name]

    # Promoting it again (fixed) makes the worker try it again.
    factory.broken.clear()
    with db.write() as session:
        registry.promote(session, broken, reason="fixed", actor="test")
    submit(db, store, 4)
    worker.run_once()
    assert factory.loaded[-1] == "broken-model"
    with db.read() as session:
        assert session.get(ModelRecord, broken).status == registry.ACTIVE


def test_models_list_shows_the_failed_model(config, db, store, tmp_path, capsys):
    from bot.cli import main

    with db.write() as session:
        registry.ensure_baseline(session, backend="hf", name=config.model.name)
    Worker(config, db, Factory(broken={"broken-model"}), store=store, worker_id="w").ensure_model()
    broken = promote(db, "broken-model")
    Worker(config, db, Factory(broken={"broken-model"}), store=store, worker_id="w").ensure_model()
    capsys.readouterr()
    assert main(["--config", str(tmp_path / "config.toml"), "models", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "broken-model" in line)
    assert line.split()[:2] == [str(broken), "failed"]


def test_a_worker_that_cannot_record_the_failure_still_does_not_retry_every_batch(config, db, store, monkeypatch):
    import dermvqa.worker as worker_module

    factory = Factory(broken={"broken-model"})
    worker = Worker(config, db, factory, store=store, worker_id="w")
    worker.ensure_model()
    promote(db, "broken-model")

    def unrecordable(*_a, **_k):
        raise RuntimeError("registry unavailable")

    monkeypatch.setattr(worker_module, "record_load_failure", unrecordable)
    for user in range(3):
        submit(db, store, user)
        worker.run_once()
    assert factory.loaded == [config.model.name, "broken-model"]
    with db.read() as session:
        assert session.scalars(select(Case.state)).all() == [CaseState.AWAITING_REVIEW] * 3
    # A fresh worker in the same spot starts on the configured model rather than exiting.
    fresh = Factory(broken={"broken-model"})
    Worker(config, db, fresh, store=store, worker_id="w2").ensure_model()
    assert fresh.loaded == ["broken-model", config.model.name]


def test_two_workers_failing_on_the_same_model_roll_back_once(config, db, store):
    with db.write() as session:
        base = registry.ensure_baseline(session, backend="hf", name=config.model.name).id
    middle = promote(db, "good-candidate")
    workers = [Worker(config, db, Factory(broken={"broken-model"}), store=store, worker_id=w) for w in "ab"]
    for w in workers:
        w.ensure_model()
    broken = promote(db, "broken-model")
    for w in workers:
        w.ensure_model()
    with db.read() as session:
        assert registry.active_record(session).id == middle  # one rollback, not two (not the baseline)
        assert [e.action for e in session.scalars(select(ModelEvent).where(ModelEvent.model_id == broken))] == [
            registry.PROMOTE,
            registry.LOAD_FAILED,
        ]
        assert len(session.scalars(select(OutboxMessage)).all()) == 1
    assert base != middle


def test_the_configured_model_failing_at_start_still_stops_the_worker(config, db, store):
    worker = Worker(config, db, Factory(broken={config.model.name}), store=store, worker_id="w")
    with pytest.raises(ModelLoadError):
        worker.run(threading.Event())


# -- a locked database -----------------------------------------------------------------------------


def test_a_locked_database_is_waited_out_not_a_reason_to_exit(config, db, store, tmp_path, caplog):
    case_id = submit(db, store, 1)
    impatient = open_database(db.url, key=db.key, busy_timeout_ms=100)  # the lock outlasts the busy timeout
    other = open_database(db.url)  # another process's connection
    holder = other.engine.raw_connection().cursor()
    holder.execute("BEGIN IMMEDIATE")  # holds the write lock
    worker = worker_with(config, impatient, store, ScriptedDrafter())
    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(threading.Event(), exit_when_idle=True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    caplog.set_level(logging.WARNING, logger="dermvqa.worker")
    thread = threading.Thread(target=run)
    thread.start()
    try:
        thread.join(1.5)
        assert thread.is_alive() and not errors  # still waiting, not dead
        assert case_of(db, case_id).state == CaseState.QUEUED
    finally:
        holder.execute("COMMIT")
        holder.connection.close()
        other.dispose()
    thread.join(30)
    impatient.dispose()
    assert not thread.is_alive() and not errors
    assert case_of(db, case_id).state == CaseState.AWAITING_REVIEW
    assert any("database busy while claiming jobs" in r.getMessage() for r in caplog.records)


def test_a_draft_that_cannot_be_stored_fails_alone_and_the_batchs_others_count_as_drafted(config, db, store):
    saved_case, broken_case = submit(db, store, 1), submit(db, store, 2)
    worker = worker_with(config, db, store, ScriptedDrafter())

    def plant(session, case_id, draft_id):  # a safety check that cannot be planted for one case
        if case_id == broken_case:
            raise Poison("no canary for this case")
        return {}

    worker.planter = plant
    worker.run(threading.Event(), exit_when_idle=True)
    assert worker.stats.drafted == 1  # the stored draft is reported stored, not as a failed attempt
    assert (job_of(db, saved_case).state, job_of(db, saved_case).attempts) == (JobState.DONE, 1)
    assert case_of(db, saved_case).state == CaseState.AWAITING_REVIEW
    job = job_of(db, broken_case)  # its attempts counted until the case failed
    assert (job.state, job.attempts, case_of(db, broken_case).state) == (JobState.FAILED, 3, CaseState.FAILED)
    assert "Poison: no canary" in job.last_error
