"""``dermvqa evaluate`` end to end through ``main`` (deltaBLEU and collapse; BERTScore in tests/model)."""

from __future__ import annotations

import json

import pytest

from dermvqa.cli import main
from dermvqa.data.challenge import Prediction, write_predictions
from dermvqa.data.locations import EXAMPLES_DIR

REFS = EXAMPLES_DIR / "example_valid.json"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def preds(tmp_path, items, name="pred.json"):
    path = tmp_path / name
    write_predictions(path, [Prediction(i, t) for i, t in items])
    return path


COPY = json.loads((EXAMPLES_DIR / "example_train.json").read_text())[0]["responses"][0]["content_en"]
ALL = [("EX101", COPY), ("EX102", "Psoriasis."), ("EX103", "Ringworm."), ("EX104", "Acne.")]


def test_json_summary_and_per_case_file(tmp_path, capsys):
    per_case = tmp_path / "cases.jsonl"
    code, out, _ = run(
        capsys,
        "evaluate",
        REFS,
        preds(tmp_path, ALL),
        "--metrics",
        "deltableu,collapse",
        "--json",
        "--per-case",
        per_case,
        "--train",
        EXAMPLES_DIR / "example_train.json",
    )
    assert code == 0
    summary = json.loads(out)
    assert summary["n"] == 4
    assert summary["weights"].startswith("none")
    assert 0 < summary["deltableu_en"] < 100
    assert summary["distinct_answers"] == 4
    rows = [json.loads(line) for line in per_case.read_text().splitlines()]
    assert [r["encounter_id"] for r in rows] == ["EX101", "EX102", "EX103", "EX104"]
    assert all("deltableu_en" in r and "cluster" in r for r in rows)
    assert rows[0]["nearest_train"] == "EX001#0" and rows[0]["nearest_train_similarity"] == 1.0


def test_readable_table_by_default(tmp_path, capsys):
    code, out, _ = run(capsys, "evaluate", REFS, preds(tmp_path, ALL), "--metrics", "deltableu")
    assert code == 0
    assert "deltaBLEU (en)" in out and "reference weights" in out


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        (ALL[:3], "have no prediction: EX104"),
        ([*ALL, ("EX999", "x")], "not in the references: EX999"),
        ([*ALL, ("EX101", "again")], "duplicated prediction id(s): EX101"),
    ],
)
def test_id_mismatch_exits_2_and_names_the_ids(tmp_path, capsys, items, needle):
    code, out, err = run(capsys, "evaluate", REFS, preds(tmp_path, items), "--metrics", "deltableu")
    assert code == 2
    assert needle in err
    assert out == ""


def test_malformed_prediction_file_exits_2_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"encounter_id": "EX101", "responses": []}]))
    code, _, err = run(capsys, "evaluate", REFS, bad, "--metrics", "deltableu")
    assert code == 2
    assert "entry 0: field 'responses'" in err


def test_weights_userinfo_without_csv_is_refused(tmp_path, capsys):
    code, _, err = run(
        capsys, "evaluate", REFS, preds(tmp_path, ALL), "--metrics", "deltableu", "--weights", "userinfo"
    )
    assert code == 2
    assert "--userinfo" in err
