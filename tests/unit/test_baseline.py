from __future__ import annotations

from dermvqa.baseline import NearestQueryBaseline, constant_predictions
from dermvqa.data.challenge import load_encounters
from dermvqa.data.locations import EXAMPLES_DIR


def test_retrieval_answers_from_the_most_similar_training_query():
    train = load_encounters(EXAMPLES_DIR / "example_train.json")
    valid = load_encounters(EXAMPLES_DIR / "example_valid.json")
    preds = {p.encounter_id: p.text for p in NearestQueryBaseline(train).predict(valid)}
    assert "eczema" in preds["EX101"].lower()
    assert "psoriasis" in preds["EX102"].lower()
    assert "ringworm" in preds["EX103"].lower()
    assert "acne" in preds["EX104"].lower()
    assert {p.text for p in constant_predictions(valid)} == {constant_predictions(valid)[0].text}
