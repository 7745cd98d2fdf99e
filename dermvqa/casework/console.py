"""The clinician console's rows: the decisions and case clocks of a period, read from the database.

:func:`load_rows` gives the plain rows that :mod:`dermvqa.metrics.review_figures` turns into figures
(:func:`load_figures` does both). A period is [since, until) in UTC, either end open when None:
decisions are chosen by when they were made, case clocks by when the case was submitted.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from dermvqa.casework.canaries import CatchRate
from dermvqa.casework.review import APPROVE, EDIT
from dermvqa.casework.safety_checks import catch_rate
from dermvqa.metrics.review_figures import CaseRow, ConsoleFigures, FigureBlock, ReviewRow, console_figures
from dermvqa.storage.database import Database
from dermvqa.storage.models import Case, Review


def _within(column, since: dt.datetime | None, until: dt.datetime | None) -> list:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def load_rows(
    db: Database,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    clinician_id: int | None = None,
) -> tuple[list[ReviewRow], list[CaseRow]]:
    """The decisions made in the period and the cases submitted in it (with ``clinician_id``: that
    clinician's decisions, and the cases they reviewed first or answered)."""
    with db.read() as session:
        query = select(
            Review.case_id, Review.clinician_id, Review.action, Review.created_at, Review.draft_text, Review.final_text
        ).where(*_within(Review.created_at, since, until))
        if clinician_id is not None:
            query = query.where(Review.clinician_id == clinician_id)
        reviews = [ReviewRow(*row) for row in session.execute(query.order_by(Review.id))]
        cases = session.execute(
            select(Case.id, Case.urgent, Case.submitted_at, Case.answered_at).where(
                Case.submitted_at.is_not(None), *_within(Case.submitted_at, since, until)
            )
        ).all()
        decided = session.execute(
            select(Review.case_id, Review.clinician_id, Review.action, Review.created_at)
            .join(Case, Case.id == Review.case_id)
            .where(Case.submitted_at.is_not(None), *_within(Case.submitted_at, since, until))
            .order_by(Review.id)
        ).all()
    first: dict[int, tuple[dt.datetime, int]] = {}
    answerer: dict[int, int] = {}
    for case_id, who, action, at in decided:
        if case_id not in first or at < first[case_id][0]:
            first[case_id] = (at, who)
        if action in (APPROVE, EDIT):
            answerer[case_id] = who  # the last approval is the one that answered
    rows = []
    for case_id, urgent, submitted_at, answered_at in cases:
        first_at, first_who = first.get(case_id, (None, None))
        row = CaseRow(
            case_id=case_id,
            urgent=bool(urgent),
            submitted_at=submitted_at,
            first_review_at=first_at,
            first_reviewer=first_who,
            answered_at=answered_at,
            answerer=answerer.get(case_id) if answered_at is not None else None,
        )
        if clinician_id is None or clinician_id in (row.first_reviewer, row.answerer):
            rows.append(row)
    return reviews, rows


def load_figures(
    db: Database,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    clinician_id: int | None = None,
) -> ConsoleFigures:
    """The console's figures for the period (see :mod:`dermvqa.metrics.review_figures`), with the
    safety checks' catch rate over the same period as one more block when any were planted."""
    reviews, cases = load_rows(db, since, until, clinician_id=clinician_id)
    figures = console_figures(reviews, cases, since=since, until=until, only=clinician_id)
    checks = catch_rate(db, since, until, clinician=clinician_id)
    return figures.with_block(safety_block(checks)) if checks.planted else figures


def safety_block(rate: CatchRate) -> FigureBlock:
    """The safety checks (planted faulty drafts) as a figure block: how many, and how many caught."""
    shown = "n/a" if rate.rate is None else f"{rate.rate:.0%} ({rate.caught} of {rate.caught + rate.missed})"
    return FigureBlock(
        "Safety checks (planted faulty drafts)",
        (
            ("planted", str(rate.planted)),
            ("caught (edited or rejected)", str(rate.caught)),
            ("missed (approved unedited)", str(rate.missed)),
            ("pending or superseded", str(rate.pending + rate.superseded)),
            ("catch rate", shown),
        ),
    )
