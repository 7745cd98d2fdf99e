from __future__ import annotations

import pytest

from dermvqa.data.challenge import Encounter, Prediction, Response
from dermvqa.errors import AlignmentError, MetricError
from dermvqa.evaluation import EvaluationOptions, align, evaluate, train_answers_from
from dermvqa.metrics.reference_weights import AuthorInfo


def enc(eid, *answers, author="U1"):
    return Encounter(eid, responses=tuple(Response(author, {"en": a}, 1.0, 1.0) for a in answers))


REFS = [enc("A", "eczema use a steroid cream"), enc("B", "psoriasis use calcipotriol", "plaque psoriasis")]


def test_alignment_is_by_id_not_position():
    preds = [Prediction("B", "psoriasis"), Prediction("A", "eczema")]
    assert [(e.encounter_id, p.text) for e, p in align(REFS, preds)] == [("A", "eczema"), ("B", "psoriasis")]


@pytest.mark.parametrize(
    ("preds", "needle"),
    [
        ([Prediction("A", "x")], "have no prediction: B"),
        ([Prediction("A", "x"), Prediction("B", "y"), Prediction("C", "z")], "not in the references: C"),
        ([Prediction("A", "x"), Prediction("B", "y"), Prediction("B", "z")], "duplicated prediction id(s): B"),
    ],
)
def test_alignment_errors_name_the_ids(preds, needle):
    with pytest.raises(AlignmentError) as excinfo:
        align(REFS, preds)
    assert needle in str(excinfo.value)


def test_summary_and_per_case_without_bertscore():
    preds = [Prediction("A", "eczema use a steroid cream"), Prediction("B", "eczema use a steroid cream")]
    train = train_answers_from([enc("T1", "eczema use a steroid cream"), enc("T2", "no idea")])
    result = evaluate(REFS, preds, EvaluationOptions(metrics=("deltableu", "collapse")), train_answers=train)
    s = result.summary
    assert s["n"] == 2
    assert 0 < s["deltableu_en"] < 100
    assert s["weights"].startswith("none")
    assert s["largest_cluster_share"] == 1.0
    assert s["copy_share"] == 1.0
    a, b = result.per_case
    assert a["deltableu_en"] == pytest.approx(100.0)
    assert b["deltableu_en"] < a["deltableu_en"]
    assert a["nearest_train"] == "T1#0"
    assert a["cluster"] == b["cluster"] == 0


def test_userinfo_weights_change_the_score_only_when_applied():
    junior = Response("junior", {"en": "eczema"}, 1.0, 1.0)  # k = 1 (frequent answer only): 0.8
    senior = Response("senior", {"en": "psoriasis"}, 1.0, 1.0)  # md, level 5, frequent: 1.0
    refs = [Encounter("A", responses=(junior, senior))]
    preds = [Prediction("A", "eczema")]
    userinfo = {"junior": AuthorInfo("", "level_1"), "senior": AuthorInfo("md_validated", "level_5")}
    auto = evaluate(refs, preds, EvaluationOptions(metrics=("deltableu",)), userinfo=userinfo).summary
    forced = evaluate(refs, preds, EvaluationOptions(metrics=("deltableu",), weights="userinfo"), userinfo=userinfo)
    assert auto["weights"].startswith("none")
    assert auto["deltableu_en"] == pytest.approx(100.0)
    assert forced.summary["weights"] == "userinfo"
    # The only match is in the 0.8 reference, while totals count at max_w = 1.0.
    assert forced.summary["deltableu_en"] == pytest.approx(80.0)


def test_unknown_metric_and_missing_language():
    with pytest.raises(MetricError, match="unknown metric"):
        evaluate(REFS, [Prediction("A", "x"), Prediction("B", "y")], EvaluationOptions(metrics=("rouge",)))
    no_en = [Encounter("A", responses=(Response("U", {"zh": "湿疹"}),))]
    with pytest.raises(MetricError, match="encounter A: no reference answer has content_en"):
        evaluate(no_en, [Prediction("A", "x")], EvaluationOptions(metrics=("deltableu",)))


def _two_author_case():
    junior = Response("junior", {"en": "eczema", "zh": "湿疹"}, 1.0, 1.0)  # k = 1: weight 0.8
    senior = Response("senior", {"en": "psoriasis", "zh": "银屑病"}, 1.0, 1.0)  # k = 3: weight 1.0
    userinfo = {"junior": AuthorInfo("", "level_1"), "senior": AuthorInfo("md_validated", "level_5")}
    return [Encounter("A", responses=(junior, senior))], userinfo


def test_auto_weights_english_too_when_the_prediction_file_carries_chinese():
    refs, userinfo = _two_author_case()
    preds = [Prediction("A", "eczema")]

    def run(prediction_langs, lang="en", **kw):
        options = EvaluationOptions(lang=lang, metrics=("deltableu",), prediction_langs=prediction_langs)
        return evaluate(refs, preds if lang == "en" else [Prediction("A", "湿疹")], options, **kw).summary

    english_only = run(("en",), userinfo=userinfo)
    assert english_only["weights"].startswith("none")
    assert english_only["deltableu_en"] == pytest.approx(100.0)
    assert english_only["warnings"] == []
    with_zh = run(("en", "zh"), userinfo=userinfo)
    assert with_zh["weights"] == "userinfo"
    assert "content_zh" in with_zh["weights_reason"]
    assert with_zh["deltableu_en"] == pytest.approx(80.0)  # the only match is the 0.8 reference's
    # Chinese scored from a file of unknown languages: the loaded language counts, as before.
    assert run(None, lang="zh", userinfo=userinfo)["weights"] == "userinfo"
    # The official scorer would weight, but there is no userinfo: said plainly, in warnings too.
    no_csv = run(("en", "zh"))
    assert no_csv["weights"].startswith("none")
    assert any("NOT the official" in w for w in no_csv["warnings"])


class _FakeScorer:
    """Stands in for BertScorer: a fixed F1 and a real model spec (the part evaluate reads)."""

    def __init__(self, name):
        from dermvqa.metrics.bertscore import BertScoreModelSpec

        self.spec = BertScoreModelSpec(name=name, path=name, layer=6)

    def max_f1(self, hypotheses, references):
        return [0.5 for _ in hypotheses]


@pytest.mark.parametrize(
    ("lang", "model", "meaningful"),
    [
        ("en", "sentence-transformers/all-MiniLM-L6-v2", True),
        ("zh", "sentence-transformers/all-MiniLM-L6-v2", False),
        ("es", "sentence-transformers/all-MiniLM-L6-v2", False),
        ("zh", "my-multilingual-model", True),
    ],
)
def test_bertscore_says_when_the_model_does_not_fit_the_language(lang, model, meaningful):
    refs = [Encounter("A", responses=(Response("U", {lang: "eczema"}),))]
    options = EvaluationOptions(lang=lang, metrics=("bertscore",))
    s = evaluate(refs, [Prediction("A", "x")], options, bert_scorer=_FakeScorer(model)).summary
    assert s[f"bertscore_{lang}"] == 0.5  # computed either way
    assert s["bertscore_meaningful"] is meaningful
    assert any("NOT meaningful" in w for w in s["warnings"]) is (not meaningful)
