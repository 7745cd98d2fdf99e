from __future__ import annotations

import pytest

from dermvqa.errors import DraftingError, ImageError, InvalidTransition, PermanentDraftingError
from dermvqa.queue.retry import GiveUp, Retry, RetryPolicy, decide, describe
from dermvqa.states import CaseState, JobState, case_sources, check_case_transition, check_job_transition


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("collecting", "queued"),
        ("queued", "drafting"),
        ("drafting", "awaiting_review"),
        ("awaiting_review", "approved"),
        ("approved", "answered"),
        ("awaiting_review", "queued"),  # regenerate
        ("awaiting_review", "rejected"),
        ("failed", "queued"),
        ("queued", "withdrawn"),
    ],
)
def test_allowed_case_transitions(current, target):
    assert check_case_transition(current, target) == CaseState(target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("collecting", "awaiting_review"),
        ("answered", "queued"),
        ("approved", "withdrawn"),
        ("rejected", "approved"),
        ("withdrawn", "queued"),
        ("queued", "answered"),
    ],
)
def test_invalid_case_transitions_raise(current, target):
    with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
        check_case_transition(current, target)


def test_sources_are_the_inverse_of_the_table():
    assert case_sources("answered") == {CaseState.APPROVED}
    assert CaseState.COLLECTING in case_sources("withdrawn")
    assert CaseState.APPROVED not in case_sources("withdrawn")


def test_job_sources():
    from dermvqa.states import job_sources

    assert job_sources("cancelled") == {JobState.QUEUED, JobState.RUNNING}
    assert job_sources("done") == {JobState.RUNNING}


def test_job_transitions():
    assert check_job_transition("queued", "running") == JobState.RUNNING
    with pytest.raises(InvalidTransition):
        check_job_transition("done", "running")


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(max_attempts=10, backoff_base_seconds=5, backoff_max_seconds=30)
    assert [policy.delay(a) for a in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_decide():
    policy = RetryPolicy(max_attempts=3)
    assert decide(policy, 1, RuntimeError("oom")) == Retry(5.0)
    assert isinstance(decide(policy, 3, RuntimeError("oom")), GiveUp)
    assert "permanent" in decide(policy, 1, ImageError("corrupt")).reason
    assert "permanent" in decide(policy, 1, PermanentDraftingError("HTTP 400")).reason
    assert isinstance(decide(policy, 1, DraftingError("HTTP 503")), Retry)


def test_describe_is_one_line():
    assert describe(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert describe(KeyError()) == "KeyError"
