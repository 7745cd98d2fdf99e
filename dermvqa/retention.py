"""Retention rules (pure): what is old enough to purge, given the time now and ``[retention]``.

A case is purged only in a final state, counted from the moment it reached that state:

    answered   answered_at  (the answer reached the patient)
    rejected   reviewed_at  (the clinician's decision)
    withdrawn  updated_at   (the patient's cancellation; final, so nothing changes it later)
    failed     updated_at   (drafting gave up; a clinician may still regenerate it until it is purged)

Cases in any other state (collecting, queued, drafting, awaiting review, approved) are never purged.
Delivered or failed-for-good outbox rows, the message log and the audit rows have their own ages.
Each age of 0 days keeps that record forever. The report of a purge holds counts only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any

from dermvqa.config import RetentionConfig
from dermvqa.states import CaseState

# The final states that are purged, each with its [retention] key and the case column it is aged by.
PURGED_STATES: dict[CaseState, tuple[str, str]] = {
    CaseState.ANSWERED: ("answered_days", "answered_at"),
    CaseState.REJECTED: ("rejected_days", "reviewed_at"),
    CaseState.WITHDRAWN: ("withdrawn_days", "updated_at"),
    CaseState.FAILED: ("failed_days", "updated_at"),
}
# Outbox rows of these cases are finished business: their delivered rows may go before the case does.
SETTLED_STATES = frozenset({CaseState.ANSWERED, CaseState.REJECTED, CaseState.WITHDRAWN})


def cutoff(now: dt.datetime, days: int) -> dt.datetime | None:
    """Records older than the result are due; None when ``days`` is 0 (keep forever)."""
    if days < 0:
        raise ValueError("retention days must be >= 0")
    if now.tzinfo is None:
        raise ValueError("naive datetime given as now")
    return None if days == 0 else now - dt.timedelta(days=days)


def is_due(reached: dt.datetime | None, limit: dt.datetime | None) -> bool:
    """Whether a record aged from ``reached`` is past ``limit`` (never when either is unknown)."""
    return reached is not None and limit is not None and reached < limit


@dataclass(frozen=True)
class Cutoffs:
    """Per category, the moment before which records are due (None: kept forever)."""

    cases: dict[CaseState, dt.datetime | None]
    outbox: dt.datetime | None
    message_log: dt.datetime | None
    audit: dt.datetime | None

    @property
    def nothing(self) -> bool:
        """True when every category is kept forever: a purge has nothing to do."""
        return all(v is None for v in (*self.cases.values(), self.outbox, self.message_log, self.audit))


def cutoffs(now: dt.datetime, config: RetentionConfig) -> Cutoffs:
    return Cutoffs(
        cases={state: cutoff(now, getattr(config, key)) for state, (key, _) in PURGED_STATES.items()},
        outbox=cutoff(now, config.outbox_days),
        message_log=cutoff(now, config.message_log_days),
        audit=cutoff(now, config.audit_days),
    )


@dataclass
class PurgeReport:
    """What one purge did (or, dry, would do): counts only, never ids or words."""

    cases_answered: int = 0
    cases_rejected: int = 0
    cases_withdrawn: int = 0
    cases_failed: int = 0
    cases_kept_owed: int = 0  # due, but a message about them is still owed: kept until it is delivered
    photos: int = 0  # photo rows of the purged cases
    photo_files: int = 0  # files removed (a file shared with a case that remains stays)
    review_posts: int = 0  # review posts queued for withdrawal from the review chat
    models_tainted: int = 0  # models trained on a purged case: never activated again (not counted dry)
    outbox: int = 0
    message_log: int = 0
    audit: int = 0
    dry_run: bool = False
    started_at: str = ""
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return self.cases_answered + self.cases_rejected + self.cases_withdrawn + self.cases_failed

    def add_cases(self, state: CaseState | str, n: int) -> None:
        name = f"cases_{CaseState(state).value}"
        setattr(self, name, getattr(self, name) + n)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PurgeReport:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line of counts (for the log and the command line)."""
        return (
            f"cases {self.cases} (answered {self.cases_answered}, rejected {self.cases_rejected}, "
            f"withdrawn {self.cases_withdrawn}, failed {self.cases_failed}; kept while a message is owed "
            f"{self.cases_kept_owed}), photos {self.photos}, photo files {self.photo_files}, "
            f"review posts withdrawn {self.review_posts}, outbox rows {self.outbox}, "
            f"message log rows {self.message_log}, audit rows {self.audit}, models tainted {self.models_tainted}"
        )
