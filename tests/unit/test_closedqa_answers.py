"""Chosen answers <-> the challenge's JSON object (filled like the gold files)."""

from __future__ import annotations

import json

import pytest

from dermvqa.closedqa.answers import chosen_from_json, encounter_json
from dermvqa.closedqa.files import shared_magic_dir
from dermvqa.closedqa.questions import load_families
from dermvqa.closedqa.scorer import score
from dermvqa.errors import DataFormatError


def test_every_qid_is_present_and_unanswered_families_are_not_mentioned():
    obj = encounter_json("ENC1", {})
    assert obj["encounter_id"] == "ENC1"
    assert len(obj) == 28
    for family in load_families():
        assert all(obj[qid] == family.not_mentioned for qid in family.qids)


def test_multi_answers_fill_the_first_ids_then_not_mentioned_like_the_gold_files():
    obj = encounter_json("ENC1", {"CQID011": [5, 2], "CQID015": [2], "CQID025": (0,)})
    assert [obj[f"CQID011-00{n}"] for n in range(1, 7)] == [5, 2, 7, 7, 7, 7]
    assert obj["CQID015-001"] == 2 and obj["CQID025-001"] == 0
    assert obj["CQID010-001"] == 3  # unanswered


def test_repeated_choices_and_an_explicit_not_mentioned_collapse():
    obj = encounter_json("ENC1", {"CQID011": [3, 3, 7, 0]})
    assert [obj[f"CQID011-00{n}"] for n in range(1, 7)] == [3, 0, 7, 7, 7, 7]
    assert encounter_json("E", {"CQID025": [2]})["CQID025-001"] == 2


@pytest.mark.parametrize(
    "chosen, message",
    [
        ({"CQID025": [3]}, "CQID025"),  # index out of range
        ({"CQID025": [0, 1]}, "at most 1"),  # two answers to a single-answer family
        ({"CQID011": [0, 1, 2, 3, 4, 5, 6]}, "at most 6"),
        ({"CQID999": [0]}, "CQID999"),
        ({"CQID025": [True]}, "CQID025"),
    ],
)
def test_invalid_choices_raise_naming_the_family(chosen, message):
    with pytest.raises(DataFormatError, match=message):
        encounter_json("E", chosen)


def test_chosen_from_json_is_the_inverse_and_drops_not_mentioned_families():
    chosen = {"CQID011": (5, 2), "CQID015": (2,), "CQID034": (8,)}
    assert chosen_from_json(encounter_json("E", chosen)) == chosen
    assert chosen_from_json(encounter_json("E", {})) == {}
    with pytest.raises(DataFormatError, match="CQID011-007"):
        chosen_from_json({"encounter_id": "E", "CQID011-007": 1})
    with pytest.raises(DataFormatError, match="CQID025"):
        chosen_from_json({"encounter_id": "E", "CQID025-001": 9})


def test_round_trip_of_every_gold_encounter_keeps_its_score():
    folder = shared_magic_dir()
    if folder is None:
        pytest.skip("../shared/data/magic2025 is absent (set DERMVQA_DATA to run this test)")
    gold = json.loads((folder / "train_cvqa.json").read_text("utf-8"))
    families = load_families()

    def fills_every_id_with_repeats(obj):  # e.g. six sizes, one per site, only two distinct: no "Not mentioned"
        return any(
            all(obj[q] != f.not_mentioned for q in f.qids) and len({obj[q] for q in f.qids}) < len(f.qids)
            for f in families
        )

    usual = [obj for obj in gold if not fills_every_id_with_repeats(obj)]
    assert len(usual) >= len(gold) - 2
    rebuilt = [encounter_json(obj["encounter_id"], chosen_from_json(obj)) for obj in usual]
    assert score(usual, rebuilt)["accuracy_all"] == 1.0

    # without a repeated answer (the gold repeats a size per site) the object is rebuilt exactly
    def repeats(obj):
        return any(
            len(values := [obj[q] for q in f.qids if obj[q] != f.not_mentioned]) != len(set(values)) for f in families
        )

    exact = [obj for obj in gold if not repeats(obj)]
    assert len(exact) > 200
    assert all(encounter_json(obj["encounter_id"], chosen_from_json(obj)) == obj for obj in exact)
