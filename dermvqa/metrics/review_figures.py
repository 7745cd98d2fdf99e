"""How clinicians use the drafts, as figures (pure: plain rows in, frozen dataclasses out).

Published studies of AI-drafted patient replies report draft use of roughly 20% and measure how
often drafts go out unedited, how much they are edited and how long answers take. For one period
this module computes, per clinician and overall:

* the decisions: shares of drafts approved unedited, edited (then sent), regenerated and rejected;
* the normalised edit distance between the draft and the text sent: character Levenshtein distance
  divided by the longer text's length (0 for an unedited approval, 1 for a complete rewrite). The
  texts compared are ``Review.draft_text`` (the model's draft exactly as the clinician saw it, without
  the disclaimer that is appended when shown) and ``Review.final_text`` (what the patient received,
  stripped, also before the disclaimer is added: see ``dermvqa.casework.review.approve``);
* times from submission to the first review decision and to the answer, p50 and p90, for all cases
  and for urgent cases separately. A case's times count for the clinician who made its first
  decision (first review) and for the one who approved it (answer).

Empty periods give ``None`` figures, never an error. :class:`ConsoleFigures` carries extra named
blocks (:class:`FigureBlock`) so that later measures (e.g. a safety-check catch rate) are shown by
``/stats`` and ``dermbot report`` without changing either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

APPROVE, EDIT, REGENERATE, REJECT = "approve", "edit", "regenerate", "reject"
DECISIONS = (APPROVE, EDIT, REGENERATE, REJECT)
DECISION_LABELS = {
    APPROVE: "approved unedited",
    EDIT: "edited",
    REGENERATE: "regenerated",
    REJECT: "rejected",
}
STUDY_DRAFT_USE = 0.20  # "draft use ~20% in published studies" (Stanford, Penn, a New York system)


@dataclass(frozen=True)
class ReviewRow:
    """One clinician decision: who, what, when, and the two texts (None for regenerate/reject)."""

    case_id: int
    clinician_id: int
    action: str
    at: dt.datetime
    draft_text: str | None = None
    final_text: str | None = None


@dataclass(frozen=True)
class CaseRow:
    """One submitted case's clock: submission, first decision (and by whom), answer (and by whom)."""

    case_id: int
    urgent: bool
    submitted_at: dt.datetime
    first_review_at: dt.datetime | None = None
    first_reviewer: int | None = None
    answered_at: dt.datetime | None = None
    answerer: int | None = None


@dataclass(frozen=True)
class Timing:
    """Durations in seconds: the median and the 90th percentile (None when there are none), the samples."""

    p50: float | None
    p90: float | None
    samples: tuple[float, ...] = ()

    @property
    def n(self) -> int:
        return len(self.samples)


@dataclass(frozen=True)
class Decisions:
    counts: dict[str, int]  # every action in DECISIONS, zero included
    edit_distance_mean: float | None  # over drafts sent (unedited ones count 0)
    edit_distance_edited_mean: float | None  # over edited drafts only

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def shares(self) -> dict[str, float | None]:
        total = self.total
        return {action: (count / total if total else None) for action, count in self.counts.items()}

    @property
    def draft_use(self) -> float | None:
        """Approved unedited or edited: the draft was sent."""
        total = self.total
        return (self.counts[APPROVE] + self.counts[EDIT]) / total if total else None


@dataclass(frozen=True)
class Timings:
    first_review: Timing
    answer: Timing
    urgent_first_review: Timing
    urgent_answer: Timing


@dataclass(frozen=True)
class ClinicianFigures:
    clinician_id: int | None  # None: everyone
    decisions: Decisions
    timings: Timings


@dataclass(frozen=True)
class FigureBlock:
    """Another named set of figures shown after the standard ones: rows of (label, value as text)."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ConsoleFigures:
    since: dt.datetime | None
    until: dt.datetime | None
    overall: ClinicianFigures
    clinicians: tuple[ClinicianFigures, ...]
    blocks: tuple[FigureBlock, ...] = field(default=())

    def with_block(self, block: FigureBlock) -> ConsoleFigures:
        """These figures with one more named block (e.g. the safety checks' catch rate)."""
        return dataclasses.replace(self, blocks=(*self.blocks, block))


def edit_distance(a: str, b: str) -> int:
    """Character Levenshtein distance (insertions, deletions, substitutions cost 1).

    The common prefix and suffix are cut first: a clinician's edit is usually local, so the quadratic
    part runs on the changed middle only.
    """
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    a, b = a[start:end_a], b[start:end_b]
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalised_edit_distance(draft: str, sent: str) -> float:
    """Levenshtein distance / the longer text's length: 0 identical, 1 nothing in common (0 if both empty)."""
    longest = max(len(draft), len(sent))
    return edit_distance(draft, sent) / longest if longest else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """``numpy.percentile`` (linear interpolation, q in 0-100, ValueError outside); None for no values."""
    import numpy as np  # here, not at the top: the bot imports this module at start and needs numpy only for /stats

    return float(np.percentile(values, q)) if len(values) else None


def timing(seconds: Iterable[float]) -> Timing:
    samples = tuple(sorted(seconds))
    return Timing(percentile(samples, 50), percentile(samples, 90), samples)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def decisions(reviews: Iterable[ReviewRow]) -> Decisions:
    counts = dict.fromkeys(DECISIONS, 0)
    sent_distances: list[float] = []
    edited_distances: list[float] = []
    for row in reviews:
        if row.action not in counts:
            continue
        counts[row.action] += 1
        if row.action == APPROVE:
            sent_distances.append(0.0)
        elif row.action == EDIT:
            distance = normalised_edit_distance((row.draft_text or "").strip(), (row.final_text or "").strip())
            sent_distances.append(distance)
            edited_distances.append(distance)
    return Decisions(
        counts=counts,
        edit_distance_mean=_mean(sent_distances),
        edit_distance_edited_mean=_mean(edited_distances),
    )


def timings(cases: Iterable[CaseRow], clinician_id: int | None = None) -> Timings:
    """Submission to first decision and to answer; with ``clinician_id``, only that clinician's share."""
    first: dict[bool, list[float]] = {False: [], True: []}
    answer: dict[bool, list[float]] = {False: [], True: []}
    for case in cases:
        if case.first_review_at is not None and clinician_id in (None, case.first_reviewer):
            first[case.urgent].append(max(0.0, (case.first_review_at - case.submitted_at).total_seconds()))
        if case.answered_at is not None and clinician_id in (None, case.answerer):
            answer[case.urgent].append(max(0.0, (case.answered_at - case.submitted_at).total_seconds()))
    return Timings(
        first_review=timing(first[False] + first[True]),
        answer=timing(answer[False] + answer[True]),
        urgent_first_review=timing(first[True]),
        urgent_answer=timing(answer[True]),
    )


def console_figures(
    reviews: Sequence[ReviewRow],
    cases: Sequence[CaseRow],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    only: int | None = None,
) -> ConsoleFigures:
    """Figures overall and per clinician (everyone who decided, or first-reviewed or answered a case).

    ``only``: one clinician's figures (their decisions, and their part of the case times) as "overall".
    """
    if only is not None:
        reviews = [r for r in reviews if r.clinician_id == only]
        people = {only}
    else:
        people = {r.clinician_id for r in reviews}
        people |= {c.first_reviewer for c in cases if c.first_reviewer is not None}
        people |= {c.answerer for c in cases if c.answerer is not None}
    per = tuple(
        ClinicianFigures(
            clinician_id=person,
            decisions=decisions(r for r in reviews if r.clinician_id == person),
            timings=timings(cases, person),
        )
        for person in sorted(people)
    )
    overall = ClinicianFigures(None, decisions(reviews), timings(cases, only))
    return ConsoleFigures(since=since, until=until, overall=overall, clinicians=per)
