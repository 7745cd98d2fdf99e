"""The evaluation gate (training.gate) and held-out scoring (training.heldout.score), on plain values:
promote a truly better candidate; refuse an identical one, a worse one, a lucky one, a collapsed one,
a copying one, a too-small set. deltaBLEU is compared by a paired bootstrap over the cases."""

from __future__ import annotations

from dermvqa.config import TrainingConfig
from training.gate import GateThresholds, ModelScore, decide
from training.heldout import reference_copy_share, score

T = GateThresholds(min_delta_bleu=0.5, max_cluster_share=0.2, max_copy_share=0.2, min_heldout=5)

REFERENCES = [
    ["It is atopic eczema. Use an emollient twice a day and a mild steroid for flares."],
    ["This looks like tinea corporis, a fungal infection. Apply clotrimazole cream for four weeks."],
    ["Probably psoriasis. A dermatologist can prescribe a vitamin D cream."],
    ["Contact dermatitis from a new watch strap. Stop wearing it and use hydrocortisone."],
    ["Seborrhoeic dermatitis. Wash with a ketoconazole shampoo twice weekly."],
    ["Acne vulgaris. Benzoyl peroxide gel at night; see a doctor if it scars."],
    ["Shingles along one rib. Antivirals work best within three days, see your doctor today."],
    ["Urticaria after a new medicine. Take a non drowsy antihistamine and stop the medicine."],
    ["Impetigo around the nose. It is contagious; fusidic acid cream and careful hand washing."],
    ["Scabies between the fingers. Permethrin for the whole household, wash the bedding hot."],
    ["A seborrhoeic keratosis, a harmless warty growth. Nothing is needed unless it itches."],
    ["Pityriasis rosea with a herald patch. It settles by itself within two or three months."],
]
KEYS = [f"case:{i}" for i in range(len(REFERENCES))]
TRAIN = ["Use topical steroid cream twice daily for 2-4 weeks and oral antihistamines if needed."]
VAGUE = [f"A skin condition number {i}, see a doctor." for i in range(len(REFERENCES))]


def scored(answers):
    return score(KEYS, answers, REFERENCES, TRAIN).score


def good_answers():
    return [r[0] for r in REFERENCES]


def test_thresholds_come_from_the_config():
    training = TrainingConfig(
        gate_min_delta_bleu=1.5, gate_min_heldout=3, gate_confidence=0.9, gate_bootstrap_samples=200, seed=7
    )
    t = GateThresholds.from_config(training)
    assert (t.min_delta_bleu, t.max_cluster_share, t.max_copy_share, t.min_heldout) == (1.5, 0.1, 0.1, 3)
    assert (t.confidence, t.bootstrap_samples, t.seed) == (0.9, 200, 7)
    assert (TrainingConfig().gate_confidence, TrainingConfig().gate_bootstrap_samples) == (0.95, 1000)


def test_a_truly_better_candidate_is_promoted_with_every_reason_and_the_interval():
    decision = decide(scored(good_answers()), scored(VAGUE), T)
    assert decision.promote, decision.summary
    assert [c.name for c in decision.checks] == ["heldout", "deltableu", "cluster_share", "copy_share"]
    boot = decision.bootstrap
    assert boot.win_share == 1.0 and boot.low > 0.5 and boot.samples == 1000 and boot.n == len(REFERENCES)
    assert boot.low <= boot.observed <= boot.high
    assert decision.summary.startswith("promoted: ") and "95% interval" in decision.summary
    assert "in 100.0% of 1000 resamples" in decision.summary


def test_a_candidate_identical_to_the_active_model_is_never_promoted():
    for answers in (good_answers(), VAGUE):
        for margin in (0.0, 0.1):
            t = GateThresholds(min_delta_bleu=margin, max_cluster_share=1, max_copy_share=1, min_heldout=1)
            decision = decide(scored(answers), scored(answers), t)
            assert not decision.promote
            assert decision.bootstrap.win_share == 0.0  # every resample is a tie: never >= the confidence
            assert decision.bootstrap.low == decision.bootstrap.high == 0.0


def test_a_worse_candidate_or_a_gain_under_the_margin_is_refused():
    decision = decide(scored(VAGUE), scored(good_answers()), T)
    assert not decision.promote and decision.bootstrap.win_share == 0.0
    assert [c.name for c in decision.checks if not c.passed] == ["deltableu"]
    assert "does not beat the active model by 0.5" in decision.summary
    better = decide(scored(good_answers()), scored(VAGUE), T).bootstrap.observed
    huge_margin = GateThresholds(min_delta_bleu=better + 50, max_cluster_share=0.2, max_copy_share=0.2, min_heldout=5)
    assert not decide(scored(good_answers()), scored(VAGUE), huge_margin).promote


def test_a_gain_that_rests_on_one_lucky_case_is_not_promoted():
    """Better on one case of twelve, equal on the rest: the point estimate beats the margin, but a
    third of the resamples do not draw that case at all, so the win share stays far below 95%."""
    lucky = list(VAGUE)
    lucky[0] = REFERENCES[0][0]
    candidate, active = scored(lucky), scored(VAGUE)
    assert candidate.delta_bleu - active.delta_bleu > T.min_delta_bleu
    decision = decide(candidate, active, T)
    assert not decision.promote
    assert 0.4 < decision.bootstrap.win_share < 0.9 and decision.bootstrap.low == 0.0


def test_the_bootstrap_is_seeded():
    a = decide(scored(good_answers()), scored(VAGUE), T).bootstrap
    b = decide(scored(good_answers()), scored(VAGUE), T).bootstrap
    assert a == b
    other = GateThresholds(min_delta_bleu=0.5, max_cluster_share=0.2, max_copy_share=0.2, min_heldout=5, seed=1)
    assert decide(scored(good_answers()), scored(VAGUE), other).bootstrap != a


def test_a_collapsed_candidate_is_refused_even_with_a_higher_score():
    memorised = "It is a dermatitis. Use a cream twice a day for four weeks and see a doctor if it scars."
    collapsed = score(KEYS, [memorised] * len(REFERENCES), REFERENCES, [memorised]).score
    empty = scored([""] * len(REFERENCES))
    decision = decide(collapsed, empty, T)
    assert not decision.promote
    assert {c.name: c.passed for c in decision.checks} == {
        "heldout": True,
        "deltableu": True,
        "cluster_share": False,
        "copy_share": False,
    }
    assert "100.0% of cases > cap 20.0%" in decision.summary


def test_too_small_a_heldout_set_is_refused_and_missing_training_answers_pass_copy():
    few = score(KEYS[:4], good_answers()[:4], REFERENCES[:4], []).score
    t = GateThresholds(min_delta_bleu=0.5, max_cluster_share=0.25, max_copy_share=0.2, min_heldout=5)
    decision = decide(few, score(KEYS[:4], VAGUE[:4], REFERENCES[:4], []).score, t)
    assert [c.name for c in decision.checks if not c.passed] == ["heldout"]
    assert "n/a" in decision.checks[3].reason and decision.checks[3].passed


def test_scores_without_per_case_statistics_are_not_judged():
    decision = decide(ModelScore(20, 9.0, 0.0, 0.0), ModelScore(20, 1.0, 0.0, 0.0), T)
    assert not decision.promote and decision.bootstrap is None
    assert "no per-case scores" in decision.summary


def test_the_same_answer_to_every_case_is_measured_as_collapse():
    collapsed = score(KEYS, [TRAIN[0]] * len(REFERENCES), REFERENCES, TRAIN, ["case:99"] * len(TRAIN))
    assert collapsed.score.largest_cluster_share == 1.0 and collapsed.score.copy_share == 1.0
    assert collapsed.distinct_answers == 1 and collapsed.per_case[0]["nearest_train"] == "case:99"
    diverse = score(KEYS, good_answers(), REFERENCES, TRAIN)
    assert diverse.score.largest_cluster_share == 1 / len(REFERENCES) and diverse.score.copy_share == 0.0
    assert diverse.score.delta_bleu > 60  # equal to the references (the official scorer lowercases only answers)
    assert len(diverse.score.segments) == len(REFERENCES)


def test_per_case_rows_hold_ids_and_numbers_only():
    result = score(["case:1"], ["eczema cream"], [["eczema, use a cream"]], TRAIN, ["case:9"], failed=0)
    allowed = {"key", "deltableu", "cluster", "cluster_size", "nearest_train", "nearest_train_similarity"}
    assert set(result.per_case[0]) <= allowed
    assert all(not isinstance(v, str) or v.startswith("case:") for v in result.per_case[0].values())
    assert reference_copy_share([[TRAIN[0]]], TRAIN) == 1.0 and reference_copy_share([], TRAIN) is None
