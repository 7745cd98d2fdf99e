"""The clinician console's rows from a real database: periods, clinicians, first review and answerer."""

from __future__ import annotations

import datetime as dt

from dermvqa.casework.console import load_figures, load_rows
from dermvqa.storage.models import Case, Patient, Review

T0 = dt.datetime(2026, 11, 10, 8, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
ANNA, BEN = 501, 502


def add_case(db, user: int, submitted: dt.datetime, *, urgent=False, answered_h=None, reviews=()) -> int:
    """A submitted case and its decisions: ``reviews`` = (clinician, action, hours after submission, draft, sent)."""
    with db.write() as session:
        patient = Patient(telegram_user_id=user, chat_id=user)
        session.add(patient)
        session.flush()
        case = Case(
            patient_id=patient.id,
            state="answered" if answered_h is not None else "awaiting_review",
            urgent=urgent,
            submitted_at=submitted,
            answered_at=submitted + answered_h * H if answered_h is not None else None,
        )
        session.add(case)
        session.flush()
        for who, action, hours, draft, sent in reviews:
            session.add(
                Review(
                    case_id=case.id,
                    clinician_id=who,
                    action=action,
                    draft_text=draft,
                    final_text=sent,
                    created_at=submitted + hours * H,
                )
            )
        return case.id


def populate(db) -> dict[str, int]:
    return {
        "october": add_case(db, 1, T0 - 30 * 24 * H, answered_h=2, reviews=[(ANNA, "approve", 1, "a", "a")]),
        "plain": add_case(db, 2, T0, answered_h=3, reviews=[(ANNA, "approve", 2, "Moisturise.", "Moisturise.")]),
        "edited": add_case(
            db,
            3,
            T0 + H,
            answered_h=5,
            reviews=[(BEN, "regenerate", 1, "bad draft", None), (ANNA, "edit", 4, "kitten", "sitting")],
        ),
        "urgent": add_case(db, 4, T0 + 2 * H, urgent=True, answered_h=1, reviews=[(BEN, "approve", 0.5, "x", "x")]),
        "waiting": add_case(db, 5, T0 + 3 * H),
        "rejected": add_case(db, 6, T0 + 4 * H, reviews=[(BEN, "reject", 1, "y", None)]),
    }


def test_rows_of_a_period_with_first_reviewer_and_answerer(any_db):
    ids = populate(any_db)
    reviews, cases = load_rows(any_db, T0, T0 + 24 * H)
    assert sorted(c.case_id for c in cases) == sorted(v for k, v in ids.items() if k != "october")
    assert len(reviews) == 5  # October's decision is outside the period
    edited = next(c for c in cases if c.case_id == ids["edited"])
    assert (edited.first_reviewer, edited.answerer) == (BEN, ANNA)
    assert edited.first_review_at == T0 + 2 * H and edited.answered_at == T0 + 6 * H
    waiting = next(c for c in cases if c.case_id == ids["waiting"])
    assert (waiting.first_review_at, waiting.answered_at, waiting.answerer) == (None, None, None)
    rejected = next(c for c in cases if c.case_id == ids["rejected"])
    assert rejected.first_reviewer == BEN and rejected.answerer is None


def test_figures_overall_per_clinician_and_for_one_clinician(any_db):
    populate(any_db)
    figures = load_figures(any_db, T0, T0 + 24 * H)
    overall = figures.overall
    assert overall.decisions.counts == {"approve": 2, "edit": 1, "regenerate": 1, "reject": 1}
    assert overall.decisions.edit_distance_edited_mean == 3 / 7
    assert overall.timings.answer.samples == (3600, 3 * 3600, 5 * 3600)
    assert overall.timings.urgent_answer.samples == (3600,) and overall.timings.urgent_first_review.p50 == 1800
    anna, ben = figures.clinicians
    assert (anna.clinician_id, ben.clinician_id) == (ANNA, BEN)
    assert anna.decisions.draft_use == 1.0 and ben.decisions.draft_use == 1 / 3
    assert anna.timings.answer.samples == (3 * 3600, 5 * 3600)
    only_ben = load_figures(any_db, T0, T0 + 24 * H, clinician_id=BEN)
    assert only_ben.overall.decisions.total == 3 and [c.clinician_id for c in only_ben.clinicians] == [BEN]
    assert only_ben.overall.timings.first_review.samples == (1800, 3600, 3600)  # edited, urgent, rejected
    assert only_ben.overall.timings.answer.samples == (3600,)  # Anna answered the edited case


def test_open_ends_and_an_empty_period(any_db):
    populate(any_db)
    assert load_figures(any_db).overall.decisions.total == 6  # everything
    assert load_figures(any_db, None, T0).overall.decisions.total == 1  # only October
    empty = load_figures(any_db, T0 + 1000 * H, None)
    assert empty.overall.decisions.total == 0 and empty.overall.timings.answer.p50 is None
