"""Canned replies' names and placeholders (dermvqa.casework.template_text)."""

from __future__ import annotations

import datetime as dt

import pytest

from dermvqa.casework.template_text import MAX_NAME, MAX_TEXT, check_name, check_text, expand
from dermvqa.errors import UsageError


def test_placeholders_are_filled_in_for_the_case_and_today():
    text = check_text("  Case #{case}, {date}: see a GP within {{2}} weeks.\nThanks ")
    assert expand(text, 12, dt.date(2026, 12, 1)) == "Case #12, 2026-12-01: see a GP within {2} weeks.\nThanks"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {name}", "unknown placeholder {name}"),
        ("Hello {}", "unknown placeholder {}"),
        ("Case {case:>5}", "unknown placeholder {case:>5}"),
        ("Case {case!r}", "unknown placeholder {case!r}"),
        ("Case {case", "unbalanced braces"),
        ("Case }", "unbalanced braces"),
        ("   ", "empty"),
        ("x" * (MAX_TEXT + 1), "at most"),
    ],
)
def test_bad_texts_are_refused_with_a_clear_message(text, message):
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_text(text)


def test_names():
    assert check_name("follow-up_2") == "follow-up_2"
    for bad in ("", "two words", "x" * (MAX_NAME + 1), "émoji", "a/b"):
        with pytest.raises(UsageError, match="template name"):
            check_name(bad)
