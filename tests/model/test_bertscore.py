"""BERTScore on the packaged all-MiniLM-L6-v2 model (a real model, loaded offline from a package)."""

from __future__ import annotations

import json

import pytest

from dermvqa.cli import main
from dermvqa.data.challenge import Prediction, write_predictions
from dermvqa.data.locations import EXAMPLES_DIR
from dermvqa.errors import MetricError
from dermvqa.metrics.bertscore import BertScorer, packaged_model_path

pytestmark = pytest.mark.slow

CANDS = [
    "It is a case of eczema. Use topical steroid cream.",
    "psoriasis",
    "Looks like a fungal infection, try clotrimazole twice daily.",
]
REFS = [
    "This is eczema; a steroid cream helps.",
    "Typical Psoriasis",
    "Tinea corporis. Topical antifungal for 2 weeks.",
]


@pytest.fixture(scope="module")
def scorer():
    return BertScorer()


def test_matches_the_bert_score_package(scorer, tmp_path):
    """Same model and layer through the reference implementation: the same P, R, F1."""
    bert_score = pytest.importorskip("bert_score")
    # bert_score picks the model class from the name it is given ("t5" anywhere in it: T5): the
    # model is handed over by a link whose path names nothing but the model (a checkout under,
    # say, /tmp/mt5 would otherwise load MiniLM's weights into a T5 encoder).
    model = tmp_path / "all-MiniLM-L6-v2"
    model.symlink_to(packaged_model_path(), target_is_directory=True)
    p, r, f = bert_score.score(CANDS, REFS, model_type=str(model), num_layers=6)
    ours = scorer.pair_scores(CANDS, REFS)
    for i, (op, orr, of) in enumerate(ours):
        assert op == pytest.approx(float(p[i]), abs=1e-5)
        assert orr == pytest.approx(float(r[i]), abs=1e-5)
        assert of == pytest.approx(float(f[i]), abs=1e-5)


def test_max_over_references_and_names_the_model(scorer):
    single = scorer.pair_scores([CANDS[0]], [REFS[0]])[0][2]
    [best] = scorer.max_f1([CANDS[0]], [["Totally unrelated sentence about cars.", REFS[0]]])
    assert best == pytest.approx(single)
    assert scorer.spec.layer == 6
    assert "not the official roberta-large" in scorer.spec.describe()
    assert scorer.pair_scores(["same text"], ["same text"])[0][2] == pytest.approx(1.0, abs=1e-5)


def test_bad_layer_and_model_are_clear(scorer):
    with pytest.raises(MetricError, match=r"layers 1\.\.6"):
        BertScorer(layer=9)
    with pytest.raises(MetricError, match="cannot be loaded"):
        BertScorer("/nonexistent/model/dir")


def test_cli_json_keys(tmp_path, capsys):
    path = tmp_path / "pred.json"
    write_predictions(path, [Prediction(f"EX10{i}", "Eczema, use emollients.") for i in range(1, 5)])
    assert main(["evaluate", str(EXAMPLES_DIR / "example_valid.json"), str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in ("deltableu_en", "bertscore_en", "bertscore_model", "weights", "n", "largest_cluster_share"):
        assert key in summary
    assert summary["largest_cluster_share"] == 1.0
    assert 0 < summary["bertscore_en"] <= 1


def test_cli_chinese_with_the_english_model_is_computed_and_flagged(tmp_path, capsys):
    """The packaged model is English-only: the zh score is still computed, and said not to be meaningful."""
    refs = tmp_path / "refs.json"
    refs.write_text(json.dumps([{"encounter_id": "A", "responses": [{"content_zh": "湿疹，外用激素药膏。"}]}]), "utf-8")
    path = tmp_path / "pred.json"
    write_predictions(path, [Prediction("A", "考虑湿疹。")], lang="zh")
    argv = ["evaluate", str(refs), str(path), "--lang", "zh", "--metrics", "bertscore"]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert 0 < summary["bertscore_zh"] <= 1
    assert summary["bertscore_meaningful"] is False and summary["bertscore_official"] is False
    assert "bert-base-multilingual-cased layer 9" in summary["bertscore_model"]
    assert any("NOT meaningful for Chinese" in w for w in summary["warnings"])
    assert main(argv) == 0
    assert "WARNING: BERTScore (zh)" in capsys.readouterr().out
