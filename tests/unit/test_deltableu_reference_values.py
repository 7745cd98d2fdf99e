"""Reproduce every value the official MEDIQA-M3G/MAGIC scorer produced, to 1e-9."""

from __future__ import annotations

import json

import pytest

from dermvqa.data.challenge import load_encounters
from dermvqa.data.userinfo import load_userinfo
from dermvqa.metrics.deltableu import corpus_delta_bleu
from dermvqa.metrics.reference_weights import reference_weights


def _hypotheses(spec: str, encounters, dermavqa_dir, constant: str) -> list[str]:
    n = len(encounters)
    if spec == "each encounter's own query_title_en":
        return [e.title["en"] for e in encounters]
    if spec == "constant_answer for every encounter":
        return [constant] * n
    if spec.startswith("for encounter i (file order), the first response's content_en of encounter (i+1) mod N"):
        return [encounters[(i + 1) % n].responses[0].content["en"] for i in range(n)]
    if spec.startswith("for encounter i (file order), the first response's content_en of reddit/train_answersonly"):
        train = load_encounters(dermavqa_dir / "reddit" / "train_answersonly.json")
        return [train[i].responses[0].content["en"] for i in range(n)]
    raise AssertionError(f"unknown hypothesis recipe: {spec}")


def test_every_reference_value_is_reproduced(dermavqa_dir):
    spec = json.loads((dermavqa_dir.parent / "deltableu-reference-values.json").read_text())
    userinfo = load_userinfo(dermavqa_dir / "iiyi" / "df_userinfo.csv")
    assert len(spec["cases"]) >= 6
    for case in spec["cases"]:
        encounters = load_encounters(dermavqa_dir / case["references"])
        use = {"df_userinfo": True, "all 1": False}[case["weights"]]
        refs = [
            [
                (r.content["en"], w)
                for r, w in zip(e.responses, reference_weights(e.responses, userinfo, use), strict=True)
            ]
            for e in encounters
        ]
        hyps = _hypotheses(case["hypothesis"], encounters, dermavqa_dir, spec["constant_answer"])
        got = corpus_delta_bleu(hyps, refs).score
        assert got == pytest.approx(case["deltableu_en"], abs=1e-9), case["id"]


def test_the_evaluate_command_path_reproduces_a_reference_value(dermavqa_dir, tmp_path):
    """Through the prediction file, id alignment and the --weights userinfo policy."""
    from dermvqa.data.challenge import Prediction, load_predictions, write_predictions
    from dermvqa.evaluation import EvaluationOptions, evaluate

    spec = json.loads((dermavqa_dir.parent / "deltableu-reference-values.json").read_text())
    case = next(c for c in spec["cases"] if c["id"] == "iiyi_valid_hyp_query_title_weighted")
    references = load_encounters(dermavqa_dir / case["references"])
    path = tmp_path / "pred.json"
    # Reversed order on purpose: alignment is by encounter_id.
    write_predictions(path, [Prediction(e.encounter_id, e.title["en"]) for e in reversed(references)])
    result = evaluate(
        references,
        load_predictions(path),
        EvaluationOptions(metrics=("deltableu",), weights="userinfo"),
        userinfo=load_userinfo(dermavqa_dir / "iiyi" / "df_userinfo.csv"),
    )
    assert result.summary["deltableu_en"] == pytest.approx(case["deltableu_en"], abs=1e-9)


@pytest.mark.parametrize(
    ("carries_zh", "case_id"),
    [(True, "iiyi_valid_hyp_query_title_weighted"), (False, "iiyi_valid_hyp_query_title_unweighted")],
)
def test_default_auto_weights_reproduce_the_official_english_score(dermavqa_dir, tmp_path, capsys, carries_zh, case_id):
    """`dermvqa evaluate` with default --weights auto: a file carrying content_zh is weighted, on English too."""
    from dermvqa.cli import main

    spec = json.loads((dermavqa_dir.parent / "deltableu-reference-values.json").read_text())
    case = next(c for c in spec["cases"] if c["id"] == case_id)
    references = load_encounters(dermavqa_dir / case["references"])
    rows = [
        {
            "encounter_id": e.encounter_id,
            "responses": [{"content_en": e.title["en"], **({"content_zh": e.title["zh"]} if carries_zh else {})}],
        }
        for e in references
    ]
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    userinfo = dermavqa_dir / "iiyi" / "df_userinfo.csv"
    argv = ["evaluate", str(dermavqa_dir / case["references"]), str(path), "--metrics", "deltableu"]
    assert main([*argv, "--userinfo", str(userinfo), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["deltableu_en"] == pytest.approx(case["deltableu_en"], abs=1e-9)
    assert summary["weights"] == ("userinfo" if carries_zh else "none (every reference weighs 1)")
