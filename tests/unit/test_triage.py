"""Red-flag rules, case by case: each must fire on its danger sign and stay quiet on look-alikes."""

from __future__ import annotations

import pytest

from dermvqa.triage import RED_FLAGS, red_flags


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have a fever and the rash is spreading to my chest", "fever_spreading_rash"),
        ("High temperature since yesterday and red spots all over", "fever_spreading_rash"),
        ("My mole started bleeding last week", "changing_or_bleeding_mole"),
        ("the mole on my back is changing quickly and got darker", "changing_or_bleeding_mole"),
        ("After the new cream my lips are swollen", "angioedema"),
        ("swelling of the face and tongue after eating nuts", "angioedema"),
        ("hives and it is hard to breathe", "breathing"),
        ("blisters all over my body and mouth", "widespread_blistering"),
        ("skin is peeling in large areas after the pills", "widespread_blistering"),
        ("the rash is near my eye and my vision is blurry", "eye_involved"),
        ("shingles on my forehead and now the eye is red and painful", "eye_involved"),
        ("the area is red, hot and spreading up my leg", "spreading_infection"),
    ],
)
def test_each_rule_fires(text, expected):
    assert expected in [f.id for f in red_flags(text)]


@pytest.mark.parametrize(
    "text",
    [
        "Itchy dry patches on my elbows in winter",
        "A mole I have had for years, no change",
        "pimples on my forehead",
        "I had a fever last year; now a small itchy spot",  # fever but nothing spreading
        "ringworm-like circle on my arm",
        "my eyebrows are flaky",  # not the eye itself
    ],
)
def test_quiet_on_non_urgent_descriptions(text):
    assert red_flags(text) == []


def test_every_rule_has_a_label_and_is_covered():
    assert len({f.id for f in RED_FLAGS}) == len(RED_FLAGS)
    assert all(f.label for f in RED_FLAGS)
