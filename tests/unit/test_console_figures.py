"""The clinician console's figures (dermvqa.metrics.review_figures), periods, words and /stats text."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.console_view import console_text, template_offer_parts
from bot.telegram_limits import CALLBACK_DATA_LIMIT, MESSAGE_LIMIT, utf16_len
from dermvqa.casework.templates import Template
from dermvqa.errors import UsageError
from dermvqa.metrics.period import Period, between, parse_date, parse_stats_period
from dermvqa.metrics.review_figures import (
    CaseRow,
    FigureBlock,
    ReviewRow,
    console_figures,
    decisions,
    edit_distance,
    normalised_edit_distance,
    percentile,
    timings,
)
from dermvqa.metrics.review_report import STUDY_LINE, markdown

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("same", "same", 0)],
)
def test_edit_distance_is_levenshtein(a, b, distance):
    assert edit_distance(a, b) == edit_distance(b, a) == distance


def test_normalised_edit_distance_divides_by_the_longer_text():
    assert normalised_edit_distance("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalised_edit_distance("", "") == 0.0
    assert normalised_edit_distance("abc", "xyz") == 1.0
    long_draft = "Use an emollient twice a day. " * 100  # a local edit of a long text: prefix/suffix cut first
    edited = long_draft.replace("twice", "three times", 1)
    assert edit_distance(long_draft, edited) == edit_distance("twice", "three times") == 8


def naive_levenshtein(a: str, b: str) -> int:
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return table[-1][-1]


@given(st.text(alphabet="abc ", max_size=12), st.text(alphabet="abc ", max_size=12))
def test_edit_distance_matches_the_textbook_table(a, b):
    assert edit_distance(a, b) == naive_levenshtein(a, b)


def test_percentile_interpolates_linearly_and_is_none_when_empty():
    assert percentile([], 50) is None
    assert percentile([7.0], 90) == 7.0
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile(list(range(1, 11)), 90) == pytest.approx(9.1)  # numpy.percentile's default
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_decisions_count_shares_draft_use_and_edit_distance():
    rows = [
        ReviewRow(1, 11, "approve", T0, "Moisturise.", "Moisturise."),
        ReviewRow(2, 11, "edit", T0, "kitten", "sitting"),
        ReviewRow(3, 12, "regenerate", T0, "x"),
        ReviewRow(4, 12, "reject", T0, "y"),
    ]
    d = decisions(rows)
    assert d.counts == {"approve": 1, "edit": 1, "regenerate": 1, "reject": 1} and d.total == 4
    assert d.shares["approve"] == 0.25 and d.draft_use == 0.5
    assert d.edit_distance_edited_mean == pytest.approx(3 / 7)
    assert d.edit_distance_mean == pytest.approx(3 / 14)  # the unedited approval counts 0


def test_empty_periods_give_none_never_an_error():
    figures = console_figures([], [])
    d, t = figures.overall.decisions, figures.overall.timings
    assert d.total == 0 and d.draft_use is None and set(d.shares.values()) == {None}
    assert d.edit_distance_mean is None and d.edit_distance_edited_mean is None
    assert (t.answer.n, t.answer.p50, t.answer.p90, t.urgent_first_review.p50) == (0, None, None, None)
    assert figures.clinicians == ()
    assert "no decisions" in console_text("head", figures, Period(None, None))
    assert "n/a" in markdown(figures, Period(None, None))


def case(case_id, urgent, first_h, first_who, answer_h, answerer):
    return CaseRow(
        case_id,
        urgent,
        T0,
        T0 + first_h * H if first_h is not None else None,
        first_who,
        T0 + answer_h * H if answer_h is not None else None,
        answerer if answer_h is not None else None,
    )


CASES = [
    case(1, False, 1, 11, 2, 11),
    case(2, False, 3, 12, 5, 11),  # first reviewed by 12 (regenerate), answered by 11
    case(3, True, 0.5, 12, 1, 12),
    case(4, False, None, None, None, None),  # waiting: no times yet
]


def test_timings_overall_urgent_and_per_clinician():
    t = timings(CASES)
    assert t.first_review.n == 3 and t.first_review.p50 == 3600
    assert t.answer.samples == (3600, 7200, 18000)
    assert t.urgent_answer.n == 1 and t.urgent_answer.p50 == t.urgent_answer.p90 == 3600
    assert timings(CASES, 11).answer.samples == (7200, 18000)
    assert timings(CASES, 12).first_review.samples == (1800, 10800)
    assert timings(CASES, 12).urgent_answer.samples == (3600,)


def test_figures_per_clinician_and_extra_blocks_shown_in_both_forms():
    reviews = [ReviewRow(1, 11, "approve", T0, "a", "a"), ReviewRow(2, 12, "regenerate", T0, "b")]
    figures = console_figures(reviews, CASES).with_block(FigureBlock("Safety checks", (("caught", "3 of 4"),)))
    assert [c.clinician_id for c in figures.clinicians] == [11, 12]
    assert figures.clinicians[0].decisions.draft_use == 1.0
    text = console_text("Cases by state: answered: 3", figures, Period(T0, None))
    assert text.startswith("Cases by state") and "Clinician 11" in text and "Clinician 12" in text
    assert "Safety checks: caught 3 of 4" in text and STUDY_LINE in text
    page = markdown(figures, Period(T0, T0 + 24 * H), {"Decisions": "decisions.png"})
    assert "| approved unedited | 1 (50%) | 1 (100%) | 0 (0%) |" in page
    assert "## Safety checks" in page and "| caught | 3 of 4 |" in page and "![Decisions](decisions.png)" in page
    assert "draft use ~20% in published studies" in page


def test_stats_text_stays_within_one_telegram_message_with_many_clinicians():
    reviews = [ReviewRow(i, 1000 + i, "approve", T0, "a", "a") for i in range(400)]
    text = console_text("head", console_figures(reviews, []), Period(None, None))
    assert utf16_len(text) <= MESSAGE_LIMIT
    assert "more clinicians" in text and STUDY_LINE in text


def test_stats_periods():
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    assert parse_stats_period([], now) == Period(now - dt.timedelta(days=30), None)
    assert parse_stats_period(["7d"], now) == Period(now - dt.timedelta(days=7), None)
    assert parse_stats_period(["all"], now) == Period(None, None)
    assert parse_stats_period(["2026-11-01"], now).since == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    whole = parse_stats_period(["2026-11-01", "2026-11-30"], now)
    assert whole.until == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # the last day is included
    for bad in (["yesterday"], ["0d"], ["2026-13-01"], ["2026-11-30", "2026-11-01"], ["a", "b", "c"]):
        with pytest.raises(UsageError, match="Usage: /stats"):
            parse_stats_period(bad, now)
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        parse_date("1.11.2026")
    assert between("2026-11-01").until is None


def test_template_buttons_carry_ids_within_the_callback_limit():
    assert template_offer_parts([], 5) == []
    items = [Template(10**15 + i, f"name{i}", "text") for i in range(3)]
    (part,) = template_offer_parts(items, 5)
    datas = [data for row in part["buttons"] for _, data in row]
    assert datas == [f"tp:{10**15 + i}" for i in range(3)]
    assert all(len(d.encode()) <= CALLBACK_DATA_LIMIT for d in datas) and "case #5" in part["text"]
