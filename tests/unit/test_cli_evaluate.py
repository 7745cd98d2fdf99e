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


def _bilingual_case(tmp_path):
    """One encounter: a junior (weight 0.8) and a senior (1.0) answer in English and Chinese."""
    refs = tmp_path / "refs.json"
    scores = {"completeness": 1.0, "contains_freq_ans": 1.0}
    responses = [
        {"author_id": "junior", "content_zh": "湿疹", "content_en": "eczema", **scores},
        {"author_id": "senior", "content_zh": "银屑病", "content_en": "psoriasis", **scores},
    ]
    refs.write_text(json.dumps([{"encounter_id": "A", "image_ids": [], "responses": responses}]), "utf-8")
    userinfo = tmp_path / "df_userinfo.csv"
    userinfo.write_text("author_id,validation_level,rank_level\njunior,,level_1\nsenior,md_validated,level_5\n")
    return refs, userinfo


def _pred_file(tmp_path, name, answer):
    path = tmp_path / name
    path.write_text(json.dumps([{"encounter_id": "A", "responses": [answer]}], ensure_ascii=False), "utf-8")
    return path


def test_auto_weights_follow_content_zh_in_the_prediction_file(tmp_path, capsys):
    refs, userinfo = _bilingual_case(tmp_path)
    en_only = _pred_file(tmp_path, "en.json", {"content_en": "eczema"})
    # An empty content_zh still counts: the official script looked at the keys only.
    with_zh = _pred_file(tmp_path, "zh.json", {"content_en": "eczema", "content_zh": ""})
    common = ("--metrics", "deltableu", "--userinfo", userinfo, "--json")
    _, out, _ = run(capsys, "evaluate", refs, en_only, *common)
    plain = json.loads(out)
    assert plain["weights"].startswith("none") and plain["deltableu_en"] == pytest.approx(100.0)
    assert "no content_zh" in plain["weights_reason"]
    _, out, _ = run(capsys, "evaluate", refs, with_zh, *common)
    weighted = json.loads(out)
    assert weighted["weights"] == "userinfo" and weighted["deltableu_en"] == pytest.approx(80.0)
    assert "content_zh" in weighted["weights_reason"] and weighted["warnings"] == []


def test_text_output_gives_the_weights_reason_and_warnings(tmp_path, capsys):
    refs, _ = _bilingual_case(tmp_path)
    with_zh = _pred_file(tmp_path, "zh.json", {"content_en": "eczema", "content_zh": "湿疹"})
    code, out, _ = run(capsys, "evaluate", refs, with_zh, "--metrics", "deltableu", "--lang", "zh")
    assert code == 0
    assert "deltaBLEU (zh)" in out
    row = next(line for line in out.splitlines() if line.startswith("reference weights"))
    assert "content_zh" in row and "no --userinfo" in row
    assert "WARNING: deltaBLEU weights:" in out and "NOT the official" in out
