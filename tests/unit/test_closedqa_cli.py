"""``dermvqa evaluate-closed`` and ``predict-closed``, and the VLM path of the closed-question prediction."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from dermvqa.cli import main as dermvqa_main
from dermvqa.closedqa.answers import encounter_json
from dermvqa.closedqa.files import load_closed_file, shipped_majority
from dermvqa.closedqa.prediction import ClosedPredictOptions, predict_closed
from dermvqa.data.challenge import load_encounters
from dermvqa.drafting.scripted import ScriptedDrafter
from dermvqa.errors import DataFormatError
from dermvqa.prompts import RAW_PROMPT_ID

QUERIES = [
    {"encounter_id": "ENC90001", "image_ids": ["IMG_ENC90001_00001.jpg"], "query_title_en": "Itchy arm",
     "query_content_en": "Very itchy red bumps on my forearm for three weeks."},
    {"encounter_id": "ENC90002", "image_ids": [], "query_title_en": "Help", "query_content_en": "What is this?"},
]  # fmt: skip


def write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def queries(tmp_path):
    path = write(tmp_path / "queries.json", QUERIES)
    Image.new("RGB", (32, 32), (180, 90, 90)).save(tmp_path / "IMG_ENC90001_00001.jpg")
    return path


@pytest.fixture
def gold(tmp_path):
    return write(
        tmp_path / "gold.json",
        [
            encounter_json("ENC90001", {"CQID011": [2], "CQID015": [2], "CQID025": [0], "CQID034": [2]}),
            encounter_json("ENC90002", {"CQID010": [1]}),
        ],
    )


def test_evaluate_closed_prints_a_table_or_json(tmp_path, gold, capsys):
    assert dermvqa_main(["evaluate-closed", str(gold), str(gold)]) == 0
    out = capsys.readouterr().out
    assert "CQID015   Onset" in out and out.splitlines()[-1].split() == ["all", "1.0000"]
    assert dermvqa_main(["evaluate-closed", str(gold), str(gold), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy_all"] == 1.0 and len(result) == 10


def test_evaluate_closed_names_missing_and_extra_encounters(tmp_path, gold, capsys):
    objects = json.loads(gold.read_text())
    other = write(tmp_path / "pred.json", [objects[0], encounter_json("ENC99999", {})])
    assert dermvqa_main(["evaluate-closed", str(gold), str(other)]) == 2
    err = capsys.readouterr().err
    assert "missing from the predictions: ENC90002" in err and "not in the references: ENC99999" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"encounter_id": "E"}', "expected a JSON list"),
        ('[{"CQID025-001": 0}]', "entry 0"),
        ('[{"encounter_id": "E", "CQID025-001": "yes"}]', "CQID025-001"),
    ],
)
def test_evaluate_closed_rejects_a_malformed_file_with_exit_2(tmp_path, gold, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    assert dermvqa_main(["evaluate-closed", str(gold), str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert dermvqa_main(["evaluate-closed", str(gold), str(tmp_path / "absent.json")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_predict_closed_from_text_writes_a_file_that_scores(tmp_path, queries, gold, capsys):
    out = tmp_path / "closed.json"
    assert dermvqa_main(["predict-closed", "--input", str(queries), "--out", str(out)]) == 0
    objects = load_closed_file(out)
    assert [o["encounter_id"] for o in objects] == ["ENC90001", "ENC90002"]
    assert objects[0]["CQID015-001"] == 2 and objects[0]["CQID025-001"] == 0 and objects[0]["CQID011-001"] == 2
    assert objects[1]["CQID010-001"] == shipped_majority()["CQID010-001"]  # the majority fallback
    assert dermvqa_main(["predict-closed", "--input", str(queries), "--fallback", "not-mentioned", "--out",
                         str(tmp_path / "nm.json")]) == 0  # fmt: skip
    assert load_closed_file(tmp_path / "nm.json")[1]["CQID010-001"] == 3
    capsys.readouterr()
    assert dermvqa_main(["evaluate-closed", str(gold), str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy_CQID015"] == 1.0


def test_predict_closed_refuses_images_without_a_model(tmp_path, queries, capsys):
    assert dermvqa_main(["predict-closed", "--input", str(queries), "--images", str(tmp_path),
                         "--out", str(tmp_path / "o.json")]) == 2  # fmt: skip
    assert "--images and --model go together" in capsys.readouterr().err


def test_the_model_answers_the_families_the_text_left_open(queries, tmp_path):
    drafter = ScriptedDrafter(template="1")  # "option 1" for every question it is asked
    encounters = load_encounters(queries)
    report = predict_closed(encounters, shipped_majority(), ClosedPredictOptions(), tmp_path, drafter)
    first, second = report.objects
    assert first["CQID015-001"] == 2  # the text answered: the model was not asked
    assert first["CQID010-001"] == 0 and first["CQID036-001"] == 0  # asked: "1" -> the first option
    assert second["CQID010-001"] == shipped_majority()["CQID010-001"]  # no image: not asked
    assert report.from_model == 9 - 4 and drafter.batches == [
        [f"ENC90001|{f}" for f in ("CQID010", "CQID012", "CQID020", "CQID035", "CQID036")]
    ]


def test_unreadable_and_failed_replies_fall_back(queries, tmp_path):
    class Broken(ScriptedDrafter):
        def draft_batch(self, requests):
            assert all(r.prompt_id == RAW_PROMPT_ID and "Question:" in r.query for r in requests)
            outcomes = super().draft_batch(requests)
            return [outcomes[0].__class__(outcomes[0].key, error=RuntimeError("boom")), *outcomes[1:]]

    report = predict_closed(
        load_encounters(queries), {}, ClosedPredictOptions(fallback="not-mentioned"), tmp_path, Broken("zzz")
    )
    assert report.failed == 1 and report.unparsed == 4 and report.from_model == 0
    assert report.objects[0]["CQID010-001"] == 3  # "Not mentioned"


def test_a_corrupt_image_skips_the_model_for_that_encounter(queries, tmp_path):
    (tmp_path / "IMG_ENC90001_00001.jpg").write_bytes(b"not an image")
    report = predict_closed(load_encounters(queries), {}, ClosedPredictOptions(), tmp_path, ScriptedDrafter("1"))
    assert report.failed == 5 and report.from_model == 0


def test_predict_closed_with_the_tiny_model_plumbs_through_to_evaluate_closed(tiny_model_dir, queries, gold, capsys):
    """The random tiny VLM answers garbage: every reply falls back, and the file still scores."""
    out = queries.parent / "tiny.json"
    code = dermvqa_main(["predict-closed", "--input", str(queries), "--images", str(queries.parent),
                         "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--out", str(out)])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "wrote 2 encounters" in err and "from the model" in err
    assert dermvqa_main(["evaluate-closed", str(gold), str(out), "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["accuracy_all"] <= 1.0


def test_load_closed_file_rejects_a_folder(tmp_path):
    with pytest.raises(DataFormatError, match="folder"):
        load_closed_file(tmp_path)
