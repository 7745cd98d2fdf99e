"""Case and job states and the rules for moving between them (pure).

Every state change in the system goes through :func:`check_case_transition` or
:func:`check_job_transition`; an invalid transition raises :class:`InvalidTransition`. The storage
layer then applies it with a compare-and-set (``UPDATE ... WHERE state = :expected``) so two
processes acting at once cannot both win.

Case flow::

    collecting -> queued -> drafting -> awaiting_review -> approved -> answered
                                 \\-> failed      \\-> rejected, queued (regenerate)
    collecting/queued/drafting/awaiting_review -> withdrawn (the patient cancelled)
"""

from __future__ import annotations

import enum

from dermvqa.errors import InvalidTransition


class CaseState(enum.StrEnum):
    COLLECTING = "collecting"  # the patient is still adding photos and a description
    QUEUED = "queued"  # submitted; a drafting job waits
    DRAFTING = "drafting"  # a worker holds the job
    AWAITING_REVIEW = "awaiting_review"  # a draft waits for a clinician
    APPROVED = "approved"  # a clinician approved (or edited); the answer is in the outbox
    ANSWERED = "answered"  # the answer reached the patient
    REJECTED = "rejected"  # a clinician rejected; the patient was told to see someone in person
    WITHDRAWN = "withdrawn"  # the patient cancelled before review
    FAILED = "failed"  # drafting gave up; clinicians can see it and regenerate


CASE_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.COLLECTING: frozenset({CaseState.QUEUED, CaseState.WITHDRAWN}),
    CaseState.QUEUED: frozenset({CaseState.DRAFTING, CaseState.WITHDRAWN, CaseState.FAILED}),
    # drafting -> queued: a job released (worker stopped) or retried after an error.
    CaseState.DRAFTING: frozenset({CaseState.AWAITING_REVIEW, CaseState.QUEUED, CaseState.FAILED, CaseState.WITHDRAWN}),
    CaseState.AWAITING_REVIEW: frozenset(
        {CaseState.APPROVED, CaseState.REJECTED, CaseState.QUEUED, CaseState.WITHDRAWN}
    ),
    CaseState.APPROVED: frozenset({CaseState.ANSWERED}),
    # A failed case can be regenerated or rejected by a clinician.
    CaseState.FAILED: frozenset({CaseState.QUEUED, CaseState.REJECTED}),
    CaseState.ANSWERED: frozenset(),
    CaseState.REJECTED: frozenset(),
    CaseState.WITHDRAWN: frozenset(),
}

# States a patient may still withdraw from (before a clinician acted).
WITHDRAWABLE = frozenset({CaseState.COLLECTING, CaseState.QUEUED, CaseState.DRAFTING, CaseState.AWAITING_REVIEW})
# States a clinician may act on, per action.
REVIEWABLE = frozenset({CaseState.AWAITING_REVIEW})
REGENERATABLE = frozenset({CaseState.AWAITING_REVIEW, CaseState.FAILED})
REJECTABLE = frozenset({CaseState.AWAITING_REVIEW, CaseState.FAILED})


def check_case_transition(current: CaseState | str, target: CaseState | str) -> CaseState:
    """Return ``target`` as a CaseState if ``current -> target`` is allowed, else raise."""
    current, target = CaseState(current), CaseState(target)
    if target not in CASE_TRANSITIONS[current]:
        raise InvalidTransition(f"case cannot go from {current.value} to {target.value}")
    return target


class JobState(enum.StrEnum):
    QUEUED = "queued"  # waiting (possibly until run_after, after a retryable error)
    RUNNING = "running"  # claimed by a worker under a lease
    DONE = "done"
    FAILED = "failed"  # out of attempts or a permanent error; last_error says why
    CANCELLED = "cancelled"  # the case was withdrawn or deleted


JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    # running -> running: an expired lease is claimed by another worker.
    JobState.RUNNING: frozenset(
        {JobState.DONE, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED, JobState.RUNNING}
    ),
    JobState.DONE: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def job_sources(target: JobState | str) -> frozenset[JobState]:
    """Every job state from which ``target`` may be reached."""
    target = JobState(target)
    return frozenset(s for s, allowed in JOB_TRANSITIONS.items() if target in allowed)


def check_job_transition(current: JobState | str, target: JobState | str) -> JobState:
    current, target = JobState(current), JobState(target)
    if target not in JOB_TRANSITIONS[current]:
        raise InvalidTransition(f"job cannot go from {current.value} to {target.value}")
    return target


class RunStatus(enum.StrEnum):
    """A training run's status (``training_runs.status``; the stored strings are the values)."""

    RUNNING = "running"  # the run holds the lock (a crash leaves it here until the next run marks it failed)
    SKIPPED = "skipped"  # too few new cases, too small a held-out set, or another run in progress
    PROMOTED = "promoted"  # trained; the gate promoted its candidate
    REJECTED = "rejected"  # trained; the gate (or an erasure) rejected its candidate
    NOT_JUDGED = "not judged"  # trained, but the gate could not judge (the candidate stays unpromoted)
    FAILED = "failed"  # an error ended it; the active model did not change


class ModelStatus(enum.StrEnum):
    """A registry entry's status (``models.status``; the stored strings are the values)."""

    CANDIDATE = "candidate"  # trained, waiting for the gate
    ACTIVE = "active"  # drafts now (one at a time)
    RETIRED = "retired"  # drafted before; may be rolled back to
    REJECTED = "rejected"  # the gate or a person refused it
    FAILED = "failed"  # promoted, but no worker could load it (the note says why)


def case_sources(target: CaseState | str) -> frozenset[CaseState]:
    """Every state from which ``target`` may be reached (the WHERE of a compare-and-set)."""
    target = CaseState(target)
    return frozenset(s for s, allowed in CASE_TRANSITIONS.items() if target in allowed)
