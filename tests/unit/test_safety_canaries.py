"""The planted drafts' list and rules (pure): validation, the plant decision, sides, outcomes."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from dermvqa.casework import canaries
from dermvqa.casework.canaries import (
    CAUGHT_EDIT,
    CAUGHT_REJECT,
    MISSED_APPROVED,
    PENDING,
    SUPERSEDED,
    WRONG_SIDE,
    count_outcomes,
    load_canaries,
    outcome_after,
    parse_canaries,
    patient_side,
    plant,
    should_plant,
)
from dermvqa.config import ReviewConfig, load_config
from dermvqa.errors import ConfigError, DataFormatError


def shipped() -> dict:
    return json.loads(resources.files("dermvqa.casework").joinpath("canaries.json").read_text(encoding="utf-8"))


def test_the_shipped_list_is_valid_versioned_and_covers_every_kind():
    items = load_canaries()
    assert items.version and 9 <= len(items.items) <= 15
    assert {c.kind for c in items.items} == set(canaries.KINDS)
    assert len({c.id for c in items.items}) == len(items.items)
    for canary in items.items:  # a real draft never says "planted"; nothing names a person
        assert "planted" not in canary.text.lower() and "@" not in canary.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=""), "version"),
        (lambda d: d.update(items=[]), "items"),
        (lambda d: d["items"][1].update(id=d["items"][0]["id"]), "used twice"),
        (lambda d: d["items"][0].update(kind="wrong_drug"), "kind must be one of"),
        (lambda d: d["items"][0].update(text="No side named here."), "must use {side}"),
        (lambda d: d["items"][4].update(text="Apply it to your {side} side."), "only wrong_side"),
        (lambda d: d["items"][0].update(explanation="Wrong {place}."), "explanation may use only"),
        (lambda d: d["items"][0].update(extra="x"), "exactly the fields"),
        (lambda d: d["items"][0].update(id="Has Spaces"), "lowercase"),
        (lambda d: d["items"][0].update(explanation="  "), "non-empty"),
    ],
)
def test_a_faulty_list_is_refused_naming_what_is_wrong(change, message):
    data = copy.deepcopy(shipped())
    change(data)
    with pytest.raises(DataFormatError, match=message):
        parse_canaries(data)


def test_the_plant_decision_is_a_function_of_the_rate_and_the_draw():
    assert not any(should_plant(0.0, draw) for draw in (0.0, 0.5, 0.999))
    assert all(should_plant(1.0, draw) for draw in (0.0, 0.5, 0.999))
    assert should_plant(0.3, 0.2999) and not should_plant(0.3, 0.3)
    hits = sum(should_plant(0.25, n / 1000) for n in range(1000))
    assert hits == 250


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("A mole on my right forearm", "right"),
        ("Red patch on the left side of my neck", "left"),
        ("It hurts on my left, near the hip", "left"),
        ("All right, it started right away on the back", None),  # no side named
        ("Rash on the left leg and the right leg", None),  # both: no single side
        ("Itchy scalp", None),
        ("My Right Big Toe is swollen", "right"),
    ],
)
def test_the_patients_side_is_read_only_next_to_a_body_part(text, side):
    assert patient_side(text) == side


def test_a_wrong_side_draft_names_the_other_side_and_explains_it():
    items = load_canaries()
    wrong = [c for c in items.items if c.kind == WRONG_SIDE]
    planted = plant(items, "A changing mole on my left shoulder", draw=0.0)
    assert planted.canary_id == wrong[0].id and planted.version == items.version
    assert "right side" in planted.text and "left" not in planted.text
    assert "the left side" in planted.explanation and "{" not in planted.explanation


def test_without_a_single_side_no_wrong_side_draft_is_planted():
    items = load_canaries()
    chosen = {plant(items, "Itchy rash on both arms", draw=n / 100).kind for n in range(100)}
    assert WRONG_SIDE not in chosen and chosen == set(canaries.KINDS) - {WRONG_SIDE}


def test_every_item_can_be_drawn():
    items = load_canaries()
    n = len(items.items)
    drawn = {plant(items, "on my right hand", draw=(i + 0.5) / n).canary_id for i in range(n)}
    assert drawn == {c.id for c in items.items}
    assert plant(items, "on my right hand", draw=0.9999999).canary_id == items.items[-1].id


def test_outcomes_change_once_and_only_from_pending():
    assert outcome_after(PENDING, "approve") == MISSED_APPROVED
    assert outcome_after(PENDING, "edit") == CAUGHT_EDIT
    assert outcome_after(PENDING, "reject") == CAUGHT_REJECT
    assert outcome_after(PENDING, "regenerate") == SUPERSEDED
    for done in (MISSED_APPROVED, CAUGHT_EDIT, CAUGHT_REJECT, SUPERSEDED):
        for action in ("approve", "edit", "reject", "regenerate"):
            assert outcome_after(done, action) is None


def test_the_catch_rate_counts_only_decisions_on_the_planted_draft():
    rate = count_outcomes([CAUGHT_EDIT, CAUGHT_REJECT, MISSED_APPROVED, PENDING, SUPERSEDED, SUPERSEDED])
    assert (rate.planted, rate.caught, rate.missed, rate.pending, rate.superseded) == (6, 2, 1, 1, 2)
    assert rate.rate == pytest.approx(2 / 3)
    assert count_outcomes([PENDING, SUPERSEDED]).rate is None


def test_canary_rate_is_validated_with_a_clear_message(tmp_path, monkeypatch):
    assert ReviewConfig().canary_rate == 0.0  # off unless asked for
    path = tmp_path / "config.toml"
    path.write_text("[review]\ncanary_rate = 1.5\n")
    with pytest.raises(ConfigError, match=r"canary_rate.*0\.0 to 1\.0"):
        load_config(path)
    path.write_text("[review]\ncanary_rate = 0.05\n")
    assert load_config(path).review.canary_rate == 0.05
