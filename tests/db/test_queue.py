"""The job queue on a real database (SQLite and PostgreSQL), with a controlled clock."""

from __future__ import annotations

import datetime as dt
import sys
import threading

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from support.cases import submit

from dermvqa.drafting.base import DraftResult
from dermvqa.errors import DraftingError, ImageError
from dermvqa.queue import jobs as queue
from dermvqa.queue.retry import RetryPolicy
from dermvqa.states import CaseState, JobState
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.drafts import DraftToSave, save_draft, save_drafts, save_each_draft, save_failure
from dermvqa.storage.models import Case, Draft, Job, OutboxMessage, utcnow
from dermvqa.storage.shared_writes import Failed

# Jobs become claimable at submission (real time); each test's clock starts just after it begins (not
# at import: on a loaded machine the suite reaches these tests long after collection).
T0 = utcnow() + dt.timedelta(minutes=5)
RESULT = DraftResult("Looks like eczema.", new_tokens=5, seconds=0.1)


@pytest.fixture(autouse=True)
def _clock_starts_now(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "T0", utcnow() + dt.timedelta(minutes=5))


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def state_of(db, case_id):
    with db.read() as session:
        case = session.get(Case, case_id)
        job = session.scalar(select(Job).where(Job.case_id == case_id).order_by(Job.id.desc()))
        return CaseState(case.state), JobState(job.state), job


def test_submit_enqueues_in_the_same_transaction(any_db, store):
    case_id = submit(any_db, store, 1)
    case_state, job_state, job = state_of(any_db, case_id)
    assert (case_state, job_state, job.attempts) == (CaseState.QUEUED, JobState.QUEUED, 0)


def test_claim_draft_and_review_request(any_db, store):
    case_id = submit(any_db, store, 1)
    [job] = queue.claim(any_db, "w1", 4, 60, at(1))
    assert (job.case_id, job.attempts) == (case_id, 1)
    assert state_of(any_db, case_id)[0] == CaseState.DRAFTING
    assert queue.claim(any_db, "w2", 4, 60, at(2)) == []  # leased
    saved = save_draft(any_db, job, "w1", RESULT, model_version="m@1", prompt_id=1, queue_seconds=1.0, now=at(3))
    assert saved.saved
    case_state, job_state, _ = state_of(any_db, case_id)
    assert (case_state, job_state) == (CaseState.AWAITING_REVIEW, JobState.DONE)
    with any_db.read() as session:
        draft = session.scalar(select(Draft))
        assert (draft.text, draft.model_version, draft.prompt_id) == ("Looks like eczema.", "m@1", 1)
        outbox = session.scalar(select(OutboxMessage))
        assert (outbox.kind, outbox.case_id, outbox.payload) == ("review_request", case_id, {"draft_id": draft.id})


def test_urgent_cases_are_claimed_first(any_db, store):
    normal = submit(any_db, store, 1)
    urgent = submit(any_db, store, 2, urgent=True)
    assert [j.case_id for j in queue.claim(any_db, "w", 1, 60, at(1))] == [urgent]
    assert [j.case_id for j in queue.claim(any_db, "w", 1, 60, at(1))] == [normal]


def test_expired_lease_is_claimed_again_and_the_old_worker_cannot_complete(any_db, store):
    case_id = submit(any_db, store, 1)
    [old] = queue.claim(any_db, "dead", 1, 30, at(0))
    assert queue.claim(any_db, "w2", 1, 30, at(29)) == []
    [new] = queue.claim(any_db, "w2", 1, 30, at(31))
    assert (new.id, new.attempts) == (old.id, 2)
    late = save_draft(any_db, old, "dead", RESULT, model_version="m", prompt_id=1, queue_seconds=0, now=at(32))
    assert not late.saved and "lease lost" in late.reason
    assert save_draft(any_db, new, "w2", RESULT, model_version="m", prompt_id=1, queue_seconds=0, now=at(33)).saved
    with any_db.read() as session:
        assert len(session.scalars(select(Draft).where(Draft.case_id == case_id)).all()) == 1


def test_heartbeat_keeps_the_lease(any_db, store):
    submit(any_db, store, 1)
    [job] = queue.claim(any_db, "w1", 1, 30, at(0))
    assert queue.heartbeat(any_db, "w1", [job], 30, at(25)) == 1
    assert queue.claim(any_db, "w2", 1, 30, at(40)) == []  # lease now ends at 55
    assert queue.heartbeat(any_db, "intruder", [job], 30, at(41)) == 0


def test_retry_with_backoff_then_give_up(any_db, store):
    policy = RetryPolicy(max_attempts=2, backoff_base_seconds=10, backoff_max_seconds=60)
    case_id = submit(any_db, store, 1)
    [job] = queue.claim(any_db, "w", 1, 60, at(0))
    assert not save_failure(any_db, job, "w", RuntimeError("CUDA out of memory"), policy, at(1))
    case_state, job_state, row = state_of(any_db, case_id)
    assert (case_state, job_state) == (CaseState.QUEUED, JobState.QUEUED)
    assert row.last_error == "RuntimeError: CUDA out of memory"
    assert queue.claim(any_db, "w", 1, 60, at(5)) == []  # backing off until t=11
    [again] = queue.claim(any_db, "w", 1, 60, at(12))
    assert again.attempts == 2
    assert save_failure(any_db, again, "w", RuntimeError("CUDA out of memory"), policy, at(13))
    case_state, job_state, row = state_of(any_db, case_id)
    assert (case_state, job_state) == (CaseState.FAILED, JobState.FAILED)
    assert "gave up after 2 attempt(s)" in row.last_error
    with any_db.read() as session:
        assert session.scalar(select(Case.failure).where(Case.id == case_id)).startswith("gave up")
        assert session.scalar(select(OutboxMessage.kind)) == "case_failed"
    assert queue.claim(any_db, "w", 1, 60, at(1000)) == []  # never again


def test_permanent_error_is_not_retried(any_db, store):
    case_id = submit(any_db, store, 1)
    [job] = queue.claim(any_db, "w", 1, 60, at(0))
    assert save_failure(any_db, job, "w", ImageError("photo 1 of 1: corrupt"), RetryPolicy(max_attempts=5), at(1))
    case_state, job_state, row = state_of(any_db, case_id)
    assert (case_state, job_state) == (CaseState.FAILED, JobState.FAILED)
    assert row.attempts == 1 and "permanent" in row.last_error


def test_a_dead_workers_last_attempt_fails_the_case(any_db, store):
    case_id = submit(any_db, store, 1)
    with any_db.write() as session:
        session.get(Job, 1).max_attempts = 1
    queue.claim(any_db, "dead", 1, 30, at(0))
    assert queue.claim(any_db, "w2", 1, 30, at(31)) == []
    case_state, job_state, row = state_of(any_db, case_id)
    assert (case_state, job_state) == (CaseState.FAILED, JobState.FAILED)
    assert "lease expired" in row.last_error


def test_release_gives_the_attempt_back(any_db, store):
    case_id = submit(any_db, store, 1)
    jobs = queue.claim(any_db, "w", 1, 60, at(0))
    assert queue.release(any_db, "w", jobs) == 1
    case_state, job_state, row = state_of(any_db, case_id)
    assert (case_state, job_state, row.attempts, row.worker_id) == (CaseState.QUEUED, JobState.QUEUED, 0, None)


def test_withdrawn_case_draft_is_dropped(any_db, store):
    from dermvqa.storage.cases import transition

    case_id = submit(any_db, store, 1)
    [job] = queue.claim(any_db, "w", 1, 60, at(0))
    with any_db.write() as session:
        assert transition(session, case_id, CaseState.WITHDRAWN)
    saved = save_draft(any_db, job, "w", RESULT, model_version="m", prompt_id=1, queue_seconds=0, now=at(1))
    assert not saved.saved
    assert state_of(any_db, case_id)[1] == JobState.CANCELLED


def test_concurrent_claims_never_hand_out_a_job_twice(any_db, store):
    for user in range(30):
        submit(any_db, store, user)
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def claimer(name: str) -> None:
        barrier.wait()
        mine = claimed.setdefault(name, [])
        while batch := queue.claim(any_db, name, 3, 60, at(0)):
            mine.extend(j.id for j in batch)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for ids in claimed.values() for i in ids]
    assert sorted(all_ids) == list(range(1, 31))


def test_a_stale_workers_failure_report_changes_nothing(any_db, store):
    """The lost-lease failure path: w1's late error must not requeue the case w2 is drafting."""
    policy = RetryPolicy(max_attempts=3, backoff_base_seconds=10)
    case_id = submit(any_db, store, 1)
    [old] = queue.claim(any_db, "w1", 1, 30, at(0))
    [new] = queue.claim(any_db, "w2", 1, 30, at(31))  # w1's lease expired
    assert not save_failure(any_db, old, "w1", RuntimeError("CUDA out of memory"), policy, at(32))
    case_state, job_state, row = state_of(any_db, case_id)
    assert (case_state, job_state, row.worker_id, row.attempts) == (CaseState.DRAFTING, JobState.RUNNING, "w2", 2)
    assert row.last_error is None and row.run_after < at(0)
    # w1 giving up (its last attempt) is just as powerless.
    assert not save_failure(any_db, old, "w1", ImageError("photo 1 of 1: corrupt"), policy, at(33))
    assert state_of(any_db, case_id)[:2] == (CaseState.DRAFTING, JobState.RUNNING)
    assert queue.release(any_db, "w1", [old]) == 0
    assert queue.heartbeat(any_db, "w1", [old], 30, at(34)) == 0
    saved = save_draft(any_db, new, "w2", RESULT, model_version="m", prompt_id=1, queue_seconds=0, now=at(35))
    assert saved.saved
    case_state, job_state, _ = state_of(any_db, case_id)
    assert (case_state, job_state) == (CaseState.AWAITING_REVIEW, JobState.DONE)
    with any_db.read() as session:
        assert session.scalars(select(OutboxMessage.kind)).all() == ["review_request"]


def test_the_attempt_number_is_the_claim_token(any_db, store):
    """A restarted worker reusing its id must not act on its previous process's claim."""
    case_id = submit(any_db, store, 1)
    [old] = queue.claim(any_db, "w", 1, 30, at(0))
    [new] = queue.claim(any_db, "w", 1, 30, at(31))  # same worker id, a later claim
    assert queue.heartbeat(any_db, "w", [old], 30, at(32)) == 0
    assert not save_failure(any_db, old, "w", RuntimeError("boom"), RetryPolicy(), at(32))
    late = save_draft(any_db, old, "w", RESULT, model_version="m", prompt_id=1, queue_seconds=0, now=at(33))
    assert not late.saved
    assert queue.heartbeat(any_db, "w", [new], 30, at(34)) == 1
    assert state_of(any_db, case_id)[:2] == (CaseState.DRAFTING, JobState.RUNNING)


def test_an_empty_draft_is_never_stored(any_db, store):
    case_id = submit(any_db, store, 1)
    [job] = queue.claim(any_db, "w", 1, 60, at(0))
    blank = DraftResult(" \n\t ", new_tokens=3)
    with pytest.raises(DraftingError, match="empty draft"):
        save_draft(any_db, job, "w", blank, model_version="m", prompt_id=1, queue_seconds=0, now=at(1))
    assert state_of(any_db, case_id)[:2] == (CaseState.DRAFTING, JobState.RUNNING)
    with any_db.read() as session:
        assert session.scalar(select(Draft)) is None


def test_a_batch_of_drafts_is_saved_in_one_transaction_each_checked_on_its_own(any_db, store):
    cases = [submit(any_db, store, user) for user in (11, 12, 13)]
    jobs = sorted(queue.claim(any_db, "w", 8, 60, at(1)), key=lambda j: j.case_id)
    with any_db.write() as session:  # the second patient withdraws while the batch drafts
        session.get(Case, cases[1]).state = CaseState.WITHDRAWN
    commits: list[int] = []
    event.listen(any_db.engine, "commit", lambda _connection: commits.append(1))
    drafts = [DraftToSave(job, RESULT, 1, 0.5) for job in jobs]
    saved = save_drafts(any_db, drafts, "w", model_version="m@1", now=at(3))
    assert len(commits) == 1  # the write lock once for the batch
    assert [s.saved for s in saved] == [True, False, True] and saved[1].reason == "case is withdrawn"
    assert [state_of(any_db, c)[:2] for c in cases] == [
        (CaseState.AWAITING_REVIEW, JobState.DONE),
        (CaseState.WITHDRAWN, JobState.CANCELLED),
        (CaseState.AWAITING_REVIEW, JobState.DONE),
    ]


def test_a_draft_that_breaks_the_shared_transaction_fails_alone(any_db, store):
    cases = [submit(any_db, store, user) for user in (21, 22)]
    jobs = sorted(queue.claim(any_db, "w", 8, 60, at(1)), key=lambda j: j.case_id)

    def plant(session, case_id, draft_id):  # a safety check that cannot be planted for one case
        if case_id == cases[1]:
            raise RuntimeError("no canary for this case")
        return {}

    drafts = [DraftToSave(job, RESULT, 1, 0.5) for job in jobs]
    with pytest.raises(RuntimeError, match="no canary"):
        save_drafts(any_db, drafts, "w", model_version="m@1", now=at(3), plant=plant)
    # the first was saved alone; nothing of the second (its job stays with the worker, to fail)
    assert state_of(any_db, cases[0])[:2] == (CaseState.AWAITING_REVIEW, JobState.DONE)
    assert state_of(any_db, cases[1])[:2] == (CaseState.DRAFTING, JobState.RUNNING)
    with any_db.read() as session:
        assert session.scalars(select(Draft.case_id)).all() == [cases[0]]


def test_each_draft_of_a_batch_gets_its_own_outcome_or_error(any_db, store):
    # What the worker uses: the saved draft is saved, the failing one is its own error.
    cases = [submit(any_db, store, user) for user in (23, 24)]
    jobs = sorted(queue.claim(any_db, "w", 8, 60, at(1)), key=lambda j: j.case_id)

    def plant(session, case_id, draft_id):
        if case_id == cases[1]:
            raise RuntimeError("no canary for this case")
        return {}

    first, second = save_each_draft(
        any_db, [DraftToSave(job, RESULT, 1, 0.5) for job in jobs], "w", model_version="m@1", now=at(3), plant=plant
    )
    assert first.saved and state_of(any_db, cases[0])[:2] == (CaseState.AWAITING_REVIEW, JobState.DONE)
    assert isinstance(second, Failed) and str(second.error) == "no canary for this case"
    assert state_of(any_db, cases[1])[:2] == (CaseState.DRAFTING, JobState.RUNNING)


def test_an_idle_worker_claims_without_taking_the_write_lock(tmp_path, data_key, store):
    # The bot holds the write lock (a Submit batch); a worker polling an empty queue neither waits
    # for it nor fails: it only reads. With work due, it does wait for the lock (and then claims).
    url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    bot, worker = open_database(url, key=data_key), open_database(url, key=data_key, busy_timeout_ms=50)
    upgrade(bot)
    try:
        with bot.write_core():
            assert queue.claim(worker, "w", 8, 60, at(1)) == []
        submit(bot, store, 31)
        with bot.write_core(), pytest.raises(OperationalError, match="locked"):
            queue.claim(worker, "w", 8, 60, at(1))
        assert len(queue.claim(worker, "w", 8, 60, at(1))) == 1
    finally:
        bot.dispose()
        worker.dispose()


def test_a_batch_saved_again_finds_its_own_drafts(any_db, store):
    # After a busy database interrupted the one-by-one fallback, the worker saves the whole batch
    # again: the drafts this claim already stored are reported saved, not cancelled, and not doubled.
    cases = [submit(any_db, store, user) for user in (41, 42)]
    jobs = sorted(queue.claim(any_db, "w", 8, 60, at(1)), key=lambda j: j.case_id)
    first = save_drafts(any_db, [DraftToSave(jobs[0], RESULT, 1, 0.5)], "w", model_version="m@1", now=at(3))
    again = save_drafts(any_db, [DraftToSave(j, RESULT, 1, 0.5) for j in jobs], "w", model_version="m@1", now=at(4))
    assert [s.saved for s in again] == [True, True] and again[0].draft_id == first[0].draft_id
    with any_db.read() as session:
        assert sorted(session.scalars(select(Draft.case_id)).all()) == sorted(cases)
        requests = session.scalars(select(OutboxMessage.case_id).where(OutboxMessage.kind == "review_request")).all()
    assert sorted(requests) == sorted(cases)
    # a stranger's claim on the same case is still refused
    other = queue.ClaimedJob(jobs[0].id, jobs[0].case_id, jobs[0].attempts, 3, at(1))
    assert not save_drafts(any_db, [DraftToSave(other, RESULT, 1, 0.5)], "x", model_version="m", now=at(5))[0].saved
