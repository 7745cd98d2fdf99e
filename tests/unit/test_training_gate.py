"""The evaluation gate (training.gate) and held-out scoring (training.heldout.score), on plain values:
promote a better candidate; refuse a worse one, a tie, a collapsed one, a copying one, a too-small set."""

from __future__ import annotations

from dermvqa.config import TrainingConfig
from training.gate import GateThresholds, ModelScore, decide
from training.heldout import reference_copy_share, score

T = GateThresholds(min_delta_bleu=0.5, max_cluster_share=0.2, max_copy_share=0.2, min_heldout=5)
ACTIVE = ModelScore(n=20, delta_bleu=2.0, largest_cluster_share=0.05, copy_share=0.0)

REFERENCES = [
    ["It is atopic eczema. Use an emollient twice a day and a mild steroid for flares."],
    ["This looks like tinea corporis, a fungal infection. Apply clotrimazole cream for four weeks."],
    ["Probably psoriasis. A dermatologist can prescribe a vitamin D cream."],
    ["Contact dermatitis from a new watch strap. Stop wearing it and use hydrocortisone."],
    ["Seborrhoeic dermatitis. Wash with a ketoconazole shampoo twice weekly."],
    ["Acne vulgaris. Benzoyl peroxide gel at night; see a doctor if it scars."],
]
TRAIN = ["Use topical steroid cream twice daily for 2-4 weeks and oral antihistamines if needed."]


def test_thresholds_come_from_the_config():
    t = GateThresholds.from_config(TrainingConfig(gate_min_delta_bleu=1.5, gate_min_heldout=3))
    assert (t.min_delta_bleu, t.max_cluster_share, t.max_copy_share, t.min_heldout) == (1.5, 0.1, 0.1, 3)


def test_a_better_candidate_is_promoted_with_every_reason():
    decision = decide(ModelScore(20, 3.0, 0.1, 0.05), ACTIVE, T)
    assert decision.promote
    assert [c.name for c in decision.checks] == ["heldout", "deltableu", "cluster_share", "copy_share"]
    assert decision.summary.startswith("promoted: ") and "+1.000" in decision.summary


def test_a_worse_candidate_or_a_tie_or_a_gain_under_the_margin_is_refused():
    for bleu in (1.0, 2.0, 2.4):
        decision = decide(ModelScore(20, bleu, 0.05, 0.0), ACTIVE, T)
        assert not decision.promote
        failed = [c.name for c in decision.checks if not c.passed]
        assert failed == ["deltableu"]
        assert "does not beat the active model by 0.5" in decision.summary
    assert not decide(ModelScore(20, 2.0, 0.0, 0.0), ACTIVE, GateThresholds(0.0, 1, 1, 1)).promote  # a tie


def test_a_collapsed_candidate_is_refused_even_with_a_higher_score():
    decision = decide(ModelScore(20, 9.0, 0.5, 0.5), ACTIVE, T)
    assert not decision.promote
    assert {c.name: c.passed for c in decision.checks} == {
        "heldout": True,
        "deltableu": True,
        "cluster_share": False,
        "copy_share": False,
    }
    assert "50.0% of cases > cap 20.0%" in decision.summary


def test_too_small_a_heldout_set_is_refused_and_missing_training_answers_pass_copy():
    decision = decide(ModelScore(4, 9.0, 0.0, None), ACTIVE, T)
    assert [c.name for c in decision.checks if not c.passed] == ["heldout"]
    assert "n/a" in decision.checks[3].reason and decision.checks[3].passed


def test_the_same_answer_to_every_case_is_measured_as_collapse_and_refused():
    keys = [f"case:{i}" for i in range(len(REFERENCES))]
    collapsed = score(keys, [TRAIN[0]] * len(REFERENCES), REFERENCES, TRAIN, ["case:99"])
    assert collapsed.score.largest_cluster_share == 1.0 and collapsed.score.copy_share == 1.0
    assert collapsed.distinct_answers == 1 and collapsed.per_case[0]["nearest_train"] == "case:99"
    diverse = score(keys, [r[0] for r in REFERENCES], REFERENCES, TRAIN)
    assert diverse.score.largest_cluster_share == 1 / len(REFERENCES) and diverse.score.copy_share == 0.0
    assert diverse.score.delta_bleu > 60  # equal to the references (the official scorer lowercases only answers)
    t = GateThresholds(min_delta_bleu=0.0, max_cluster_share=0.5, max_copy_share=0.5, min_heldout=5)
    assert decide(diverse.score, collapsed.score, t).promote
    verdict = decide(collapsed.score, ModelScore(6, 0.0, 0.2, 0.0), t)
    assert not verdict.promote and "cluster" in verdict.summary and "near-copies" in verdict.summary


def test_per_case_rows_hold_ids_and_numbers_only():
    result = score(["case:1"], ["eczema cream"], [["eczema, use a cream"]], TRAIN, ["case:9"], failed=0)
    allowed = {"key", "deltableu", "cluster", "cluster_size", "nearest_train", "nearest_train_similarity"}
    assert set(result.per_case[0]) <= allowed
    assert all(not isinstance(v, str) or v.startswith("case:") for v in result.per_case[0].values())
    assert reference_copy_share([[TRAIN[0]]], TRAIN) == 1.0 and reference_copy_share([], TRAIN) is None
