"""Multiple-choice prompts for a VLM and reading its replies (pure)."""

from __future__ import annotations

import pytest

from dermvqa.closedqa.asking import choice_options, choice_prompt, parse_choice
from dermvqa.closedqa.questions import family_by_id

SITE = family_by_id("CQID011")
ONSET = family_by_id("CQID015")


def test_the_prompt_numbers_every_option_but_not_mentioned():
    prompt = choice_prompt(ONSET, "Red rash")
    assert "1. within hours" in prompt and "6. multiple years" in prompt
    assert "Not mentioned" not in prompt and "The patient wrote: Red rash" in prompt
    assert "one option" in prompt
    assert "at most 6" in choice_prompt(SITE, "")
    assert len(choice_options(SITE)) == len(SITE.options) - 1


@pytest.mark.parametrize(
    "reply, family, expected",
    [
        ("3", ONSET, (2,)),
        ("Answer: 4.", ONSET, (3,)),
        ("within weeks", ONSET, (2,)),
        ("3, 6", SITE, (2, 5)),
        ("2 and 5", SITE, (1, 4)),
        ("upper extremities and back", SITE, (2, 5)),
        ("3, 4", ONSET, None),  # two answers to a one-answer family
        ("9", ONSET, None),  # no such option
        ("within weeks or within months", ONSET, None),
        ("<unk> garbage tokens", ONSET, None),
        ("", SITE, None),
        ("backache", SITE, None),  # a whole phrase only
    ],
)
def test_parse_choice_reads_numbers_or_option_names_and_refuses_the_rest(reply, family, expected):
    assert parse_choice(reply, family) == expected
