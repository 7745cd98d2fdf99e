from __future__ import annotations

import json

import pytest

from dermvqa.data.challenge import (
    Encounter,
    Prediction,
    encounters_json,
    join_query,
    load_encounters,
    load_predictions,
    write_predictions,
)
from dermvqa.data.image_files import resolve_images
from dermvqa.errors import DataFormatError

ENCOUNTER = {
    "encounter_id": "ENC1",
    "author_id": "U1",
    "image_ids": ["IMG_ENC1_00001.jpg", "IMG_ENC1_00002.jpg"],
    "query_title_en": "Itchy rash",
    "query_content_en": "On my arm for a week.",
    "query_title_zh": "皮疹",
    "responses": [
        {"author_id": "U2", "content_en": "Eczema.", "content_zh": "湿疹", "completeness": 1, "contains_freq_ans": 0.0}
    ],
}


def dump(tmp_path, obj, name="f.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def test_reads_every_field_and_round_trips(tmp_path):
    [enc] = load_encounters(dump(tmp_path, [ENCOUNTER]))
    assert enc.encounter_id == "ENC1"
    assert enc.title == {"en": "Itchy rash", "zh": "皮疹"}
    assert enc.responses[0].completeness == 1.0
    assert enc.responses[0].contains_freq_ans == 0.0
    assert enc.query_text("en") == "Itchy rash;On my arm for a week."
    assert encounters_json([enc])[0] == {**ENCOUNTER, "responses": [{**ENCOUNTER["responses"][0], "completeness": 1.0}]}


def test_query_text_without_content_is_the_title():
    assert join_query("Title", "") == "Title"
    assert join_query("", "Body") == "Body"


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        ({"image_ids": []}, "entry 1: field 'encounter_id': missing"),
        ({"encounter_id": 7}, "entry 1: field 'encounter_id': expected a string"),
        ({"encounter_id": "E", "image_ids": "x.jpg"}, "entry 1: field 'image_ids'"),
        ({"encounter_id": "E", "responses": [{"content_en": 3}]}, "entry 1: field 'responses[0].content_en'"),
        ({"encounter_id": "E", "responses": [{"completeness": "full"}]}, "field 'responses[0].completeness'"),
        ("just text", "entry 1: expected an object"),
    ],
)
def test_malformed_entries_name_file_index_and_field(tmp_path, obj, needle):
    path = dump(tmp_path, [ENCOUNTER, obj])
    with pytest.raises(DataFormatError) as excinfo:
        load_encounters(path)
    assert str(path) in str(excinfo.value)
    assert needle in str(excinfo.value)


def test_not_json_and_not_a_list(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_encounters(bad)
    with pytest.raises(DataFormatError, match="expected a JSON list"):
        load_encounters(dump(tmp_path, {"encounter_id": "E"}))


def test_predictions_round_trip(tmp_path):
    path = tmp_path / "pred.json"
    write_predictions(path, [Prediction("A", "one"), Prediction("B", "two")])
    assert json.loads(path.read_text())[0] == {"encounter_id": "A", "responses": [{"content_en": "one"}]}
    assert load_predictions(path) == [Prediction("A", "one"), Prediction("B", "two")]


def test_prediction_without_the_language_is_named(tmp_path):
    path = dump(tmp_path, [{"encounter_id": "A", "responses": [{"content_zh": "x"}]}])
    with pytest.raises(DataFormatError, match=r"entry 0: field 'responses\[0\].content_en': missing"):
        load_predictions(path)


def test_resolves_listed_and_numbered_images(tmp_path):
    for name in ("IMG_ENC1_00002.jpg", "IMG_ENC1_00001.jpg", "IMG_ENC2_2.png", "IMG_ENC2_10.png", "11abc.jpeg"):
        (tmp_path / name).write_bytes(b"x")
    listed = Encounter("ENC1", image_ids=("IMG_ENC1_00001.jpg", "IMG_ENC1_00002.jpg"))
    assert [p.name for p in resolve_images(listed, tmp_path)] == ["IMG_ENC1_00001.jpg", "IMG_ENC1_00002.jpg"]
    numbered = Encounter("ENC2")
    assert [p.name for p in resolve_images(numbered, tmp_path)] == ["IMG_ENC2_2.png", "IMG_ENC2_10.png"]
    bare_reddit_id = Encounter("11abc", image_ids=("11abc",))
    assert [p.name for p in resolve_images(bare_reddit_id, tmp_path)] == ["11abc.jpeg"]
    assert resolve_images(Encounter("NONE", image_ids=("nope.jpg",)), tmp_path) == []


def test_reads_the_real_dermavqa_files(dermavqa_dir):
    valid = load_encounters(dermavqa_dir / "iiyi" / "valid_ht.json")
    assert len(valid) == 56
    assert all(r.text("en") is not None for e in valid for r in e.responses)
    assert sum(r.text("en") == "" for e in valid for r in e.responses) == 5  # kept: the scorer counted them
    reddit = load_encounters(dermavqa_dir / "reddit" / "test_answersonly.json")
    assert len(reddit) == 93 and not reddit[0].title
