"""The organisers' closed-question scoring, with plain values and the two published anchors."""

from __future__ import annotations

import json

import pytest

from dermvqa.closedqa.answers import encounter_json
from dermvqa.closedqa.files import shared_magic_dir, shipped_majority
from dermvqa.closedqa.scorer import majority_answers, pair_score, score, score_table
from dermvqa.errors import AlignmentError, DataFormatError


def test_pair_score_is_intersection_over_the_larger_set():
    assert pair_score({1, 7}, {1, 7}) == 1.0
    assert pair_score({1, 7}, {1}) == 0.5
    assert pair_score({2, 3, 7}, {2, 7}) == pytest.approx(2 / 3)
    assert pair_score({1}, {2}) == 0.0


def test_values_become_sets_so_repetitions_do_not_count():
    gold = [{"encounter_id": "E1", "CQID011-001": 2, "CQID011-002": 7, "CQID011-003": 7}]
    pred = [{"encounter_id": "E1", "CQID011-001": 2, "CQID011-002": 2, "CQID011-003": 7}]
    assert score(gold, pred) == {"accuracy_all": 1.0, "accuracy_CQID011": 1.0}


def test_family_accuracy_is_the_mean_over_encounters_and_all_is_the_mean_over_pairs():
    gold = [
        {"encounter_id": "E1", "CQID025-001": 0, "CQID015-001": 2},
        {"encounter_id": "E2", "CQID025-001": 1, "CQID015-001": 6},
    ]
    pred = [
        {"encounter_id": "E2", "CQID025-001": 1, "CQID015-001": 2},
        {"encounter_id": "E1", "CQID025-001": 0, "CQID015-001": 2},
    ]
    result = score(gold, pred)
    assert result["accuracy_CQID025"] == 1.0
    assert result["accuracy_CQID015"] == 0.5
    assert result["accuracy_all"] == 0.75


def test_only_eleven_character_keys_count_and_the_encounter_id_ends_at_a_dash():
    gold = [{"encounter_id": "E1", "CQID025-001": 0, "note": 5, "CQID025-0001": 9}]
    pred = [{"encounter_id": "E1-run2", "CQID025-001": 0}]
    assert score(gold, pred) == {"accuracy_all": 1.0, "accuracy_CQID025": 1.0}


def test_a_family_missing_from_a_prediction_scores_zero():
    gold = [{"encounter_id": "E1", "CQID025-001": 0, "CQID015-001": 2}]
    assert score(gold, [{"encounter_id": "E1", "CQID025-001": 0}])["accuracy_CQID015"] == 0.0


def test_missing_and_extra_encounters_raise_naming_them():
    gold = [{"encounter_id": "E1", "CQID025-001": 0}, {"encounter_id": "E2", "CQID025-001": 0}]
    with pytest.raises(AlignmentError, match="missing from the predictions: E2; not in the references: E9") as err:
        score(gold, [{"encounter_id": "E1", "CQID025-001": 0}, {"encounter_id": "E9", "CQID025-001": 0}])
    assert err.value.missing == ("E2",) and err.value.extra == ("E9",)
    with pytest.raises(AlignmentError, match="more than once: E1"):
        score(gold, [gold[0], gold[0], gold[1]])
    with pytest.raises(DataFormatError, match="entry 0"):
        score(gold, [{"CQID025-001": 0}])
    with pytest.raises(DataFormatError, match="no encounters"):
        score([], [])


def test_majority_answers_take_the_most_frequent_value_and_the_smallest_on_ties():
    refs = [{"encounter_id": "a", "CQID025-001": 1}, {"encounter_id": "b", "CQID025-001": 0},
            {"encounter_id": "c", "CQID025-001": 1}, {"encounter_id": "d", "CQID034-001": 3},
            {"encounter_id": "e", "CQID034-001": 2}]  # fmt: skip
    assert majority_answers(refs) == {"CQID025-001": 1, "CQID034-001": 2}


def test_score_table_lists_every_family_then_all():
    table = score_table({"accuracy_all": 0.5, "accuracy_CQID025": 0.5}, {"CQID025": "Itch"})
    assert table.splitlines()[1].split() == ["CQID025", "Itch", "0.5000"]
    assert table.splitlines()[-1].split() == ["all", "0.5000"]


@pytest.fixture(scope="module")
def magic_gold():
    folder = shared_magic_dir()
    if folder is None:
        pytest.skip("../shared/data/magic2025 is absent (set DERMVQA_DATA to run this test)")
    load = lambda name: json.loads((folder / name).read_text("utf-8"))  # noqa: E731
    return load("train_cvqa.json"), load("valid_cvqa.json")


def test_the_two_published_anchors_on_valid(magic_gold):
    train, valid = magic_gold
    majority = majority_answers(train)
    predicted = [{"encounter_id": obj["encounter_id"], **majority} for obj in valid]
    assert round(score(valid, predicted)["accuracy_all"], 4) == 0.5203
    nothing = [encounter_json(obj["encounter_id"], {}) for obj in valid]
    assert round(score(valid, nothing)["accuracy_all"], 4) == 0.2650
    assert score(valid, valid)["accuracy_all"] == 1.0


def test_the_shipped_majority_is_the_train_majority(magic_gold):
    train, _ = magic_gold
    assert shipped_majority() == majority_answers(train)
